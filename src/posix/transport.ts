/**
 * Message mode on a byte stream: CPython's `multiprocessing.connection` framing over a Unix domain
 * socket (`net.Socket`), as a {@link MessageTransport} for {@link MessageConnection}.
 *
 * Each message is a 4-byte big-endian signed length, then the bytes; above 2 GiB - 1 the length
 * is -1 followed by an 8-byte length (see {@link frameHeader} / {@link FrameDecoder}). A zero-length
 * message is a bare header, so it round-trips as an empty message and is never end of stream.
 */
import type net from 'node:net';
import { PipeError, closedError, isPipeError } from '../errors.js';
import type { HalfClose } from '../options.js';
import { FrameDecoder, frameHeader } from '../framing.js';
import type { MessageSink, MessageTransport } from '../message.js';

/** Below this, header and payload go out as one buffer (one syscall); above, two writes, no copy. */
const COALESCE_LIMIT = 64 * 1024;
/** A batch of small messages is framed into one buffer of at most this size (one copy, one write). */
const BATCH_LIMIT = 256 * 1024;
const EMPTY = Buffer.alloc(0);

/**
 * A Node stream error (or anything) as a PipeError carrying the pipe's path; a write on a
 * destroyed stream becomes `ERR_PIPE_CLOSED`.
 *
 * @example
 * ```ts
 * socket.write(buf, (err) => err && reject(socketError(err, 'write', path)));
 * ```
 */
export function socketError(err: unknown, syscall: string, path: string): PipeError {
  if (isPipeError(err)) return err;
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ERR_STREAM_DESTROYED') return new PipeError({ code: 'ERR_PIPE_CLOSED', syscall, path, cause: err });
  return new PipeError({ code: typeof e?.code === 'string' ? e.code : 'UNKNOWN', syscall: e?.syscall ?? syscall, path, cause: err });
}

/** A small message framed into one buffer, header and payload (no header buffer, no concat). */
function framed(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(4 + message.byteLength);
  out.writeInt32BE(message.byteLength, 0);
  out.set(message, 4);
  return out;
}

/**
 * Whole messages over a connected `net.Socket` (a Unix domain socket on POSIX).
 *
 * @example
 * ```ts
 * const socket = net.connect({ path, allowHalfOpen: true });
 * await once(socket, 'connect');
 * const conn = new MessageConnection(new SocketMessageTransport(socket, path, 64 << 20), { path, readable: true, writable: true });
 * await conn.writeMessage(Buffer.from('ping'));   // on the wire: 00 00 00 04 'ping'
 * ```
 *
 * Ownership: the transport owns `socket` from construction and destroys it in {@link destroy}.
 * The socket must have been created with `allowHalfOpen: true`, so that {@link end} is a real
 * half-close and the peer can still answer.
 */
export class SocketMessageTransport implements MessageTransport {
  readonly #socket: net.Socket;
  readonly #path: string;
  readonly #decoder: FrameDecoder;
  #sink: MessageSink | undefined;
  #attached = false;
  /** End of stream seen (clean), delivered or waiting for a sink. */
  #eof = false;
  /** A read-side failure, delivered or waiting for a sink. */
  #failure: PipeError | undefined;
  /** True once end or error has been handed to a sink: nothing more is delivered. */
  #done = false;

  /**
   * `'zero-message'`: the Windows convention (go-winio CloseWrite) carried over our framing. `end()`
   * sends a zero-length frame and keeps the socket open; a zero-length frame read is end of stream.
   * So a peer sees the same thing from a Windows and a POSIX winpipe (docs/half-close.md).
   */
  readonly #halfClose: HalfClose | undefined;

