// Contract tests for pipe ends (src/end.ts, src/reader.ts, src/writer.ts): the same file runs
// natively (POSIX backend) and under Wine (Windows backend).
import { createHash } from 'node:crypto';
import { readSync as fsReadSync, writeSync as fsWriteSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { createPipe, isPipeError, type PipeError, type Pipe } from '../src/index.js';
import * as win32 from '../src/windows/kernel32.js';
import * as libc from '../src/posix/libc.js';
import { collect, exited, fixturesDir, isWindows, prng, seededBytes, trackedPipes, within } from './helpers/index.js';

const pipe = trackedPipes();

/** Writes raw bytes on the writer's OS handle, bypassing winpipe (a foreign peer). */
function rawWrite(p: Pipe, bytes: Buffer): void {
  if (isWindows) {
    const done: [number] = [0];
    expect(win32.WriteFile(p.writer.handle, bytes, bytes.length, done, null)).toBe(true);
  } else {
    expect(libc.write(p.writer.fd, bytes, bytes.length)).toBe(bytes.length);
  }
}

describe('round trip in one process', () => {
  it('writeSync then readSync', () => {
    const { reader, writer } = pipe();
    expect(writer.writeSync(Buffer.from('hello'))).toBe(5);
    const buf = Buffer.alloc(16);
    expect(reader.readSync(buf)).toBe(5);
    expect(buf.subarray(0, 5).toString()).toBe('hello');
  });

  it('honours offset and length on both sides, and any TypedArray', () => {
    const { reader, writer } = pipe();
    expect(writer.writeSync(Buffer.from('..abc..'), 2, 3)).toBe(3);
    const into = new Uint16Array(4);
    expect(reader.readSync(into, 3, 3)).toBe(3);
    expect(Buffer.from(into.buffer).subarray(3, 6).toString()).toBe('abc');
  });

  it('write() then read()', async () => {
    const { reader, writer } = pipe();
    await expect(writer.write(Buffer.from('async hello'))).resolves.toBe(11);
    const got = await reader.read();
    expect(got.toString()).toBe('async hello');
  });

  it('read(size) returns at most size bytes and keeps the rest for the next read', async () => {
    const { reader, writer } = pipe();
    writer.writeSync(Buffer.from('abcdefgh'));
    expect((await reader.read(3)).toString()).toBe('abc');
    expect((await reader.read(3)).toString()).toBe('def');
    expect((await reader.read(100)).toString()).toBe('gh');
  });

  it('a pending read() resolves when data arrives later', async () => {
    const { reader, writer } = pipe();
    const pending = reader.read();
    setTimeout(() => void writer.write(Buffer.from('late')), 20);
    expect((await pending).toString()).toBe('late');
  });

  it('queued reads resolve in call order', async () => {
    const { reader, writer } = pipe();
    const a = reader.read(2);
    const b = reader.read(2);
    const c = reader.read(2);
    await writer.write(Buffer.from('112233'));
    expect((await Promise.all([a, b, c])).map(String)).toEqual(['11', '22', '33']);
  });

  it('sync calls keep working after async ones, in order', async () => {
    const { reader, writer } = pipe();
    await writer.write(Buffer.from('one'));
    expect(writer.writeSync(Buffer.from('two'))).toBe(3);
    expect((await reader.read(3)).toString()).toBe('one');
    const buf = Buffer.alloc(3);
    expect(reader.readSync(buf)).toBe(3);
    expect(buf.toString()).toBe('two');
  });
});

describe('the event loop stays free', () => {
  it('16 pending reads hold no libuv pool thread: fs.promises still completes while they wait', async () => {
    // libuv's pool has 4 threads (UV_THREADPOOL_SIZE). If each pending read parked one, fs would starve.
    const pipes = Array.from({ length: 16 }, () => pipe());
    const pending = pipes.map((p) => p.reader.read());
    const own = await within(readFile(fileURLToPath(import.meta.url)), 20_000, 'fs.promises.readFile with 16 reads pending');
    expect(own.length).toBeGreaterThan(0);
    pipes.forEach((p, i) => p.writer.writeSync(Buffer.from(`p${i}`)));
    expect((await Promise.all(pending)).map(String)).toEqual(pipes.map((_, i) => `p${i}`));
  });
});

describe('end of file', () => {
  it('readSync returns 0 once the writer is closed and drained', () => {
    const { reader, writer } = pipe();
    writer.writeSync(Buffer.from('last'));
    writer.close();
    const buf = Buffer.alloc(16);
    expect(reader.readSync(buf)).toBe(4);
    expect(reader.readSync(buf)).toBe(0);
    expect(reader.readSync(buf)).toBe(0);
  });

  it('read() resolves an empty Buffer at EOF, also for a read pending when the writer closes', async () => {
    const { reader, writer } = pipe();
    const pending = reader.read();
    setTimeout(() => writer.close(), 20);
    const eof = await within(pending, 10_000, 'pending read at EOF');
    expect(eof).toBeInstanceOf(Buffer);
    expect(eof.length).toBe(0);
    expect((await reader.read()).length).toBe(0);
  });

  it('a zero-byte write is a no-op that returns 0', async () => {
    const { reader, writer } = pipe();
    expect(writer.writeSync(Buffer.alloc(0))).toBe(0);
    await expect(writer.write(Buffer.alloc(0))).resolves.toBe(0);
    writer.writeSync(Buffer.from('x'));
    const buf = Buffer.alloc(4);
    expect(reader.readSync(buf)).toBe(1);
  });

  it("a foreign peer's zero-byte write is not end of file", () => {
    const p = pipe();
    const { reader } = p;
    rawWrite(p, Buffer.alloc(0));
    rawWrite(p, Buffer.from('after-empty'));
    const buf = Buffer.alloc(32);
    expect(reader.readSync(buf)).toBe(11);
    expect(buf.subarray(0, 11).toString()).toBe('after-empty');
  });
});

describe('integrity', () => {
  it('64 MiB with random chunk sizes arrives intact (SHA-256), async on both sides', async () => {
    const total = 64 * 1024 * 1024;
    const data = seededBytes(total, 0x5eed);
    const { reader, writer } = pipe();
    const rnd = prng(42);
    const writing = (async () => {
      let off = 0;
      while (off < total) {
        const n = Math.min(total - off, 1 + Math.floor(rnd() * 1024 * 1024));
        await writer.write(data.subarray(off, off + n));
        off += n;
      }
      writer.close();
    })();
    const hash = createHash('sha256');
    let received = 0;
    const rnd2 = prng(7);
    for (;;) {
      const chunk = await reader.read(1 + Math.floor(rnd2() * 256 * 1024));
      if (chunk.length === 0) break;
      hash.update(chunk);
      received += chunk.length;
    }
    await writing;
    expect(received).toBe(total);
    expect(hash.digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
  });

  it('a read stream keeps every chunk it emitted intact while later chunks arrive, paused or flowing', async () => {
    // Chunks are kept and hashed only at the end: a chunk that shared memory with a later read
    // would show up as corruption here. Write sizes cross every read size, tiny to 2 MiB.
    const total = 8 * 1024 * 1024;
    const data = seededBytes(total, 0xc0ffee);
    const { reader, writer } = pipe({ size: 1024 * 1024 });
    const rnd = prng(11);
    const writing = (async () => {
      let off = 0;
      while (off < total) {
        const n = Math.min(total - off, 1 + Math.floor(rnd() * (rnd() < 0.5 ? 4096 : 2 * 1024 * 1024)));
        await writer.write(data.subarray(off, off + n));
        off += n;
      }
      writer.close();
    })();
    const stream = reader.createReadStream();
    const chunks: Buffer[] = [];
    let count = 0;
    stream.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      // Pause now and then so reads also happen while nothing consumes them.
      if (++count % 7 === 0) {
        stream.pause();
        setTimeout(() => stream.resume(), 2);
      }
    });
    await new Promise<void>((resolve, reject) => {
      stream.once('end', resolve);
      stream.once('error', reject);
    });
    await writing;
    const got = Buffer.concat(chunks);
    expect(got.length).toBe(total);
    expect(createHash('sha256').update(got).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
  });

  it('a read stream chunk keeps at most about twice its own size of memory alive, whatever the write sizes and pauses', async () => {
    // A consumer that keeps some chunks (a parser keeping a record, a log keeping lines) keeps
    // their memory: a small chunk must not pin a large read buffer. Default pipe (it grows to
    // 1 MiB on Linux once the stream starts), writes from 1 B to 2 MiB, with and without pauses.
    const total = 16 * 1024 * 1024;
    const data = seededBytes(total, 0x5eed);
    const { reader, writer } = pipe();
    const rnd = prng(23);
    const writing = (async () => {
      for (let off = 0; off < total; ) {
        const n = Math.min(total - off, 1 + Math.floor(rnd() * (rnd() < 0.5 ? 8192 : 2 * 1024 * 1024)));
        await writer.write(data.subarray(off, off + n));
        off += n;
        if (rnd() < 0.1) await new Promise((resolve) => setTimeout(resolve, 1));
      }
      writer.close();
    })();
    const stream = reader.createReadStream();
    const hash = createHash('sha256');
    let received = 0;
    const over: string[] = [];
    stream.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      received += chunk.length;
      // Exact-size copies, not Node's pool: its slabs are 64 KiB from Node 26 on (8 KiB before).
      const bound = 2 * chunk.length + 64;
      if (chunk.buffer.byteLength > bound) over.push(`${chunk.length} B in ${chunk.buffer.byteLength} B`);
    });
    await new Promise<void>((resolve, reject) => {
      stream.once('end', resolve);
      stream.once('error', reject);
    });
    await writing;
    expect(received).toBe(total);
    expect(hash.digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    expect(over).toEqual([]);
  });

  it('4 MiB of writeSync/readSync round trips with random sizes arrives intact', () => {
    const total = 4 * 1024 * 1024;
    const data = seededBytes(total, 99);
    const { reader, writer } = pipe();
    const out = Buffer.alloc(total);
    const rnd = prng(3);
    let sent = 0;
    let got = 0;
    while (sent < total) {
      // At most 4 KiB at a time: the smallest pipe buffer (Windows' default), so writeSync never
      // waits for a reader on this same thread.
      const n = Math.min(total - sent, 1 + Math.floor(rnd() * 4096));
      expect(writer.writeSync(data, sent, n)).toBe(n);
      sent += n;
      while (got < sent) got += reader.readSync(out, got, sent - got);
    }
    expect(out.equals(data)).toBe(true);
  });
});

