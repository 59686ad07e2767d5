// Backpressure: a fast writer offers far more than a slow reader takes. The writer
// waits ('drain' / awaited writes) instead of buffering: resident memory stays bounded, and every
// byte arrives intact.
// Duplex: both directions at full speed at once; no stall, and the data checks out.
//
// Sizes: backpressure offers 256 MiB per variant by default, 1 GiB under WINPIPE_STRESS=1.
// Duplex runs 3 s per mode by default, 10 s under stress.
//
// The RSS bound: growth over the baseline stays under RSS_BOUND (128 MiB), whatever is offered.
// Every chunk is a fresh 1 MiB Buffer, so a writer that buffered instead of waiting would grow by
// the amount offered (256 MiB by default, 1 GiB under stress); the bound leaves room for the
// garbage collector's slack and the pipe and socket buffers.
import { createHash } from 'node:crypto';
import type { Duplex, Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { PipeConnection } from '../../src/index.js';
import { trackedPipes } from '../helpers/index.js';
import { BOUND, MiB, SeededStream, budget, figure, namedPipes, nextConnection, readWithSizes, sized, within } from './helpers.js';

const pipe = trackedPipes();
const { serve, client } = namedPipes();

const OFFERED = sized(256 * MiB, 1024 * MiB);
const RSS_BOUND = 128 * MiB;
const TIMEOUT = budget(240_000, 1_800_000);

/** Samples RSS until stopped; returns the peak growth over the RSS at start. */
function rssWatch(): { stop(): number } {
  const base = process.memoryUsage.rss();
  let peak = base;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 25);
  return {
    stop() {
      clearInterval(timer);
      peak = Math.max(peak, process.memoryUsage.rss());
      return peak - base;
    },
  };
}

/** A fresh 1 MiB chunk each time (never a reused Buffer), its bytes numbered by position. */
function freshChunk(index: number): Buffer {
  const chunk = Buffer.allocUnsafe(MiB);
  chunk.fill(index % 251);
  chunk.writeUInt32LE(index, 0);
  return chunk;
}

/** Offers OFFERED bytes to `stream`, honouring write()'s return value. Returns the count of 'drain' waits. */
async function offer(stream: Writable, hash: ReturnType<typeof createHash>): Promise<{ drains: number; refused: number }> {
  let drains = 0;
  let refused = 0;
  for (let i = 0; i < OFFERED / MiB; i++) {
    const chunk = freshChunk(i);
    hash.update(chunk);
    if (!stream.write(chunk)) {
      refused++;
      await new Promise((resolve) => stream.once('drain', resolve));
      drains++;
    }
  }
  stream.end();
  return { drains, refused };
}

