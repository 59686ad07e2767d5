/**
 * Handle channels: pass a pipe end to a process that is already running.
 *
 * A handle channel is a connection of its own kind, made only by {@link createHandleServer} and
 * {@link connectHandleChannel}, and it carries nothing but ends. No other connection can carry
 * them: on POSIX an end travels as `SCM_RIGHTS`, which libuv's reads drop, so the channel's socket
 * is read by winpipe alone; on Windows the peer process is opened when the connection is made, so
 * that a pid reused later cannot redirect an end.
 *
 * - POSIX: a Unix stream socket (the same names, directories and same-user checks as
 *   `createServer` / `connect`), taken from libuv as it connects; ends go as `SCM_RIGHTS`.
 * - Windows: a message-mode named pipe (as `createServer({ mode: 'message' })`); an end is
 *   duplicated into the peer process (`DuplicateHandle`), which must run as our user.
 */
import { EventEmitter } from 'node:events';
import { PipeReader } from './reader.js';
import { PipeWriter } from './writer.js';
import { PipeError, closedError, invalidArgType } from './errors.js';
import { connect, createServer } from './index.js';
import type { ConnectOptions, ListenOptions } from './options.js';
import type { PipeConnection, PipeServer } from './types.js';
import { host, type HandleCore } from './platform.js';
import { validateAbortSignal, validateObject } from './validate.js';

/** Options for {@link HandleChannel.sendEnd} and {@link HandleChannel.receiveEnd}. */
export interface HandleChannelIoOptions {
  /** Stops waiting; the promise rejects with an `AbortError` (see each method for what is then left). */
  signal?: AbortSignal;
}

/** Options for {@link connectHandleChannel}: `connect`'s own (`connectTimeout`, `wait`, `signal`, ...), minus `mode`. */
export type ConnectHandleChannelOptions = Omit<ConnectOptions, 'mode'>;

function validateIoOptions(options: unknown): AbortSignal | undefined {
  if (options === undefined) return undefined;
  validateObject(options, 'options');
  const signal = (options as HandleChannelIoOptions).signal;
  validateAbortSignal(signal, 'options.signal');
  return signal;
}

/**
 * One end of a handle channel: sends pipe ends to the process at the other end, and receives the
 * ends it sends. Made by {@link createHandleServer} (its `'channel'` event) and
 * {@link connectHandleChannel}; both sides may send and receive.
 *
 * @example
 * ```ts
 * const channel = await connectHandleChannel('my-app-handles');
 * const { reader, writer } = createPipe();
 * await channel.sendEnd(writer);   // the peer now writes into our pipe
 * writer.close();                  // ours is a separate copy: close it, or reads never see end of file
 * console.log((await reader.read()).toString());
 * ```
 *
 * Platform notes: POSIX `sendEnd` resolves once the kernel holds the end (it is in the socket);
 * Windows `sendEnd` resolves once the peer has taken it. A received end is close-on-exec /
 * non-inheritable, as every end winpipe makes.
 */
export class HandleChannel {
  readonly #core: HandleCore;

  /** @internal Ownership: the channel owns `core`. */
  constructor(core: HandleCore) {
    this.#core = core;
  }

  /** The process id at the other end (SO_PEERCRED / LOCAL_PEERPID on POSIX; the pipe's client or server process on Windows). */
  get peerPid(): number | undefined {
    return this.#core.peerPid;
  }

  /** True after {@link HandleChannel.close}. */
  get closed(): boolean {
    return this.#core.closed;
  }

