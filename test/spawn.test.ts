// spawnWithHandles (src/spawn.ts): a pipe end handed to a child that is neither Node nor a
// C-runtime fd user, by number on its command line, and to no other child.
// POSIX: `sh` writes to the fd number. Windows (Wine): test/fixtures/writefile.c, built with
// gcc-mingw-w64-x86-64, takes the HANDLE value from argv and calls WriteFile.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import type { HandleChild } from '../src/index.js';
import { existsSync, fstatSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { createPipe, spawnWithHandles, type Pipe } from '../src/index.js';
import { bundle } from './helpers/bundle.js';
import { collect, exited, fixturesDir, isWindows, readAll, syncCode, underWine, within } from './helpers/index.js';

/** The Windows C child: prebuilt by scripts/wine.mjs on the host, or built here with a gcc on PATH. */
function windowsChild(): string | undefined {
  const prebuilt = join(fixturesDir, 'bin', 'writefile.exe');
  if (existsSync(prebuilt)) return prebuilt;
  if (underWine) return undefined;
  const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'node_modules', '.cache', 'winpipe-test', 'writefile.exe');
  if (existsSync(out)) return out;
  mkdirSync(dirname(out), { recursive: true });
  const r = spawnSync('gcc', ['-O2', '-o', out, join(fixturesDir, 'writefile.c')], { stdio: 'ignore', windowsHide: true });
  return r.status === 0 && existsSync(out) ? out : undefined;
}

const exe = isWindows ? windowsChild() : undefined;
const handlesExe = isWindows ? join(fixturesDir, 'bin', 'handles.exe') : undefined;
const skipReason =
  isWindows && (!exe || !existsSync(handlesExe!))
    ? 'test/fixtures/writefile.c or handles.c is not built: install gcc-mingw-w64-x86-64 (scripts/wine.mjs builds it on the host) or put a gcc on PATH'
    : undefined;
if (skipReason) console.log(`spawnWithHandles: skipped: ${skipReason}`);

/** [command, args] of a child that writes `text` to the handle it is given as `value`. */
function writer(value: string, text: string, holdMs = 0): [string, string[]] {
  if (isWindows) return [exe!, [value, text, String(holdMs)]];
  return ['sh', ['-c', 'printf %s "$2" >&"$1"; sleep "$3"', 'sh', value, text, String(holdMs / 1000)]];
}

/**
 * [command, args] of a child that writes `text` to the pipe `target` if it has it under any number
 * beyond stdio, without being told which: it finds a handle it was not meant to get.
 *
 * POSIX: it looks only at the pipe with `target`'s inode, so that it never writes to other inherited
 * descriptors (a harness's pipe may have no reader: the write would block, or SIGPIPE the child).
 * Windows: it writes to every pipe handle it has.
 */