describe('broken pipe', () => {
  it('writeSync after the reader is gone throws PipeError EPIPE (no SIGPIPE)', () => {
    const { reader, writer } = pipe();
    reader.close();
    let err: unknown;
    try {
      writer.writeSync(Buffer.from('nobody listens'));
    } catch (e) {
      err = e;
    }
    expect(isPipeError(err)).toBe(true);
    const pe = err as PipeError;
    expect(pe.code).toBe('EPIPE');
    expect(pe.syscall).toBe(isWindows ? 'WriteFile' : 'write');
    expect(typeof pe.errno).toBe('number');
    if (isWindows) expect(['ERROR_NO_DATA', 'ERROR_BROKEN_PIPE']).toContain(pe.win32Code);
  });

  it('write() after the reader is gone rejects with EPIPE and leaves no unhandled rejection', async () => {
    const unhandled = vi.fn();
    process.on('unhandledRejection', unhandled);
    try {
      const { reader, writer } = pipe();
      reader.close();
      const err = await writer.write(Buffer.alloc(1024, 1)).catch((e: unknown) => e);
      expect(isPipeError(err)).toBe(true);
      expect((err as PipeError).code).toBe('EPIPE');
      // Later writes report the same failure rather than hanging.
      await expect(writer.write(Buffer.from('again'))).rejects.toMatchObject({ code: 'EPIPE' });
      await new Promise((r) => setTimeout(r, 50));
      expect(unhandled).not.toHaveBeenCalled();
    } finally {
      process.off('unhandledRejection', unhandled);
    }
  });

  it('reading after the writer is gone is end of file, not an error', async () => {
    const { reader, writer } = pipe();
    writer.close();
    expect(reader.readSync(Buffer.alloc(4))).toBe(0);
    expect((await reader.read()).length).toBe(0);
  });
});

