/**
 * Memory of a chunk's own, for chunks that are handed out or kept while the buffer they came from
 * is not.
 */

/**
 * The first `n` bytes of `src` (all of it by default) in memory of their own, exactly `n` long.
 *
 * Not `Buffer.from`/`Buffer.allocUnsafe`: those serve sizes under half of `Buffer.poolSize` from
 * Node's shared pool, whose slabs are 64 KiB from Node 26 on (8 KiB before), so a kept 30 KiB copy
 * would keep a 64 KiB slab alive. Node's own stream reads hand out chunks of exactly their size too
 * (libuv's buffer shrunk to the read).
 *
 * @example
 * ```ts
 * const chunk = exactCopy(readBuffer, n); // chunk.buffer.byteLength === n
 * ```
 */
export function exactCopy(src: Uint8Array, n: number = src.length): Buffer {
  const out = Buffer.allocUnsafeSlow(n);
  out.set(n === src.length ? src : src.subarray(0, n));
  return out;
}
