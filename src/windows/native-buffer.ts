/**
 * Native memory for overlapped I/O: a buffer that stays allocated while the kernel may still
 * write into it or read from it (src/windows/overlapped.ts, "Lifetime rules").
 */
import koffi from 'koffi';

/** Native memory for an I/O buffer that must outlive the JS call that started the I/O. */
export class NativeBuffer {
  readonly ptr: bigint;
  readonly size: number;
  /** One view of the whole buffer, made once (a koffi.view per message costs an external ArrayBuffer each). */
  readonly #bytes: Uint8Array;
  #freed = false;
  constructor(size: number) {
    this.size = size;
    this.ptr = koffi.alloc('uint8_t', Math.max(1, size)) as bigint;
    this.#bytes = new Uint8Array(koffi.view(this.ptr, Math.max(1, size)));
  }
  /** Copies `bytes` in at `offset`. */
  write(bytes: Uint8Array, offset = 0): void {
    if (bytes.byteLength) this.#bytes.set(bytes, offset);
  }
  /** A copy of `n` bytes from `offset`, as a Buffer the GC owns. */
  read(n: number, offset = 0): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const out = Buffer.allocUnsafe(n);
    out.set(this.#bytes.subarray(offset, offset + n));
    return out;
  }
  /** Only once no I/O can touch it any more. */
  free(): void {
    if (!this.#freed) {
      this.#freed = true;
      koffi.free(this.ptr);
    }
  }
}
