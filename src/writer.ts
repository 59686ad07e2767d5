/**
 * The write end of a pipe, {@link PipeWriter}: synchronous writes through the backend,
 * asynchronous ones and streams through the end's `net.Socket` (src/end.ts).
 */
import type net from 'node:net';
import type { Writable } from 'node:stream';
import { PipeEnd, type PipeIoOptions } from './end.js';
import { PipeError, abortError, cannotPipe, closedError, fromNodeError, invalidArgValue } from './errors.js';
import { byteRange, validateAbortSignal, validateBuffer, validateObject } from './validate.js';

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
  /** Settles of the writes in flight; made on the first asynchronous write (many ends never write). */
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
