/**
 * The shared pipe-end classes: {@link PipeEnd}, {@link PipeReader} and {@link PipeWriter}.
 *
 * Synchronous I/O goes straight to the OS through the backend (ReadFile/WriteFile, read/write).
 * Asynchronous I/O and streams go through a `net.Socket` opened on the end's own fd, so libuv
 * does the waiting: IOCP for overlapped handles, the Windows thread pool for synchronous ones
 * (as libuv does for every anonymous pipe), epoll/kqueue on POSIX. No libuv thread-pool thread
 * is ever parked on a pending read.
 */
import net from 'node:net';
import { Readable, Stream, type Writable } from 'node:stream';
import { inspect } from 'node:util';
import type { Backend, RawEnd } from './backend.js';
import { emitPipeErrors } from './connection.js';
import { PipeError, abortError, cannotPipe, closedError, fromNodeError, invalidArgValue } from './errors.js';
import { SafetyNet } from './gc.js';
import { MAX_IO, byteRange, validateAbortSignal, validateBoolean, validateBuffer, validateInteger, validateObject } from './validate.js';

const dispose: typeof Symbol.dispose = Symbol.dispose ?? Symbol.for('nodejs.dispose');
const asyncDispose: typeof Symbol.asyncDispose = Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose');

/** Options for a single asynchronous read or write. */
export interface PipeIoOptions {
  /** Aborts the pending operation; it rejects with an `AbortError`. */
  signal?: AbortSignal;
}

/** Options for {@link PipeReader.chunks}. */
export interface PipeChunksOptions extends PipeIoOptions {
  /** The most bytes one chunk holds (default {@link DEFAULT_READ_SIZE}). */
  size?: number;
}

/** Options for {@link PipeWriter.write}: a string's `encoding` (default `'utf8'`) besides `signal`. */
export interface PipeWriteOptions extends PipeIoOptions {
  /** How a string is encoded, as for `fs.writeSync` (default `'utf8'`). Ignored for bytes. */
  encoding?: BufferEncoding;
}

/** A string as bytes the way `fs.writeSync(fd, string, position, encoding)` encodes it. */
function encodeString(data: string, encoding: unknown, name: string): Uint8Array {
  const enc = encoding ?? 'utf8';
  if (typeof enc !== 'string' || !Buffer.isEncoding(enc)) throw invalidArgValue(name, enc, 'is not a supported encoding');
  return Buffer.from(data, enc);
}

/** Default size of an asynchronous {@link PipeReader.read}: libuv's own read size. */
export const DEFAULT_READ_SIZE = 64 * 1024;

type State = 'open' | 'released' | 'closed' | 'transferred';

/** What the safety net needs; `identity` is set once the fd number has been handed out. */
interface Held {
  backend: Backend;
  raw: RawEnd;
  identity: string | undefined;
  /** The other end of the same pipe, where the backend says both have one identity. */
  twin: Held | undefined;
  /** True once registered with the finalizer (see {@link unarmed}). */
  armed: boolean;
}

/**
 * The read sizes of a POSIX pipe read stream: one read(2) returns at most what the pipe holds, so
 * a stream asks for up to the pipe's capacity (1 MiB once createPipe's pipe has grown), capped at
 * 1 MiB, and for no less than 64 KiB (libuv's own read size). See {@link pipeReads}.
 */
const MIN_STREAM_READ = 64 * 1024;
const MAX_STREAM_READ = 1024 * 1024;

/**
 * Bytes left unused in front of every read buffer of a pipe read stream. A buffer of 128 KiB or
 * more is a fresh mmap from glibc, its data 16 bytes past a page boundary, and a pipe read into a
 * destination 1-31 bytes past a page boundary runs about 3.5x slower on AMD Zen 3 (the kernel's
 * `rep movsb` copy stalls on 4 KiB aliasing between source and destination): 64 bytes of skew
 * move every such buffer out of that window.
 */
const READ_SKEW = 64;

function readBuffer(size: number): Buffer {
  return Buffer.allocUnsafeSlow(size + READ_SKEW).subarray(READ_SKEW);
}

/**
 * net.Socket's `onread` for a pipe read stream: libuv reads into a buffer of ours, sized between
 * {@link MIN_STREAM_READ} and the pipe's capacity (at most {@link MAX_STREAM_READ}) after the
 * reads before it. A read that fills at least half of its buffer is pushed as it is (no copy) and
 * the next read gets a fresh buffer; a smaller one is copied out and the buffer is used again, so
 * a chunk never keeps more than twice its size alive. The next buffer is twice as big after a read
 * that filled it (more is waiting) and just big enough for the last read otherwise, so that most
 * reads fill at least half and are not copied (with one 1 MiB buffer, a child writing 64 KiB at a
 * time had most of its bytes copied once more). Returning push()'s result lets Node stop reading
 * under back-pressure, as it does for its own buffers.
 */
