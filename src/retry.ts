/**
 * Retry with backoff, in one place: every wait-and-try-again in winpipe (a busy pipe, a full
 * accept queue, a server that is not there yet, a FIFO with no reader, a pipe instance that could
 * not be made) waits `first` ms, then twice as long each time up to `max`, on a timer: never by
 * blocking the event loop (`WaitNamedPipeW`, a blocking `connect` or `open` would).
 */
import { abortableSleep } from './errors.js';

/** The growing delay between attempts: `first` ms, doubled after each use up to `max`. */
export class Backoff {
  #delay: number;
  constructor(
    private readonly first: number,
    private readonly max: number,
  ) {
    this.#delay = first;
  }

  /** The delay to wait now; the next one is twice as long (at most `max`). */
  next(): number {
    const d = this.#delay;
    this.#delay = Math.min(d * 2, this.max);
    return d;
  }

  /** Back to `first`, after an attempt that worked. */
  reset(): void {
    this.#delay = this.first;
  }
}

/** What an attempt returns to be tried again. */
export const RETRY: unique symbol = Symbol('retry');

export interface RetryOptions {
  /** The first delay and the most it grows to, in ms. */
  first: number;
  max: number;
  /** `Date.now()` after which no attempt starts; then `timedOut()` is thrown. None: no limit. */
  deadline?: number;
  timedOut?: () => Error;
  /** Aborts the wait between attempts (an `AbortError`). */
  signal?: AbortSignal | undefined;
}

/**
 * Calls `attempt` until it returns something other than {@link RETRY}, and resolves with that.
 * An attempt that throws rejects with its error; a wait runs no longer than the deadline leaves.
 *
 * @example
 * ```ts
 * const handle = await retry(() => (tryOpen() ?? RETRY), { first: 2, max: 50, deadline: Date.now() + 1000, timedOut: () => new Error('busy') });
 * ```
 */
export async function retry<T>(attempt: () => T | typeof RETRY | Promise<T | typeof RETRY>, o: RetryOptions): Promise<T> {
  const backoff = new Backoff(o.first, o.max);
  for (;;) {
    let r = attempt();
    if (r instanceof Promise) r = await r;
    if (r !== RETRY) return r as T;
    let wait = backoff.next();
    if (o.deadline !== undefined) {
      const left = o.deadline - Date.now();
      if (left <= 0) throw o.timedOut!();
      wait = Math.min(wait, left);
    }
    await abortableSleep(wait, o.signal);
  }
}
