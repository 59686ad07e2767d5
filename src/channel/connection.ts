/**
 * {@link Connection}: one end of a message channel, the shape of CPython's
 * `multiprocessing.connection.Connection`, over a platform {@link MessageTransport}
 * (POSIX: CPython's length-prefixed framing on a Unix socket or pipe; Windows: a message-mode
 * named pipe, no prefix). The platform part is a {@link ChannelEndpoint}.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { inspect } from 'node:util';
import v8 from 'node:v8';
import { PipeError, abortError, closedError, invalidArgType, invalidArgValue, isPipeError, outOfRange } from '../errors.js';
import { SafetyNet } from '../gc.js';
import { Inbox } from '../inbox.js';
import type { MessageTransport } from '../message.js';
import { validateAbortSignal, validateBuffer, validateInteger, validateObject } from '../validate.js';

const dispose: typeof Symbol.dispose = Symbol.dispose ?? Symbol.for('nodejs.dispose');

/**
 * @internal What a platform provides for one connection end. The transport is made on first use,
 * so an end that only goes to a child (`stdio`) is never touched by the event loop (on POSIX that
 * would make the shared file description non-blocking under the child's feet).
 */
export interface ChannelEndpoint {
  readonly readable: boolean;
  readonly writable: boolean;
  /** For error messages: the address, or a description such as `socketpair`. */
  readonly path: string;
  /**
   * True for an end that is already in the event loop's hands (an accepted or connected socket):
   * it starts reading at once, as a `net.Socket` would, so a large message from the peer is not
   * stuck waiting for our first `recv`.
   */
  readonly eager: boolean;
  /** Ownership: the returned transport owns the OS handle from now on. Called at most once. */
  open(): MessageTransport;
  /** A file descriptor of this process for the end (Windows: a CRT fd over a duplicate handle). */
  fd(): number;
  /** The OS handle: POSIX the fd, Windows the HANDLE. */
  handle(): bigint;
  /** True when the OS already holds unread bytes for this end (POSIX `poll(2)`); false if unknown. */
  kernelReadable(): boolean;
  /** Releases what the transport does not own: the raw handle when `opened` is false, any fd copy. */
  release(opened: boolean): void;
}

/** @internal A connected end on its way to becoming a Connection: handshake first, then wrap. */
export interface PendingConnection {
  readonly io: { sendBytes(data: Uint8Array): Promise<void>; recvBytes(maxLength: number): Promise<Buffer> };
  /** Ownership: the returned Connection owns the socket / handle from now on. */
  connection(): Connection;
  /** Closes the socket / handle (after a failed handshake). */
  destroy(): void;
}

/**
 * `pending`, calling `release` once when it leaves the Listener's count of clients not yet
 * accepted: when it becomes a connection or is destroyed, whichever comes first.
 */
export function releasedOnce(pending: PendingConnection, release: () => void): PendingConnection {
  let held = true;
  const done = (): void => {
    if (!held) return;
    held = false;
    release();
  };
  return {
    io: pending.io,
    connection: () => {
      done();
      return pending.connection();
    },
    destroy: () => {
      done();
      pending.destroy();
    },
  };
}

/** Messages read ahead of `recv` calls stop the OS reads at this many bytes... */
const READ_AHEAD_BYTES = 4 * 1024 * 1024;
/** ...or this many messages. */
const READ_AHEAD_MESSAGES = 64;

interface PendingRecv {
  maxLength: number | undefined;
  resolve(message: Buffer): void;
  reject(err: unknown): void;
}

// A never-used end that the user dropped: close its fd (with a warning, as Node does for a
// FileHandle), so that a forgotten end cannot hold the peer open forever. Once a transport exists
// the event loop holds the end alive, so only unopened ends are registered.
const finalizer = new SafetyNet<ChannelEndpoint>((ep) => {
  process.emitWarning(`winpipe: closing a channel end (${ep.path}) on garbage collection; close() it explicitly`, 'Warning');
  ep.release(false);
});