describe('close', () => {
  it('use after close fails with ERR_PIPE_CLOSED; close twice does nothing', async () => {
    const { reader, writer } = pipe();
    reader.close();
    reader.close();
    writer[Symbol.dispose]();
    writer.close();
    expect(reader.closed).toBe(true);
    expect(writer.closed).toBe(true);
    expect(reader.fd).toBe(-1);
    expect(reader.handle).toBe(-1n);
    expect(() => reader.readSync(Buffer.alloc(1))).toThrow(expect.objectContaining({ code: 'ERR_PIPE_CLOSED' }));
    expect(() => writer.writeSync(Buffer.alloc(1))).toThrow(expect.objectContaining({ code: 'ERR_PIPE_CLOSED' }));
    expect(() => reader.inheritable).toThrow(expect.objectContaining({ code: 'ERR_PIPE_CLOSED' }));
    expect(() => reader.createReadStream()).toThrow(expect.objectContaining({ code: 'ERR_PIPE_CLOSED' }));
    expect(() => writer.createWriteStream()).toThrow(expect.objectContaining({ code: 'ERR_PIPE_CLOSED' }));
    await expect(reader.read()).rejects.toMatchObject({ code: 'ERR_PIPE_CLOSED' });
    await expect(writer.write(Buffer.alloc(1))).rejects.toMatchObject({ code: 'ERR_PIPE_CLOSED' });
  });

  it('close() settles a pending read with ERR_PIPE_CLOSED', async () => {
    const { reader } = pipe();
    const pending = reader.read();
    reader.close();
    await expect(within(pending, 5000, 'read pending at close')).rejects.toMatchObject({ code: 'ERR_PIPE_CLOSED' });
  });

  it('await using closes both ends via Symbol.asyncDispose', async () => {
    const p = createPipe();
    await p.reader[Symbol.asyncDispose]();
    await p.writer[Symbol.asyncDispose]();
    expect(p.reader.closed && p.writer.closed).toBe(true);
    const q = createPipe();
    q[Symbol.dispose]();
    expect(q.reader.closed && q.writer.closed).toBe(true);
  });
});

