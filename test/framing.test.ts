// FrameDecoder (src/framing.ts): CPython's framing decoded from arbitrary chunkings, including the
// in-place fast path for chunks of whole frames and its hand-over to the general decoder; and what
// a receiver holds while a peer sends a frame in tiny pieces (measured in a child process).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FrameDecoder } from '../src/framing.js';
import { collect, exited, fixturesDir, isWindows } from './helpers/index.js';

function frame(m: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeInt32BE(m.length, 0);
  return Buffer.concat([h, m]);
}

/** A small deterministic PRNG, so a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

describe('FrameDecoder', () => {
  it('returns every message, in order, whatever the chunk boundaries (empty messages too)', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const r = rng(seed);
      const msgs = Array.from({ length: 1 + Math.floor(r() * 20) }, (_, i) => Buffer.alloc(Math.floor(r() * 3) === 0 ? 0 : Math.floor(r() * 300), i));
      const wire = Buffer.concat(msgs.map(frame));
      const d = new FrameDecoder(1 << 20);
      const got: Buffer[] = [];
      let off = 0;
      while (off < wire.length) {
        // Whole-frame chunks, split ones and single bytes alike.
        const n = r() < 0.3 ? wire.length - off : 1 + Math.floor(r() * 200);
        got.push(...d.push(wire.subarray(off, off + n)));
        off += n;
      }
      expect(got.map((b) => b.toString('hex'))).toEqual(msgs.map((b) => b.toString('hex')));
      expect(d.idle).toBe(true);
    }
  });

  it('mixes of single bytes, small pieces and large ones (in larger backing stores) give every message intact, also the ones held while later bytes arrive', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const r = rng(seed);
      const size = (): number => {
        const k = r();
        return k < 0.4 ? Math.floor(r() * 64) : k < 0.8 ? Math.floor(r() * 4096) : Math.floor(r() * 200_000);
      };
      const msgs = Array.from({ length: 1 + Math.floor(r() * 12) }, (_, i) => {
        const m = Buffer.alloc(size());
        for (let j = 0; j < m.length; j++) m[j] = (i * 31 + j * 7) & 0xff;
        return m;
      });
      const wire = Buffer.concat(msgs.map(frame));
      const d = new FrameDecoder(1 << 20);
      const got: Buffer[] = [];
      let off = 0;
      while (off < wire.length) {
        const k = r();
        const n = k < 0.5 ? 1 : k < 0.8 ? 1 + Math.floor(r() * 300) : k < 0.9 ? 16 * 1024 + Math.floor(r() * 30_000) : k < 0.95 ? 64 * 1024 + Math.floor(r() * 100_000) : wire.length - off;
        const piece = wire.subarray(off, off + n);
        // A socket read has its own backing store; a piece may also be a slice of a larger one.
        const own = Buffer.from(piece);
        got.push(...d.push(r() < 0.5 ? own : Buffer.concat([Buffer.alloc(300_000), own]).subarray(300_000)));
        off += n;
      }
      expect(got.length).toBe(msgs.length);
      got.forEach((m, i) => expect(m.equals(msgs[i]!), `seed ${seed}, message ${i}`).toBe(true));
      expect(d.idle).toBe(true);
    }
  });

  it('whole frames in one chunk come out as views of that chunk, not copies', () => {
    const chunk = Buffer.concat([frame(Buffer.from('one')), frame(Buffer.alloc(100_000, 2)), frame(Buffer.alloc(0))]);
    const d = new FrameDecoder(1 << 20);
    const got = d.push(chunk);
    expect(got.map((m) => m.length)).toEqual([3, 100_000, 0]);
    for (const m of got.slice(0, 2)) expect(m.buffer).toBe(chunk.buffer);
  });

  it('a held piece that is a slice of a much larger buffer is copied into memory of its own size', () => {
    // 20 KiB of body inside a 1 MiB buffer, held until the rest arrives: the message must not keep
    // the megabyte alive, nor a slab of Node's Buffer pool (64 KiB from Node 26 on).
    const body = Buffer.alloc(40_000, 7);
    const wire = frame(body);
    const d = new FrameDecoder(1 << 20);
    const big = Buffer.alloc(1 << 20);
    wire.copy(big, 500_000, 0, 20_004);
    expect(d.push(big.subarray(500_000, 520_004))).toEqual([]);
    big.fill(0); // the sender's buffer is used again
    const got = d.push(wire.subarray(20_004));
    expect(got).toHaveLength(1);
    expect(got[0]!.equals(body)).toBe(true);
    expect(got[0]!.buffer.byteLength).toBeLessThanOrEqual(2 * body.length);
  });

  it('good messages before a bad length come first; the error (EPROTO) comes with the next push', () => {
    const d = new FrameDecoder(1 << 20);
    const bad = Buffer.alloc(4);
    bad.writeInt32BE(-5, 0);
    const got = d.push(Buffer.concat([frame(Buffer.from('a')), frame(Buffer.from('bc')), bad]));
    expect(got.map(String)).toEqual(['a', 'bc']);
    expect(() => d.push(Buffer.alloc(0))).toThrow(expect.objectContaining({ code: 'EPROTO' }));
  });

  it('a length above maxMessageSize is ERR_MESSAGE_TOO_LARGE from the header alone', () => {
    const d = new FrameDecoder(10);
    const h = Buffer.alloc(4);
    h.writeInt32BE(11, 0);
    expect(() => d.push(h)).toThrow(expect.objectContaining({ code: 'ERR_MESSAGE_TOO_LARGE' }));
    const ok = new FrameDecoder(10);
    expect(ok.push(frame(Buffer.alloc(10))).map((b) => b.length)).toEqual([10]);
  });
});

// The fixture imports the built package by its own name (self-reference), so dist/ must exist.
const built = existsSync(join(fixturesDir, '..', '..', 'dist', 'esm', 'index.js'));

interface SlowFrame {
  buffered: number;
  /** arrayBuffers + heapUsed, after minus before, both after forced GCs. */
  retained: number;
  ok: boolean;
}

