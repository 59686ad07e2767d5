/**
 * Message-mode connections: one `stream.Duplex` over a platform {@link MessageTransport}
 * (Windows: a PIPE_TYPE_MESSAGE named pipe; POSIX: CPython's length-prefixed framing on a Unix
 * socket; the framing itself is in src/framing.ts).
 */
import { Duplex, type DuplexOptions } from 'node:stream';
import { PipeError, closedError } from './errors.js';
import type { PipeMode } from './options.js';
import type { PeerIdentity, PipeConnection } from './types.js';
import { peerPid, writeError, type PeerSource } from './connection.js';
import { Inbox } from './inbox.js';
import { validateBuffer } from './validate.js';

/** What a platform provides to move whole messages. */
export interface MessageTransport {
  /** Sends one message. Rejects with a PipeError (EPIPE, ...) on failure. */
  send(message: Uint8Array): Promise<void>;
  /**
   * Optional batch form: sends each of `messages` as exactly one message, in order, and calls
   * `callback` once, after the last (with the first error, if any). Lets a transport hand a whole
   * batch of small messages to the OS in one system call (POSIX: one framed buffer, one write).
   */
  sendBatch?(messages: readonly Uint8Array[], callback: (error?: Error | null) => void): void;
  /** Starts (or resumes) delivering messages to `sink`. */
  start(sink: MessageSink): void;
  /**
   * The largest message one send can carry, if the platform has a limit (Windows: WriteFile's
   * length is a DWORD, so 4 GiB - 1). A larger one is refused with `ERR_MESSAGE_TOO_LARGE`
   * before it is copied or reaches the OS.
   */
  readonly maxSendSize?: number;
  /** Stops asking the OS for more messages until `start` is called again. */
  pause(): void;
  /** No more sends; the peer sees end of stream once everything sent has been read. */
  end(): Promise<void>;
  /**
   * Cancels everything pending and releases the OS handle; idempotent. May return a promise that
   * settles once the handle is really closed: the connection emits `'close'` only after it.
   */
  destroy(): void | Promise<void>;
  ref(): void;
  unref(): void;
  /** Optional: changes the largest message accepted from the next read on (end of a handshake). */
  setMaxMessageSize?(max: number): void;
}

/** Where a transport delivers. Called on the JS thread. */
export interface MessageSink {
  message(data: Buffer): void;
  /** Orderly end of stream (the peer closed or ended). */
  end(): void;
  error(err: Error): void;
}

/** At most this many messages are read ahead of the consumer (empty ones cost memory too)... */
const READ_AHEAD = 16;
/**
 * Bytes a writer may queue before write() returns false: 16 KiB, as net.Socket (advice, never a drop).
 * Counted in bytes, not messages: small messages queue up and go out together (one batch per
 * system call, see _writev), while large ones still wait for 'drain' one by one.
 */
const WRITE_QUEUE_BYTES = 16 * 1024;

/**
 * A message-mode {@link PipeConnection}. `write(buf)` sends exactly one message; `'data'`
 * emits one non-empty message per event (Node streams cannot carry empty chunks);
 * `messages()` yields every message, empty ones included.
 */
export class MessageConnection extends Duplex implements PipeConnection {
  readonly mode: PipeMode;
  readonly path: string;
  readonly serverOwnerSid: string | undefined;
  readonly peerUid: number | undefined;
  readonly peerGid: number | undefined;
  readonly #clientProcessId: number | undefined;
  readonly #serverProcessId: number | undefined;
  readonly #peer: PeerIdentity;
  /** Windows: the identity, read when first asked (src/windows/trust.ts, LazyPeer). */
  readonly #peerSource: PeerSource | undefined;
  readonly #transport: MessageTransport;
  /** Read ahead of the consumer; `null` marks the end of stream. Reading stops at 16 messages or `readAheadBytes`. */
  readonly #queue: Inbox<Buffer | null>;
  #waiters: { resolve(v: Buffer | null): void; reject(e: unknown): void }[] = [];
  #failure: Error | undefined;
  #flowing = false;
  #pulling = false;