  /**
   * Sends `end` to the peer, which gets its own copy with {@link HandleChannel.receiveEnd}: a
   * `PipeReader` arrives as a `PipeReader`, a `PipeWriter` as a `PipeWriter`. Our `end` stays
   * open and ours whatever happens: close it when the peer has it (a writer left open here keeps
   * the reader from seeing end of file). Sends go out one at a time, in call order.
   *
   * @example
   * ```ts
   * const { reader, writer } = createPipe();
   * await channel.sendEnd(reader, { signal: AbortSignal.timeout(5000) });
   * reader.close();
   * ```
   *
   * - POSIX: one `sendmsg` with `SCM_RIGHTS`; a full socket is tried again on a timer. Aborting
   *   before it went out sends nothing.
   * - Windows: `DuplicateHandle` into the peer process (opened when the channel was made), then
   *   the value is announced; resolves when the peer took it. If the channel ends before that, the
   *   duplicate is closed in the peer. Aborting after the announcement only stops the wait.
   *
   * @throws TypeError `ERR_INVALID_ARG_TYPE` for something that is not a `PipeReader` /
   *   `PipeWriter`, PipeError `ERR_PIPE_CLOSED` for a closed end or channel: before any system call.
   *   Rejects with PipeError `EPIPE` / `ECONNRESET` when the peer is gone; Windows: `EACCES` when
   *   the peer process could not be opened with `PROCESS_DUP_HANDLE`, `EPERM` when it runs as
   *   another user.
   */
  sendEnd(end: PipeReader | PipeWriter, options?: HandleChannelIoOptions): Promise<void> {
    if (!(end instanceof PipeReader) && !(end instanceof PipeWriter)) throw invalidArgType('end', 'an instance of PipeReader or PipeWriter', end);
    const signal = validateIoOptions(options);
    if (end.closed) throw new PipeError({ code: 'ERR_PIPE_CLOSED', syscall: 'sendEnd', message: 'ERR_PIPE_CLOSED: the end to send is closed' });
    if (this.#core.closed) throw closedError('sendEnd');
    return this.#core.send(end, end instanceof PipeReader ? 'r' : 'w', signal);
  }

  /**
   * The next end the peer sent, as the `PipeReader` or `PipeWriter` it was there; `null` once the
   * peer has closed the channel and every end it sent has been received. The returned end is ours
   * to close.
   *
   * @example
   * ```ts
   * const end = await channel.receiveEnd({ signal: AbortSignal.timeout(10_000) });
   * if (end instanceof PipeWriter) await end.write('hello'), end.close();
   * ```
   *
   * POSIX: waiting is a `recvmsg(MSG_DONTWAIT)` tried again on a timer (1 ms, doubling to 50 ms),
   * so an end is seen at most 50 ms after it arrived; the descriptor is close-on-exec from birth
   * (Linux `MSG_CMSG_CLOEXEC`; macOS sets `FD_CLOEXEC` at once). Windows: the announced value is
   * answered `taken`, then adopted as {@link adoptEnd} does.
   *
   * @throws TypeError for bad options. Rejects with PipeError `EPROTO` when what arrived is not
   *   one end (every descriptor that came with it is closed), `EINVAL` when it is not a pipe or
   *   socket going the announced way, `ERR_PIPE_CLOSED` after `close()`, or an `AbortError`.
   */
  receiveEnd(options?: HandleChannelIoOptions): Promise<PipeReader | PipeWriter | null> {
    const signal = validateIoOptions(options);
    return this.#core.receive(signal);
  }

  /**
   * Closes the channel; calling it again does nothing. Pending calls reject with `ERR_PIPE_CLOSED`.
   * Ends the peer sent that were not received are closed (POSIX: with the socket; Windows: by the
   * sender, which sees the channel end). Ends already received stay open: they are yours.
   */
  close(): void {
    this.#core.close();
  }

  /** Lets the process exit while a receive waits (as `net.Socket.unref()`). */
  unref(): this {
    this.#core.unref();
    return this;
  }

  /** Undoes {@link HandleChannel.unref}. */
  ref(): this {
    this.#core.ref();
    return this;
  }

  /** Same as {@link HandleChannel.close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Same as {@link HandleChannel.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

/**
 * A channel from a connection made a moment ago, in the same turn of the event loop (nothing has
 * been read from it yet). `peerPid` is the other side's pid.
 * Ownership: the channel owns what was the connection (POSIX: a duplicate of its socket, the
 * connection itself destroyed; Windows: the connection).
 */
function channelFrom(conn: PipeConnection, peerPid: number | undefined): HandleChannel {
  return new HandleChannel(host.handleCore(conn, peerPid));
}

/**
 * The events of a {@link HandleServer}, with their arguments: `'channel'` (a client connected),
 * `'listening'`, `'close'` and `'error'`, as a `PipeServer`'s.
 *
 * @example
 * ```ts
 * server.on('channel', (...[channel]: HandleServerEvents['channel']) => console.log(channel.peerPid));
 * ```
 */
export interface HandleServerEvents {
  channel: [channel: HandleChannel];
  listening: [];
  close: [];
  error: [err: Error];
}

/**
 * A server that hands out a {@link HandleChannel} for each client (event `'channel'`). Same
 * names, defaults and `listen` as {@link createServer}: only our own user may connect.
 *
 * @example
 * ```ts
 * const server = createHandleServer((channel) => channel.receiveEnd().then((end) => end?.close()));
 * await server.listen('my-app-handles');
 * ```
 * Platform notes: see {@link createHandleServer}.
 */
export class HandleServer extends EventEmitter<HandleServerEvents> {
  readonly #server: PipeServer;

  /** @internal */
  constructor(listener?: (channel: HandleChannel) => void) {
    super();
    if (listener) this.on('channel', listener);
    this.#server = createServer(host.handleChannelMode === 'message' ? { mode: 'message' } : {}, (conn) => {
      let channel: HandleChannel;
      try {
        channel = channelFrom(conn, conn.clientProcessId);
      } catch (err) {
        // A descriptor could not be had (EMFILE): the client sees the channel close.
        if (this.listenerCount('error') > 0) this.emit('error', err as Error);
        else process.emitWarning(`winpipe: a handle channel could not be made: ${(err as Error).message}`);
        return;
      }
      this.emit('channel', channel);
    });
    this.#server.on('listening', () => this.emit('listening'));
    this.#server.on('close', () => this.emit('close'));
    this.#server.on('error', (err: Error) => this.emit('error', err));
  }

