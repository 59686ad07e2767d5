/**
 * The bounded queue of messages read ahead of the consumer, for both message layers: a
 * message-mode connection (`src/message.ts`: 16 messages or `readAheadBytes`, default 1 MiB) and a
 * `winpipe/connection` Connection (`src/channel/connection.ts`: 64 messages or 4 MiB). Each layer
 * keeps its own limits and decides when to stop and restart its OS reads; the queue counts.
 */
export class Inbox<T extends Buffer | null> {
  #items: T[] = [];
  /** Bytes of the messages queued (`null`, an end-of-stream mark, counts none). */
  #bytes = 0;

  constructor(
    readonly maxMessages: number,
    readonly maxBytes: number,
  ) {}

  get length(): number {
    return this.#items.length;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** The oldest message, left queued. */
  head(): T | undefined {
    return this.#items[0];
  }

  /** The newest message, left queued. */
  tail(): T | undefined {
    return this.#items.at(-1);
  }

  push(v: T): void {
    this.#items.push(v);
    if (v) this.#bytes += v.length;
  }

  /** The oldest message, out of the queue and out of the byte count. */
  shift(): T {
    const v = this.#items.shift()!;
    if (v) this.#bytes -= v.length;
    return v;
  }

  /** Puts `v` back at the head. */
  unshift(v: T): void {
    this.#items.unshift(v);
    if (v) this.#bytes += v.length;
  }

  clear(): void {
    this.#items = [];
    this.#bytes = 0;
  }

  /** At either limit: stop reading. */
  full(): boolean {
    return this.#items.length >= this.maxMessages || this.#bytes >= this.maxBytes;
  }

  /** Below `fraction` of both limits (1: room for one more). */
  below(fraction = 1): boolean {
    return this.#items.length < this.maxMessages * fraction && this.#bytes < this.maxBytes * fraction;
  }
}
