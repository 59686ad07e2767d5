/**
 * The read end of a pipe, {@link PipeReader}: synchronous reads through the backend, asynchronous
 * ones and streams through the end's `net.Socket` (src/end.ts).
 */
import type net from 'node:net';
import { Readable } from 'node:stream';
import type { Backend, RawEnd } from './backend.js';
import { PipeEnd, type PipeIoOptions } from './end.js';
import { PipeError, abortError, closedError, fromNodeError } from './errors.js';
import { MAX_IO, byteRange, validateAbortSignal, validateInteger, validateObject } from './validate.js';

/** Options for {@link PipeReader.chunks}. */
export interface PipeChunksOptions extends PipeIoOptions {
  /** The most bytes one chunk holds (default {@link DEFAULT_READ_SIZE}). */
  size?: number;
}

/** Default size of an asynchronous {@link PipeReader.read}: libuv's own read size. */
export const DEFAULT_READ_SIZE = 64 * 1024;

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
   * `stream.finished(reader)` see the piping end. Node's typings of `pipeline` know only Node's own
   * streams (and iterables, which a reader is not), so TypeScript takes the stream itself:
   *
   * @example
   * ```ts
   * await pipeline(reader.createReadStream(), createWriteStream('out.bin'));   // node:stream/promises
   * reader.pipe(process.stdout);                                              // or pipe() directly
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
