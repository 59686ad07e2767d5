// Shared helpers of the benchmarks: paths, options, timing, names. Imported by scripts/bench.mjs
// (the runner) and by every case in scripts/bench/cases/. Node built-ins only.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '..', '..');
export const childScript = path.join(here, 'child.mjs');
export const peersPy = path.join(here, 'peers.py');
export const peersC = path.join(here, 'peers.c');
// WINPIPE_BENCH_DIST=<dir with esm/> points the benchmarks at another build, for A/B experiments.
export const distDir = process.env.WINPIPE_BENCH_DIST ? path.resolve(process.env.WINPIPE_BENCH_DIST) : path.join(root, 'dist');
export const distEntry = path.join(distDir, 'esm', 'index.js');

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;
export const isWindows = process.platform === 'win32';
export const underWine = isWindows && process.env.WINPIPE_UNDER_WINE === '1';

// ---------------------------------------------------------------- command line
export const argv = process.argv.slice(2).filter((a) => a !== '--');
export const flag = (name) => argv.includes(`--${name}`);
/** `--name=value` or `--name value`. */
export function value(name) {
  const eq = argv.find((a) => a.startsWith(`--${name}=`));
  if (eq) return eq.slice(name.length + 3);
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] && !argv[i + 1].startsWith('--') ? argv[i + 1] : undefined;
}

// ---------------------------------------------------------------- small helpers
export function log(msg) {
  process.stdout.write(`${msg}\n`);
}

let serial = 0;
export function nextSerial() {
  return serial++;
}

export function uniqueName() {
  return `winpipe-bench-${process.pid}-${serial++}-${randomBytes(4).toString('hex')}`;
}

/** A path for Node's own `net` server, of the same kind winpipe uses: a Unix socket or a Windows named pipe. */
export function netPath(name) {
  return isWindows ? `\\\\.\\pipe\\${name}` : path.join(os.tmpdir(), `${name}.sock`);
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function cpuSeconds(start) {
  const u = process.cpuUsage(start);
  return (u.user + u.system) / 1e6;
}

export function maxRssKiB() {
  return process.resourceUsage().maxRSS;
}

export function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** The built package (dist/, or WINPIPE_BENCH_DIST). */
export async function winpipe() {
  return import(pathToFileURL(distEntry).href);
}

/** Another module of the built package, e.g. `esm/posix/libc.js`. */
export async function distModule(rel) {
  return import(pathToFileURL(path.join(distDir, rel)).href);
}

export function fmtBytes(n) {
  if (n >= GiB && n % GiB === 0) return `${n / GiB} GiB`;
  if (n >= MiB && n % MiB === 0) return `${n / MiB} MiB`;
  if (n >= KiB && n % KiB === 0) return `${n / KiB} KiB`;
  return `${n} B`;
}

export function fmtCount(n) {
  if (n >= 1e6 && n % 1e5 === 0) return `${n / 1e6}M`;
  if (n >= 1e3 && n % 100 === 0) return `${n / 1e3}k`;
  return String(n);
}

/**
 * Resolves with `finished`, or rejects once `state()` has not changed for 20 s: a run that stops
 * making progress fails with where it stopped instead of waiting for the job's time limit.
 */
export function untilDone(finished, state) {
  return new Promise((resolve, reject) => {
    let last = state();
    let since = Date.now();
    const timer = setInterval(() => {
      const now = state();
      if (now !== last) {
        last = now;
        since = Date.now();
      } else if (Date.now() - since > 20_000) {
        clearInterval(timer);
        reject(new Error(`stalled for 20 s at: ${now}`));
      }
    }, 500);
    finished.then(
      (v) => {
        clearInterval(timer);
        resolve(v);
      },
      (err) => {
        clearInterval(timer);
        reject(err);
      },
    );
  });
}
