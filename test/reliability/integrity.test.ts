// Integrity: seeded random data, random write sizes (1 B to 1 MiB) and random read
// sizes; the SHA-256 of what arrives matches what was sent, through an anonymous pipe and through a
// named pipe in byte and in message mode.
//
// Sizes: by default 64 MiB per anonymous / byte-mode pipe and 32 MiB in message mode;
// under WINPIPE_STRESS=1 (npm run test:stress), 256 MiB each.
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { trackedPipes } from '../helpers/index.js';
import { MiB, SeededStream, budget, figure, namedPipes, nextConnection, prng, readWithSizes, sized, within } from './helpers.js';

const pipe = trackedPipes();
const { serve, client } = namedPipes();

const BYTES = sized(64 * MiB, 256 * MiB);
const MESSAGE_BYTES = sized(32 * MiB, 256 * MiB);
const TIMEOUT = budget(180_000, 1_800_000);

/** The next write size: 1 B to 1 MiB, with small sizes as likely as large ones (log-uniform). */
function sizes(seed: number, max = MiB): () => number {
  const rnd = prng(seed);
  return () => Math.max(1, Math.min(max, Math.floor(Math.exp(rnd() * Math.log(max + 1)))));
}

/** Reads `stream` with `read(n)` for random n until end of stream; returns the count and SHA-256. */
async function readRandomSizes(stream: Readable, seed: number): Promise<{ bytes: number; sha: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  await readWithSizes(stream, sizes(seed), (chunk) => {
    hash.update(chunk);
    bytes += chunk.length;
  });
  return { bytes, sha: hash.digest('hex') };
}

describe('integrity (SHA-256 of seeded data, random write and read sizes)', () => {
  it(`anonymous pipe: ${BYTES / MiB} MiB through write()/read()`, { timeout: TIMEOUT }, async () => {
    const { reader, writer } = pipe();
    const source = new SeededStream(1);
    const nextWrite = sizes(11);
    let writes = 0;
    const writing = (async () => {
      while (source.produced < BYTES) {
        await writer.write(source.next(Math.min(BYTES - source.produced, nextWrite())));
        writes++;
      }
      writer.close();
    })();
    const nextRead = sizes(12);
    const hash = createHash('sha256');
    let bytes = 0;
    let reads = 0;
    for (;;) {
      const chunk = await reader.read(nextRead());
      if (chunk.length === 0) break;
      hash.update(chunk);
      bytes += chunk.length;
      reads++;
    }
    await writing;
    expect(bytes).toBe(BYTES);
    expect(hash.digest('hex')).toBe(source.digest());
    figure('integrity', `anonymous pipe: ${bytes} bytes checked (SHA-256), ${writes} writes, ${reads} reads`);
  });

  it(`anonymous pipe: ${sized(16, 64)} MiB through writeSync()/readSync() in turns`, { timeout: TIMEOUT }, async () => {
    // Sync calls on one thread: write at most the pipe's own buffer, then read it back, so
    // writeSync never waits for a reader that this same thread would have to be.
    const total = sized(16, 64) * MiB;
    const { reader, writer } = pipe();
    const source = new SeededStream(2);
    const hash = createHash('sha256');
    const nextWrite = sizes(21, 4096);
    const nextRead = sizes(22, 4096);
    const into = Buffer.alloc(4096);
    let bytes = 0;
    while (source.produced < total) {
      const data = source.next(Math.min(total - source.produced, nextWrite()));
      expect(writer.writeSync(data)).toBe(data.length);
      let left = data.length;
      while (left > 0) {
        const n = reader.readSync(into, 0, Math.min(left, nextRead()));
        hash.update(into.subarray(0, n));
        left -= n;
        bytes += n;
      }
    }
    expect(bytes).toBe(total);
    expect(hash.digest('hex')).toBe(source.digest());
    figure('integrity', `anonymous pipe, sync: ${bytes} bytes checked (SHA-256)`);
  });

  it(`named pipe, byte mode: ${BYTES / MiB} MiB client -> server`, { timeout: TIMEOUT }, async () => {
    const { server, name } = await serve();
    const accepted = nextConnection(server);
    const c = await client(name);
    const s = await accepted;
    const received = readRandomSizes(s, 31);
    const source = new SeededStream(3);
    const nextWrite = sizes(32);
    while (source.produced < BYTES) {
      if (!c.write(source.next(Math.min(BYTES - source.produced, nextWrite())))) {
        await new Promise((resolve) => c.once('drain', resolve));
      }
    }
    c.end();
    const got = await within(received, TIMEOUT, 'reading the byte stream to its end');
    expect(got.bytes).toBe(BYTES);
    expect(got.sha).toBe(source.digest());
    figure('integrity', `named pipe, byte mode: ${got.bytes} bytes checked (SHA-256)`);
  });

  it(`named pipe, message mode: ${MESSAGE_BYTES / MiB} MiB in messages of 1 B to 1 MiB; every boundary kept`, { timeout: TIMEOUT }, async () => {
    const { server, name } = await serve({ mode: 'message' });
    const accepted = nextConnection(server);
    const c = await client(name, { mode: 'message' });
    const s = await accepted;
    // The reader knows the sizes from the same seed: each message must arrive whole, in order.
    const expectedSize = sizes(41);
    const check = (async () => {
      const hash = createHash('sha256');
      let bytes = 0;
      let messages = 0;
      let wrongSize = 0;
      for await (const m of s.messages()) {
        if (m.length !== Math.min(MESSAGE_BYTES - bytes, expectedSize())) wrongSize++;
        hash.update(m);
        bytes += m.length;
        messages++;
      }
      return { bytes, messages, wrongSize, sha: hash.digest('hex') };
    })();
    const source = new SeededStream(4);
    const nextWrite = sizes(41);
    let sent = 0;
    while (source.produced < MESSAGE_BYTES) {
      await c.writeMessage(source.next(Math.min(MESSAGE_BYTES - source.produced, nextWrite())));
      sent++;
    }
    c.end();
    const got = await within(check, TIMEOUT, 'reading every message');
    expect(got.wrongSize).toBe(0);
    expect(got.messages).toBe(sent);
    expect(got.bytes).toBe(MESSAGE_BYTES);
    expect(got.sha).toBe(source.digest());
    figure('integrity', `named pipe, message mode: ${got.bytes} bytes in ${got.messages} messages checked (SHA-256 and every size)`);
  });
});
