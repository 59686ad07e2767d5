/**
 * Message mode on Windows: whole messages over a connected, overlapped PIPE_READMODE_MESSAGE
 * handle, with ReadFile/WriteFile completed on our own port (src/windows/overlapped.ts). libuv
 * cannot read messages (it forces PIPE_READMODE_BYTE), so `createServer`/`connect` in message mode
 * (and byte mode with `halfClose`) and the `winpipe/connection` channel run on this transport.
 */
import { PipeError, WIN32_ERRORS, win32Error } from '../errors.js';
import type { MessageSink, MessageTransport } from '../message.js';
import type { HalfClose } from '../options.js';
import * as k32 from './kernel32.js';
import { NativeBuffer } from './native-buffer.js';
import { OverlappedSlot, type Completion } from './overlapped.js';

const E = WIN32_ERRORS;

/** Errors that mean "the other side is gone": end of stream for reads, EPIPE for writes. */
function isDisconnect(error: number): boolean {
  return error === E.ERROR_BROKEN_PIPE || error === E.ERROR_PIPE_NOT_CONNECTED || error === E.ERROR_NO_DATA;
}

const READ_CHUNK = 64 * 1024;
/** Reads that finished at once, in a row, before the read loop lets the event loop turn. */
const INLINE_READS = 64;
/** Bytes of queued messages copied to native memory together and written back to back. */
const WRITE_BATCH_BYTES = 64 * 1024;

/** One queued message and how to tell its writer. */
interface PendingWrite {
  data: Uint8Array;
  resolve(): void;
  reject(e: unknown): void;
}
/** The largest value of a DWORD parameter (ReadFile/WriteFile lengths). */
const MAX_DWORD = 0xffff_ffff;

/**
 * Whole messages over a PIPE_READMODE_MESSAGE handle with overlapped ReadFile/WriteFile.
 * A message longer than the read buffer arrives as ERROR_MORE_DATA pieces and is reassembled.
 * Ownership: owns `handle`, closed once both slots are idle after destroy().
 */
export class WinMessageTransport implements MessageTransport {
  readonly #handle: k32.HANDLE;
  readonly #path: string;
  #max: number;
  readonly #readSlot: OverlappedSlot;
  readonly #writeSlot: OverlappedSlot;
  readonly #readBuf = new NativeBuffer(READ_CHUNK);
  #writeBuf: NativeBuffer | undefined;
  #sink: MessageSink | undefined;
  #wantRead = false;
  #reading = false;
  #writes: PendingWrite[] = [];
  #writing = false;
  #flushed: (() => void)[] = [];
  #destroyed = false;
  #released = false;
  /** True until the handle is closed. */
  get open(): boolean {
    return !this.#released;
  }
  readonly #onRelease: (() => void) | undefined;
  readonly #releasedPromise: Promise<void>;
  #resolveReleased!: () => void;
  /** WriteFile's nNumberOfBytesToWrite is a DWORD: one message is at most 4 GiB - 1. */
  readonly maxSendSize = MAX_DWORD;

  /** `halfClose`: go-winio's zero-byte message ends a direction (see ConnectOptions.halfClose). */
  readonly #halfClose: HalfClose | undefined;
  /** A byte-mode pipe (only with halfClose): chunks, and an empty write is a no-op. */
  readonly #bytes: boolean;

  /** `onRelease` runs right after the handle is closed (the server counts its instances by it). */
  constructor(handle: k32.HANDLE, path: string, maxMessageSize: number, onRelease?: () => void, options?: { halfClose?: HalfClose | undefined; bytes?: boolean }) {
    this.#halfClose = options?.halfClose;
    this.#bytes = options?.bytes ?? false;
    this.#handle = handle;
    this.#path = path;
    this.#max = maxMessageSize;
    this.#onRelease = onRelease;
    this.#releasedPromise = new Promise((resolve) => (this.#resolveReleased = resolve));
    this.#readSlot = new OverlappedSlot(handle);
    this.#writeSlot = new OverlappedSlot(handle);
  }

  start(sink: MessageSink): void {
    this.#sink = sink;
    this.#wantRead = true;
    if (!this.#reading) void this.#readLoop();
  }

  pause(): void {
    this.#wantRead = false;
  }

  setMaxMessageSize(max: number): void {
    this.#max = max;
  }

  send(message: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => this.sendBatch([message], (err) => (err ? reject(err) : resolve())));
  }