/** A slow reader: 64 KiB at a time, with a timer pause after every MiB. */
async function slowRead(stream: Readable, hash: ReturnType<typeof createHash>): Promise<number> {
  let bytes = 0;
  let sincePause = 0;
  await readWithSizes(
    stream,
    () => 64 * 1024,
    async (chunk) => {
      hash.update(chunk);
      bytes += chunk.length;
      sincePause += chunk.length;
      if (sincePause >= MiB) {
        sincePause = 0;
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    },
  );
  return bytes;
}

describe('backpressure (a fast writer, a slow reader)', () => {
  it(`anonymous pipe, a write stream: ${OFFERED / MiB} MiB offered, 'drain' works, RSS growth stays under ${RSS_BOUND / MiB} MiB`, { timeout: TIMEOUT }, async () => {
    const { reader, writer } = pipe();
    const watch = rssWatch();
    const sent = createHash('sha256');
    const got = createHash('sha256');
    const [offered, bytes] = await within(Promise.all([offer(writer.createWriteStream(), sent), slowRead(reader.createReadStream(), got)]), TIMEOUT, 'the transfer');
    const growth = watch.stop();
    figure('backpressure', `anonymous pipe: ${bytes} bytes offered and checked, ${offered.drains} drains, peak RSS growth ${(growth / MiB).toFixed(1)} MiB (bound ${RSS_BOUND / MiB} MiB)`);
    expect(bytes).toBe(OFFERED);
    expect(got.digest('hex')).toBe(sent.digest('hex'));
    expect(offered.refused).toBeGreaterThan(0);
    expect(offered.drains).toBe(offered.refused);
    expect(growth).toBeLessThan(RSS_BOUND);
  });

  it(`anonymous pipe, awaited write(): ${OFFERED / MiB} MiB offered to read(), RSS growth stays under ${RSS_BOUND / MiB} MiB`, { timeout: TIMEOUT }, async () => {
    const { reader, writer } = pipe();
    const watch = rssWatch();
    const sent = createHash('sha256');
    const got = createHash('sha256');
    const writing = (async () => {
      for (let i = 0; i < OFFERED / MiB; i++) {
        const chunk = freshChunk(i);
        sent.update(chunk);
        await writer.write(chunk);
      }
      writer.close();
    })();
    let bytes = 0;
    let sincePause = 0;
    for (;;) {
      const chunk = await reader.read(64 * 1024);
      if (chunk.length === 0) break;
      got.update(chunk);
      bytes += chunk.length;
      sincePause += chunk.length;
      if (sincePause >= MiB) {
        sincePause = 0;
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    }
    await writing;
    const growth = watch.stop();
    figure('backpressure', `anonymous pipe, write()/read(): ${bytes} bytes offered and checked, peak RSS growth ${(growth / MiB).toFixed(1)} MiB`);
    expect(bytes).toBe(OFFERED);
    expect(got.digest('hex')).toBe(sent.digest('hex'));
    expect(growth).toBeLessThan(RSS_BOUND);
  });

  it.each(['byte', 'message'] as const)(`named pipe, %s mode: ${OFFERED / MiB} MiB offered, 'drain' works, RSS growth stays under ${RSS_BOUND / MiB} MiB`, { timeout: TIMEOUT }, async (mode) => {
    const { server, name } = await serve({ mode });
    const accepted = nextConnection(server);
    const c = await client(name, { mode });
    const s = await accepted;
    const watch = rssWatch();
    const sent = createHash('sha256');
    const got = createHash('sha256');
    let bytes: number;
    let offered: { drains: number; refused: number };
    if (mode === 'byte') {
      [offered, bytes] = await within(Promise.all([offer(c, sent), slowRead(s, got)]), TIMEOUT, 'the transfer');
    } else {
      // Message mode: each message arrives whole; the reader takes one, then pauses.
      const reading = (async () => {
        let n = 0;
        for await (const m of (s as PipeConnection).messages()) {
          got.update(m);
          n += m.length;
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
        return n;
      })();
      [offered, bytes] = await within(Promise.all([offer(c, sent), reading]), TIMEOUT, 'the transfer');
    }
    const growth = watch.stop();
    figure('backpressure', `named pipe, ${mode} mode: ${bytes} bytes offered and checked, ${offered.drains} drains, peak RSS growth ${(growth / MiB).toFixed(1)} MiB`);
    expect(bytes).toBe(OFFERED);
    expect(got.digest('hex')).toBe(sent.digest('hex'));
    expect(offered.refused).toBeGreaterThan(0);
    expect(offered.drains).toBe(offered.refused);
    expect(growth).toBeLessThan(RSS_BOUND);
  });
});

describe('duplex at full speed in both directions', () => {
  const SECONDS = sized(3, 10);

  it.each(['byte', 'message'] as const)(`%s mode: both sides write for ${SECONDS} s at once; everything arrives, intact, in order`, { timeout: budget(120_000, 300_000) }, async (mode) => {
    const { server, name } = await serve({ mode });
    const accepted = nextConnection(server);
    const c = await client(name, { mode });
    const s = await accepted;

    /** Writes seeded data as fast as the pipe takes it until `until`; returns what it sent. */
    const pump = async (stream: Duplex, seed: number, until: number): Promise<{ bytes: number; sha: string }> => {
      const source = new SeededStream(seed);
      let size = 1;
      while (Date.now() < until) {
        // 1 B to 256 KiB, cycling, so small and large writes interleave with the other direction.
        size = size >= 256 * 1024 ? 1 : size * 4;
        if (!stream.write(source.next(size))) await new Promise((resolve) => stream.once('drain', resolve));
      }
      return { bytes: source.produced, sha: source.digest() };
    };
    /** Hashes everything that arrives until told how much to expect. */
    const sink = (stream: Duplex): { done(expected: number): Promise<{ bytes: number; sha: string }> } => {
      const hash = createHash('sha256');
      let bytes = 0;
      let wanted = Infinity;
      let finish: (() => void) | undefined;
      stream.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        bytes += chunk.length;
        if (bytes >= wanted) finish?.();
      });
      return {
        async done(expected) {
          wanted = expected;
          if (bytes < expected) await new Promise<void>((resolve) => (finish = resolve));
          return { bytes, sha: hash.digest('hex') };
        },
      };
    };

    const atServer = sink(s);
    const atClient = sink(c);
    const until = Date.now() + SECONDS * 1000;
    const [up, down] = await within(Promise.all([pump(c, 121, until), pump(s, 122, until)]), SECONDS * 1000 + BOUND, 'both writers');
    // No end(): both directions stay open; the readers must still get every byte.
    const [gotUp, gotDown] = await within(Promise.all([atServer.done(up.bytes), atClient.done(down.bytes)]), BOUND, 'every byte arriving (a stall would hang here)');
    figure('duplex', `${mode} mode, ${SECONDS} s: ${up.bytes} bytes up and ${down.bytes} bytes down, all checked (SHA-256)`);
    expect(gotUp).toEqual(up);
    expect(gotDown).toEqual(down);
    expect(up.bytes).toBeGreaterThan(0);
    expect(down.bytes).toBeGreaterThan(0);
  });
});