function scanner(text: string, target: { readonly fd: number }): [string, string[]] {
  if (isWindows) return [exe!, ['scan', text]];
  const ino = String(fstatSync(target.fd).ino);
  // `ls -iLd` prints the inode behind /dev/fd/N with GNU and BSD ls alike; /dev/fd/N, not >&N,
  // because dash takes only one-digit descriptors in redirections.
  const script =
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell script; ${f#/dev/fd/} is the shell's
    'exec 2>/dev/null; for f in /dev/fd/*; do fd=${f#/dev/fd/}; [ "$fd" -gt 2 ] || continue; set -- "$1" "$2" $(ls -iLd "$f"); [ "$3" = "$2" ] && printf %s "$1" > "$f"; done; exit 0';
  return ['sh', ['-c', script, 'sh', text, ino]];
}

function run([cmd, args]: [string, string[]]): ChildProcess {
  return spawn(cmd, args, { stdio: 'ignore', windowsHide: true });
}

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

describe.skipIf(skipReason !== undefined)('spawnWithHandles', () => {
  it('a non-Node child writes to the handle it was given by number (POSIX: its own fd, not ours)', async () => {
    const { reader, writer: w } = pipe();
    let seen: string[] = [];
    const [cmd] = writer('x', '');
    const child = spawnWithHandles(
      cmd,
      (values) => {
        seen = values;
        return writer(values[0]!, 'hello through a handle')[1];
      },
      { handles: [w], stdio: 'ignore', windowsHide: true },
    );
    w.close();
    expect((await within(readAll(reader), 30_000, 'read to EOF')).toString()).toBe('hello through a handle');
    expect(await exited(child)).toBe(0);
    if (!isWindows) {
      // The child's fd is the first slot after stdio, whatever our own fd number was.
      expect(seen).toEqual(['3']);
    } else {
      expect(seen[0]).toMatch(/^\d+$/);
    }
  });

  // A Node process started windowless (a test runner's worker, a README block run by the readme test)
  // is, on Windows, attached to a console without a window. Under Wine a console child created
  // through the broker could not share it: CreateProcessW failed, and the failed attempt left a copy
  // of the end where nothing could close it, so the reader never saw end of file.
  for (const stdio of ['inherit', 'ignore'] as const) {
    it(`from a parent started with windowsHide, a child spawned without it (stdio '${stdio}'): all the data, then end of file`, async () => {
      const text = `hello from the child of a windowless parent, stdio ${stdio}`;
      const [cmd, args] = writer('{handle}', text);
      const parent = spawn(process.execPath, [join(fixturesDir, 'handles-parent.mjs'), await bundle('index.ts'), stdio, cmd, ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
        windowsHide: true,
      });
      try {
        const [out, err] = await within(Promise.all([collect(parent.stdout), collect(parent.stderr)]), 30_000, "the parent's read to end of file");
        expect(out.trim(), err).toBe(JSON.stringify({ data: text, code: 0 }));
        expect(await exited(parent)).toBe(0);
      } finally {
        parent.kill();
      }
    });
  }

  it('several ends, after extra stdio slots: each child-side value reaches the right pipe', async () => {
    const a = pipe();
    const b = pipe();
    let values: string[] = [];
    const stdio = ['ignore', 'ignore', 'ignore', 'ignore'] as const;
    const [cmd] = writer('x', '');
    const child = spawnWithHandles(
      cmd,
      (v) => {
        values = v;
        if (isWindows) return [v[0]!, 'to a'];
        return ['-c', 'printf "to a" >&"$1"; printf "to b" >&"$2"', 'sh', v[0]!, v[1]!];
      },
      { handles: [a.writer, b.writer.fd], stdio: [...stdio], windowsHide: true },
    );
    a.writer.close();
    expect(await exited(child)).toBe(0);
    if (isWindows) {
      // The Windows child writes to one handle per run: use the second value with a second child.
      const second = spawnWithHandles(exe!, (v) => [v[0]!, 'to b'], { handles: [b.writer], stdio: 'ignore', windowsHide: true });
      expect(await exited(second)).toBe(0);
      expect(values).toHaveLength(2);
      expect(values[0]).not.toBe(values[1]);
    } else {
      expect(values).toEqual(['4', '5']);
    }
    b.writer.close();
    expect((await readAll(a.reader)).toString()).toBe('to a');
    expect((await readAll(b.reader)).toString()).toBe('to b');
  });

  it('the scanner child used below does find a pipe end it inherited (a control for the negative tests)', async () => {
    const { reader, writer: w } = pipe();
    w.inheritable = true;
    const [cmd, args] = scanner('FOUND', reader);
    // Windows: an inheritable handle goes to every child; POSIX: an fd without FD_CLOEXEC does.
    const c = spawn(cmd, args, { stdio: 'ignore', windowsHide: true });
    await exited(c);
    w.close();
    expect((await within(readAll(reader), 30_000, 'read to EOF')).toString()).toContain('FOUND');
  });

  it('children spawned before, alongside and after do not receive it; EOF proves no one else holds it', async () => {
    const { reader, writer: w } = pipe();
    const before = run(scanner('LEAK-before', reader));
    const [cmd] = writer('x', '');
    // The intended child holds the end a while, so the others run while it exists.
    const child = spawnWithHandles(cmd, (v) => writer(v[0]!, 'ok', 300)[1], { handles: [w], stdio: 'ignore', windowsHide: true });
    const alongside = run(scanner('LEAK-alongside', reader));
    w.close();
    const after = run(scanner('LEAK-after', reader));
    const all = await within(readAll(reader), 60_000, 'read to EOF');
    for (const c of [before, child, alongside, after]) await exited(c);
    expect(all.toString()).toBe('ok');
  });

  it('a worker thread spawning in a loop with child_process.spawn: none of its children receive the handle (Windows: our process never holds it inheritable, the broker does)', async () => {
    const { reader, writer: w } = pipe();
    const [scanCmd, scanArgs] = scanner('LEAK', reader);
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
         const { spawn } = require('node:child_process');
         let stop = false, spawned = 0;
         parentPort.on('message', () => { stop = true; });
         (async () => {
           while (!stop) {
             const c = spawn(workerData.cmd, workerData.args, { stdio: 'ignore', windowsHide: true });
             await new Promise((r) => { c.on('exit', r); c.on('error', r); });
             parentPort.postMessage({ spawned: ++spawned, done: false });
           }
           parentPort.postMessage({ spawned, done: true });
         })();`,
      { eval: true, workerData: { cmd: scanCmd, args: scanArgs } },
    );
    let workerSpawns = 0;
    let workerDone: () => void = () => {};
    const stopped = new Promise<void>((resolve) => (workerDone = resolve));
    worker.on('message', (m: { spawned: number; done: boolean }) => {
      workerSpawns = m.spawned;
      if (m.done) workerDone();
    });
    // Start once the worker is spawning, and go on until both sides have spawned a fair number of
    // children, so that many of its spawns overlap ours.
    await within(
      new Promise<void>((resolve) => {
        const check = (): void => (workerSpawns > 0 ? resolve() : void setTimeout(check, 10));
        check();
      }),
      60_000,
      'the worker spawning',
    );
    const children: HandleChild[] = [];
    while ((children.length < 10 || workerSpawns < 10) && children.length < 200) {
      const [cmd] = writer('x', '');
      children.push(spawnWithHandles(cmd, (v) => writer(v[0]!, 'ok')[1], { handles: [w], stdio: 'ignore', windowsHide: true }));
      // Let the worker's spawns interleave with ours.
      await new Promise((r) => setTimeout(r, 5));
    }
    worker.postMessage('stop');
    await within(stopped, 60_000, 'worker stop');
    await worker.terminate();
    for (const c of children) expect(await exited(c)).toBe(0);
    w.close();
    const text = (await within(readAll(reader), 60_000, 'read to EOF')).toString();
    const leaks = text.split('LEAK').length - 1;
    expect(text.split('ok').length - 1).toBe(children.length);
    expect(workerSpawns).toBeGreaterThan(0);
    console.log(`spawnWithHandles: ${leaks} of ${workerSpawns} children spawned by a worker thread (during ${children.length} of our spawns) received the handle`);
    expect(leaks).toBe(0);
  });

  /** [command, args] of a child that exits with `code`, or sleeps `ms` first. */
  function exiter(code: number, ms = 0): [string, string[]] {
    if (isWindows) return [handlesExe!, ms ? ['sleep', String(ms)] : ['exit', String(code)]];
    return ['sh', ['-c', ms ? `sleep ${ms / 1000}` : `exit ${code}`]];
  }

  it('exit codes: exitCode, then exit and close with (code, null)', async () => {
    const { writer: w } = pipe();
    for (const code of [0, 7, 255]) {
      const [cmd, args] = exiter(code);
      const child = spawnWithHandles(cmd, args, { handles: [w], stdio: 'ignore', windowsHide: true });
      const events: unknown[] = [];
      child.on('spawn', () => events.push('spawn'));
      child.on('exit', (c, sig) => events.push(['exit', c, sig]));
      const closed = new Promise((r) => child.on('close', (c, sig) => r(['close', c, sig])));
      events.push(await within(closed, 30_000, 'close'));
      expect(events).toEqual(['spawn', ['exit', code, null], ['close', code, null]]);
      expect(child.exitCode).toBe(code);
      expect(child.signalCode).toBeNull();
      expect(typeof child.pid).toBe('number');
    }
  });

  it('kill(): the child ends, exit reports (null, SIGTERM); kill after exit returns false', async () => {
    const { writer: w } = pipe();
    const [cmd, args] = exiter(0, 60_000);
    const child = spawnWithHandles(cmd, args, { handles: [w], stdio: 'ignore', windowsHide: true });
    await new Promise((r) => child.once('spawn', r));
    const exit = new Promise<unknown[]>((r) => child.once('exit', (...a) => r(a)));
    expect(child.kill()).toBe(true);
    expect(await within(exit, 30_000, 'exit after kill')).toEqual([null, 'SIGTERM']);
    expect(child.killed).toBe(true);
    expect(child.signalCode).toBe('SIGTERM');
    expect(child.kill()).toBe(false);
  });

  it('a program that does not exist: error ENOENT, then close; no pid; no copy of the end is left anywhere', async () => {
    const { reader, writer: w } = pipe();
    const child = spawnWithHandles(`winpipe-no-such-program-${process.pid}`, [], { handles: [w], stdio: 'ignore', windowsHide: true });
    const error = new Promise<NodeJS.ErrnoException>((r) => child.once('error', r));
    const close = new Promise((r) => child.once('close', r));
    expect((await within(error, 30_000, 'error')).code).toBe('ENOENT');
    await within(close, 30_000, 'close');
    expect(child.pid).toBeUndefined();
    // EOF once our own writer is closed: neither a broker nor a child holds a copy.
    w.close();
    expect((await within(readAll(reader), 30_000, 'EOF')).length).toBe(0);
  });

  it('rejects bad arguments before spawning', () => {
    const { writer: w } = pipe();
    expect(syncCode(() => spawnWithHandles('x', [], { handles: [] }))).toBe('ERR_INVALID_ARG_VALUE');
    expect(syncCode(() => spawnWithHandles('x', [], { handles: [{} as never] }))).toBe('ERR_INVALID_ARG_TYPE');
    expect(syncCode(() => spawnWithHandles('x', [], { handles: [-1] }))).toBe('ERR_INVALID_ARG_VALUE');
    expect(syncCode(() => spawnWithHandles('x', 'y' as never, { handles: [w] }))).toBe('ERR_INVALID_ARG_TYPE');
    expect(syncCode(() => spawnWithHandles(1 as never, [], { handles: [w] }))).toBe('ERR_INVALID_ARG_TYPE');
    w.close();
    expect(syncCode(() => spawnWithHandles('x', [], { handles: [w] }))).toBe('ERR_PIPE_CLOSED');
  });
});

if (skipReason) it.skip(`spawnWithHandles: ${skipReason}`, () => {});
