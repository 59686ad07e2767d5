// Finds every CPython 3 on the machine (PATH and pyenv) and runs the interop peer
// (test/fixtures/mp_peer.py) with it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fixturesDir, isWindows } from './index.js';

export interface Python {
  exe: string;
  /** `3.12.1` */
  version: string;
  /** Which authkey handshake this CPython speaks: `legacy` (<= 3.11, HMAC-MD5) or `modern` (3.12+, `{sha256}`). */
  form: 'legacy' | 'modern';
}

const PROBE = [
  'import os, sys',
  'import multiprocessing.connection as m',
  'print(os.path.realpath(sys.executable))',
  'print("%d.%d.%d" % sys.version_info[:3])',
  'print("modern" if hasattr(m, "_ALLOWED_DIGESTS") else "legacy")',
].join('\n');

function candidates(): string[] {
  const names = isWindows ? /^(python3?|python3\.\d+)\.exe$/i : /^python3(\.\d+)?$/;
  const found: string[] = [];
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      continue;
    }
    for (const e of entries) if (names.test(e)) found.push(join(dir, e));
  }
  // pyenv keeps versions that are not on PATH (only its shims are).
  const pyenv = join(process.env.PYENV_ROOT ?? join(homedir(), '.pyenv'), 'versions');
  if (existsSync(pyenv)) {
    for (const v of readdirSync(pyenv)) {
      const exe = isWindows ? join(pyenv, v, 'python.exe') : join(pyenv, v, 'bin', 'python3');
      if (existsSync(exe)) found.push(exe);
    }
  }
  return found;
}

function cmpVersion(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i]! - pb[i]!;
  return 0;
}

/** Every distinct CPython 3 interpreter (by real executable path), oldest first. */
export function findPythons(): Python[] {
  const byPath = new Map<string, Python>();
  for (const exe of candidates()) {
    const r = spawnSync(exe, ['-c', PROBE], { encoding: 'utf8', timeout: 20_000, windowsHide: true });
    if (r.status !== 0) continue; // a pyenv shim for a version that is not installed, a Store stub, ...
    const [real, version, form] = r.stdout.trim().split(/\r?\n/);
    if (!real || !version?.startsWith('3.') || (form !== 'legacy' && form !== 'modern')) continue;
    if (!byPath.has(real)) byPath.set(real, { exe, version, form });
  }
  return [...byPath.values()].sort((a, b) => cmpVersion(a.version, b.version));
}

export interface PythonPeer {
  child: ChildProcess;
  /** Resolves once the peer printed `line` (e.g. `ready`). */
  waitFor(line: string): Promise<void>;
  /** Resolves with the exit code and everything printed. */
  done: Promise<{ code: number | null; output: string }>;
}

/** Runs `mp_peer.py <role> <address> <authkey|-> <sizes>` with `python`. */
export function runPeer(python: Python, role: 'listen' | 'client', address: string, authkey: string | undefined, sizes: number[]): PythonPeer {
  // A command line cannot carry the NUL of a Linux abstract name; mp_peer.py turns it back.
  const arg = address.startsWith('\0') ? `abstract:${address.slice(1)}` : address;
  const child = spawn(python.exe, ['-u', join(fixturesDir, 'mp_peer.py'), role, arg, authkey ?? '-', sizes.join(',')], {
    stdio: ['ignore', 'pipe', 'pipe'],
    windowsHide: true,
  });
  let output = '';
  const waiting: { line: string; resolve(): void }[] = [];
  const check = (): void => {
    const lines = output.split(/\r?\n/);
    for (const w of [...waiting]) {
      if (lines.includes(w.line)) {
        waiting.splice(waiting.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  child.stdout!.on('data', (d: Buffer) => {
    output += d.toString();
    check();
  });
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const done = new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
  return {
    child,
    waitFor: (line) =>
      new Promise<void>((resolve, reject) => {
        waiting.push({ line, resolve });
        check();
        void done.then(({ output: out }) => reject(new Error(`python exited before printing "${line}":\n${out}`)));
      }),
    done,
  };
}
