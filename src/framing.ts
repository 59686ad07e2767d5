/**
 * CPython `multiprocessing.connection` framing on a byte stream, for both users of it on POSIX
 * (message mode, src/posix/transport.ts, and the channel, src/channel/posix.ts): a 4-byte
 * big-endian signed length, then the message; above 2 GiB - 1 the length is `-1` and an 8-byte
 * length. Windows message-mode pipes need no framing.
 */
import { PipeError } from './errors.js';
import { exactCopy } from './bytes.js';

/** Above this, CPython writes -1 and an 8-byte length. */
const SHORT_LIMIT = 0x7fff_ffff;

/** The header CPython's `Connection._send_bytes` writes before a message of `size` bytes. */
export function frameHeader(size: number): Buffer {
  if (size > SHORT_LIMIT) {
    const h = Buffer.alloc(12);
    h.writeInt32BE(-1, 0);
    h.writeBigUInt64BE(BigInt(size), 4);
    return h;
  }
  const h = Buffer.alloc(4);
  h.writeInt32BE(size, 0);
  return h;
}

/**
 * A piece of a partial frame at least this long is kept as it came (a socket read: zero-copy,
 * copied once when its message is complete). Anything smaller is copied into the decoder's own
 * buffer: a Buffer kept per read costs some 200 bytes of objects whatever its length, so a peer
 * sending a frame a byte at a time would otherwise make us hold some 200 bytes per byte.
 */
const KEEP_MIN = 16 * 1024;
/** The decoder's own buffer for small pieces: it starts this small... */
const OPEN_MIN = 256;
/** ...and each new one is twice the last, up to this; a full one stays where it is. */
const OPEN_MAX = 64 * 1024;

/**
 * Incremental decoder for CPython's framing: feed it bytes as they arrive, get whole messages.
 * A length above `maxMessageSize` is an error (`ERR_MESSAGE_TOO_LARGE`) before any allocation.
 *
 * Memory: bytes held back for a partial frame cost at most about three times their number, plus
 * one partly consumed piece and 64 KiB, however they were split: pieces of 16 KiB or more are kept
 * as they came, smaller ones are copied together into buffers of at most 64 KiB.
 */
export class FrameDecoder {
  /** Buffered bytes in order (then the #open tail): pieces kept as they came, regions of #open. */
  #chunks: Buffer[] = [];
  #buffered = 0;
  #need: number | undefined;
  #failure: unknown;
  /**
   * The buffer small pieces are copied into. Bytes before #openEnd are never written again, so a
   * message may be a view of it.
   */
  #open: Buffer | undefined;
  #openEnd = 0;
  /**
   * When not -1: bytes #tailStart..#openEnd of #open are the last buffered bytes, not yet in
   * #chunks. Made a chunk only when the decoder reads (#seal), so a byte-at-a-time body costs a
   * one-byte copy per piece and no object.
   */
  #tailStart = -1;
  constructor(private readonly maxMessageSize: number) {}

