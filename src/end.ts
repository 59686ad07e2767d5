/**
 * {@link PipeEnd}, the base of both pipe ends: ownership, close and detach, and the `net.Socket`
 * that does an end's asynchronous I/O. The ends themselves: src/reader.ts and src/writer.ts.
 *
 * Synchronous I/O goes straight to the OS through the backend (ReadFile/WriteFile, read/write).
 * Asynchronous I/O and streams go through a `net.Socket` opened on the end's own fd, so libuv
 * does the waiting: IOCP for overlapped handles, the Windows thread pool for synchronous ones
 * (as libuv does for every anonymous pipe), epoll/kqueue on POSIX. No libuv thread-pool thread
 * is ever parked on a pending read.
 */
import net from 'node:net';
import { Stream } from 'node:stream';
import { inspect } from 'node:util';
import type { Backend, RawEnd } from './backend.js';
import { emitPipeErrors } from './connection.js';
import { ArmQueue, finalizer, type Held } from './end-gc.js';
import { confirmWriteErrors, pipeReads } from './end-socket.js';
import { PipeError, closedError } from './errors.js';
import { validateBoolean } from './validate.js';

const dispose: typeof Symbol.dispose = Symbol.dispose ?? Symbol.for('nodejs.dispose');
const asyncDispose: typeof Symbol.asyncDispose = Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose');

/** Options for a single asynchronous read or write. */
export interface PipeIoOptions {
  /** Aborts the pending operation; it rejects with an `AbortError`. */
  signal?: AbortSignal;
}

type State = 'open' | 'released' | 'closed' | 'transferred';

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
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the interface PipeEnd after the class types the Stream methods its prototype chain gives every end
export abstract class PipeEnd {
  readonly #backend: Backend;
  #raw: RawEnd;
  #state: State = 'open';
  #socket: net.Socket | undefined;
  #handleClosed = false;
  /** Our listeners on the socket, made with it (most ends never get one). */
  // biome-ignore lint/suspicious/noExplicitAny: socket listeners of any signature, as net.Socket's own on() takes them
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
    // file: one look-up serves both ends (a caller that hands out both fds of a pair pays one fstat).
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
  // biome-ignore lint/suspicious/noExplicitAny: socket listeners of any signature, as net.Socket's own on() takes them
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
// constructor for every end: createPipe makes two ends per pair, and the constructor's
// fields cost more per pair than the rest of our objects.
export interface PipeEnd extends Stream {}
Object.setPrototypeOf(PipeEnd.prototype, Stream.prototype);
