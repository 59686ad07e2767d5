/**
 * What every named-pipe server shares, whatever the platform: the EventEmitter face, the async
 * iteration over connections, and how a new connection is handed out.
 */
import { EventEmitter } from 'node:events';
import type { PipeConnection, PipeServer } from './named.js';

const asyncDispose: typeof Symbol.asyncDispose = Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose');

interface Iteration {
  queue: PipeConnection[];
  wake: (() => void) | undefined;
}

/** Base of the Windows and POSIX servers. Subclasses accept; this hands out. */
export abstract class PipeServerBase extends EventEmitter implements PipeServer {
  readonly #iterations = new Set<Iteration>();

  constructor(listener?: (conn: PipeConnection) => void) {
    super();
    if (listener) this.on('connection', listener);
  }

  abstract get listening(): boolean;
  abstract address(): string | null;
  abstract listen(name: string): Promise<void>;
  abstract close(): Promise<void>;
  abstract ref(): this;
  abstract unref(): this;

  /** True once the server has stopped accepting; iterations end after what they have queued. */
  protected abstract get stopped(): boolean;

  async [asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * Every connection accepted while the iteration runs (each iteration sees each connection, as
   * `'connection'` listeners do). Ends, after the ones already queued, when the server closes.
   */
  [Symbol.asyncIterator](): AsyncIterator<PipeConnection> {
    const it: Iteration = { queue: [], wake: undefined };
    this.#iterations.add(it);
    const done = (): IteratorReturnResult<undefined> => {
      this.#iterations.delete(it);
      it.wake?.();
      return { done: true, value: undefined };
    };
    return {
      next: async (): Promise<IteratorResult<PipeConnection>> => {
        for (;;) {
          const conn = it.queue.shift();
          if (conn) return { done: false, value: conn };
          if (this.stopped || !this.#iterations.has(it)) return done();
          await new Promise<void>((resolve) => (it.wake = resolve));
          it.wake = undefined;
        }
      },
      return: async () => done(),
    };
  }

  /** Hands a new connection to every iteration and `'connection'` listener. */
  protected deliver(conn: PipeConnection): void {
    for (const it of this.#iterations) {
      it.queue.push(conn);
      it.wake?.();
    }
    this.emit('connection', conn);
  }

  /** Lets waiting iterations see that the server stopped. */
  protected wakeIterations(): void {
    for (const it of this.#iterations) it.wake?.();
  }

  /** The rejection for a second `listen` (a state error, so a rejection, not a throw). */
  protected alreadyListening(): Promise<never> {
    return Promise.reject(Object.assign(new Error('Listen method has been called more than once without closing.'), { code: 'ERR_SERVER_ALREADY_LISTEN' }));
  }
}
