/**
 * What every named-pipe server shares, whatever the platform: the EventEmitter face, the async
 * iteration over connections, and how a new connection is handed out.
 */
import { EventEmitter } from 'node:events';
import { abortError, invalidArgType, invalidArgValue } from './errors.js';
import type { ListenOptions } from './options.js';
import type { ServerConnectionStats, PipeConnection, PipeServer } from './types.js';
import { validateAbortSignal, validateBoolean } from './validate.js';

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
  /** Starts serving `name`; bad names throw synchronously. */
  protected abstract startListening(name: string, options: { rendezvous: boolean }): Promise<void>;
  abstract close(): Promise<void>;
  abstract connectionStats(): ServerConnectionStats;
  abstract securityDescriptor(): string;
  abstract ref(): this;
  abstract unref(): this;

  /** True once the server has stopped accepting; iterations end after what they have queued. */
  protected abstract get stopped(): boolean;

  listen(target: string | ListenOptions, callback?: () => void): Promise<void> {
    let name: string;
    let signal: AbortSignal | undefined;
    let rendezvous = false;
    if (typeof target === 'string') name = target;
    else if (target !== null && typeof target === 'object' && !Array.isArray(target)) {
      const { path, name: n } = target;
      if (path !== undefined && n !== undefined) throw invalidArgValue('options', target, "must give one of 'path' or 'name', not both");
      const given = path ?? n;
      if (typeof given !== 'string') throw invalidArgType(path !== undefined ? 'options.path' : 'options.name', 'of type string', given);
      name = given;
      validateAbortSignal(target.signal, 'options.signal');
      signal = target.signal;
      if (target.rendezvous !== undefined) {
        validateBoolean(target.rendezvous, 'options.rendezvous');
        rendezvous = target.rendezvous;
      }
    } else throw invalidArgType('name', 'of type string or an object', target);
    if (callback !== undefined && typeof callback !== 'function') throw invalidArgType('callback', 'of type function', callback);
    if (signal?.aborted) return this.#settle(Promise.reject(abortError(signal)), callback);
    const started = this.startListening(name, { rendezvous });
    if (signal) {
      // As net's listen({ signal }): an abort closes the server, at any time after this call.
      const onAbort = (): void => void this.close();
      signal.addEventListener('abort', onAbort, { once: true });
      this.once('close', () => signal.removeEventListener('abort', onAbort));
    }
    return this.#settle(started, callback);
  }

  /**
   * With a callback the call is net-shaped: the callback runs on success, a failure is emitted as
   * `'error'` (as net.Server does), and the returned promise's rejection is marked handled so a
   * caller that ignores it gets no unhandled rejection. Without one, the promise is the only channel.
   */
  #settle(p: Promise<void>, callback: (() => void) | undefined): Promise<void> {
    if (!callback) return p;
    p.then(
      () => callback.call(this),
      (err: unknown) => {
        if (this.listenerCount('error') > 0) this.emit('error', err);
      },
    );
    return p;
  }

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
    if (this.#iterations.size > 0) {
      for (const it of this.#iterations) {
        it.queue.push(conn);
        it.wake?.();
      }
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