  /** Serves `name` (a name or full path, as `PipeServer.listen`). */
  listen(name: string | ListenOptions): Promise<void> {
    return this.#server.listen(name);
  }

  /** The full path served, or null when not listening. */
  address(): string | null {
    return this.#server.address();
  }

  /** Stops accepting; channels already handed out stay open. Resolves once closed. */
  close(): Promise<void> {
    return this.#server.close();
  }

  /** Keeps the process alive while listening (the default), as `net.Server.ref()`. */
  ref(): this {
    this.#server.ref();
    return this;
  }

  /** Lets the process exit while only this server is left, as `net.Server.unref()`. */
  unref(): this {
    this.#server.unref();
    return this;
  }

  /** Same as {@link HandleServer.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Creates a server for handle channels: each client that connects becomes a
 * {@link HandleChannel} (the `'channel'` event, or `listener`).
 *
 * @example
 * ```ts
 * const server = createHandleServer(async (channel) => {
 *   const end = await channel.receiveEnd();
 *   if (end instanceof PipeWriter) await end.write('hello from the server\n');
 *   end?.close();
 *   channel.close();
 * });
 * await server.listen('my-app-handles');
 * ```
 *
 * Platform notes: POSIX: a Unix socket under the same name rules as `createServer`, only our user
 * may connect; the client's socket is taken from libuv as it is accepted. Windows: a message-mode
 * named pipe with `createServer`'s secure defaults; the client process is opened
 * (`PROCESS_DUP_HANDLE`) as it connects, and ends go to it only if it runs as our user.
 * @throws TypeError for a listener that is not a function.
 */
export function createHandleServer(listener?: (channel: HandleChannel) => void): HandleServer {
  if (listener !== undefined && typeof listener !== 'function') throw invalidArgType('listener', 'of type function', listener);
  return new HandleServer(listener);
}

/**
 * Connects to a {@link createHandleServer} server and returns the channel. Takes `connect`'s
 * options (`connectTimeout`, `wait`, `signal`, trust options), and checks the server as `connect`
 * does.
 *
 * @example
 * ```ts
 * const channel = await connectHandleChannel('my-app-handles', { wait: true, connectTimeout: 5000 });
 * const end = await channel.receiveEnd();
 * ```
 * Platform notes: Windows: the server process is opened (`GetNamedPipeServerProcessId`) as the
 * connection is made, and ends go to it only if it runs as our user.
 * @throws TypeError for a bad name or options, before any system call.
 */
export function connectHandleChannel(name: string, options?: ConnectHandleChannelOptions): Promise<HandleChannel> {
  if (options !== undefined) validateObject(options, 'options');
  if (options !== undefined && 'mode' in options) throw invalidArgType('options.mode', 'undefined (a handle channel has its own mode)', (options as { mode?: unknown }).mode);
  // Same turn as the connect (a microtask): nothing has been read from the socket yet.
  return connect(name, { ...options, mode: host.handleChannelMode }).then((conn) => channelFrom(conn, conn.serverProcessId));
}
