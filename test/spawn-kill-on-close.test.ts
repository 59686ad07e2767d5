// spawnWithHandles' killOnClose (src/windows/spawn.ts: a kill-on-close job; src/posix/kill-on-close.ts:
// PR_SET_PDEATHSIG through setpriv, or a watcher): the parent is killed outright (SIGKILL;
// TerminateProcess on Windows) and its child is gone within a second. The proof is end of file on
// the parent's stdout, which the child holds as its own stdout: no process is left holding it.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { spawnWithHandles } from '../src/index.js';
import { CHECK_PARENT, SCRIPT_NAME, killOnCloseMechanism } from '../src/posix/kill-on-close.js';
import * as k32 from '../src/windows/kernel32.js';
import { killOnCloseJobHandle } from '../src/windows/spawn.js';
import { bundle } from './helpers/bundle.js';
import { collect, exited, fixturesDir, isWindows, syncCode, trackedPipes, within } from './helpers/index.js';

const pipe = trackedPipes();
const handlesExe = join(fixturesDir, 'bin', 'handles.exe');
const noFixture = isWindows && !existsSync(handlesExe) ? 'test/fixtures/handles.c is not built: install gcc-mingw-w64-x86-64 (scripts/wine.mjs builds it on the host)' : undefined;
/** The documented bound (docs/spawn.md, killOnClose): the child is gone within a second of the parent's death. */
const GONE_MS = 1000;

/** A child that runs a minute unless killed. */
const sleeper: [string, string[]] = isWindows ? [handlesExe, ['sleep', '60000']] : ['sleep', ['60']];

interface Started {
  parent: ChildProcess;
  childPid: number;
  /** Resolves when the parent's stdout reaches end of file: neither the parent nor the child holds it. */
  eof: Promise<void>;
  /** Everything on the parent's stdout so far (the child's and its children's output included). */
  text(): string;
}

/** Starts test/fixtures/kill-on-close-parent.mjs and waits for its child's pid. */
async function start(killOnClose: boolean, [command, args]: [string, string[]], mechanism = ''): Promise<Started> {
  const entry = await bundle('../test/fixtures/kill-on-close-entry.ts');
  const parent = spawn(process.execPath, [join(fixturesDir, 'kill-on-close-parent.mjs'), entry, String(killOnClose), mechanism, command, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    windowsHide: true,
  });
  let out = '';
  const eof = new Promise<void>((resolve) => parent.stdout!.once('end', () => resolve()));
  const errText = collect(parent.stderr);
  const line = await within(
    new Promise<string>((resolve, reject) => {
      parent.stdout!.on('data', (d: Buffer) => {
        out += d;
        const nl = out.indexOf('\n');
        if (nl >= 0) resolve(out.slice(0, nl));
      });
      parent.once('exit', async (code) => reject(new Error(`the parent exited (${code}) before its child spawned: ${out} ${await errText}`)));
    }),
    60_000,
    "the child's pid",
  );
  const msg = JSON.parse(line) as { pid?: number; error?: string };
  if (!msg.pid) throw new Error(`spawn failed: ${line}`);
  return { parent, childPid: msg.pid, eof, text: () => out };
}

/** Kills the parent outright; resolves with the ms until its stdout's end of file, or undefined if it did not come within `ms`. */
async function killParent(s: Started, ms: number): Promise<number | undefined> {
  const t0 = Date.now();
  // Windows: TerminateProcess. POSIX: SIGKILL, which no handler sees.
  s.parent.kill('SIGKILL');
  await exited(s.parent);
  return Promise.race([s.eof.then(() => Date.now() - t0), new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ms))]);
}

/** Ends a process by pid, whoever's child it is now. */
function killPid(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** Linux: the process is gone, or a zombie nobody has reaped yet (it runs no more). */
function gone(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8')
      .replace(/^.*\) /, '')
      .startsWith('Z');
  } catch {
    return true;
  }
}

/**
 * Linux: {@link gone} within `ms`. The end of file on the child's stdout comes as the kernel
 * closes its files, a moment before the dying process turns zombie; the bound is still the
 * test's, counted from the kill.
 */