  /**
   * Adds bytes; returns the messages completed by them. Throws PipeError on a bad frame. When good
   * messages precede the bad frame in the same bytes, they are returned first and the error is
   * thrown by the next call (push an empty Buffer to get it). A message may be a view of `data`
   * (the usual case) or of the decoder's own buffers: they are never written to again.
   */
  push(data: Buffer): Buffer[] {
    if (this.#failure) throw this.#failure;
    const out: Buffer[] = [];
    let rest = data;
    if (this.#buffered === 0 && this.#need === undefined) {
      // Nothing held back (the usual case: a chunk of whole frames): each message is one view of
      // the chunk, read in place. #decode's peek and take made three more views per message
      // (each a typed array, made on every round trip).
      const n = data.length;
      const max = this.maxMessageSize;
      let off = 0;
      while (n - off >= 4) {
        const size = data.readInt32BE(off);
        // The long form (-1), a bad length or one too large: #decode below decides, as ever.
        if (size < 0 || size > max || n - off - 4 < size) break;
        out.push(data.subarray(off + 4, off + 4 + size));
        off += 4 + size;
      }
      if (off === n) return out;
      if (off > 0) rest = data.subarray(off);
    }
    if (rest.length > 0) this.#append(rest);
    // Still short of the frame's body (a slow frame, a byte at a time): nothing to decode yet.
    if (this.#need !== undefined && this.#buffered < this.#need) return out;
    try {
      this.#decode(out);
    } catch (err) {
      if (out.length === 0) throw err;
      this.#failure = err;
    }
    return out;
  }

  /** Holds `piece` back: kept as it is when large and compact, else copied into #open. */
  #append(piece: Buffer): void {
    const len = piece.length;
    this.#buffered += len;
    if (len >= KEEP_MIN) {
      this.#seal();
      // A slice of a much larger backing store (not a socket read) is copied: it pins the rest.
      this.#chunks.push(piece.buffer.byteLength <= 2 * len ? piece : exactCopy(piece));
      return;
    }
    let open = this.#open;
    if (open !== undefined && this.#tailStart === -1) {
      // The last chunk may be what is left of the tail (the decoder took part): it grows again.
      const chunks = this.#chunks;
      const last = chunks.length > 0 ? chunks[chunks.length - 1]! : undefined;
      if (last !== undefined && last.buffer === open.buffer && last.byteOffset + last.length === open.byteOffset + this.#openEnd) {
        chunks.pop();
        this.#tailStart = this.#openEnd - last.length;
      }
    }
    if (open === undefined || this.#openEnd + len > open.length) {
      // A new buffer, at least twice what it takes at once (the tail moves into it, so it starts
      // at most half full) and twice the last one: small pieces that keep coming cost one
      // allocation per 64 KiB, not one per few reads. A tail too long to move stays where it is
      // (its buffer is then mostly full), and the piece starts a region of its own.
      let live = this.#tailStart === -1 ? 0 : this.#openEnd - this.#tailStart;
      if (2 * (live + len) > OPEN_MAX) {
        this.#seal();
        live = 0;
      }
      const size = Math.min(OPEN_MAX, Math.max(OPEN_MIN, 2 * (live + len), open === undefined ? 0 : 2 * open.length));
      // Its own backing store, not a slice of Node's shared pool.
      const next = Buffer.allocUnsafeSlow(size);
      if (live > 0) open!.copy(next, 0, this.#tailStart, this.#openEnd);
      this.#open = open = next;
      this.#openEnd = live;
      this.#tailStart = live > 0 ? 0 : -1;
    }
    const end = this.#openEnd;
    if (len === 1) open[end] = piece[0]!;
    else piece.copy(open, end);
    if (this.#tailStart === -1) this.#tailStart = end;
    this.#openEnd = end + len;
  }

  /** Makes the #open tail the last chunk: before the decoder reads, or a piece kept after it. */
  #seal(): void {
    if (this.#tailStart === -1) return;
    this.#chunks.push(this.#open!.subarray(this.#tailStart, this.#openEnd));
    this.#tailStart = -1;
  }

  #decode(out: Buffer[]): void {
    this.#seal();
    for (;;) {
      if (this.#need === undefined) {
        if (this.#buffered < 4) break;
        const head = this.#peek(4);
        const short = head.readInt32BE(0);
        if (short === -1) {
          if (this.#buffered < 12) break;
          const long = this.#take(12).readBigUInt64BE(4);
          if (long > BigInt(this.maxMessageSize)) throw tooLarge(long, this.maxMessageSize);
          this.#need = Number(long);
        } else {
          if (short < 0) throw new PipeError({ code: 'EPROTO', syscall: 'read', message: `EPROTO: bad message length ${short}` });
          if (short > this.maxMessageSize) throw tooLarge(BigInt(short), this.maxMessageSize);
          this.#take(4);
          this.#need = short;
        }
      }
      if (this.#buffered < this.#need) break;
      out.push(this.#take(this.#need));
      this.#need = undefined;
    }
  }

  /** True when no partial message is buffered (an EOF now is clean). */
  get idle(): boolean {
    return this.#buffered === 0 && this.#need === undefined;
  }

  /** The first `n` buffered bytes, left buffered (a header split across chunks is copied). */
  #peek(n: number): Buffer {
    const first = this.#chunks[0]!;
    if (first.length >= n) return first.subarray(0, n);
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    for (let i = 0; off < n; i++) off += this.#chunks[i]!.copy(out, off, 0, n - off);
    return out;
  }

  #take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.#chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let off = 0;
      while (off < n) {
        const c = this.#chunks[0]!;
        const k = Math.min(c.length, n - off);
        c.copy(out, off, 0, k);
        off += k;
        if (k === c.length) this.#chunks.shift();
        else this.#chunks[0] = c.subarray(k);
      }
    }
    this.#buffered -= n;
    return out;
  }
}

function tooLarge(size: bigint, max: number): PipeError {
  return new PipeError({ code: 'ERR_MESSAGE_TOO_LARGE', syscall: 'read', message: `ERR_MESSAGE_TOO_LARGE: a ${size}-byte message exceeds maxMessageSize ${max}` });
}