// The fixture imports the built package by its own name (self-reference), so dist/ must exist.
const built = existsSync(join(fixturesDir, '..', '..', 'dist', 'esm', 'index.js'));

describe.skipIf(!built)('an end nobody closed (needs dist/: npm test builds it)', () => {
  // Each child's stderr is the warning under test: collected and checked here, not printed into
  // the test run, where it would read like a failure.
  it('is closed on garbage collection, with a WINPIPE_END_GC warning', async () => {
    const child = spawn(process.execPath, ['--expose-gc', join(fixturesDir, 'gc-end.mjs')], { stdio: ['ignore', 'pipe', 'pipe'] });
    const [out, err] = await Promise.all([collect(child.stdout), collect(child.stderr)]);
    expect(await exited(child)).toBe(0);
    expect(JSON.parse(out)).toEqual({ warned: true, fdOpenAfter: false });
    expect(err).toContain('[WINPIPE_END_GC] Warning');
  });

  it('an end closed explicitly is left alone by garbage collection (a file that reused its fd stays open)', async () => {
    const child = spawn(process.execPath, ['--expose-gc', join(fixturesDir, 'gc-closed.mjs')], { stdio: ['ignore', 'pipe', 'pipe'] });
    const [out, err] = await Promise.all([collect(child.stdout), collect(child.stderr)]);
    expect(await exited(child)).toBe(0);
    expect(JSON.parse(out)).toEqual({ warnings: 0, fileStillOpen: true });
    expect(err).toBe('');
  });

  it('is not closed on garbage collection while a net.Socket({ fd }) uses its descriptor (no write lands in a reused fd)', async () => {
    const child = spawn(process.execPath, ['--expose-gc', join(fixturesDir, 'gc-adopted.mjs')], { stdio: ['ignore', 'pipe', 'pipe'] });
    const [out, err] = await Promise.all([collect(child.stdout), collect(child.stderr)]);
    expect(await exited(child)).toBe(0);
    expect(err).toContain('[WINPIPE_END_GC_ADOPTED] Warning');
    // The end was collected (the warning says so), its descriptor stayed with the socket: the new
    // file got nothing, and the bytes went down the pipe.
    expect(JSON.parse(out)).toEqual({ warning: 'WINPIPE_END_GC_ADOPTED', fileBytes: 0, pipeGot: 'LEAKED' });
  });
});

describe('cancellation', () => {
  it('an aborted read rejects with AbortError and the data stays for the next read', async () => {
    const { reader, writer } = pipe();
    const ac = new AbortController();
    const pending = reader.read(16, { signal: ac.signal });
    ac.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    writer.writeSync(Buffer.from('kept'));
    expect((await reader.read()).toString()).toBe('kept');
  });

  it('an already-aborted signal rejects before any I/O', async () => {
    const { reader, writer } = pipe();
    const signal = AbortSignal.abort();
    await expect(reader.read(1, { signal })).rejects.toMatchObject({ name: 'AbortError' });
    await expect(writer.write(Buffer.from('x'), { signal })).rejects.toMatchObject({ name: 'AbortError' });
    // Nothing was written.
    writer.close();
    expect(reader.readSync(Buffer.alloc(1))).toBe(0);
  });
});