  /** @internal Ownership: the connection owns `transport` and destroys it once. */
  constructor(
    transport: MessageTransport,
    info: {
      path: string;
      clientProcessId?: number;
      serverProcessId?: number;
      serverOwnerSid?: string;
      peerUid?: number;
      peerGid?: number;
      peer?: PeerIdentity;
      peerSource?: PeerSource;
      readable: boolean;
      writable: boolean;
      readAheadBytes: number;
      allowHalfOpen?: boolean;
      mode?: PipeMode;
    },
  ) {
    // `mode: 'byte'`: a byte stream over a transport of ours (Windows with `halfClose`, where
    // libuv cannot send or see a zero-byte message): chunks, not messages, on the read side.
    const bytes = info.mode === 'byte';
    // Each message is one object when read, and one chunk (never merged or split) when written.
    // The read side's own buffer holds one message at most: an object-mode high-water mark counts
    // messages, not bytes, so the read-ahead lives in #queue, where it is bounded in bytes. The
    // write side counts bytes so that its queue bound means the same for 1 B and 1 MiB.
    super({
      readableObjectMode: !bytes,
      readableHighWaterMark: bytes ? WRITE_QUEUE_BYTES : 1,
      writableObjectMode: false,
      writableHighWaterMark: WRITE_QUEUE_BYTES,
      decodeStrings: true,
      // false (net's default): Duplex ends our side when the peer's end is read, then 'close'.
      allowHalfOpen: info.allowHalfOpen ?? true,
      readable: info.readable,
      writable: info.writable,
    } as DuplexOptions);
    this.mode = bytes ? 'byte' : 'message';
    this.#queue = new Inbox<Buffer | null>(READ_AHEAD, info.readAheadBytes);
    this.path = info.path;
    this.#clientProcessId = info.clientProcessId;
    this.#serverProcessId = info.serverProcessId;
    this.serverOwnerSid = info.serverOwnerSid;
    this.peerUid = info.peerUid;
    this.peerGid = info.peerGid;
    this.#peer = info.peer ?? { pid: undefined };
    this.#peerSource = info.peerSource;
    this.#transport = transport;
    if (!info.readable) return;
    transport.start({
      message: (data) => this.#deliver(data),
      end: () => this.#deliver(null),
      error: (err) => this.#fail(err),
    });
    this.#flowing = true;
  }

  get clientProcessId(): number | undefined {
    return this.#peerSource ? peerPid(this.#peerSource, 'client') : this.#clientProcessId;
  }

  get serverProcessId(): number | undefined {
    return this.#peerSource ? peerPid(this.#peerSource, 'server') : this.#serverProcessId;
  }

  get peer(): PeerIdentity {
    return this.#peerSource ? this.#peerSource.get() : this.#peer;
  }

  /** Sends one message; resolves once the OS has it. */
  writeMessage(data: ArrayBufferView): Promise<void> {
    validateBuffer(data, 'data');
    const tooLarge = this.#tooLarge(data.byteLength);
    if (tooLarge) return Promise.reject(tooLarge);
    return new Promise((resolve, reject) => {
      this.write(toBuffer(data), (err) => (err ? reject(writeError(err, this.path)) : resolve()));
    });
  }

  /** Every message until end of stream, empty ones included. */
  async *messages(): AsyncIterableIterator<Buffer> {
    // A failure reaches this loop as a rejection; without a listener it would also be an uncaught
    // 'error' event, which a `try { for await ... }` around the loop could not catch.
    const onError = (): void => {};
    this.on('error', onError);
    try {
      for (;;) {
        const next = await this.#next();
        if (next === null) {
          // Let the stream side reach 'end' too, so the connection can emit 'close' once the
          // writable side finishes (nothing but the end is left in the queue).
          if (!this.readableEnded) this.resume();
          return;
        }
        yield next;
      }
    } finally {
      this.off('error', onError);
    }
  }

  /** Keep the process alive while this connection waits for data (default). */
  ref(): this {
    this.#transport.ref();
    return this;
  }

  /** Let the process exit even though this connection is open. */
  unref(): this {
    this.#transport.unref();
    return this;
  }

  /**
   * A view whose length a 32-bit FFI parameter cannot carry is refused here, before Writable turns
   * it into a Buffer: it fails like any failed write (callback, then 'error'), and nothing is sent.
   */
  override write(chunk: unknown, callback?: (error: Error | null | undefined) => void): boolean;
  override write(chunk: unknown, encoding: BufferEncoding, callback?: (error: Error | null | undefined) => void): boolean;
  override write(chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
    const tooLarge = ArrayBuffer.isView(chunk) ? this.#tooLarge(chunk.byteLength) : undefined;
    if (!tooLarge) return (super.write as (...a: unknown[]) => boolean)(chunk, encoding, cb);
    const callback = typeof encoding === 'function' ? encoding : typeof cb === 'function' ? cb : undefined;
    if (callback) process.nextTick(callback as (err: Error) => void, tooLarge);
    this.destroy(tooLarge);
    return false;
  }

