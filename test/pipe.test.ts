// Contract tests for createPipe (src/pipe.ts): options, spawn-readiness and inheritance.
// Runs natively (POSIX backend) and under Wine (Windows backend).
import { fstatSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createPipe, platform, PipeReader, PipeWriter } from '../src/index.js';
import * as libc from '../src/posix/libc.js';
import * as win32 from '../src/windows/kernel32.js';
import { getOsfHandle } from '../src/windows/crt.js';
import { collect, exited, isWindows, readAll, spawnFixture, trackedPipes, within } from './helpers/index.js';

const pipe = trackedPipes();

describe('createPipe', () => {
  it('returns a reader and a writer, also iterable as [reader, writer]', () => {
    const p = pipe();
    expect(p.reader).toBeInstanceOf(PipeReader);
    expect(p.writer).toBeInstanceOf(PipeWriter);
    const [r, w] = p;
    expect(r).toBe(p.reader);
    expect(w).toBe(p.writer);
    expect(platform).toBe(isWindows ? 'windows' : 'posix');
  });

  it('gives each end a distinct fd of this process and its OS handle', () => {
    const { reader, writer } = pipe();
    expect(Number.isInteger(reader.fd) && reader.fd > 2).toBe(true);
    expect(Number.isInteger(writer.fd) && writer.fd > 2).toBe(true);
    expect(reader.fd).not.toBe(writer.fd);
    expect(typeof reader.handle).toBe('bigint');
    if (!isWindows) expect(reader.handle).toBe(BigInt(reader.fd));
    // The fds are real pipe descriptors in Node's own table.
    if (isWindows) {
      // Node's CRT table maps the fd back to exactly our HANDLE, and that HANDLE is a pipe.
      expect(getOsfHandle(reader.fd)).toBe(reader.handle);
      expect(getOsfHandle(writer.fd)).toBe(writer.handle);
      expect(win32.GetFileType(reader.handle)).toBe(win32.FILE_TYPE_PIPE);
    } else {
      expect(fstatSync(reader.fd).isFIFO()).toBe(true);
      expect(fstatSync(writer.fd).ino).toBe(fstatSync(reader.fd).ino);
    }
    expect(reader.closed).toBe(false);
  });

  it('creates both ends non-inheritable by default', () => {
    const { reader, writer } = pipe();
    expect(reader.inheritable).toBe(false);
    expect(writer.inheritable).toBe(false);
  });

  it.each([
    [true, true, true],
    ['reader', true, false],
    ['writer', false, true],
    [false, false, false],
  ] as const)('inheritable: %s makes reader=%s writer=%s', (inheritable, r, w) => {
    const { reader, writer } = pipe({ inheritable });
    expect(reader.inheritable).toBe(r);
    expect(writer.inheritable).toBe(w);
  });

  it('the inheritable property can be flipped both ways', () => {
    const { reader } = pipe();
    reader.inheritable = true;
    expect(reader.inheritable).toBe(true);
    reader.inheritable = false;
    expect(reader.inheritable).toBe(false);
  });

  it('size sets the pipe capacity (Linux: F_SETPIPE_SZ; Windows: nSize) and the pipe works', () => {
    const { reader, writer } = pipe({ size: 1 << 20 });
    if (process.platform === 'linux') {
      // 1 MiB is the default pipe-max-size for unprivileged users, so this is granted.
      expect(libc.fcntl(writer.fd, libc.F_GETPIPE_SZ, 0)).toBe(1 << 20);
    }
    // A write of 512 KiB fits the buffer without a reader waiting (Linux exactly; Windows honours nSize).
    if (process.platform === 'linux') expect(writer.writeSync(Buffer.alloc(512 * 1024, 7))).toBe(512 * 1024);
    else writer.writeSync(Buffer.alloc(1024, 7));
    expect(reader.readSync(Buffer.alloc(16))).toBe(16);
  });

  it('a tiny size still gives at least one page: 1 KiB fits with nobody reading yet', () => {
    // Windows takes nSize = 1 at its word (a 2-byte writeSync then waits for a reader forever);
    // winpipe asks for a page at least, as Linux rounds up to one.
    const { reader, writer } = pipe({ size: 1 });
    expect(writer.writeSync(Buffer.alloc(1024, 3))).toBe(1024);
    const got = Buffer.alloc(1024);
    for (let n = 0; n < got.length; ) n += reader.readSync(got.subarray(n));
    expect(got.equals(Buffer.alloc(1024, 3))).toBe(true);
  });

  it('rejects bad options with TypeError/RangeError before creating anything', () => {
    const bad: [unknown, string][] = [
      ['string', 'ERR_INVALID_ARG_TYPE'],
      [null, 'ERR_INVALID_ARG_TYPE'],
      [{ size: 'big' }, 'ERR_INVALID_ARG_TYPE'],
      [{ size: -1 }, 'ERR_OUT_OF_RANGE'],
      [{ size: 0 }, 'ERR_OUT_OF_RANGE'],
      [{ size: 1.5 }, 'ERR_OUT_OF_RANGE'],
      [{ size: 2 ** 31 }, 'ERR_OUT_OF_RANGE'],
      [{ size: Number.NaN }, 'ERR_OUT_OF_RANGE'],
      [{ inheritable: 'both' }, 'ERR_INVALID_ARG_VALUE'],
      [{ inheritable: 1 }, 'ERR_INVALID_ARG_VALUE'],
    ];
    for (const [options, code] of bad) {
      expect(() => createPipe(options as never), JSON.stringify(options)).toThrow(expect.objectContaining({ code }));
    }
  });
});

