// Shared test helpers: unique names, spawning fixtures, draining pipe ends, platform facts.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach } from 'vitest';
import { createPipe, pipePath, type Pipe, type PipeReader } from '../../src/index.js';
import * as k32 from '../../src/windows/kernel32.js';

export const isWindows = process.platform === 'win32';
/** Set by scripts/wine.mjs for the Wine run. */
export const underWine = process.env.WINPIPE_UNDER_WINE === '1';

const here = dirname(fileURLToPath(import.meta.url));
export const fixturesDir = join(here, '..', 'fixtures');

/** A name no other test (or parallel worker) uses. */
export function uniqueName(prefix = 'winpipe-test'): string {
  return `${prefix}-${process.pid}-${randomBytes(6).toString('hex')}`;
}

/**
 * POSIX: a server process that ends without close() (killed, or exiting with an unref()d server)
 * leaves its socket file, as a `net` server does; the next listen replaces it. The test run
 * leaves nothing behind, so a test that ends such a process removes it. Windows: a pipe name
 * leaves no file.
 */
export function removeStaleSocket(name: string): void {
  if (process.platform !== 'win32') rmSync(pipePath(name), { force: true });
}

/** Spawns `node test/fixtures/<name> ...args`. */
export function spawnFixture(name: string, args: string[], stdio: StdioOptions): ChildProcess {
  return spawn(process.execPath, [join(fixturesDir, name), ...args], { stdio, windowsHide: true });
}

/**
 * Resolves with the exit code once the child has exited (null if a signal ended it). A child that
 * already exited by a signal has `exitCode === null` and will not emit 'exit' again: check both.
 */
export function exited(child: Pick<ChildProcess, 'exitCode' | 'signalCode'> & Pick<EventEmitter, 'once'>): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code: number | null) => resolve(code));
  });
}

/** Collects a child's piped stdout as a string. */
export async function collect(stream: NodeJS.ReadableStream | null): Promise<string> {
  if (!stream) return '';
  let out = '';
  for await (const chunk of stream) out += chunk.toString();
  return out;
}

/** Reads with `read()` until end of file. */
export async function readAll(reader: PipeReader): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (;;) {
    const chunk = await reader.read();
    if (chunk.length === 0) return Buffer.concat(parts);
    parts.push(chunk);
  }
}

/** Reads with `readSync()` until end of file. */
export function readAllSync(reader: PipeReader): Buffer {
  const parts: Buffer[] = [];
  const buf = Buffer.alloc(64 * 1024);
  for (;;) {
    const n = reader.readSync(buf);
    if (n === 0) return Buffer.concat(parts);
    parts.push(Buffer.from(buf.subarray(0, n)));
  }
}

/**
 * Windows: how many handles this process holds. GetProcessHandleCount, except under Wine, whose
 * GetProcessHandleCount answers 0 (Wine 8 and 10; scripts/probe-wine-gaps.mjs): there the handle
 * values (multiples of 4) that GetHandleInformation accepts are counted, up to 4096 values past the
 * last one it accepted. Wine gives out the lowest free value, so only a handle with 4096 free
 * values below it could be missed, which takes more than 4096 handles open at once. Elsewhere
 * undefined.
 */
export function processHandleCount(): number | undefined {
  if (!isWindows) return undefined;
  // Wine itself, whatever the environment says: ntdll exports wine_get_version.
  if (k32.GetProcAddress(k32.GetModuleHandleW('ntdll.dll'), 'wine_get_version') === 0n) {
    const out: k32.Out<number> = [0];
    if (!k32.GetProcessHandleCount(k32.GetCurrentProcess(), out)) throw new Error(`GetProcessHandleCount failed: ${k32.GetLastError()}`);
    return out[0];
  }
  const flags: k32.Out<number> = [0];
  let count = 0;
  for (let value = 4n, gap = 0; gap < 4096; value += 4n) {
    if (k32.GetHandleInformation(value, flags)) {
      count++;
      gap = 0;
    } else {
      gap++;
    }
  }
  return count;
}

/** A seeded PRNG (mulberry32) so failures reproduce. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Seeded pseudo-random bytes. */
export function seededBytes(size: number, seed: number): Buffer {
  const rnd = prng(seed);
  const buf = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4) buf.writeUInt32LE((rnd() * 0x1_0000_0000) >>> 0, i);
  return buf;
}

/** Rejects if `promise` has not settled within `ms`: for "must not hang" checks, never for speed. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Removes a folder that a child process ran in (its current directory), as `rmSync(dir,
 * { recursive: true, force: true })`, retrying for up to 5 s while Windows calls it busy. Under
 * Wine a console child started without a console gets a conhost.exe of its own, which holds the
 * child's folder and exits up to ~150 ms after the child (Wine 10; docs/wine.md): until then the
 * folder cannot be removed, EBUSY from node.exe 22's rmSync and EPERM from the native rmSync of
 * node.exe 24 and later.
 */
export async function removeChildDir(dir: string): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      rmSync(dir, { recursive: true, force: true });
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (!isWindows || (code !== 'EBUSY' && code !== 'EPERM') || Date.now() > deadline) throw err;
      await sleep(50);
    }
  }
}

/** `createPipe` that closes every pipe it made after each test of the calling file. */
export function trackedPipes(): (...args: Parameters<typeof createPipe>) => Pipe {
  const open: Pipe[] = [];
  afterEach(() => {
    for (const p of open.splice(0)) {
      p.reader.close();
      p.writer.close();
    }
  });
  return (...args) => {
    const p = createPipe(...args);
    open.push(p);
    return p;
  };
}

/** The `code` a promise rejects with, or 'resolved'. */
export async function codeOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => 'resolved',
    (err: { code?: unknown }) => err.code,
  );
}

/** The `code` `fn` throws synchronously, or 'no error'. */
export function syncCode(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return (err as { code?: unknown }).code;
  }
  return 'no error';
}