  constructor(socket: net.Socket, path: string, maxMessageSize: number, options?: { halfClose?: HalfClose | undefined }) {
    this.#halfClose = options?.halfClose;
    this.#socket = socket;
    this.#path = path;
    this.#decoder = new FrameDecoder(maxMessageSize);
    // Listen for the end and errors from the start: a socket held back by the server (maxInstances)
    // or not yet started may see them before anyone asks for messages. Our 'error' listener also
    // keeps a socket error from becoming an uncaught exception; it reaches the user through the
    // MessageConnection (sink.error, or the failing write's callback).
    socket.on('end', () => this.#onEnd());
    socket.on('error', (err) => this.#fail(socketError(err, 'read', path)));
    // 'end' may already be behind us (an idle socket that saw EOF before we were attached).
    if (socket.readableEnded) this.#eof = true;
  }

  send(message: Uint8Array): Promise<void> {
    const socket = this.#socket;
    if (socket.destroyed) return Promise.reject(closedError('write'));
    return new Promise((resolve, reject) => {
      const done = (err?: Error | null): void => (err ? reject(socketError(err, 'write', this.#path)) : resolve());
      const size = message.byteLength;
      if (size <= COALESCE_LIMIT) {
        socket.write(framed(message), done);
      } else {
        const header = frameHeader(size);
        // Two buffers, one writev: no copy of a large payload. Writes on a socket keep their order,
        // and MessageConnection sends one message at a time, so frames never interleave.
        socket.cork();
        socket.write(header);
        socket.write(message, done);
        socket.uncork();
      }
    });
  }

  sendBatch(messages: readonly Uint8Array[], callback: (error?: Error | null) => void): void {
    const socket = this.#socket;
    if (socket.destroyed) return callback(closedError('write'));
    const done = (err?: Error | null): void => callback(err ? socketError(err, 'write', this.#path) : undefined);
    // Small messages (the usual case) are framed back to back into buffers of up to BATCH_LIMIT:
    // one copy and, for a typical batch, one write() for all of them. A large payload goes out as
    // its own buffer after its header, uncopied. Writes on one socket keep their order, and the
    // stream calls us with one batch at a time, so frames never interleave.
    let n = messages.length;
    if (n === 1 && messages[0]!.byteLength <= COALESCE_LIMIT) {
      socket.write(framed(messages[0]!), done);
      return;
    }
    const parts: Uint8Array[] = [];
    let i = 0;
    while (i < n) {
      if (messages[i]!.byteLength > COALESCE_LIMIT) {
        const m = messages[i++]!;
        parts.push(frameHeader(m.byteLength), m);
        continue;
      }
      let size = 0;
      let j = i;
      while (j < n && messages[j]!.byteLength <= COALESCE_LIMIT && (j === i || size + 4 + messages[j]!.byteLength <= BATCH_LIMIT)) size += 4 + messages[j++]!.byteLength;
      const out = Buffer.allocUnsafe(size);
      let o = 0;
      for (; i < j; i++) {
        const m = messages[i]!;
        out.writeInt32BE(m.byteLength, o);
        out.set(m, o + 4);
        o += 4 + m.byteLength;
      }
      parts.push(out);
    }
    n = parts.length;
    if (n > 1) socket.cork();
    for (let k = 0; k < n - 1; k++) socket.write(parts[k]!);
    socket.write(parts[n - 1]!, done);
    if (n > 1) socket.uncork();
  }

  start(sink: MessageSink): void {
    this.#sink = sink;
    if (this.#done) return;
    if (this.#failure || this.#eof) {
      // Seen before a sink existed: deliver now, but not re-entrantly inside the caller.
      process.nextTick(() => this.#settle());
      return;
    }
    if (!this.#attached) {
      this.#attached = true;
      this.#socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    }
    this.#socket.resume();
  }

  pause(): void {
    this.#socket.pause();
  }

  end(): Promise<void> {
    const socket = this.#socket;
    if (this.#halfClose === 'zero-message') {
      if (socket.destroyed || socket.writableEnded) return Promise.resolve();
      // The zero-length frame is the end; the socket stays open (and reading) until both are done.
      return this.send(EMPTY).catch((err: PipeError) => {
        // The peer already closed: there is no direction left to end.
        if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') throw err;
      });
    }
    return new Promise((resolve, reject) => {
      if (socket.writableFinished) return resolve();
      // Half-close once everything written is flushed: the peer reads it all, then end of stream,
      // and may still answer.
      socket.end((err?: Error | null) => (err ? reject(socketError(err, 'shutdown', this.#path)) : resolve()));
    });
  }

  destroy(): void {
    this.#socket.destroy();
  }

  ref(): void {
    this.#socket.ref();
  }

  unref(): void {
    this.#socket.unref();
  }

  #onData(chunk: Buffer): void {
    if (this.#done || this.#eof) return;
    let messages: Buffer[];
    try {
      messages = this.#decoder.push(chunk);
    } catch (err) {
      this.#fail(socketError(err, 'read', this.#path));
      return;
    }
    for (const m of messages) {
      if (m.length === 0 && this.#halfClose === 'zero-message') {
        // The peer's end (see #halfClose); whatever follows it is not read.
        this.#eof = true;
        this.#settle();
        return;
      }
      this.#sink?.message(m);
    }
    if (messages.length > 0) {
      // A bad frame right after good ones in the same chunk is reported now, after them.
      try {
        this.#decoder.push(EMPTY);
      } catch (err) {
        this.#fail(socketError(err, 'read', this.#path));
      }
    }
  }

  #onEnd(): void {
    if (this.#done || this.#failure) return;
    if (!this.#decoder.idle) {
      // The peer went away in the middle of a message: that message is lost, not ended.
      this.#fail(new PipeError({ code: 'ECONNRESET', syscall: 'read', path: this.#path, message: `ECONNRESET: end of stream in the middle of a message on '${this.#path}'` }));
      return;
    }
    this.#eof = true;
    this.#settle();
  }

  #fail(err: PipeError): void {
    if (this.#done || this.#failure) return;
    this.#failure = err;
    this.#settle();
    // Nothing more can be read reliably after a framing error; the connection is over.
    this.#socket.destroy();
  }

  /** Hands a pending end or failure to the sink, once. */
  #settle(): void {
    const sink = this.#sink;
    if (!sink || this.#done) return;
    if (this.#failure) {
      this.#done = true;
      sink.error(this.#failure);
    } else if (this.#eof) {
      this.#done = true;
      sink.end();
    }
  }
}