function pipeReads(stream: () => net.Socket, capacity: number | undefined): { buffer: () => Buffer; callback: (n: number, buf: Buffer) => boolean } {
  const max = Math.min(MAX_STREAM_READ, capacity ?? MAX_STREAM_READ);
  const min = Math.min(MIN_STREAM_READ, max);
  let next = readBuffer(max);
  return {
    buffer: () => next,
    callback(n, buf) {
      const size = buf.length;
      const whole = 2 * n >= size;
      const chunk = whole ? buf.subarray(0, n) : Buffer.from(buf.subarray(0, n));
      // The smallest power of two that holds n (n >= 1).
      const fits = n === size ? 2 * size : 2 ** (32 - Math.clz32(n - 1));
      const want = Math.min(max, Math.max(min, fits));
      if (whole || want !== size) next = readBuffer(want);
      return stream().push(chunk);
    },
  };
}

type WriteCallback = (error?: Error | null) => void;

/**
 * Lets the backend correct a failed write's error before the stream sees it: the write callback
 * libuv completes is the one moment the handle is certainly still open (Node destroys the socket,
 * closing the handle, only after it). One hook serves write(), the end's 'error' and a stream
 * handed out by createWriteStream(), since all of them get the error from here.
 */
function confirmWriteErrors(socket: net.Socket, raw: RawEnd, correct: (raw: RawEnd, err: Error) => Error): void {
  const wrap =
    (cb: WriteCallback): WriteCallback =>
    (err) =>
      // A socket destroyed while the write was pending has closed the handle: never look at it.
      cb(err && !socket.destroyed ? correct(raw, err) : err);
  const write = socket._write;
  const writev = socket._writev;
  socket._write = function (this: net.Socket, chunk: unknown, encoding: BufferEncoding, cb: WriteCallback): void {
    write.call(this, chunk, encoding, wrap(cb));
  };
  if (writev) {
    socket._writev = function (this: net.Socket, chunks: Array<{ chunk: unknown; encoding: BufferEncoding }>, cb: WriteCallback): void {
      writev.call(this, chunks, wrap(cb));
    };
  }
}

/** True when a live stream of this process (a `net.Socket({ fd })`, say) has `fd` open. */
function streamOnFd(fd: number): boolean {
  const active = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles?.() ?? [];
  return active.some((h) => (h as { _handle?: { fd?: unknown } } | null)?._handle?.fd === fd);
}

// An end the user dropped without closing: warn (as Node does for a FileHandle) and close it,
// so a forgotten end cannot hold a pipe open forever. Once its number was handed out (`fd`,
// `handle`), something else may own the descriptor now (`new net.Socket({ fd })` without
// detach()): closing it would pull it from under that owner, and the owner's next writes would
// land in whatever file reuses the number. Where that can be seen, leak it instead (and say so).
const finalizer = new SafetyNet<Held>(({ backend, raw, identity }) => {
  let owned = true;
  try {
    owned = identity === undefined || (backend.unadopted(raw, identity) && !streamOnFd(raw.fd));
  } catch {
    owned = false;
  }
  process.emitWarning(
    owned
      ? `winpipe: closing pipe end fd ${raw.fd} on garbage collection; close() it explicitly`
      : `winpipe: pipe end fd ${raw.fd} was garbage-collected while something else uses its descriptor; left open (detach() an fd you give away)`,
    { type: 'Warning', code: owned ? 'WINPIPE_END_GC' : 'WINPIPE_END_GC_ADOPTED' },
  );
  if (!owned) return;
  backend.close(raw);
});

/** Bounds what a long synchronous loop of createPipe() keeps alive before its ends are registered. */
const UNARMED_MAX = 256;

/**
 * Ends created since the last microtask checkpoint whose safety net is not registered yet. An
 * end is registered with the finalizer only if it is still open (and still ours) when the queue
 * is flushed: at the next microtask checkpoint, or when it reaches {@link UNARMED_MAX} entries.
 * An end created and closed in between (B5's loop, `using` blocks) never touches the registry:
 * `register` + `unregister` with a token were most of what a pair cost beyond the system calls.
 *
 * The net is the same: until the flush the queue holds the end strongly, so it cannot be collected
 * unregistered, and finalization callbacks only ever run in a later task, after the flush.
 *
 * `arm` decides and registers; the owner's class gives it, since only the class sees whether an
 * end still owns its raw end.
 */