describe('spawn stdio', () => {
  it('a child writes to `writer` passed as its stdout; the parent reads to EOF', async () => {
    const { reader, writer } = pipe();
    const child = spawnFixture('write-stdout.mjs', ['hello from the child'], ['ignore', writer, 'inherit']);
    // Ownership: the child holds its own duplicate; ours must close for EOF to come.
    writer.close();
    const got = await within(readAll(reader), 30_000, 'reading the child stdout');
    expect(got.toString()).toBe('hello from the child');
    expect(await exited(child)).toBe(0);
  });

  it('a child writes to `writer` passed as its stderr', async () => {
    const { reader, writer } = pipe();
    const child = spawnFixture('write-fd.mjs', ['2', 'to stderr'], ['ignore', 'ignore', writer]);
    writer.close();
    expect((await within(readAll(reader), 30_000, 'reading the child stderr')).toString()).toBe('to stderr');
    expect(await exited(child)).toBe(0);
  });

  it('the parent feeds a child stdin through `reader`', async () => {
    const { reader, writer } = pipe();
    const child = spawnFixture('echo-stdin.mjs', [], [reader, 'pipe', 'inherit']);
    reader.close();
    const output = collect(child.stdout);
    const payload = Buffer.alloc(200_000, 'a');
    await writer.write(payload);
    writer.close();
    expect(await within(output, 30_000, 'child echo')).toBe(payload.toString());
    expect(await exited(child)).toBe(0);
  });

  it.each([3, 4])('an extra pipe at fd %i for a Node child', async (fd) => {
    const { reader, writer } = pipe();
    const stdio = ['ignore', 'ignore', 'inherit', ...Array<'ignore'>(fd - 3).fill('ignore'), writer] as const;
    const child = spawnFixture('write-fd.mjs', [String(fd), `via fd ${fd}`], [...stdio]);
    writer.close();
    expect((await within(readAll(reader), 30_000, `reading fd ${fd}`)).toString()).toBe(`via fd ${fd}`);
    expect(await exited(child)).toBe(0);
  });
});

describe('inheritance', () => {
  /** Spawns a child that tries to write `marker` through the raw value of `writer`. */
  async function probe(writer: PipeWriter, marker: string): Promise<string> {
    const value = isWindows ? String(writer.handle) : String(writer.fd);
    const ino = isWindows ? '' : String(fstatSync(writer.fd).ino);
    const child = spawnFixture('probe-handle.mjs', [value, marker, ino], ['ignore', 'pipe', 'inherit']);
    const said = collect(child.stdout);
    expect(await exited(child)).toBe(0);
    return (await said).trim();
  }

  it('a child spawned while a pipe exists cannot use its handle or fd value', async () => {
    const { reader, writer } = pipe();
    const said = await probe(writer, 'LEAKED');
    writer.close();
    // The only writer left was ours: nothing arrived, and EOF came.
    expect((await within(readAll(reader), 10_000, 'EOF after probe')).toString()).toBe('');
    expect(said).not.toBe('wrote');
  });

  it('with inheritable = true the child can use the same value', async () => {
    const { reader, writer } = pipe();
    writer.inheritable = true;
    const said = await probe(writer, 'INHERITED');
    writer.close();
    expect(said).toBe('wrote');
    expect((await within(readAll(reader), 10_000, 'reading the inherited write')).toString()).toBe('INHERITED');
  });

  it('a long-lived child does not keep a non-inheritable pipe open: EOF comes while it runs', async () => {
    const { reader, writer } = pipe();
    const child = spawnFixture('hold.mjs', ['20000'], 'ignore');
    try {
      writer.close();
      const eof = await within(reader.read(), 10_000, 'EOF while an unrelated child lives');
      expect(eof.length).toBe(0);
      expect(child.exitCode).toBe(null);
    } finally {
      child.kill();
      await exited(child);
    }
  });
});
