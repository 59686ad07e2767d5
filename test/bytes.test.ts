// exactCopy (src/bytes.ts): the memory a kept chunk holds on to. A user who keeps small chunks of a
// read stream or small held pieces of a message relies on each keeping about its own size alive,
// on every Node line: from Node 26 on, Buffer.from and Buffer.allocUnsafe serve anything under
// 32 KiB from one shared 64 KiB slab (Buffer.poolSize), and 4 KiB from an 8 KiB one before.
import { describe, expect, it } from 'vitest';
import { exactCopy } from '../src/bytes.js';

describe('exactCopy', () => {
  it('gives each copy memory of exactly its size, also where Node would serve it from its pool', () => {
    const source = Buffer.allocUnsafeSlow(1 << 20);
    for (let i = 0; i < source.length; i++) source[i] = i * 31;
    for (const n of [1, 100, 4095, 4096, 16 * 1024, 30_000, Buffer.poolSize >>> 1, 200_000]) {
      const out = exactCopy(source, n);
      expect(out.length).toBe(n);
      expect(out.byteOffset).toBe(0);
      expect(out.buffer.byteLength).toBe(n);
      expect(out.equals(source.subarray(0, n))).toBe(true);
    }
  });

  it('copies: writing the source afterwards leaves the copy as it was', () => {
    const source = Buffer.from('abcdef');
    const whole = exactCopy(source);
    const part = exactCopy(source.subarray(2), 3);
    source.fill(0x7a);
    expect(whole.toString()).toBe('abcdef');
    expect(part.toString()).toBe('cde');
  });
});