  override _write(chunk: unknown, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const bytes = messageBytes(chunk);
    if (bytes instanceof TypeError) return callback(bytes);
    const tooLarge = this.#tooLarge(bytes.byteLength);
    if (tooLarge) return callback(tooLarge);
    if (this.#transport.sendBatch) this.#transport.sendBatch([bytes], callback);
    else this.#transport.send(bytes).then(() => callback(), callback);
  }

  /**
   * Writes buffered while an earlier one was in flight arrive here together. Each chunk is still
   * exactly one message; the transport may only put them into fewer system calls.
   */
  override _writev(chunks: { chunk: unknown; encoding: BufferEncoding }[], callback: (error?: Error | null) => void): void {
    const messages: Uint8Array[] = [];
    for (const { chunk } of chunks) {
      const bytes = messageBytes(chunk);
      if (bytes instanceof TypeError) return callback(bytes);
      const tooLarge = this.#tooLarge(bytes.byteLength);
      if (tooLarge) return callback(tooLarge);
      messages.push(bytes);
    }
    const t = this.#transport;
    if (t.sendBatch) return t.sendBatch(messages, callback);
    // One message at a time, in order (Windows: one WriteFile per message).
    let i = 0;
    const next = (): void => {
      if (i === messages.length) return callback();
      t.send(messages[i++]!).then(next, callback);
    };
    next();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#transport.end().then(() => callback(), callback);
  }

  override _read(): void {
    this.#pulling = true;
    this.#drainToStream();
    this.#resumeIfRoom();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    const released = this.#transport.destroy();
    const reason = err ?? closedError('read');
    for (const w of this.#waiters.splice(0)) w.reject(reason);
    // 'close' only once the OS handle is gone: a server that makes its next instance on 'close'
    // must not find the old one still counted (ERROR_PIPE_BUSY for the new instance).
    if (released)
      released.then(
        () => callback(err),
        () => callback(err),
      );
    else callback(err);
  }

  /** The refusal of a message the platform cannot send in one piece, or undefined. */
  #tooLarge(size: number): PipeError | undefined {
    const max = this.#transport.maxSendSize;
    if (max === undefined || size <= max) return undefined;
    return new PipeError({ code: 'ERR_MESSAGE_TOO_LARGE', syscall: 'write', path: this.path, message: `ERR_MESSAGE_TOO_LARGE: a ${size}-byte message exceeds the ${max}-byte limit of one write` });
  }

  #deliver(data: Buffer | null): void {
    if (this.#queue.tail() === null) return;
    this.#queue.push(data);
    if (this.#waiters.length > 0) {
      // Waiters exist only while the queue was empty. The end of stream stays queued (sticky), so
      // every later messages() call ends too, and so does the stream side.
      if (data === null) for (const w of this.#waiters.splice(0)) w.resolve(null);
      else this.#waiters.shift()!.resolve(this.#take()!);
    } else this.#drainToStream();
    if (data === null) this.#endIfNothingUnread();
    if (this.#queue.full() && this.#flowing) {
      this.#flowing = false;
      this.#transport.pause();
    }
  }

  /**
   * The peer has ended and nothing is left unread: end the stream side now, even if nobody reads
   * any more, as a `net.Socket` does. Once our side has finished too, the connection closes and
   * releases its pipe (on Windows, one of the name's instances). A reader that stopped at its last
   * expected message would otherwise hold the connection open for good.
   */
  #endIfNothingUnread(): void {
    if (this.#queue.length !== 1 || this.readableLength !== 0 || this.readableEnded || this.destroyed) return;
    this.#pulling = false;
    this.push(null);
    // Readable emits 'end' only when read: read(0) on an ended, empty stream does that and nothing else.
    this.read(0);
  }

  #drainToStream(): void {
    // Only while the stream side asked (_read); messages() consumers take from the queue directly.
    while (this.#pulling && this.#queue.length > 0) {
      const next = this.#queue.head()!;
      if (next === null) {
        // Left in the queue: messages() ends as well. _read is never called again after this.
        this.#pulling = false;
        this.push(null);
        return;
      }
      this.#take();
      if (next.length > 0 && !this.push(next)) this.#pulling = false;
    }
  }

  #resumeIfRoom(): void {
    // Never after the end of stream: there is nothing more to read.
    if (!this.#flowing && this.#queue.below() && !this.#failure && !this.destroyed && this.#queue.tail() !== null) {
      this.#flowing = true;
      this.#transport.start({
        message: (data) => this.#deliver(data),
        end: () => this.#deliver(null),
        error: (err) => this.#fail(err),
      });
    }
  }

  #next(): Promise<Buffer | null> {
    if (this.#queue.length > 0) {
      const v = this.#take();
      if (v === null) this.#queue.unshift(null);
      this.#resumeIfRoom();
      return Promise.resolve(v);
    }
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.destroyed) return Promise.reject(closedError('read'));
    this.#resumeIfRoom();
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** The head of the queue, out of it and out of the byte count. */
  #take(): Buffer | null {
    return this.#queue.shift();
  }

  #fail(err: Error): void {
    this.#failure = err;
    for (const w of this.#waiters.splice(0)) w.reject(err);
    this.destroy(err);
  }
}

/** A written chunk as the bytes of one message, or the TypeError for a chunk that cannot be one. */
function messageBytes(chunk: unknown): Uint8Array | TypeError {
  if (typeof chunk === 'string') return Buffer.from(chunk);
  if (ArrayBuffer.isView(chunk)) return toBuffer(chunk);
  return new TypeError('a message must be a Buffer, TypedArray, DataView or string');
}

function toBuffer(view: ArrayBufferView): Buffer {
  return Buffer.isBuffer(view) ? view : Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}