/**
 * One end of a message channel, like Python's `multiprocessing.connection.Connection`.
 *
 * Every `sendBytes` is exactly one message and every `recvBytes` returns exactly one, empty
 * messages included. `send` / `recv` carry structured-clone values through `v8.serialize`, so
 * they are for Node-to-Node channels; with a Python peer use `sendBytes` / `recvBytes` (or have
 * Python use `send_bytes` / `recv_bytes`). Messages arrive in order; concurrent `recv` calls are
 * served in call order.
 *
 * Get one from {@link Pipe}, {@link Listener.accept}, {@link Client} or {@link Connection.fromFd}.
 *
 * Wire format: POSIX a 4-byte big-endian signed length, then the bytes (`-1` and an 8-byte length
 * above 2 GiB - 1); Windows one message of a message-mode named pipe. Both are what CPython reads
 * and writes, so either end may be Python.
 *
 * Platform notes: on POSIX the first I/O call hands the fd to Node's event loop, which makes it
 * non-blocking; give an end to a child (`stdio: [..., conn]`) before using it, not after. On
 * Windows `fd` is a descriptor over a duplicate of the pipe handle, made when first asked for.
 *
 * @example
 * ```ts
 * import { Pipe } from 'winpipe/connection';
 * const [a, b] = Pipe();
 * await a.send({ hello: 'world', n: 1n });
 * console.log(await b.recv());          // { hello: 'world', n: 1n }
 * await b.sendBytes(Buffer.from('raw'));
 * console.log(await a.recvBytes());     // <Buffer 72 61 77>
 * a.close(); b.close();
 * ```
 */
export class Connection {
  readonly #ep: ChannelEndpoint;
  #transport: MessageTransport | undefined;
  #closed = false;
  #reading = false;
  #paused = false;
  /** Messages read ahead of `recv` calls: the OS reads stop at 64 messages or 4 MiB, and restart below half of both. */
  #queue = new Inbox<Buffer>(READ_AHEAD_MESSAGES, READ_AHEAD_BYTES);
  #ended = false;
  #endCause: Error | undefined;
  #failure: PipeError | undefined;
  #recvs: PendingRecv[] = [];
  #pollers = new Set<() => void>();
  #busy = 0;

  /** @internal Ownership: the connection owns `endpoint` and releases it exactly once. */
  constructor(endpoint: ChannelEndpoint) {
    this.#ep = endpoint;
    if (endpoint.eager) this.#startReading();
    else finalizer.register(this, endpoint);
  }

  /**
   * Opens the child's side of a channel: a descriptor this process inherited (for example
   * `stdio[3]` from a parent that passed a {@link Connection} or its `fd`). The connection owns
   * `fd` from now on and closes it.
   *
   * POSIX: a Unix socket or a pipe; a pipe's direction is read from its open flags.
   * Windows: a message-mode named-pipe end, looked up in Node's C-runtime fd table.
   *
   * @example
   * ```ts
   * // child.mjs, spawned with stdio: ['inherit', 'inherit', 'inherit', parentEnd]
   * import { Connection } from 'winpipe/connection';
   * const conn = Connection.fromFd(3);
   * await conn.send(await conn.recv());   // echo one value
   * conn.close();
   * ```
   * @throws TypeError / RangeError for a bad `fd` or options; PipeError `EBADF` / `EINVAL` when
   * the fd is not open or not a pipe or socket.
   */
  static fromFd(fd: number, options?: FromFdOptions): Connection {
    // The platform module installs the real implementation (see channel/index.ts); this keeps
    // connection.ts free of platform imports.
    return fromFdImpl(fd, options);
  }

  /** True after {@link Connection.close}. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Whether this end can receive (false for the write end of `Pipe({ duplex: false })`). */
  get readable(): boolean {
    return this.#ep.readable;
  }

  /** Whether this end can send (false for the read end of `Pipe({ duplex: false })`). */
  get writable(): boolean {
    return this.#ep.writable;
  }

