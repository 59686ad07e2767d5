// createPipe's pipes on Linux (src/posix/pipe.ts): a pipe made without a `size` grows to 1 MiB
// once a stream or an asynchronous read or write starts on it, within a budget of the user's
// pipe pages, so that many streaming pipes never take a non-root user past the kernel's
// pipe-user-pages-soft (past it, every new pipe of that user gets 8 KiB).
//
// The non-root cases run test/fixtures/pipe-budget.mjs, which loads winpipe as root and then
// becomes the user `wptpipes` for good (made with useradd once, reused after; its own account,
// since the kernel's limits count per user).
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import * as libc from '../../src/posix/libc.js';
import { bundle } from '../helpers/bundle.js';
import { fixturesDir, trackedPipes } from '../helpers/index.js';
import { PIPE_USER, isRoot, localUser } from '../helpers/users.js';

const pipe = trackedPipes();
const MiB = 1024 * 1024;
const isLinux = process.platform === 'linux';

const capacity = (fd: number): number => libc.fcntl(fd, libc.F_GETPIPE_SZ, 0);

function limit(name: string): number {
  return Number.parseInt(readFileSync(`/proc/sys/fs/${name}`, 'utf8'), 10) || 0;
}

/** How many default pipes this process may grow to 1 MiB at once: an eighth of the user's pipe pages. */
function growable(): number {
  const limits = [limit('pipe-user-pages-soft'), limit('pipe-user-pages-hard')].filter((n) => n > 0);
  if (limits.length === 0) return Number.POSITIVE_INFINITY;
  return Math.floor(Math.floor(Math.min(...limits) / 8) / ((MiB - 65536) / 4096));
}

/** Destroys a stream and waits until its end is closed (and its share of the budget is back). */
async function closed(stream: Readable | Writable): Promise<void> {
  if (stream.closed) return;
  const done = once(stream, 'close');
  stream.destroy();
  await done;
}

describe.runIf(isLinux)('createPipe on Linux: pipes that carry a stream grow (skipped elsewhere: F_SETPIPE_SZ is Linux only)', () => {
  it('without a size: a read stream, a pending read() or a write stream grows the pipe to 1 MiB; sync I/O does not, and an explicit size stays as set', async () => {
    const a = pipe();
    expect(capacity(a.writer.fd)).toBe(65536);
    const aStream = a.reader.createReadStream();
    expect(capacity(a.writer.fd)).toBe(MiB);

    const b = pipe();
    const reading = b.reader.read();
    expect(capacity(b.writer.fd)).toBe(MiB);
    b.writer.writeSync('x');
    expect((await reading).toString()).toBe('x');

    const c = pipe();
    const cStream = c.writer.createWriteStream();
    expect(capacity(c.reader.fd)).toBe(MiB);

    const d = pipe();
    d.writer.writeSync('y');
    expect(d.reader.readSync(Buffer.alloc(1))).toBe(1);
    expect(capacity(d.writer.fd)).toBe(65536);

    const e = pipe({ size: 4096 });
    const eChunks: Buffer[] = [];
    const eStream = e.reader.createReadStream();
    eStream.on('data', (chunk: Buffer) => eChunks.push(chunk));
    const eEnded = once(eStream, 'end');
    expect(capacity(e.writer.fd)).toBe(4096);
    const sent = Buffer.alloc(64 * 1024, 9);
    await e.writer.write(sent);
    e.writer.close();
    await eEnded;
    expect(Buffer.concat(eChunks).equals(sent)).toBe(true);
    // One read never returns more than the pipe holds.
    expect(Math.max(...eChunks.map((x) => x.length))).toBeLessThanOrEqual(4096);

    for (const s of [aStream, cStream, eStream]) await closed(s);
    await b.reader[Symbol.asyncDispose]();
  });

  it('one process grows at most an eighth of pipe-user-pages-soft worth of pipes at once; a closed stream gives its share back', async (ctx) => {
    const max = growable();
    if (!Number.isFinite(max) || max > 64) ctx.skip();
    const streams: Readable[] = [];
    const writers: number[] = [];
    for (let i = 0; i < max + 3; i++) {
      const p = pipe();
      streams.push(p.reader.createReadStream());
      writers.push(p.writer.fd);
    }
    const sizes = writers.map(capacity);
    expect(sizes.filter((s) => s === MiB).length).toBe(max);
    expect(sizes.filter((s) => s === 65536).length).toBe(3);

    await closed(streams[0]!);
    const again = pipe();
    const stream = again.reader.createReadStream();
    expect(capacity(again.writer.fd)).toBe(MiB);
    for (const s of [...streams.slice(1), stream]) await closed(s);
  });
});

describe.runIf(isLinux && isRoot)('createPipe as a non-root user (a real second user; skipped when not root or not Linux)', () => {
  async function asPipeUser(args: string[]): Promise<Record<string, unknown>> {
    const { uid, gid } = localUser(PIPE_USER);
    const r = spawnSync(process.execPath, [join(fixturesDir, 'pipe-budget.mjs'), await bundle('index.ts'), await bundle('posix/libc.ts'), String(uid), String(gid), ...args], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (r.status !== 0) throw new Error(`pipe-budget.mjs ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  }

  it('100 pipes streaming at once leave the user room inside pipe-user-pages-soft: 20 more pipes of theirs still get the default 64 KiB, and every stream carries its data', async () => {
    const out = (await asPipeUser(['streams', '100'])) as { capacities: number[]; fresh: number; intact: boolean };
    expect(out.intact).toBe(true);
    // What the user would feel: their next pipes, in any process, are the normal 64 KiB (8 KiB past the limit).
    expect(out.fresh).toBe(65536);
    expect(out.capacities.length).toBe(100);
    const grown = out.capacities.filter((c) => c === MiB).length;
    expect(grown).toBeLessThanOrEqual(growable());
    expect(grown).toBeGreaterThan(0);
    expect(out.capacities.filter((c) => c !== MiB).every((c) => c === 65536)).toBe(true);
  });

  it('a user already past pipe-user-pages-soft: createPipe gets the 8 KiB pipe the kernel gives, and a read stream on it carries 1 MiB intact', async () => {
    const out = (await asPipeUser(['over'])) as { overCapacity: number; capacity: number; bytes: number; intact: boolean; largestChunk: number };
    expect(out.overCapacity).toBeLessThan(65536);
    expect(out.capacity).toBe(out.overCapacity);
    expect(out.bytes).toBe(MiB);
    expect(out.intact).toBe(true);
    expect(out.largestChunk).toBeLessThanOrEqual(out.capacity);
  });
});
