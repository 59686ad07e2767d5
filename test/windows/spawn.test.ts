// spawnWithHandles' own CreateProcessW path (src/windows/spawn.ts), Windows only: a C child using
// HANDLE values from its command line, the argv round trip against child_process.spawn, cwd, env,
// the PATH search, batch files refused, the spawn options refused. The child is
// test/fixtures/handles.c, built by scripts/wine.mjs with gcc-mingw-w64-x86-64.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createPipe, spawnWithHandles, type HandleChild, type Pipe } from '../../src/index.js';
import { commandLine, environmentBlock, quoteArg } from '../../src/windows/command.js';
import * as k32 from '../../src/windows/kernel32.js';
import { overlappedStats } from '../../src/windows/overlapped.js';
import { collect, exited, fixturesDir, processHandleCount, readAll, removeChildDir, syncCode, within } from '../helpers/index.js';

const exe = join(fixturesDir, 'bin', 'handles.exe');
const built = existsSync(exe);
const skipReason = built ? undefined : 'test/fixtures/handles.c is not built: install gcc-mingw-w64-x86-64 (scripts/wine.mjs builds it on the host)';

const pipes: Pipe[] = [];
function pipe(): Pipe {
  const p = createPipe();
  pipes.push(p);
  return p;
}
afterEach(() => {
  for (const p of pipes.splice(0)) {
    p.reader.close();
    p.writer.close();
  }
});

/** Runs handles.exe with `args(values)`, stdout into a pipe of ours; resolves with [exit code, stdout]. */
async function run(args: (values: string[]) => string[], options: Record<string, unknown> = {}, command = exe): Promise<[number | null, string]> {
  const out = pipe();
  const spare = pipe();
  const child: HandleChild = spawnWithHandles(command, args, { handles: [spare.writer], stdio: ['ignore', out.writer, 'ignore'], windowsHide: true, ...options });
  out.writer.close();
  const text = (await within(readAll(out.reader), 30_000, 'stdout')).toString();
  return [await exited(child), text];
}

const hex = (s: string): string => Buffer.from(s).toString('hex');

