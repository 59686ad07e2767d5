// adoptEnd (src/adopt.ts): the child's side of spawnWithHandles. A Node child adopts the ends it
// was given by number and reads and writes through them; a C parent hands them over the way .NET
// does (Windows; POSIX: a shell); bad values give typed errors and leave the value alone.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, fstatSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { adoptEnd, spawnWithHandles, type PipeReader, type PipeWriter } from '../src/index.js';
import * as libc from '../src/posix/libc.js';
import { getOsfHandle } from '../src/windows/crt.js';
import * as k32 from '../src/windows/kernel32.js';
import { bundle } from './helpers/bundle.js';
import { collect, exited, fixturesDir, isWindows, readAll, syncCode, trackedPipes, uniqueName, within } from './helpers/index.js';

const pipe = trackedPipes();
const child = join(fixturesDir, 'adopt-child.mjs');
const handlesExe = join(fixturesDir, 'bin', 'handles.exe');
const parentExe = join(fixturesDir, 'bin', 'handle-parent.exe');
const noFixture = 'test/fixtures/*.c is not built: install gcc-mingw-w64-x86-64 (scripts/wine.mjs builds it on the host)';

const scratch = mkdtempSync(join(tmpdir(), 'wp-adopt-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A raw OS pipe made without winpipe's ends: [read value, write value], both ours to close. */
function rawPipe(): [bigint, bigint] {
  if (isWindows) {
    const r: k32.Out<k32.HANDLE> = [0n];
    const w: k32.Out<k32.HANDLE> = [0n];
    if (!k32.CreatePipe(r, w, null, 0)) throw new Error(`CreatePipe: ${k32.GetLastError()}`);
    return [r[0], w[0]];
  }
  const fds = new Int32Array(2);
  if (libc.pipe(fds) !== 0) throw new Error(`pipe: ${libc.errno()}`);
  return [BigInt(fds[0]!), BigInt(fds[1]!)];
}

function closeRaw(v: bigint): void {
  if (isWindows) k32.CloseHandle(v);
  else libc.close(Number(v));
}

/** Whether the value is open in this process. */
function isOpen(v: bigint): boolean {
  if (isWindows) return k32.GetHandleInformation(v, [0]);
  return libc.fcntl(Number(v), libc.F_GETFD, 0) >= 0;
}

/** Whether the value is inheritable (Windows HANDLE_FLAG_INHERIT; POSIX: no FD_CLOEXEC). */
function inheritable(v: bigint): boolean {
  if (isWindows) {
    const flags: k32.Out<number> = [0];
    k32.GetHandleInformation(v, flags);
    return (flags[0] & k32.HANDLE_FLAG_INHERIT) !== 0;
  }
  return (libc.fcntl(Number(v), libc.F_GETFD, 0) & libc.FD_CLOEXEC) === 0;
}

function setInheritable(v: bigint): void {
  if (isWindows) k32.SetHandleInformation(v, k32.HANDLE_FLAG_INHERIT, k32.HANDLE_FLAG_INHERIT);
  else libc.fcntl(Number(v), libc.F_SETFD, 0);
}

describe('adoptEnd in this process', () => {
  it('adopts a raw pipe by number, bigint or decimal string: reads and writes, sync and async, then closes what it took', async () => {
    const [r, w] = rawPipe();
    setInheritable(r);
    setInheritable(w);
    const reader: PipeReader = adoptEnd(String(r), 'r');
    const writer: PipeWriter = adoptEnd(isWindows ? w : Number(w), 'w');
    // Inheritance is cleared, so our own children do not get them.
    expect([inheritable(r), inheritable(w)]).toEqual([false, false]);
    expect([reader.inheritable, writer.inheritable]).toEqual([false, false]);
    expect(reader.handle).toBe(r);
    expect(writer.handle).toBe(w);
    expect(writer.writeSync('sync ')).toBe(5);
    const buf = Buffer.alloc(5);
    expect(reader.readSync(buf)).toBe(5);
    expect(buf.toString()).toBe('sync ');
    await writer.write('async');
    expect((await reader.read()).toString()).toBe('async');
    writer.close();
    expect((await reader.read()).length).toBe(0);
    reader.close();
    // Ownership: the ends closed the values they took (Windows: through the fd that owned the handle).
    expect([isOpen(r), isOpen(w)]).toEqual([false, false]);
  });

  it('bad types and ranges are TypeError / RangeError before any system call', () => {
    const tooBig = 2 ** 31;
    expect(syncCode(() => adoptEnd({} as never, 'r'))).toBe('ERR_INVALID_ARG_TYPE');
    expect(syncCode(() => adoptEnd(undefined as never, 'r'))).toBe('ERR_INVALID_ARG_TYPE');
    expect(syncCode(() => adoptEnd(null as never, 'r'))).toBe('ERR_INVALID_ARG_TYPE');
    for (const s of ['', 'abc', '0x10', ' 3', '3 ', '3.0', '-1', '+4', '١٢']) expect([s, syncCode(() => adoptEnd(s, 'r'))]).toEqual([s, 'ERR_INVALID_ARG_VALUE']);
    for (const n of [1.5, -1, tooBig, Number.NaN, Infinity]) expect([n, syncCode(() => adoptEnd(n, 'r'))]).toEqual([n, 'ERR_OUT_OF_RANGE']);
    expect(syncCode(() => adoptEnd(-1n, 'w'))).toBe('ERR_OUT_OF_RANGE');
    expect(syncCode(() => adoptEnd(BigInt(tooBig), 'w'))).toBe('ERR_OUT_OF_RANGE');
    expect(syncCode(() => adoptEnd(String(tooBig), 'w'))).toBe('ERR_OUT_OF_RANGE');
    expect(syncCode(() => adoptEnd('99999999999999999999', 'w'))).toBe('ERR_OUT_OF_RANGE');
    // Windows: NULL is never a handle. POSIX: 0 is stdin, a valid fd number.
    if (isWindows) expect(syncCode(() => adoptEnd(0, 'r'))).toBe('ERR_OUT_OF_RANGE');
    expect(syncCode(() => adoptEnd(3, 'x' as never))).toBe('ERR_INVALID_ARG_VALUE');
    expect(syncCode(() => adoptEnd(3, undefined as never))).toBe('ERR_INVALID_ARG_VALUE');
    const e = (() => {
      try {
        adoptEnd(1.5, 'r');
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(RangeError);
  });

  it('a value that is not open (never was, or just closed) is EBADF', () => {
    expect(syncCode(() => adoptEnd(isWindows ? 0x7fff_fff0 : 0x7fff_fff0, 'r'))).toBe('EBADF');
    const [r, w] = rawPipe();
    closeRaw(r);
    expect(syncCode(() => adoptEnd(r, 'r'))).toBe('EBADF');
    closeRaw(w);
  });

  it('a file is EINVAL, and is left as it was: still open, inheritance unchanged', () => {
    const file = join(scratch, `${uniqueName('file')}.txt`);
    writeFileSync(file, 'not a pipe');
    const fd = openSync(file, 'r');
    try {
      const value = isWindows ? getOsfHandle(fd) : BigInt(fd);
      setInheritable(value);
      expect(syncCode(() => adoptEnd(value, 'r'))).toBe('EINVAL');
      expect(isOpen(value)).toBe(true);
      expect(inheritable(value)).toBe(true);
      expect(fstatSync(fd).size).toBe(10);
    } finally {
      closeSync(fd);
    }
  });

  it('the other end (a read end as a writer, a write end as a reader) is EINVAL, and is left as it was', () => {
    const [r, w] = rawPipe();
    try {
      setInheritable(r);
      const before = [inheritable(r), inheritable(w)];
      expect(syncCode(() => adoptEnd(r, 'w'))).toBe('EINVAL');
      expect(syncCode(() => adoptEnd(w, 'r'))).toBe('EINVAL');
      expect([isOpen(r), isOpen(w)]).toEqual([true, true]);
      expect([inheritable(r), inheritable(w)]).toEqual(before);
    } finally {
      closeRaw(r);
      closeRaw(w);
    }
  });

  it('adopting a value again while its end is open is EBUSY; after close the number may be adopted anew', () => {
    const [r, w] = rawPipe();
    const reader = adoptEnd(r, 'r');
    expect(syncCode(() => adoptEnd(r, 'r'))).toBe('EBUSY');
    expect(reader.closed).toBe(false);
    reader.close();
    closeRaw(w);
  });

  it.runIf(isWindows)('Windows: an overlapped pipe handle works too (readSync / writeSync bring their own OVERLAPPED; read() / write() go through libuv)', async () => {
    const name = `\\\\.\\pipe\\${uniqueName('wp-adopt-ov')}`;
    const server = k32.CreateNamedPipeW(name, k32.PIPE_ACCESS_DUPLEX | k32.FILE_FLAG_OVERLAPPED, k32.PIPE_TYPE_BYTE, 1, 65536, 65536, 0, null);
    expect(server).not.toBe(k32.INVALID_HANDLE_VALUE);
    const client = k32.CreateFileW(name, k32.GENERIC_READ | k32.GENERIC_WRITE, 0, null, k32.OPEN_EXISTING, k32.FILE_FLAG_OVERLAPPED, null);
    expect(client).not.toBe(k32.INVALID_HANDLE_VALUE);
    const reader = adoptEnd(server, 'r');
    const writer = adoptEnd(client, 'w');
    // Within the pipe's buffer: a writeSync that had to wait for a reader on this thread's own
    // event loop would wait forever.
    const data = Buffer.alloc(40_000, 7);
    expect(writer.writeSync(data)).toBe(data.length);
    const got: Buffer[] = [];
    const buf = Buffer.alloc(65536);
    for (let n = 0; n < data.length; ) {
      const k = reader.readSync(buf);
      got.push(Buffer.from(buf.subarray(0, k)));
      n += k;
    }
    expect(Buffer.concat(got).equals(data)).toBe(true);
    await writer.write('async');
    expect((await within(reader.read(), 30_000, 'async read')).toString()).toBe('async');
    writer.close();
    expect((await within(reader.read(), 30_000, 'end of file')).length).toBe(0);
    reader.close();
  });
});

describe('a Node child adopts what spawnWithHandles gave it', () => {
  for (const mode of ['async', 'sync'] as const) {
    it(`reads and writes through the adopted ends (${mode}); its own children do not get them`, async () => {
      const bundled = await bundle('index.ts');
      const input = pipe();
      const output = pipe();
      const c = spawnWithHandles(process.execPath, ([r, w]) => [child, bundled, r!, w!, mode, 'report'], {
        handles: [input.reader, output.writer],
        stdio: ['ignore', 'pipe', 'pipe'],
        windowsHide: true,
      });
      input.reader.close();
      output.writer.close();
      input.writer.writeSync(`ping ${mode}`);
      input.writer.close();
      const [data, out, err] = await within(Promise.all([readAll(output.reader), collect(c.stdout), collect(c.stderr)]), 60_000, 'the child');
      expect(await exited(c), err).toBe(0);
      expect(data.toString()).toBe(`got:ping ${mode}`);
      const seen = JSON.parse(out.trim()) as { readerInheritable: boolean; writerInheritable: boolean; probe: string };
      expect(seen.readerInheritable).toBe(false);
      expect(seen.writerInheritable).toBe(false);
      expect(data.toString()).not.toContain('LEAK');
    });
  }
});

describe('handle values across languages, the .NET way (decimal strings on the command line)', () => {
  it.runIf(isWindows && existsSync(parentExe))(
    `a Node child adopts the ends a C parent made with CreatePipe and passed as GetClientHandleAsString does${existsSync(parentExe) ? '' : ` (skipped: ${noFixture})`}`,
    async () => {
      const bundled = await bundle('index.ts');
      // The C parent appends the two values; the child's mode is left to its default (async).
      const p = spawn(parentExe, [process.execPath, child, bundled], { stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
      const [out, err] = await within(Promise.all([collect(p.stdout), collect(p.stderr)]), 60_000, 'the C parent');
      expect(await exited(p), err).toBe(0);
      expect(out).toBe('got:ping from C');
    },
  );

  it.runIf(!isWindows)('a Node child adopts the fd numbers a shell parent passes (no Node on the parent side)', async () => {
    const bundled = await bundle('index.ts');
    // fd 3: the pipe from printf; fd 4: the pipe to cat. Both real pipes, made by the shell.
    const script = 'printf "ping from sh" | "$0" "$1" "$2" 3 4 async 3<&0 4>&1 0</dev/null | cat';
    const p = spawn('sh', ['-c', script, process.execPath, child, bundled], { stdio: ['ignore', 'pipe', 'pipe'] });
    const [out, err] = await within(Promise.all([collect(p.stdout), collect(p.stderr)]), 60_000, 'the shell parent');
    expect(await exited(p), err).toBe(0);
    expect(out).toBe('got:ping from sh');
  });

  it.runIf(isWindows && existsSync(handlesExe))(
    `a C child reads and writes through the HANDLE values a Node parent passed as decimal strings${existsSync(handlesExe) ? '' : ` (skipped: ${noFixture})`}`,
    async () => {
      const input = pipe();
      const output = pipe();
      let values: string[] = [];
      const c = spawnWithHandles(
        handlesExe,
        (v) => {
          values = v;
          return ['echo', v[0]!, v[1]!];
        },
        { handles: [input.reader, output.writer], stdio: 'ignore', windowsHide: true },
      );
      input.reader.close();
      output.writer.close();
      input.writer.writeSync('ping from Node');
      input.writer.close();
      expect((await within(readAll(output.reader), 30_000, 'echo')).toString()).toBe('echo:ping from Node');
      expect(await exited(c)).toBe(0);
      for (const v of values) expect(v).toMatch(/^[1-9][0-9]*$/);
    },
  );
});