  /**
   * A batch of messages (the connection's writev), each still one WriteFile, queued at once so
   * that the write loop copies them together and issues them back to back; one callback at the
   * end. `send` is the batch of one.
   */
  sendBatch(messages: readonly Uint8Array[], callback: (error?: Error | null) => void): void {
    if (this.#destroyed) return callback(new PipeError({ code: 'ERR_PIPE_CLOSED', syscall: 'WriteFile', path: this.#path }));
    let left = messages.length;
    let failed = false;
    const done = (err?: unknown): void => {
      if (failed) return;
      if (err) {
        failed = true;
        callback(err as Error);
      } else if (--left === 0) callback();
    };
    // Checked here too, the one place the length crosses into WriteFile: above 2^32 - 1 it would wrap.
    for (const m of messages) {
      if (m.byteLength > MAX_DWORD) {
        done(
          new PipeError({
            code: 'ERR_MESSAGE_TOO_LARGE',
            syscall: 'WriteFile',
            path: this.#path,
            message: `ERR_MESSAGE_TOO_LARGE: a ${m.byteLength}-byte message exceeds the ${MAX_DWORD}-byte limit of one WriteFile`,
          }),
        );
        return;
      }
    }
    for (const m of messages) {
      // Byte mode: a zero-byte write is a no-op, as on every winpipe byte stream
      // (docs/anonymous-pipes.md, "Semantics"); on this message-type pipe it would read as an end.
      if (this.#bytes && m.byteLength === 0) done();
      else this.#writes.push({ data: m, resolve: done, reject: done });
    }
    if (messages.length === 0) return callback();
    if (!this.#writing && this.#writes.length > 0) void this.#writeLoop();
  }

  #enqueue(message: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#writes.push({ data: message, resolve, reject });
      if (!this.#writing) void this.#writeLoop();
    });
  }

  async end(): Promise<void> {
    if (this.#halfClose === 'zero-message') {
      // go-winio's CloseWrite: one zero-byte WriteFile after everything written (the write queue
      // keeps the order), and the handle stays open, reading, until the peer ends too.
      if (this.#destroyed) return;
      try {
        await this.#enqueue(new Uint8Array(0));
      } catch (err) {
        // The peer already closed: there is no direction left to end.
        if ((err as PipeError).code !== 'EPIPE') throw err;
      }
      return;
    }
    // Named pipes have no half-close: deliver everything, then close; the peer reads it all, then EOF.
    if (this.#writing || this.#writes.length > 0) await new Promise<void>((resolve) => this.#flushed.push(resolve));
    this.#sink?.end();
    this.destroy();
  }

  /** Resolves once the handle is closed (pending I/O cancelled and completed). */
  destroy(): Promise<void> {
    if (this.#destroyed) return this.#releasedPromise;
    this.#destroyed = true;
    for (const w of this.#writes.splice(0)) w.reject(new PipeError({ code: 'ERR_PIPE_CLOSED', syscall: 'WriteFile', path: this.#path }));
    this.#readSlot.cancel();
    this.#writeSlot.cancel();
    this.#releaseIfIdle();
    return this.#releasedPromise;
  }

  ref(): void {
    this.#readSlot.ref(true);
    this.#writeSlot.ref(true);
  }

  unref(): void {
    this.#readSlot.ref(false);
    this.#writeSlot.ref(false);
  }

  /** Closes the handle and frees native memory once no I/O can touch them. */
  #releaseIfIdle(): void {
    if (this.#released || !this.#destroyed || this.#readSlot.busy || this.#writeSlot.busy) return;
    this.#released = true;
    this.#readSlot.free();
    this.#writeSlot.free();
    this.#readBuf.free();
    this.#writeBuf?.free();
    k32.CloseHandle(this.#handle);
    this.#resolveReleased();
    this.#onRelease?.();
  }

  async #readLoop(): Promise<void> {
    this.#reading = true;
    let parts: Buffer[] = [];
    let size = 0;
    let inline = 0;
    try {
      while (this.#wantRead && !this.#destroyed) {
        const buf = this.#readBuf;
        // Never more than one byte past the limit: a message over it is refused (ERROR_MORE_DATA
        // with too many bytes) before the rest of it is read.
        const want = Math.min(buf.size, this.#max - size + 1);
        let c = this.#readSlot.issue('ReadFile', (ov) => k32.ReadFile(this.#handle, buf.ptr, want, null as never, ov));
        // A read that finished at once goes straight on: no promise, no microtask per message.
        // But a peer that keeps the pipe full must not hold the event loop (nor the other
        // connections): after INLINE_READS in a row, the loop yields one turn.
        if (c instanceof Promise) {
          inline = 0;
          c = await c;
        } else if (++inline >= INLINE_READS) {
          inline = 0;
          await new Promise<void>((resolve) => setImmediate(resolve));
          if (this.#destroyed) break;
        }
        if (this.#destroyed) break;
        if (c.error === 0 || c.error === E.ERROR_MORE_DATA) {
          size += c.bytes;
          if (size > this.#max) {
            this.#sink?.error(new PipeError({ code: 'ERR_MESSAGE_TOO_LARGE', syscall: 'ReadFile', path: this.#path, message: `ERR_MESSAGE_TOO_LARGE: a message exceeds maxMessageSize ${this.#max}` }));
            break;
          }
          if (c.error === 0 && size === 0 && this.#halfClose === 'zero-message') {
            // The peer's zero-byte message (go-winio CloseWrite): end of stream. Nothing more is
            // read; the handle stays open for our writes until the connection is done.
            this.#sink?.end();
            break;
          }
          // Byte mode without a zero-byte end: an empty read is a peer's zero-byte write, which
          // carries nothing and is not end of file (docs/anonymous-pipes.md, "Semantics"): read again.
          if (this.#bytes && c.bytes === 0) continue;
          parts.push(buf.read(c.bytes));
          if (c.error === E.ERROR_MORE_DATA) continue;
          const message = parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
          parts = [];
          size = 0;
          this.#sink?.message(message);
        } else if (isDisconnect(c.error)) {
          this.#sink?.end();
          break;
        } else if (c.error === E.ERROR_OPERATION_ABORTED) {
          break;
        } else {
          this.#sink?.error(win32Error(c.error, 'ReadFile', this.#path));
          break;
        }
      }
    } catch (err) {
      this.#sink?.error(err as Error);
    } finally {
      this.#reading = false;
      this.#releaseIfIdle();
    }
  }

  async #writeLoop(): Promise<void> {
    this.#writing = true;
    let batch: PendingWrite[] = [];
    try {
      while (this.#writes.length > 0 && !this.#destroyed) {
        // Everything queued (up to WRITE_BATCH_BYTES, at least one message) is copied into the
        // native buffer at once, one message after another, and each is one WriteFile from its
        // offset. The loop waits only for a write that went pending: a message that the pipe
        // takes at once costs its WriteFile and no promise.
        let total = 0;
        let n = 0;
        while (n < this.#writes.length && (n === 0 || total + this.#writes[n]!.data.byteLength <= WRITE_BATCH_BYTES)) total += this.#writes[n++]!.data.byteLength;
        batch = this.#writes.splice(0, n);
        if (!this.#writeBuf || this.#writeBuf.size < total) {
          this.#writeBuf?.free();
          this.#writeBuf = new NativeBuffer(Math.max(total, READ_CHUNK));
        }
        const buf = this.#writeBuf;
        let offset = 0;
        for (const w of batch) {
          buf.write(w.data, offset);
          offset += w.data.byteLength;
        }
        offset = 0;
        while (batch.length > 0) {
          if (this.#destroyed) break;
          const w = batch.shift()!;
          const at = buf.ptr + BigInt(offset);
          offset += w.data.byteLength;
          let c: Completion | Promise<Completion>;
          try {
            c = this.#writeSlot.issue('WriteFile', (ov) => k32.WriteFile(this.#handle, at, w.data.byteLength, null as never, ov));
            if (c instanceof Promise) c = await c;
          } catch (err) {
            w.reject(err);
            continue;
          }
          if (c.error === 0) w.resolve();
          else if (isDisconnect(c.error)) w.reject(new PipeError({ code: 'EPIPE', syscall: 'WriteFile', path: this.#path, win32Errno: c.error }));
          else if (c.error === E.ERROR_OPERATION_ABORTED) w.reject(new PipeError({ code: 'ERR_PIPE_CLOSED', syscall: 'WriteFile', path: this.#path }));
          else w.reject(win32Error(c.error, 'WriteFile', this.#path));
        }
      }
    } finally {
      // Destroyed in the middle of a batch: what was not written fails as the queue's rest did.
      for (const w of batch.splice(0)) w.reject(new PipeError({ code: 'ERR_PIPE_CLOSED', syscall: 'WriteFile', path: this.#path }));
      this.#writing = false;
      for (const f of this.#flushed.splice(0)) f();
      this.#releaseIfIdle();
    }
  }
}

/**
 * Whole messages over a connected, overlapped, PIPE_READMODE_MESSAGE pipe handle: the transport
 * the channel layer (winpipe/connection) runs on. Ownership: the transport owns `handle` and closes
 * it once destroyed and idle; `onRelease` runs right after.
 */
export function messageTransportFromHandle(handle: k32.HANDLE, path: string, maxMessageSize: number, onRelease?: () => void): MessageTransport {
  return new WinMessageTransport(handle, path, maxMessageSize, onRelease);
}
