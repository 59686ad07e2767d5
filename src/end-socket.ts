/**
 * What an end's `net.Socket` does beyond Node's defaults: the read buffers of a POSIX pipe read
 * stream ({@link pipeReads}) and the backend's say on a failed write's error
 * ({@link confirmWriteErrors}).
 */
import type net from 'node:net';
import type { RawEnd } from './backend.js';
import { exactCopy } from './bytes.js';

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
 * the next read gets a fresh buffer; a smaller one is copied out (exactly its size, never into
 * Node's Buffer pool: {@link exactCopy}) and the buffer is used again, so a chunk never keeps more
 * than twice its size alive. The next buffer is twice as big after a read
 * that filled it (more is waiting) and just big enough for the last read otherwise, so that most
 * reads fill at least half and are not copied (with one 1 MiB buffer, a child writing 64 KiB at a
 * time had most of its bytes copied once more). Returning push()'s result lets Node stop reading
 * under back-pressure, as it does for its own buffers.
 */
export function pipeReads(stream: () => net.Socket, capacity: number | undefined): { buffer: () => Buffer; callback: (n: number, buf: Buffer) => boolean } {
  const max = Math.min(MAX_STREAM_READ, capacity ?? MAX_STREAM_READ);
  const min = Math.min(MIN_STREAM_READ, max);
  let next = readBuffer(max);
  return {
    buffer: () => next,
    callback(n, buf) {
      const size = buf.length;
      const whole = 2 * n >= size;
      const chunk = whole ? buf.subarray(0, n) : exactCopy(buf, n);
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
export function confirmWriteErrors(socket: net.Socket, raw: RawEnd, correct: (raw: RawEnd, err: Error) => Error): void {
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