class ArmQueue<T> {
  readonly #waiting: T[] = [];
  #scheduled = false;
  readonly #arm: (item: T) => void;
  readonly #flush = (): void => {
    this.#scheduled = false;
    const items = this.#waiting.splice(0);
    for (let i = 0; i < items.length; i++) this.#arm(items[i]!);
  };

  constructor(arm: (item: T) => void) {
    this.#arm = arm;
  }

  add(item: T): void {
    if (this.#waiting.push(item) >= UNARMED_MAX) this.#flush();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#flush);
    }
  }
}

/**
 * One end of an OS pipe: the shared base of {@link PipeReader} and {@link PipeWriter}.
 *
 * - `fd` is a file descriptor of this process, so an end can go straight into
 *   `child_process.spawn(cmd, args, { stdio: [...] })`, `fs.readSync`/`fs.writeSync` or
 *   `new net.Socket({ fd })`. On Windows it is a descriptor in Node's own C-runtime table.
 * - `handle` is the raw OS handle (a Windows `HANDLE`; the fd on POSIX).
 * - Ends are created non-inheritable; see {@link PipeEnd.inheritable}.
 * - `close()` is idempotent; `using` and `await using` work.
 * - An end is a `stream.Stream` (Node's legacy base class: an `EventEmitter` with `pipe()`) and
 *   carries `_handle.fd`, the shape by which `child_process.spawn` in Node's types, Deno and Bun
 *   recognise a stream with a descriptor. It emits no events of its own. It is deliberately not
 *   async-iterable: execa takes an async-iterable `stdio` value as a source to read itself
 *   instead of passing its fd; iterate with {@link PipeReader.chunks}.
 *
 * Platform notes: the first asynchronous call (`read()`/`write()`) hands the end to Node's event
 * loop. On POSIX that sets `O_NONBLOCK` on the shared file description, so do not pass an end to
 * a child after using it asynchronously. Synchronous calls still work afterwards.
 *
 * @example
 * ```ts
 * using pipe = createPipe();            // both ends close at the end of the block
 * pipe.writer.writeSync(Buffer.from('hi'));
 * ```
 */
export abstract class PipeEnd {
  readonly #backend: Backend;
  #raw: RawEnd;
  #state: State = 'open';
  #socket: net.Socket | undefined;
  #handleClosed = false;
  /** Our listeners on the socket, made with it (most ends never get one). */
  #listeners: [string, (...args: any[]) => void][] | undefined;
  #busy = 0;
  #refed = true;
  readonly #held: Held;

  /** Registers a new end with the safety net once it has outlived the current microtask, if it still owns its raw end. */
  static readonly #arming = new ArmQueue<PipeEnd>((end) => {
    // Closed, detached or owned by its socket: nothing for the net to close.
    if (end.#state !== 'open' || end.#socket || end.#held.armed) return;
    end.#held.armed = true;
    finalizer.register(end, end.#held);
  });

  /**
   * @internal Ownership: the new end owns `raw` and closes it exactly once. `twin`: the other end
   * of the same pipe, made just before, when the backend says both name one file
   * (`pairSharesIdentity`): the safety net then looks the identity up once for both.
   */
  constructor(backend: Backend, raw: RawEnd, twin?: PipeEnd) {
    this.#backend = backend;
    this.#raw = raw;
    this.#held = { backend, raw, identity: undefined, twin: undefined, armed: false };
    if (twin) {
      this.#held.twin = twin.#held;
      twin.#held.twin = this.#held;
    }
    PipeEnd.#arming.add(this);
  }