describe('bad arguments fail before any system call', () => {
  it('readSync / writeSync / read / write validate their arguments synchronously', () => {
    const { reader, writer } = pipe();
    expect(() => reader.readSync('nope' as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE', name: 'TypeError' }));
    expect(() => reader.readSync(Buffer.alloc(4), 5)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE', name: 'RangeError' }));
    expect(() => reader.readSync(Buffer.alloc(4), 0, 5)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => reader.readSync(Buffer.alloc(4), 1.5)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => writer.writeSync(null as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => writer.writeSync(Buffer.alloc(4), -1)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => reader.read(0)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => reader.read('1' as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => reader.read(1, { signal: 'x' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    // Strings are data now (as for fs.writeSync; test/end-api.test.ts): a number is still refused.
    expect(() => writer.write(42 as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => writer.writeSync({} as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => writer.write(Buffer.alloc(1), 5 as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => {
      reader.inheritable = 'yes' as never;
    }).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    // The ends are untouched by all of that.
    writer.writeSync(Buffer.from('ok'));
    expect(reader.readSync(Buffer.alloc(2))).toBe(2);
  });

  it('a sync read while an async read is pending is refused with ERR_PIPE_BUSY', async () => {
    const { reader, writer } = pipe();
    const pending = reader.read();
    expect(() => reader.readSync(Buffer.alloc(1))).toThrow(expect.objectContaining({ code: 'ERR_PIPE_BUSY' }));
    writer.writeSync(Buffer.from('z'));
    expect((await pending).toString()).toBe('z');
  });
});

describe('interop with Node', () => {
  it('fs.writeSync / fs.readSync work on the fds', () => {
    const { reader, writer } = pipe();
    expect(fsWriteSync(writer.fd, Buffer.from('via fs'))).toBe(6);
    const buf = Buffer.alloc(6);
    expect(reader.readSync(buf)).toBe(6);
    writer.writeSync(Buffer.from('back'));
    const b2 = Buffer.alloc(4);
    expect(fsReadSync(reader.fd, b2, 0, 4, null)).toBe(4);
    expect(b2.toString()).toBe('back');
  });

  it('net.Socket({ fd }) reads a detached end to EOF', async () => {
    const { reader, writer } = pipe();
    // Ownership: detach() hands the fd to the socket, which closes it.
    const socket = new net.Socket({ fd: reader.detach(), readable: true, writable: false });
    expect(reader.closed).toBe(true);
    writer.writeSync(Buffer.from('to the socket'));
    writer.close();
    let got = '';
    for await (const chunk of socket) got += chunk;
    expect(got).toBe('to the socket');
  });
});

describe('streams', () => {
  it('createReadStream / createWriteStream take ownership and carry data to EOF', async () => {
    const { reader, writer } = pipe();
    const input = reader.createReadStream();
    const output = writer.createWriteStream();
    expect(reader.closed).toBe(true);
    expect(writer.closed).toBe(true);
    expect(reader.fd).toBe(-1);
    const data = seededBytes(3 * 1024 * 1024, 11);
    output.end(data);
    const parts: Buffer[] = [];
    for await (const chunk of input) parts.push(chunk as Buffer);
    expect(Buffer.concat(parts).equals(data)).toBe(true);
  });

  it("a stream's errors are PipeErrors: writing with no reader emits EPIPE", async () => {
    const { reader, writer } = pipe();
    reader.close();
    const stream = writer.createWriteStream();
    const err = await new Promise<unknown>((resolve) => {
      stream.on('error', resolve);
      stream.write(Buffer.alloc(64 * 1024, 1));
    });
    expect(isPipeError(err)).toBe(true);
    expect(err).toMatchObject({ code: 'EPIPE' });
    expect((err as Error).cause).toBeInstanceOf(Error);
  });

  it('createReadStream keeps data already read ahead by read()', async () => {
    const { reader, writer } = pipe();
    writer.writeSync(Buffer.from('abcdef'));
    expect((await reader.read(2)).toString()).toBe('ab');
    const stream = reader.createReadStream();
    writer.close();
    let rest = '';
    for await (const chunk of stream) rest += chunk;
    expect(rest).toBe('cdef');
  });
});