describe.skipIf(skipReason !== undefined)('spawnWithHandles on Windows (own CreateProcessW)', () => {
  it('a C child reads from one HANDLE and writes to another, both given by value on its command line', async () => {
    const input = pipe();
    const output = pipe();
    const child = spawnWithHandles(exe, ([i, o]) => ['echo', i!, o!], { handles: [input.reader, output.writer], stdio: 'ignore', windowsHide: true });
    input.reader.close();
    output.writer.close();
    input.writer.writeSync(Buffer.from('ping through handles'));
    input.writer.close();
    expect((await within(readAll(output.reader), 30_000, 'echo')).toString()).toBe('echo:ping through handles');
    expect(await exited(child)).toBe(0);
  });

  const awkward = [
    'plain',
    'with space',
    'tab\there',
    '',
    'a"quote',
    '"',
    '""',
    'back\\slash',
    'trailing\\',
    'trailing space\\',
    'two\\\\',
    '\\"',
    'a\\\\"b c',
    '\\\\server\\share\\x y',
    ' ',
    'ünïcödé',
    'end"',
  ];

  it('the argv round trip of awkward arguments matches child_process.spawn', async () => {
    const viaNode = spawn(exe, ['argv', ...awkward], { stdio: ['ignore', 'pipe', 'ignore'], windowsHide: true });
    const nodeOut = await collect(viaNode.stdout);
    await exited(viaNode);
    const [code, ours] = await run(() => ['argv', ...awkward]);
    expect(code).toBe(0);
    expect(ours).toBe(nodeOut);
    // Byte-exact for the ASCII ones; a non-ASCII one reaches main() in the ANSI code page, as through spawn.
    const lines = ours.split('\n');
    awkward.forEach((a, i) => {
      if (/^\p{ASCII}*$/u.test(a)) expect(lines[i]).toBe(hex(a));
    });
  });

  it('quoteArg follows the MSVC rules (libuv quote_cmd_arg): quotes only when needed, backslashes doubled only before a quote', () => {
    expect(quoteArg('abc')).toBe('abc');
    expect(quoteArg('')).toBe('""');
    expect(quoteArg('a b')).toBe('"a b"');
    expect(quoteArg('a\\b')).toBe('a\\b');
    expect(quoteArg('a b\\')).toBe('"a b\\\\"');
    expect(quoteArg('a"b')).toBe('"a\\"b"');
    expect(quoteArg('a\\"b')).toBe('"a\\\\\\"b"');
    expect(commandLine('C:\\p q\\x.exe', ['1', ''], false)).toBe('"C:\\p q\\x.exe" 1 ""');
    expect(commandLine('x', ['a b', '"c"'], true)).toBe('x a b "c"');
  });

  it('cwd, env (a block sorted case-insensitively) and windowsVerbatimArguments reach the child', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'winpipe-spawn-cwd-'));
    try {
      const [, cwd] = await run(() => ['cwd'], { cwd: dir });
      expect(cwd.toLowerCase()).toBe(dir.toLowerCase());
      const [, value] = await run(() => ['env', 'WINPIPE_TEST_VAR'], { env: { ...process.env, WINPIPE_TEST_VAR: 'set here' } });
      expect(value).toBe('set here');
      const [, unset] = await run(() => ['env', 'WINPIPE_TEST_VAR'], { env: { SYSTEMROOT: process.env.SYSTEMROOT } });
      expect(unset).toBe('<unset>');
      const [, verbatim] = await run(() => ['argv', 'a', '"b c"'], { windowsVerbatimArguments: true });
      expect(verbatim).toBe(`${hex('a')}\n${hex('b c')}\n`);
    } finally {
      // The first child ran in it.
      await removeChildDir(dir);
    }
    const block = environmentBlock({ b: '2', A: '1', _c: '3' }).toString('utf16le').split('\0');
    expect(block).toEqual(expect.arrayContaining(['A=1', 'b=2', '_c=3']));
    const names = block.filter((e) => e).map((e) => e.slice(0, e.indexOf('=', 1)).toUpperCase());
    expect(names).toEqual([...names].sort());
  });

  it('PATH search like spawn: a bare name is found in a PATH directory with .exe appended', async () => {
    const [code, out] = await run(() => ['argv', 'found'], { env: { ...process.env, PATH: join(fixturesDir, 'bin') } }, 'handles');
    expect(code).toBe(0);
    expect(out).toBe(`${hex('found')}\n`);
  });

  it('refuses .bat and .cmd without a shell: EINVAL, synchronously, as Node since 20.12.2', () => {
    const dir = mkdtempSync(join(tmpdir(), 'winpipe-spawn-bat-'));
    try {
      const { writer: w } = pipe();
      for (const name of ['x.bat', 'y.CMD']) {
        writeFileSync(join(dir, name), '@echo off\r\n');
        expect(syncCode(() => spawnWithHandles(join(dir, name), [], { handles: [w], stdio: 'ignore' }))).toBe('EINVAL');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('spawn options it does not implement throw ERR_INVALID_ARG_VALUE before any child exists', () => {
    const { writer: w } = pipe();
    const before = overlappedStats();
    for (const extra of [
      { detached: true },
      { shell: true },
      { shell: 'cmd.exe' },
      { uid: 1 },
      { timeout: 10 },
      { signal: new AbortController().signal },
      { serialization: 'advanced' },
      { killSignal: 'SIGKILL' },
    ]) {
      expect(syncCode(() => spawnWithHandles(exe, ['exit', '0'], { handles: [w], stdio: 'ignore', ...extra } as never))).toBe('ERR_INVALID_ARG_VALUE');
    }
    for (const stdio of ['ipc', ['ignore', 'ipc', 'ignore'], ['ignore', 'ignore', 'ignore', w], ['ignore', 'ignore', 'ignore', 'pipe'], 'overlapped']) {
      expect(syncCode(() => spawnWithHandles(exe, ['exit', '0'], { handles: [w], stdio } as never))).toBe('ERR_INVALID_ARG_VALUE');
    }
    // Strings with a NUL, which would cut the command line or the environment block short, as Node refuses them.
    expect(syncCode(() => spawnWithHandles('a\0b', [], { handles: [w], stdio: 'ignore' }))).toBe('ERR_INVALID_ARG_VALUE');
    expect(syncCode(() => spawnWithHandles(exe, ['x\0'], { handles: [w], stdio: 'ignore' }))).toBe('ERR_INVALID_ARG_VALUE');
    expect(syncCode(() => spawnWithHandles(exe, [], { handles: [w], stdio: 'ignore', env: { A: 'b\0' } }))).toBe('ERR_INVALID_ARG_VALUE');
    expect(overlappedStats()).toEqual(before);
  });

  it("stdio 'inherit' and a caller's own end; the child's exit wait holds no pending state after exit", async () => {
    const before = overlappedStats();
    const [code, out] = await run(() => ['argv', 'x']);
    expect([code, out]).toEqual([0, `${hex('x')}\n`]);
    const { writer: w } = pipe();
    const child = spawnWithHandles(exe, ['exit', '3'], { handles: [w], stdio: 'inherit', windowsHide: true });
    expect(await exited(child)).toBe(3);
    expect(overlappedStats()).toEqual(before);
  });

  it("stdio 'pipe' (the default): child.stdout and child.stderr are streams, child.stdin takes end(); 'close' comes after exit and the streams' end", async () => {
    const { writer: w } = pipe();
    const child = spawnWithHandles(exe, ['argv', 'through a pipe'], { handles: [w], windowsHide: true });
    expect(child.stdin && child.stdout && child.stderr).toBeTruthy();
    child.stdin!.end();
    const events: string[] = [];
    child.on('exit', () => events.push('exit'));
    const closed = new Promise((r) => child.on('close', (code) => r(code)));
    const [out, err] = await Promise.all([collect(child.stdout), collect(child.stderr)]);
    expect(await within(closed, 30_000, 'close')).toBe(0);
    expect(events).toEqual(['exit']);
    expect(out).toBe(`${hex('through a pipe')}\n`);
    expect(err).toBe('');
  });

  it('a cwd that does not exist: error ENOENT then close, as spawn; no copy of the end is left', async () => {
    const { reader, writer: w } = pipe();
    const child = spawnWithHandles(exe, ['exit', '0'], { handles: [w], stdio: 'ignore', cwd: join(tmpdir(), `winpipe-no-such-dir-${process.pid}`) });
    const error = new Promise<NodeJS.ErrnoException>((r) => child.once('error', r));
    const close = new Promise((r) => child.once('close', r));
    expect((await within(error, 30_000, 'error')).code).toBe('ENOENT');
    await within(close, 30_000, 'close');
    w.close();
    expect((await within(readAll(reader), 30_000, 'EOF')).length).toBe(0);
  });

  it('unref() lets the process exit while the child runs (its wait stops counting); ref() counts it again', async () => {
    const { writer: w } = pipe();
    const before = overlappedStats().keepAliveRefs;
    const child = spawnWithHandles(exe, ['sleep', '30000'], { handles: [w], stdio: 'ignore', windowsHide: true });
    await new Promise((r) => child.once('spawn', r));
    expect(overlappedStats().keepAliveRefs).toBe(before + 1);
    child.unref();
    expect(overlappedStats().keepAliveRefs).toBe(before);
    child.ref();
    expect(overlappedStats().keepAliveRefs).toBe(before + 1);
    child.kill();
    await exited(child);
    expect(overlappedStats().keepAliveRefs).toBe(before);
  });

  it('this process never holds an inheritable copy: GetHandleInformation of every value passed is not ours or not inheritable', async () => {
    const { writer: w } = pipe();
    let values: string[] = [];
    const child = spawnWithHandles(
      exe,
      (v) => {
        values = v;
        return ['sleep', '200'];
      },
      { handles: [w], stdio: 'ignore', windowsHide: true },
    );
    for (const v of values) {
      const flags: k32.Out<number> = [0];
      // The value is the broker's (now the child's); in this process it is either no handle or one of our own, non-inheritable.
      if (k32.GetHandleInformation(BigInt(v), flags)) expect(flags[0] & k32.HANDLE_FLAG_INHERIT).toBe(0);
    }
    expect(await exited(child)).toBe(0);
  });

  it('ENOENT and a refused spawn leave no handle open (GetProcessHandleCount; under Wine, which answers 0 there, the handle values GetHandleInformation accepts)', async () => {
    const { writer: w } = pipe();
    const before = processHandleCount();
    const errors: Promise<unknown>[] = [];
    for (let i = 0; i < 20; i++) {
      const child = spawnWithHandles(`winpipe-missing-${i}`, [], { handles: [w], stdio: 'ignore' });
      // As spawn: the failure is an 'error' event on the next tick, which a caller handles.
      errors.push(new Promise((resolve) => child.once('error', resolve)));
    }
    expect(processHandleCount()).toBe(before);
    for (const err of await Promise.all(errors)) expect(err).toMatchObject({ code: 'ENOENT' });
  });
});

if (skipReason) it.skip(`spawnWithHandles on Windows: ${skipReason}`, () => {});