async function goneWithin(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + Math.max(0, ms);
  while (!gone(pid)) {
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
  return true;
}

describe.skipIf(noFixture !== undefined)(`spawnWithHandles({ killOnClose })${noFixture ? ` (skipped: ${noFixture})` : ''}`, () => {
  it('killOnClose must be a boolean (TypeError before any system call)', () => {
    const { writer } = pipe();
    expect(syncCode(() => spawnWithHandles(sleeper[0], sleeper[1], { handles: [writer], killOnClose: 'yes' as never }))).toBe('ERR_INVALID_ARG_TYPE');
    expect(syncCode(() => spawnWithHandles(sleeper[0], sleeper[1], { handles: [writer], killOnClose: 1 as never }))).toBe('ERR_INVALID_ARG_TYPE');
  });

  it(`the parent is killed outright: its killOnClose child is gone within ${GONE_MS} ms (${killOnCloseMechanism()})`, async () => {
    const s = await start(true, sleeper);
    try {
      const ms = await killParent(s, 10_000);
      console.log(`killOnClose (${killOnCloseMechanism()}): end of file ${ms ?? 'never'} ms after the parent was killed`);
      expect(ms, 'end of file on the stdout the child held').toBeDefined();
      expect(ms!).toBeLessThanOrEqual(GONE_MS);
      if (process.platform === 'linux') expect(await goneWithin(s.childPid, GONE_MS - ms!)).toBe(true);
    } finally {
      killPid(s.childPid);
    }
  });

  it('the control: without killOnClose the child outlives its killed parent', async () => {
    const s = await start(false, sleeper);
    try {
      expect(await killParent(s, GONE_MS + 1000)).toBeUndefined();
      if (process.platform === 'linux') expect(gone(s.childPid)).toBe(false);
    } finally {
      killPid(s.childPid);
    }
    await within(s.eof, 10_000, 'end of file once the child is killed by hand');
  });

  it.runIf(isWindows)("Windows: the job takes the child's own children too (a Node child's grandchild)", async () => {
    const script = `require('child_process').spawn(${JSON.stringify(handlesExe)}, ['sleep', '60000'], { stdio: ['ignore', 'inherit', 'ignore'] }); setInterval(() => {}, 1 << 30);`;
    const s = await start(true, [process.execPath, ['-e', script]]);
    const ms = await killParent(s, 10_000);
    expect(ms, 'end of file: neither the child nor its own child holds the stdout').toBeDefined();
    expect(ms!).toBeLessThanOrEqual(GONE_MS);
  });

  // Windows: the inner broker is created inside the outer job (a job without silent breakaway holds
  // every process its members create), and joins the inner job as well: a nested job.
  it(`a killOnClose child that spawns with killOnClose itself: both levels end within ${GONE_MS} ms (Windows: nested jobs)`, async () => {
    const entry = await bundle('../test/fixtures/kill-on-close-entry.ts');
    const s = await start(true, [process.execPath, [join(fixturesDir, 'kill-on-close-parent.mjs'), entry, 'true', '', ...sleeper.flat()]]);
    let inner = 0;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && !s.text().includes('error')) {
      // The second line: the inner parent's {"pid": <its sleeper>}.
      const m = /^\{"pid":(\d+)\}$/m.exec(s.text().split('\n').slice(1).join('\n'));
      if (m) {
        inner = Number(m[1]);
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    try {
      expect(s.text()).not.toContain('error');
      expect(inner).toBeGreaterThan(0);
      const ms = await killParent(s, 10_000);
      expect(ms, 'end of file: neither level holds the stdout any more').toBeDefined();
      expect(ms!).toBeLessThanOrEqual(GONE_MS);
    } finally {
      killPid(s.childPid);
      if (inner) killPid(inner);
    }
  });

  it.runIf(isWindows)("Windows: a killOnClose child is in this process's kill-on-close job when it starts, and a plain one is not (IsProcessInJob)", async () => {
    const { writer } = pipe();
    const check = (killOnClose: boolean): Promise<boolean> =>
      new Promise((resolve, reject) => {
        const c = spawnWithHandles(handlesExe, ['sleep', '10000'], { handles: [writer], stdio: 'ignore', windowsHide: true, killOnClose });
        c.once('error', reject);
        c.once('spawn', () => {
          // PROCESS_QUERY_INFORMATION: Wine's IsProcessInJob wants it (the limited right is enough on Windows).
          const h = k32.OpenProcess(k32.PROCESS_QUERY_INFORMATION, false, c.pid!);
          if (h === 0n) return reject(new Error(`OpenProcess: ${k32.GetLastError()}`));
          const inJob: k32.Out<number> = [0];
          const ok = k32.IsProcessInJob(h, killOnCloseJobHandle()!, inJob);
          const e = k32.GetLastError();
          k32.CloseHandle(h);
          c.kill();
          if (!ok) reject(new Error(`IsProcessInJob: ${e}`));
          else resolve(inJob[0] !== 0);
        });
      });
    expect(await check(true)).toBe(true);
    expect(await check(false)).toBe(false);
  });

  describe.runIf(!isWindows)('POSIX', () => {
    it.runIf(process.platform === 'linux' && killOnCloseMechanism() !== 'pdeathsig')('Linux without util-linux setpriv: the watcher is used', () => {
      expect(killOnCloseMechanism()).toBe('watcher');
    });

    it(`the watcher (macOS's way, and Linux's without setpriv) also ends the child within ${GONE_MS} ms of a SIGKILL`, async () => {
      const s = await start(true, sleeper, 'watcher');
      try {
        const ms = await killParent(s, 10_000);
        console.log(`killOnClose (watcher): end of file ${ms ?? 'never'} ms after the parent was killed`);
        expect(ms).toBeDefined();
        expect(ms!).toBeLessThanOrEqual(GONE_MS);
        if (process.platform === 'linux') expect(await goneWithin(s.childPid, GONE_MS - ms!)).toBe(true);
      } finally {
        killPid(s.childPid);
      }
    });

    it.runIf(killOnCloseMechanism() === 'pdeathsig')('pdeathsig: a child whose parent died before the prctl (it has another parent now) ends itself at once', async () => {
      // The wrapper as spawnKillOnClose starts it, but told a parent pid that is not its parent's.
      const c = spawn('/usr/bin/setpriv', ['--pdeathsig', 'KILL', '--', '/bin/sh', '-c', CHECK_PARENT, SCRIPT_NAME, String(process.pid + 1_000_000), 'sleep', '60'], { stdio: 'ignore' });
      const t0 = Date.now();
      await within(exited(c), 10_000, 'the orphaned child ending itself');
      expect(c.signalCode).toBe('SIGKILL');
      expect(Date.now() - t0).toBeLessThan(5000);
    });

    it.runIf(killOnCloseMechanism() === 'pdeathsig')('pdeathsig: the child keeps the pid Node reports, its arguments, and a missing program is ENOENT as without killOnClose', async () => {
      const out = pipe();
      const c = spawnWithHandles('sh', (v) => ['-c', 'printf "%s|%s|%s" "$$" "$1" "$2" >&"$3"', 'sh', 'a b', '', v[0]!], { handles: [out.writer], stdio: 'ignore', killOnClose: true });
      out.writer.close();
      const data = (await collect(out.reader.createReadStream())).split('|');
      expect(await exited(c)).toBe(0);
      expect(data).toEqual([String(c.pid), 'a b', '']);
      const { writer } = pipe();
      const missing = spawnWithHandles('winpipe-no-such-program', [], { handles: [writer], stdio: 'ignore', killOnClose: true });
      const err = await new Promise<NodeJS.ErrnoException>((resolve) => missing.once('error', resolve));
      expect(err.code).toBe('ENOENT');
    });

    it.runIf(killOnCloseMechanism() === 'pdeathsig')('pdeathsig: argv0 cannot be combined with it (ERR_INVALID_ARG_VALUE), rather than silently dropped', () => {
      const { writer } = pipe();
      expect(syncCode(() => spawnWithHandles('sleep', ['0'], { handles: [writer], stdio: 'ignore', killOnClose: true, argv0: 'other' }))).toBe('ERR_INVALID_ARG_VALUE');
    });

    it('only the child ends; its own children live on (Linux: the parent-death signal is not inherited)', async () => {
      const script =
        "const c = require('child_process').spawn('sleep', ['60'], { stdio: ['ignore', 'inherit', 'ignore'] }); console.log(JSON.stringify({ grandchild: c.pid })); setInterval(() => {}, 1 << 30);";
      const s = await start(true, [process.execPath, ['-e', script]]);
      let grandchild = 0;
      const deadline = Date.now() + 30_000;
      while (!grandchild && Date.now() < deadline) {
        const m = /"grandchild":(\d+)/.exec(s.text());
        if (m) grandchild = Number(m[1]);
        else await new Promise((r) => setTimeout(r, 20));
      }
      try {
        expect(grandchild).toBeGreaterThan(0);
        expect(await killParent(s, GONE_MS + 1000)).toBeUndefined();
        if (process.platform === 'linux') {
          expect(gone(s.childPid)).toBe(true);
          expect(gone(grandchild)).toBe(false);
        }
      } finally {
        killPid(s.childPid);
        if (grandchild) killPid(grandchild);
      }
      await within(s.eof, 10_000, 'end of file once the grandchild is killed by hand');
    });
  });
});