/** Runs test/fixtures/slow-frame.mjs with --expose-gc: what the receiver holds (bytes) while a frame is incomplete. */
async function slowFrame(kind: 'message' | 'channel', frameSize: number, sendBytes: number, pattern: 'bytes' | 'mixed'): Promise<SlowFrame> {
  const child = spawn(process.execPath, ['--expose-gc', join(fixturesDir, 'slow-frame.mjs'), kind, String(frameSize), String(sendBytes), String(frameSize), pattern], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const out = await collect(child.stdout);
  expect(await exited(child)).toBe(0);
  return JSON.parse(out) as SlowFrame;
}

/** Heap and allocator noise between two forced GCs in a quiet child: well under this. */
const SLACK = 512 * 1024;
/** The fixture's createServer readAheadBytes, and the channel's fixed read-ahead. */
const READ_AHEAD = { message: 64 * 1024, channel: 4 * 1024 * 1024 } as const;

// Windows message pipes carry each peer write as one message and read it in 64 KiB pieces
// (ERROR_MORE_DATA), so no peer can make the receiver hold a message as many tiny reads there:
// only the POSIX framing over a byte stream has this attack.
describe.skipIf(!built || isWindows)('a peer that sends one frame in tiny pieces (POSIX; needs dist/: npm test builds it)', () => {
  // Bytes the peer sends of a 1 MiB frame (maxMessageSize 1 MiB): one read per byte on the receiver.
  const SENT = 128 * 1024;
  for (const kind of ['message', 'channel'] as const) {
    const who = kind === 'message' ? "createServer({ mode: 'message' })" : 'winpipe/connection Listener';
    it(`${who}: a frame sent a byte at a time costs at most 3x the bytes buffered, within readAheadBytes + maxMessageSize`, async () => {
      const r = await slowFrame(kind, 1 << 20, SENT, 'bytes');
      expect(r.ok).toBe(true);
      expect(r.retained, JSON.stringify(r)).toBeLessThan(3 * r.buffered + SLACK);
      expect(r.retained, JSON.stringify(r)).toBeLessThan(READ_AHEAD[kind] + (1 << 20));
    });
  }

  it("createServer({ mode: 'message' }): single bytes between 17 KiB pieces cost at most 3x the bytes buffered", async () => {
    const r = await slowFrame('message', 4 << 20, 2 << 20, 'mixed');
    expect(r.ok).toBe(true);
    expect(r.retained, JSON.stringify(r)).toBeLessThan(3 * r.buffered + SLACK);
    expect(r.retained, JSON.stringify(r)).toBeLessThan(READ_AHEAD.message + (4 << 20));
  });
});