  /** Unregisters the safety net, if it was registered: the fd is closed or someone else's now. */
  #disarm(): void {
    if (this.#held.armed) {
      this.#held.armed = false;
      finalizer.unregister(this);
    }
  }

  /**
   * The file descriptor in this process, or -1 once closed or handed to a stream. Reading it does
   * not move ownership (`spawn`'s `stdio` reads it): the end still closes it. To give it to
   * something that closes it itself, such as `new net.Socket({ fd })`, use {@link PipeEnd.detach}.
   */
  get fd(): number {
    if (this.#state !== 'open') return -1;
    this.#noteHandedOut();
    return this.#raw.fd;
  }

  /**
   * `{ fd }` while the end is open, `null` once it is not. Deno's and Bun's `child_process.spawn`
   * take a stream's descriptor from `_handle.fd` (Node's reads {@link PipeEnd.fd}); this lets an end
   * go into their `stdio` as it goes into Node's. Reading it is reading `fd`: ownership stays here.
   */
  get _handle(): { readonly fd: number } | null {
    const fd = this.fd;
    return fd < 0 ? null : { fd };
  }

  /**
   * Does nothing and returns the end. Deno's `spawn` pauses every stream it hands to a child; an
   * end reads nothing ahead unless asked (by `read()`), which a child-bound end must not be.
   */
  pause(): this {
    return this;
  }

  /** The raw OS handle (Windows `HANDLE`, POSIX fd) as a bigint, or -1n once closed. */
  get handle(): bigint {
    if (this.#state !== 'open') return -1n;
    this.#noteHandedOut();
    return this.#raw.handle;
  }

  /** Remembers which file the number names, so the GC safety net can tell if it changed hands. */
  #noteHandedOut(): void {
    if (this.#held.identity !== undefined || this.#socket) return;
    const held = this.#held;
    try {
      held.identity = this.#backend.identity(this.#raw);
    } catch {
      // Unknown identity: the safety net will not close it.
      held.identity = '';
    }
    // The twin's fd is still ours if its identity is unset (not handed out), and names the same
    // file: one look-up serves both ends (B5 reads both fds of every pair).
    if (held.twin && held.twin.identity === undefined) held.twin.identity = held.identity;
  }

  /**
   * True once the OS handle is gone: after `close()`, after `createReadStream()` /
   * `createWriteStream()` took the end, or after an asynchronous read reached end of file or an
   * asynchronous write failed (Node's event loop then releases the handle).
   */
  get closed(): boolean {
    return this.#state !== 'open';
  }

  /**
   * Whether child processes inherit this end. Default `false`: libuv starts every child with
   * `bInheritHandles=TRUE`, so an inheritable handle leaks into every child spawned while it exists.
   * Passing the end in `spawn`'s `stdio` does not need this: Node duplicates it for that child.
   * POSIX: the inverse of `FD_CLOEXEC`. Windows: `HANDLE_FLAG_INHERIT`.
   */
  get inheritable(): boolean {
    return this.#backend.getInheritable(this.liveRaw('inheritable'));
  }

  set inheritable(value: boolean) {
    validateBoolean(value, 'inheritable');
    this.#backend.setInheritable(this.liveRaw('inheritable'), value);
  }

  /**
   * Closes the end. Pending asynchronous operations reject with `ERR_PIPE_CLOSED`; data already
   * handed to `write()` but not yet in the pipe is dropped (use `end()` on a stream to deliver it).
   * Calling it again does nothing.
   */
  close(): void {
    const prior = this.#state;
    if (prior === 'closed' || prior === 'transferred') return;
    this.#state = 'closed';
    this.onClose(false);
    if (this.#socket) {
      // Ownership: the socket owns the fd since it was opened; destroying it closes the fd once.
      this.#socket.destroy();
      return;
    }
    this.#disarm();
    if (prior === 'open') this.#backend.close(this.#raw);
  }

  /**
   * Gives up ownership and returns the fd, like Python's `socket.detach()`: the end reports
   * closed and will never close the fd; the caller must (for example `new net.Socket({ fd })`,
   * which then owns it). Not possible once asynchronous I/O has started: the event loop owns it.
   *
   * @throws PipeError `ERR_PIPE_CLOSED` if closed, `ERR_PIPE_BUSY` after asynchronous use.
   */
  detach(): number {
    const raw = this.liveRaw('detach');
    if (this.#socket) throw new PipeError({ code: 'ERR_PIPE_BUSY', syscall: 'detach' });
    // Ownership: the fd (and on Windows the HANDLE it owns) now belongs to the caller.
    this.#disarm();
    this.#state = 'transferred';
    return raw.fd;
  }

  /** Same as {@link PipeEnd.close}, for `using`. */
  [dispose](): void {
    this.close();
  }

  /**
   * Closes the end and resolves once the OS handle is closed and the event loop has let go of it
   * (the internal socket's 'close'), for `await using`. Windows: after closing an end with a write
   * in flight, await this before making new pipes (see docs/guarantees.md, "Known issue").
   */
  async [asyncDispose](): Promise<void> {
    const socket = this.#socket;
    this.close();
    if (socket && !this.#handleClosed) await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  }

  /** @internal */
  [inspect.custom](): string {
    return `${this.constructor.name} { fd: ${this.fd}, handle: ${this.handle}n, closed: ${this.closed} }`;
  }

  // --- for the subclasses -------------------------------------------------------------------

  /** @internal */
  protected get backend(): Backend {
    return this.#backend;
  }

  /** @internal Closed by the user (or given away): operations must fail with ERR_PIPE_CLOSED. */
  protected get userClosed(): boolean {
    return this.#state === 'closed' || this.#state === 'transferred';
  }

  /** @internal The live raw end, or ERR_PIPE_CLOSED. */
  protected liveRaw(syscall: string): RawEnd {
    if (this.#state !== 'open') throw closedError(syscall);
    return this.#raw;
  }

  /** @internal The socket that does this end's asynchronous I/O, created on first use. */
  protected socket(readable: boolean): net.Socket {
    if (this.#socket) return this.#socket;
    const raw = this.liveRaw(readable ? 'read' : 'write');
    // Ownership: from here the socket (libuv's uv_pipe_t) owns the fd; it is closed by destroying
    // the socket, never by the backend.
    this.#disarm();
    const started = this.#backend.startAsync?.(raw);
    const socket: net.Socket = new net.Socket({
      fd: raw.fd,
      readable,
      writable: !readable,
      allowHalfOpen: true,
      ...(readable && this.#backend.platform === 'posix' ? { onread: pipeReads((): net.Socket => socket, started?.capacity) } : {}),
    });
    // The socket reads ahead on its own; it must not keep the process alive unless a caller is
    // actually waiting for something (see track()).
    socket.unref();
    if (!readable && this.#backend.asyncWriteError) confirmWriteErrors(socket, raw, this.#backend.asyncWriteError);
    this.#socket = socket;
    // net.Socket marks itself `closed` when destroy() returns, before libuv has closed the handle;
    // only its 'close' event means the OS handle is gone.
    socket.once('close', () => {
      this.#handleClosed = true;
      started?.release();
    });
    this.listen('close', () => {
      if (this.#state === 'open') this.#state = 'released';
    });
    this.onSocket(socket);
    return socket;
  }

  /** @internal Adds a socket listener that {@link PipeEnd.transfer} removes again. */
  protected listen(event: string, fn: (...args: any[]) => void): void {
    this.#socket!.on(event, fn);
    (this.#listeners ??= []).push([event, fn]);
  }

  /** @internal The socket, if async I/O has started. */
  protected get currentSocket(): net.Socket | undefined {
    return this.#socket;
  }

  /**
   * Lets pending asynchronous reads and writes on this end keep the process alive (the default),
   * as `net.Socket.ref()` does. An idle end never keeps it alive, ref'd or not.
   *
   * @example
   * ```ts
   * reader.unref();            // a read waiting for a peer that may never write
   * void reader.read();        // does not hold the process open
   * reader.ref();              // now it does again, while it is pending
   * ```
   * Platform notes: the same on Windows and POSIX (libuv's handle ref count on the end's socket).
   */
  ref(): this {
    this.#refed = true;
    if (this.#busy > 0) this.#socket?.ref();
    return this;
  }

  /**
   * Lets the process exit although an asynchronous read or write on this end is pending, as
   * `net.Socket.unref()` does. The pending operation stays pending while the process lives.
   * See {@link PipeEnd.ref}.
   */
  unref(): this {
    this.#refed = false;
    this.#socket?.unref();
    return this;
  }

  /** @internal Keeps the process alive while `promise` is pending, as a pending fs call would (unless unref()'d). */
  protected track<T>(promise: Promise<T>): Promise<T> {
    if (this.#busy++ === 0 && this.#refed) this.#socket?.ref();
    const done = (): void => {
      if (--this.#busy === 0) this.#socket?.unref();
    };
    promise.then(done, done);
    return promise;
  }

  /** @internal Gives the socket (and the fd) away to a stream consumer. */
  protected transfer(): net.Socket {
    const socket = this.#socket!;
    this.#state = 'transferred';
    this.onClose(true);
    // The stream's new owner handles its events; ours must not swallow its errors.
    for (const [event, fn] of this.#listeners?.splice(0) ?? []) socket.off(event, fn);
    socket.ref();
    return emitPipeErrors(socket, socket.readable ? 'read' : 'write');
  }

  /** @internal Called once the socket exists. */
  protected abstract onSocket(socket: net.Socket): void;
  /** @internal Called when the user closes the end or it is transferred: settle what is pending. */
  protected abstract onClose(transferred: boolean): void;
}

// An end is a stream.Stream by its prototype chain (instanceof, Deno's check, @types/node's stdio
// type), but the EventEmitter state is made by EventEmitter's own methods on first use, not by its
// constructor for every end: createPipe makes two ends per pair (B5), and the constructor's
// fields cost more per pair than the rest of our objects.
export interface PipeEnd extends Stream {}
Object.setPrototypeOf(PipeEnd.prototype, Stream.prototype);

interface PendingRead {
  size: number;
  resolve(chunk: Buffer): void;
  reject(err: unknown): void;
  cleanup(): void;
}

/**
 * The read end of a pipe.
 *
 * @example
 * ```ts
 * const { reader, writer } = createPipe();
 * const child = spawn(process.execPath, ['-e', 'console.log("hi")'], { stdio: ['ignore', writer, 'inherit'] });
 * writer.close();                       // the child holds its own copy
 * let chunk; while ((chunk = await reader.read()).length) process.stdout.write(chunk);
 * reader.close();
 * ```
 */
export class PipeReader extends PipeEnd {
  #pending: PendingRead[] = [];
  #leftover: Buffer | undefined;
  #eof = false;
  #error: PipeError | undefined;

  /**
   * @internal Ownership and `twin` as for {@link PipeEnd}. `unread`: bytes already read from the
   * fd before the end was made (openFifo's readiness probe); every kind of read serves them first.
   */
  constructor(backend: Backend, raw: RawEnd, twin?: PipeEnd, unread?: Buffer) {
    super(backend, raw, twin);
    if (unread && unread.byteLength > 0) this.#leftover = unread;
  }

  /**
   * Reads into `buffer` and blocks until at least one byte is there. Returns the number of bytes
   * read, and 0 only at end of file: every writer closed (Windows `ERROR_BROKEN_PIPE`).
   * A zero-byte write by the peer is not end of file; the call keeps waiting.
   * Blocks the calling thread: use {@link PipeReader.read} on the main thread of a server.
   *
   * @throws PipeError `ERR_PIPE_CLOSED` after close, `ERR_PIPE_BUSY` while an async read is pending.
   */
  readSync(buffer: ArrayBufferView, offset?: number, length?: number): number {
    const into = byteRange(buffer, offset, length);
    const raw = this.liveRawUnlessEof('read');
    if (this.#pending.length > 0) throw new PipeError({ code: 'ERR_PIPE_BUSY', syscall: 'read' });
    if (into.byteLength === 0) return 0;
    const buffered = this.#takeBuffered(into.byteLength);
    if (buffered) {
      into.set(buffered);
      return buffered.byteLength;
    }
    if (this.#eof || !raw) return 0;
    return this.backend.readSync(raw, into);
  }

  /**
   * Reads up to `size` bytes (default 64 KiB) without blocking the event loop. Resolves with at
   * least one byte, or with an empty Buffer at end of file. Reads queue in call order.
   *
   * @throws TypeError/RangeError synchronously for a bad `size` or `options`.
   */
  read(size: number = DEFAULT_READ_SIZE, options?: PipeIoOptions): Promise<Buffer> {
    validateInteger(size, 'size', 1, MAX_IO);
    validateObject(options, 'options');
    const signal = options?.signal;
    validateAbortSignal(signal, 'options.signal');
    if (this.userClosed) return Promise.reject(closedError('read'));
    if (signal?.aborted) return Promise.reject(abortError(signal));
    if (this.#pending.length === 0) {
      const now = this.#takeBuffered(size);
      if (now) return Promise.resolve(now);
      if (this.#eof) return Promise.resolve(Buffer.alloc(0));
      if (this.#error) return Promise.reject(this.#error);
    }
    let socket: net.Socket;
    try {
      socket = this.socket(true);
    } catch (err) {
      return Promise.reject(err);
    }
    const promise = new Promise<Buffer>((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.#pending.indexOf(entry);
        if (i >= 0) this.#pending.splice(i, 1);
        reject(abortError(signal));
      };
      const entry: PendingRead = {
        size,
        resolve,
        reject,
        cleanup: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending.push(entry);
    });
    this.#pump(socket);
    return this.track(promise);
  }

  /**
   * Every chunk until end of file, read with {@link PipeReader.read} (so without blocking, in
   * order): `for await (const chunk of reader.chunks())`. Leaving the loop early (`break`, a throw)
   * leaves the reader open and loses nothing: a read already started completes into the next call.
   * Chunks are Buffers of at most `size` bytes (default {@link DEFAULT_READ_SIZE}); `signal` aborts
   * the read in progress, which rejects the loop with an `AbortError`.
   *
   * The reader itself is not async-iterable (earlier versions were): execa, and any library that
   * treats an async iterable in `stdio` as data to feed a child, would read the end in the parent
   * instead of giving the child its descriptor.
   *
   * @example
   * ```ts
   * const { reader, writer } = createPipe();
   * writer.writeSync('a'); writer.close();
   * for await (const chunk of reader.chunks()) console.log(chunk.toString()); // 'a'
   * reader.close();
   * ```
   * @throws TypeError/RangeError synchronously for a bad `size` or `options`.
   * The loop rejects as `read` does (`ERR_PIPE_CLOSED` after close, or the OS error).
   */
  chunks(options?: PipeChunksOptions): AsyncIterableIterator<Buffer> {
    validateObject(options, 'options');
    const size = options?.size ?? DEFAULT_READ_SIZE;
    validateInteger(size, 'options.size', 1, MAX_IO);
    const signal = options?.signal;
    validateAbortSignal(signal, 'options.signal');
    return this.#chunks(size, signal);
  }

  async *#chunks(size: number, signal: AbortSignal | undefined): AsyncGenerator<Buffer, undefined, undefined> {
    const opts = signal ? { signal } : undefined;
    for (;;) {
      const chunk = await this.read(size, opts);
      if (chunk.byteLength === 0) return undefined;
      yield chunk;
    }
  }

  /**
   * Hands the end to a `stream.Readable` (as {@link PipeReader.createReadStream} does: the reader is
   * closed from here on) and pipes it into `destination`, as `Readable.pipe` does. The reader then
   * emits that stream's `'end'`, `'error'` and `'close'`, so `stream.pipeline(reader, dest)` and
   * `stream.finished(reader)` see the piping end.
   *
   * @example
   * ```ts
   * await pipeline(reader, createWriteStream('out.bin'));   // node:stream/promises
   * ```
   */
  override pipe<T extends NodeJS.WritableStream>(destination: T, options?: { end?: boolean | undefined }): T {
    const stream = this.createReadStream();
    stream.once('end', () => this.emit('end'));
    stream.once('close', () => this.emit('close'));
    stream.on('error', (err) => {
      // Nobody listens on the reader: the error stays as unhandled as it would be on the stream.
      if (this.listenerCount('error') === 0) throw err;
      this.emit('error', err);
    });
    return stream.pipe(destination, options);
  }

  /**
   * Returns a `stream.Readable` over this end and hands the end to it: the reader is closed from
   * here on, and destroying the stream closes the pipe end. Data already read ahead is kept.
   */
  createReadStream(): Readable {
    if (this.userClosed) throw closedError('createReadStream');
    if (this.closed) {
      // The OS handle is already released (EOF seen asynchronously): hand over what is left.
      const rest = this.#takeBuffered(Number.MAX_SAFE_INTEGER);
      this.close();
      return Readable.from(rest ? [rest] : []);
    }
    const socket = this.socket(true);
    const rest = this.#takeBuffered(Number.MAX_SAFE_INTEGER);
    if (rest) socket.unshift(rest);
    return this.transfer();
  }

  /** @internal */
  protected override onSocket(socket: net.Socket): void {
    this.listen('readable', () => this.#pump(socket));
    this.listen('end', () => {
      this.#eof = true;
      this.#pump(socket);
    });
    this.listen('error', (err: unknown) => {
      this.#error = fromNodeError(err, 'read');
      for (const p of this.#pending.splice(0)) {
        p.cleanup();
        p.reject(this.#error);
      }
    });
  }

  /** @internal */
  protected override onClose(): void {
    // Closed or transferred: either way no read of ours will see data again.
    if (this.#pending.length === 0) return;
    for (const p of this.#pending.splice(0)) {
      p.cleanup();
      p.reject(closedError('read'));
    }
  }

  #pump(socket: net.Socket): void {
    while (this.#pending.length > 0) {
      if (!this.#leftover) {
        const chunk = socket.read() as Buffer | null;
        if (chunk === null) {
          if (!this.#eof) return;
          for (const p of this.#pending.splice(0)) {
            p.cleanup();
            p.resolve(Buffer.alloc(0));
          }
          return;
        }
        this.#leftover = chunk;
      }
      const p = this.#pending.shift()!;
      p.cleanup();
      p.resolve(this.#takeBuffered(p.size)!);
    }
  }

  /** Up to `max` bytes already read ahead by the socket, or undefined. */
  #takeBuffered(max: number): Buffer | undefined {
    if (!this.#leftover) {
      const socket = this.currentSocket;
      const chunk = socket && !socket.destroyed ? (socket.read() as Buffer | null) : null;
      if (!chunk) return undefined;
      this.#leftover = chunk;
    }
    const left = this.#leftover;
    if (left.byteLength <= max) {
      this.#leftover = undefined;
      return left;
    }
    this.#leftover = left.subarray(max);
    return left.subarray(0, max);
  }

  /** The raw end for a sync read; undefined when the handle was released at EOF. */
  private liveRawUnlessEof(syscall: string): RawEnd | undefined {
    if (this.userClosed) throw closedError(syscall);
    if (this.closed) return undefined;
    return this.liveRaw(syscall);
  }
}

/**
 * The write end of a pipe.
 *
 * @example
 * ```ts
 * const { reader, writer } = createPipe();
 * const child = spawn('sort', [], { stdio: [reader, 'inherit', 'inherit'] });
 * reader.close();
 * await writer.write(Buffer.from('b\na\n'));
 * writer.close();                       // the child sees end of file
 * ```
 */
export class PipeWriter extends PipeEnd {
  #error: PipeError | undefined;
  /** Settles of the writes in flight; made on the first asynchronous write (B5 makes ends that never write). */
  #pending: Set<(err: unknown) => void> | undefined;

  /**
   * Writes all of `buffer[offset, offset + length)`, blocking until it is in the pipe.
   * Returns the number of bytes written. A zero-byte write returns 0 and makes no system call.
   * A string is written encoded (`encoding`, default `'utf8'`), as `fs.writeSync` does, and the
   * count is of bytes.
   *
   * @example
   * ```ts
   * writer.writeSync('hello\n');            // 6
   * writer.writeSync('aGk=', 'base64');     // 2
   * ```
   *
   * @throws PipeError `EPIPE` when every reader is gone (never a SIGPIPE), `ERR_PIPE_CLOSED`
   * after close, `ERR_PIPE_BUSY` while an asynchronous write is still in flight.
   */
  writeSync(buffer: ArrayBufferView, offset?: number, length?: number): number;
  writeSync(data: string, encoding?: BufferEncoding): number;
  writeSync(buffer: ArrayBufferView | string, offset?: number | BufferEncoding, length?: number): number {
    const from = typeof buffer === 'string' ? encodeString(buffer, offset, 'encoding') : byteRange(buffer, offset, length);
    if (this.#error && !this.userClosed) throw this.#error;
    const raw = this.liveRaw('write');
    if ((this.#pending?.size ?? 0) > 0 || (this.currentSocket?.writableLength ?? 0) > 0) {
      throw new PipeError({ code: 'ERR_PIPE_BUSY', syscall: 'write' });
    }
    if (from.byteLength === 0) return 0;
    return this.backend.writeSync(raw, from);
  }

  /**
   * Writes all of `buffer` without blocking the event loop; resolves with its length once every
   * byte is in the pipe. Writes go out in call order. Do not modify `buffer` until it resolves.
   * An abort rejects the promise at once, but bytes already handed to the OS may still arrive.
   * A string is encoded first (`options.encoding`, or `options` itself as an encoding name,
   * default `'utf8'`); it resolves with the byte count.
   *
   * @example
   * ```ts
   * await writer.write('ping\n');
   * await writer.write('ff00', 'hex');
   * await writer.write(Buffer.from([1, 2]), { signal: AbortSignal.timeout(1000) });
   * ```
   * @throws TypeError synchronously for a bad `buffer`, encoding or `options`.
   */
  write(buffer: ArrayBufferView | string, options?: PipeWriteOptions | BufferEncoding): Promise<number> {
    if (typeof options === 'string') options = { encoding: options };
    validateObject(options, 'options');
    if (typeof buffer === 'string') buffer = encodeString(buffer, options?.encoding, 'options.encoding');
    else validateBuffer(buffer, 'buffer');
    const signal = options?.signal;
    validateAbortSignal(signal, 'options.signal');
    if (this.userClosed) return Promise.reject(closedError('write'));
    if (signal?.aborted) return Promise.reject(abortError(signal));
    if (this.#error) return Promise.reject(this.#error);
    const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    if (bytes.byteLength === 0) return Promise.resolve(0);
    let socket: net.Socket;
    try {
      socket = this.socket(false);
    } catch (err) {
      return Promise.reject(err);
    }
    const pending = (this.#pending ??= new Set());
    const promise = new Promise<number>((resolve, reject) => {
      let settled = false;
      const settle = (err: unknown): void => {
        if (settled) return;
        settled = true;
        pending.delete(settle);
        signal?.removeEventListener('abort', onAbort);
        if (err === undefined || err === null) resolve(bytes.byteLength);
        else reject(err);
      };
      const onAbort = (): void => settle(abortError(signal));
      signal?.addEventListener('abort', onAbort, { once: true });
      pending.add(settle);
      socket.write(bytes, (err) => {
        if (!err) settle(undefined);
        else settle(this.userClosed ? closedError('write') : (this.#error ??= fromNodeError(err, 'write')));
      });
    });
    return this.track(promise);
  }

  /**
   * Returns a `stream.Writable` over this end and hands the end to it: the writer is closed from
   * here on. `stream.end()` flushes, then closes the pipe end, so the reader sees end of file.
   */
  createWriteStream(): Writable {
    if (this.userClosed) throw closedError('createWriteStream');
    if (this.#error) throw this.#error;
    this.socket(false);
    return this.transfer();
  }

  /** A writer is not readable: throws `ERR_STREAM_CANNOT_PIPE`, as Node's `Writable.pipe` reports. */
  override pipe<T extends NodeJS.WritableStream>(_destination: T, _options?: { end?: boolean | undefined }): T {
    throw cannotPipe();
  }

  /** @internal */
  protected override onSocket(): void {
    this.listen('error', (err: unknown) => {
      this.#error ??= fromNodeError(err, 'write');
      if (this.#pending) for (const settle of [...this.#pending]) settle(this.#error);
    });
  }

  /** @internal */
  protected override onClose(transferred: boolean): void {
    // Transferred writes are still in the socket's queue and will complete; closed ones will not.
    if (!transferred && this.#pending && this.#pending.size > 0) for (const settle of [...this.#pending]) settle(closedError('write'));
  }
}
