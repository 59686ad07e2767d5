// FIFOs (src/posix/fifo.ts): createFifo and openFifo on POSIX; ERR_UNSUPPORTED_PLATFORM on
// Windows (run under Wine).
import { spawn } from 'node:child_process';
import { closeSync, constants as fsConstants, mkdirSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createFifo, openFifo, PipeReader, PipeWriter, type PipeEnd } from '../src/index.js';
import * as libc from '../src/posix/libc.js';
import { codeOf, collect, exited, isWindows, readAll, syncCode, uniqueName, within } from './helpers/index.js';

describe.skipIf(!isWindows)('FIFOs on Windows', () => {
  it('createFifo and openFifo fail with ERR_UNSUPPORTED_PLATFORM (use a named pipe)', async () => {
    expect(syncCode(() => createFifo('C:\\temp\\x.fifo'))).toBe('ERR_UNSUPPORTED_PLATFORM');
    expect(await codeOf(openFifo('C:\\temp\\x.fifo', 'r'))).toBe('ERR_UNSUPPORTED_PLATFORM');
    expect(await codeOf(openFifo('C:\\temp\\x.fifo', 'w'))).toBe('ERR_UNSUPPORTED_PLATFORM');
    // Argument errors still come first, as everywhere.
    expect(syncCode(() => openFifo('x', 'rw' as never))).toBe('ERR_INVALID_ARG_VALUE');
    expect(syncCode(() => openFifo('x', 'r', { allowOwnerUids: 0 as never }))).toBe('ERR_INVALID_ARG_TYPE');
    expect(syncCode(() => openFifo('x', 'r', { allowOwnerUids: [-1] }))).toBe('ERR_OUT_OF_RANGE');
    expect(await codeOf(openFifo('C:\\temp\\x.fifo', 'r', { allowOwnerUids: [1000] }))).toBe('ERR_UNSUPPORTED_PLATFORM');
  });
});