  /**
   * A file descriptor of this process for the end, so it can go into `spawn`'s `stdio`
   * (Python's `fileno()`). `-1` once closed. On Windows it is a descriptor in Node's own C-runtime
   * table over a duplicate of the pipe handle; the connection closes it.
   */
  get fd(): number {
    if (this.#closed) return -1;
    return this.#ep.fd();
  }

  /** The OS handle as a bigint: the Windows HANDLE, or the fd on POSIX. `-1n` once closed. */
  get handle(): bigint {
    return this.#closed ? -1n : this.#ep.handle();
  }

  /**
   * Sends `buffer[offset, offset + size)` as one message (Python's `send_bytes`). Resolves once the
   * OS has the whole message. Do not modify the bytes until then.
   *
   * @throws TypeError / RangeError synchronously for a bad buffer, offset or size.
   * Rejects with PipeError `EPIPE` when the peer is gone, `ERR_PIPE_CLOSED` after `close()`,
   * `EBADF` on a receive-only end.
   */
  sendBytes(buffer: ArrayBufferView, offset?: number, size?: number): Promise<void> {
    validateBuffer(buffer, 'buffer');
    // A whole Buffer / Uint8Array is sent as it is: two typed arrays less per message,
    // on the path every round trip takes.
    if (offset === undefined && size === undefined && buffer instanceof Uint8Array) return this.#send(buffer);
    const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    const off = offset ?? 0;
    validateInteger(off, 'offset', 0, bytes.byteLength);
    const len = size ?? bytes.byteLength - off;
    validateInteger(len, 'size', 0, bytes.byteLength - off);
    return this.#send(bytes.subarray(off, off + len));
  }

  /**
   * Sends any structured-clone value as one message, serialized with `v8.serialize` (Python's
   * `send`, which pickles instead). For Node-to-Node channels only.
   *
   * @throws TypeError `ERR_INVALID_ARG_VALUE` synchronously for a value `v8.serialize` rejects
   * (a function, a symbol, ...).
   */
  send(value: unknown): Promise<void> {
    let data: Buffer;
    try {
      data = v8.serialize(value);
    } catch (err) {
      throw Object.assign(invalidArgValue('value', value, 'cannot be serialized (structured clone)'), { cause: err });
    }
    return this.#send(data);
  }

  /**
   * Receives the next message (Python's `recv_bytes`). Resolves with exactly one message, empty
   * ones included.
   *
   * With `maxLength`, a longer message rejects with `ERR_MESSAGE_TOO_LARGE` and stays queued: a
   * later call with a larger limit still gets it. (Python closes the reading side instead.)
   *
   * Rejects with `ERR_CHANNEL_CLOSED` once the peer is gone and every message it sent has been
   * received (Python's `EOFError`), `ERR_PIPE_CLOSED` after `close()`, `EBADF` on a send-only end.
   * `options.signal` aborts the wait with an `AbortError`; no message is consumed by it.
   *
   * @example
   * ```ts
   * const msg = await conn.recvBytes(1 << 20, { signal: AbortSignal.timeout(5000) });
   * ```
   * @throws RangeError synchronously for a bad `maxLength`; TypeError for a bad `options.signal`.
   */
  recvBytes(maxLength?: number, options?: { signal?: AbortSignal }): Promise<Buffer> {
    if (maxLength !== undefined) validateInteger(maxLength, 'maxLength', 0, Number.MAX_SAFE_INTEGER);
    validateObject(options, 'options');
    const signal = options?.signal;
    validateAbortSignal(signal, 'options.signal');
    const refusal = this.#refuseRead('recv');
    if (refusal) return Promise.reject(refusal);
    if (signal?.aborted) return Promise.reject(abortError(signal));
    this.#startReading();
    if (this.#recvs.length === 0 && this.#queue.length > 0) {
      const head = this.#queue.head()!;
      if (maxLength !== undefined && head.length > maxLength) return Promise.reject(tooLarge(head.length, maxLength));
      return Promise.resolve(this.#shift());
    }
    if (this.#queue.length === 0 && this.#failure) return Promise.reject(this.#failure);
    if (this.#queue.length === 0 && this.#ended) return Promise.reject(channelClosed(this.#ep.path, this.#endCause));
    return this.#track(
      new Promise<Buffer>((resolve, reject) => {
        if (!signal) return void this.#recvs.push({ maxLength, resolve, reject });
        const onAbort = (): void => {
          const i = this.#recvs.indexOf(entry);
          if (i >= 0) this.#recvs.splice(i, 1);
          reject(abortError(signal));
        };
        const entry: PendingRecv = {
          maxLength,
          resolve: (b) => {
            signal.removeEventListener('abort', onAbort);
            resolve(b);
          },
          reject: (e) => {
            signal.removeEventListener('abort', onAbort);
            reject(e);
          },
        };
        signal.addEventListener('abort', onAbort, { once: true });
        this.#recvs.push(entry);
      }),
    );
  }

  /**
   * Receives the next message and deserializes it with `v8.deserialize` (Python's `recv`).
   * Rejects as {@link Connection.recvBytes} does, or with `EPROTO` for a message that is not
   * V8-serialized (one from `sendBytes`, or a pickle from Python's `send`); the deserializer's own
   * error is its `cause`, and the message is consumed. `options.signal` aborts the wait, as for
   * {@link Connection.recvBytes}.
   *
   * @example
   * ```ts
   * const value = await conn.recv({ signal: AbortSignal.timeout(5000) });
   * ```
   */
  recv(options?: { signal?: AbortSignal }): Promise<unknown> {
    // Validation throws synchronously (as recvBytes does), so this is not an async function.
    return this.recvBytes(undefined, options).then((message) => this.#deserialize(message));
  }

  #deserialize(message: Buffer): unknown {
    try {
      return v8.deserialize(message);
    } catch (err) {
      throw new PipeError({
        code: 'EPROTO',
        syscall: 'recv',
        path: this.#ep.path,
        message: `EPROTO: a ${message.length}-byte message is not V8-serialized (sent with sendBytes, or by Python?)`,
        cause: err,
      });
    }
  }

  /**
   * Whether a message (or the end of the channel) is waiting, so that `recv` would not wait
   * (Python's `poll`).
   *
   * - No `timeoutMs` (or 0): answers at once, from what has arrived in this process and, on
   *   POSIX, from the socket's kernel buffer.
   * - `timeoutMs`: waits up to that many milliseconds for a message; `Infinity` waits for ever.
   *
   * Rejects with `ERR_PIPE_CLOSED` if the connection is (or gets) closed.
   * @throws RangeError synchronously for a negative or NaN `timeoutMs`.
   */
  poll(timeoutMs?: number): Promise<boolean> {
    if (timeoutMs !== undefined) {
      if (typeof timeoutMs !== 'number') throw invalidArgType('timeoutMs', 'of type number', timeoutMs);
      if (Number.isNaN(timeoutMs) || timeoutMs < 0) throw outOfRange('timeoutMs', '>= 0', timeoutMs);
    }
    const refusal = this.#refuseRead('poll');
    if (refusal) return Promise.reject(refusal);
    this.#startReading();
    if (this.#ready()) return Promise.resolve(true);
    if (!timeoutMs) return this.#pollNow();
    return this.#track(
      new Promise<boolean>((resolve, reject) => {
        let timer: NodeJS.Timeout | undefined;
        const wake = (): void => {
          clearTimeout(timer);
          this.#pollers.delete(wake);
          if (this.#closed) reject(closedError('poll'));
          else resolve(this.#ready());
        };
        this.#pollers.add(wake);
        if (timeoutMs !== Infinity) timer = setTimeout(wake, Math.min(timeoutMs, 0x7fff_ffff));
      }),
    );
  }

  /**
   * Closes the connection. Pending `recv` / `poll` calls reject with `ERR_PIPE_CLOSED`; messages
   * already handed to `sendBytes` are still delivered, then the OS handle is closed and the peer
   * sees the end of the channel. Calling it again does nothing.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    finalizer.unregister(this);
    for (const r of this.#recvs.splice(0)) r.reject(closedError('recv'));
    for (const wake of [...this.#pollers]) wake();
    this.#queue.clear();
    const t = this.#transport;
    if (!t) {
      this.#ep.release(false);
      return;
    }
    if (!this.#ep.writable) {
      t.destroy();
      this.#ep.release(true);
      return;
    }
    // Flush first: close() right after an un-awaited sendBytes must not lose that message, as it
    // would not in Python, whose send_bytes returns only once the OS has the bytes.
    const done = (): void => {
      t.destroy();
      this.#ep.release(true);
    };
    void this.#track(t.end()).then(done, done);
  }

  /** Same as {@link Connection.close}, for `using`. */
  [dispose](): void {
    this.close();
  }

  /** @internal */
  [inspect.custom](): string {
    return `Connection { fd: ${this.fd}, readable: ${this.readable}, writable: ${this.writable}, closed: ${this.closed} }`;
  }

  // --- internals -------------------------------------------------------------------------------

  #send(bytes: Uint8Array): Promise<void> {
    if (this.#closed) return Promise.reject(closedError('send'));
    if (!this.#ep.writable) return Promise.reject(new PipeError({ code: 'EBADF', syscall: 'send', path: this.#ep.path, message: 'EBADF: this end of the channel is receive-only' }));
    let t: MessageTransport;
    try {
      t = this.#open();
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#track(t.send(bytes));
  }

  async #pollNow(): Promise<boolean> {
    if (this.#ep.kernelReadable()) return true;
    // One turn of the event loop: bytes the OS already had are read in its poll phase.
    await nextTurn();
    if (this.#closed) throw closedError('poll');
    return this.#ready();
  }

  #refuseRead(syscall: string): PipeError | undefined {
    if (this.#closed) return closedError(syscall);
    if (!this.#ep.readable) return new PipeError({ code: 'EBADF', syscall, path: this.#ep.path, message: 'EBADF: this end of the channel is send-only' });
    return undefined;
  }

  #open(): MessageTransport {
    if (this.#transport) return this.#transport;
    const t = this.#ep.open();
    // Ownership: the transport owns the OS handle now; the event loop keeps it reachable.
    finalizer.unregister(this);
    // Only pending calls keep the process alive (#track), as a pending fs call would; an idle
    // channel does not.
    t.unref();
    this.#transport = t;
    // Read from the first use on, whatever it is: a peer's large message must not wait for our
    // first recv (the read-ahead is bounded, see #deliver).
    if (this.#ep.readable) this.#startReading();
    return t;
  }

  #startReading(): void {
    if (this.#reading) return;
    this.#reading = true;
    let t: MessageTransport;
    try {
      t = this.#open();
    } catch (err) {
      this.#failure ??= err as PipeError;
      return;
    }
    this.#resume(t);
  }

  #resume(t: MessageTransport): void {
    this.#paused = false;
    t.start({
      message: (data) => this.#deliver(data),
      end: () => this.#finish(undefined),
      error: (err) => this.#finish(err),
    });
  }

  #deliver(data: Buffer): void {
    if (this.#closed || this.#ended || this.#failure) return;
    this.#queue.push(data);
    this.#serve();
    if (!this.#paused && this.#queue.full()) {
      this.#paused = true;
      this.#transport!.pause();
    }
  }

  #finish(err: Error | undefined): void {
    if (this.#closed || this.#ended || this.#failure) return;
    if (err === undefined || isPeerGone(err)) {
      this.#ended = true;
      this.#endCause = err;
    } else this.#failure = isPipeError(err) ? err : new PipeError({ code: 'UNKNOWN', syscall: 'recv', path: this.#ep.path, cause: err });
    this.#serve();
  }

  /** Hands queued messages to waiting recvs, then wakes pollers. */
  #serve(): void {
    while (this.#recvs.length > 0 && this.#queue.length > 0) {
      const r = this.#recvs.shift()!;
      const head = this.#queue.head()!;
      if (r.maxLength !== undefined && head.length > r.maxLength) r.reject(tooLarge(head.length, r.maxLength));
      else r.resolve(this.#shift());
    }
    if (this.#queue.length === 0 && (this.#ended || this.#failure)) {
      for (const r of this.#recvs.splice(0)) r.reject(this.#failure ?? channelClosed(this.#ep.path, this.#endCause));
    }
    if (this.#ready()) for (const wake of [...this.#pollers]) wake();
  }

  #shift(): Buffer {
    const m = this.#queue.shift();
    if (this.#paused && this.#queue.below(1 / 2)) this.#resume(this.#transport!);
    return m;
  }

  #ready(): boolean {
    return this.#queue.length > 0 || this.#ended || this.#failure !== undefined;
  }

  /** Keeps the process alive while `promise` is pending. */
  #track<T>(promise: Promise<T>): Promise<T> {
    const t = this.#transport;
    if (this.#busy++ === 0) t?.ref();
    const done = (): void => {
      if (--this.#busy === 0) t?.unref();
    };
    promise.then(done, done);
    return promise;
  }
}

/** Options for {@link Connection.fromFd}. */
export interface FromFdOptions {
  /**
   * Windows only (POSIX reads the direction from the fd): whether this end receives / sends.
   * Default `true` for both.
   */
  readable?: boolean;
  writable?: boolean;
  /** The largest message accepted, in bytes. Default 64 MiB. */
  maxMessageSize?: number;
}

let fromFdImpl: (fd: number, options?: FromFdOptions) => Connection = () => {
  throw new Error('winpipe internal: channel platform not installed');
};

/** @internal Installed once by channel/index.ts. */
export function installFromFd(impl: (fd: number, options?: FromFdOptions) => Connection): void {
  fromFdImpl = impl;
}

function tooLarge(size: number, max: number): PipeError {
  return new PipeError({ code: 'ERR_MESSAGE_TOO_LARGE', syscall: 'recv', message: `ERR_MESSAGE_TOO_LARGE: the next message has ${size} bytes, more than maxLength ${max}` });
}

/** The peer is gone: Python's EOFError. */
export function channelClosed(path: string, cause?: unknown): PipeError {
  return new PipeError({ code: 'ERR_CHANNEL_CLOSED', syscall: 'recv', path, cause });
}

/**
 * A reset or a peer that vanished mid-message is still "the peer is gone" to a channel user
 * (Linux resets a Unix socket whose peer closed with unread data), so recv says ERR_CHANNEL_CLOSED.
 */
function isPeerGone(err: Error): boolean {
  const code = (err as { code?: unknown }).code;
  return code === 'ECONNRESET' || code === 'EPIPE';
}