describe.skipIf(isWindows)('FIFOs on POSIX', () => {
  const dir = isWindows ? '' : mkdtempSync(join(tmpdir(), 'wp-fifo-'));
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const ends: PipeEnd[] = [];
  const fds: number[] = [];
  afterEach(() => {
    for (const e of ends.splice(0)) e.close();
    for (const fd of fds.splice(0)) closeSync(fd);
  });
  function fifo(): string {
    const p = join(dir, uniqueName('f'));
    createFifo(p);
    return p;
  }
  async function open<M extends 'r' | 'w'>(path: string, mode: M, options?: Parameters<typeof openFifo>[2]): Promise<M extends 'r' ? PipeReader : PipeWriter> {
    const end = await openFifo(path, mode, options);
    ends.push(end);
    return end as never;
  }
  /** True if the promise is still pending after a few turns of the event loop. */
  async function stillPending(p: Promise<unknown>): Promise<boolean> {
    let settled = false;
    p.then(
      () => (settled = true),
      () => (settled = true),
    );
    for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 5));
    return !settled;
  }

  it('createFifo makes a FIFO, mode 0o600 by default (the umask applies to others)', () => {
    const p = fifo();
    const st = statSync(p);
    expect(st.isFIFO()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600 & ~process.umask());
    const q = join(dir, uniqueName('m'));
    createFifo(q, { mode: 0o640 });
    expect(statSync(q).mode & 0o777).toBe(0o640 & ~process.umask());
  });

  it('createFifo: EEXIST, ENOENT, and argument errors before any system call', () => {
    const p = fifo();
    expect(syncCode(() => createFifo(p))).toBe('EEXIST');
    expect(syncCode(() => createFifo(join(dir, 'no-such-dir', 'f')))).toBe('ENOENT');
    expect(syncCode(() => createFifo(''))).toBe('ERR_INVALID_ARG_VALUE');
    expect(syncCode(() => createFifo(1 as never))).toBe('ERR_INVALID_ARG_TYPE');
    expect(syncCode(() => createFifo(join(dir, 'x'), { mode: 0o10000 }))).toBe('ERR_OUT_OF_RANGE');
    expect(syncCode(() => openFifo(p, 'x' as never))).toBe('ERR_INVALID_ARG_VALUE');
    expect(syncCode(() => openFifo(p, 'r', { nonBlocking: 'yes' as never }))).toBe('ERR_INVALID_ARG_TYPE');
    expect(syncCode(() => openFifo(p, 'r', { signal: {} as never }))).toBe('ERR_INVALID_ARG_TYPE');
    // allowOwnerUids: an array of uids, integers 0 to 2^32-1.
    expect(syncCode(() => openFifo(p, 'r', { allowOwnerUids: 0 as never }))).toBe('ERR_INVALID_ARG_TYPE');
    expect(syncCode(() => openFifo(p, 'r', { allowOwnerUids: ['5'] as never }))).toBe('ERR_INVALID_ARG_TYPE');
    for (const bad of [-1, 1.5, 2 ** 32]) expect(syncCode(() => openFifo(p, 'r', { allowOwnerUids: [bad] }))).toBe('ERR_OUT_OF_RANGE');
  });

  it("'w' with nonBlocking fails at once with ENXIO when no reader has the FIFO open", async () => {
    expect(await codeOf(openFifo(fifo(), 'w', { nonBlocking: true }))).toBe('ENXIO');
  });

  it("'w' waits for a reader without blocking the event loop, then data flows and the reader sees EOF", async () => {
    const p = fifo();
    const writing = openFifo(p, 'w');
    // The loop keeps turning (timers fire) while the writer waits.
    expect(await stillPending(writing)).toBe(true);
    const reader = await open(p, 'r', { nonBlocking: true });
    const writer = await within(writing, 10_000, 'writer open once a reader exists');
    ends.push(writer);
    expect(writer).toBeInstanceOf(PipeWriter);
    await writer.write(Buffer.from('through the fifo'));
    writer.close();
    expect((await readAll(reader)).toString()).toBe('through the fifo');
  });

  it("'r' waits for a writer (a non-Node `sh` here), then reads to end of file after the last writer", async () => {
    const p = fifo();
    const reading = openFifo(p, 'r');
    expect(await stillPending(reading)).toBe(true);
    const child = spawn('sh', ['-c', 'printf "hello from sh" > "$1"', 'sh', p], { stdio: 'ignore' });
    const reader = await within(reading, 10_000, 'reader open once a writer exists');
    ends.push(reader);
    expect(reader).toBeInstanceOf(PipeReader);
    expect((await readAll(reader)).toString()).toBe('hello from sh');
    expect(await exited(child)).toBe(0);
  });

  it('end of file comes only after the last of several writers closes', async () => {
    const p = fifo();
    const reading = openFifo(p, 'r');
    const w1 = await open(p, 'w');
    const reader = await reading;
    ends.push(reader);
    const w2 = await open(p, 'w');
    w1.writeSync(Buffer.from('one,'));
    w1.close();
    w2.writeSync(Buffer.from('two'));
    const buf = Buffer.alloc(64);
    let got = '';
    while (got.length < 7) got += buf.subarray(0, reader.readSync(buf)).toString();
    expect(got).toBe('one,two');
    const eof = reader.read();
    expect(await stillPending(eof)).toBe(true);
    w2.close();
    expect((await within(eof, 10_000, 'EOF after the last writer')).length).toBe(0);
  });

  it('ends are blocking (O_NONBLOCK cleared) and non-inheritable, so they behave like createPipe ends', async () => {
    const p = fifo();
    const reading = openFifo(p, 'r');
    const writer = await open(p, 'w');
    const reader = await reading;
    ends.push(reader);
    for (const end of [reader, writer]) {
      expect(libc.fcntl(end.fd, libc.F_GETFL, 0) & libc.O_NONBLOCK).toBe(0);
      expect(end.inheritable).toBe(false);
    }
    expect(writer.writeSync(Buffer.from('sync'))).toBe(4);
    const buf = Buffer.alloc(4);
    expect(reader.readSync(buf)).toBe(4);
    expect(buf.toString()).toBe('sync');
  });

  it('a writer end goes to a non-Node child (`cat`) through stdio', async () => {
    const p = fifo();
    const cat = spawn('sh', ['-c', 'cat "$1"', 'sh', p], { stdio: ['ignore', 'pipe', 'inherit'] });
    const out = collect(cat.stdout);
    const writer = await within(open(p, 'w'), 10_000, 'cat opened the fifo');
    await writer.write(Buffer.from('via cat\n'));
    writer.close();
    expect(await out).toBe('via cat\n');
    expect(await exited(cat)).toBe(0);
  });

  it('data already waiting when the reader opens is not lost', async () => {
    const p = fifo();
    // Another reader keeps the FIFO open so that a writer can put data in before ours opens.
    const holder = openSync(p, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    fds.push(holder);
    const writer = await open(p, 'w', { nonBlocking: true });
    writer.writeSync(Buffer.from('early bytes'));
    const reader = await within(open(p, 'r'), 10_000, 'reader open with data waiting');
    closeSync(fds.pop()!);
    writer.close();
    expect((await readAll(reader)).toString()).toBe('early bytes');
  });

  it('not a FIFO is EINVAL (nothing is opened); a missing path is ENOENT', async () => {
    const file = join(dir, uniqueName('file'));
    writeFileSync(file, 'x');
    const sub = join(dir, uniqueName('dir'));
    mkdirSync(sub);
    for (const path of [file, sub]) {
      expect(await codeOf(openFifo(path, 'r'))).toBe('EINVAL');
      expect(await codeOf(openFifo(path, 'w'))).toBe('EINVAL');
    }
    expect(await codeOf(openFifo(join(dir, 'missing'), 'r'))).toBe('ENOENT');
    expect(await codeOf(openFifo(join(dir, 'missing'), 'w'))).toBe('ENOENT');
  });

  it('an AbortSignal stops the wait on either side, and the aborted reader holds nothing open', async () => {
    const p = fifo();
    const ac = new AbortController();
    const writing = openFifo(p, 'w', { signal: ac.signal });
    const q = fifo();
    const readingQ = openFifo(q, 'r', { signal: ac.signal });
    expect(await stillPending(writing)).toBe(true);
    ac.abort();
    await expect(writing).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    await expect(readingQ).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    // The aborted reader closed its fd: nobody reads q now, so a non-blocking writer gets ENXIO.
    expect(await codeOf(openFifo(q, 'w', { nonBlocking: true }))).toBe('ENXIO');
    expect(await codeOf(openFifo(p, 'w', { signal: AbortSignal.abort() }))).toBe('ABORT_ERR');
  });
});
