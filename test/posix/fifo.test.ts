// openFifo uses only a trusted FIFO (src/posix/fifo.ts; the owner rule is src/posix/trust.ts):
// never through a symlink (ELOOP), never anything but a FIFO (EINVAL), never a FIFO of another
// owner unless allowOwnerUids names it (EACCES); and what it refuses it never opens, which inotify
// shows on Linux (an O_PATH open is not an open: it is not reported).
//
// Swaps are deterministic, not races: a writer's first attempt runs at once and finds no reader,
// the path is replaced before its next attempt (a timer later), and every later attempt sees the
// replacement. Cross-user cases run as two real users (root in CI: the second user is made with
// useradd, see test/helpers/users.ts); skipped when not root. vitest.config.ts runs this folder on
// Linux and macOS only.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, closeSync, constants as fsc, existsSync, mkdirSync, mkdtempSync, openSync, readSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createFifo, openFifo } from '../../src/index.js';
import { collect, exited, fixturesDir, uniqueName, within } from '../helpers/index.js';
import { hasInotify, watchOpens, type OpenWatch } from '../helpers/inotify.js';
import { isRoot, runAsSecondUser, secondUser } from '../helpers/users.js';
import { openFdCount } from '../reliability/helpers.js';

const BOUND = 10_000;
const isLinux = process.platform === 'linux';
/** Linux, root, and new mount namespaces allowed (some containers forbid them). */
const canUnshareMount = isLinux && isRoot && spawnSync('unshare', ['--mount', '--propagation', 'private', 'true']).status === 0;

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanups.splice(0).reverse()) f();
});

/** A fresh directory (mode 0700 unless told), removed after the test. */
function tmp(mode = 0o700): string {
  const dir = mkdtempSync(join(tmpdir(), 'wp-fifo-'));
  chmodSync(dir, mode);
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function fifo(dir: string, name = uniqueName('f')): string {
  const p = join(dir, name);
  createFifo(p);
  return p;
}

/** A plain descriptor on `path`, closed after the test (a reader lets a writer open at once). */
function hold(path: string, flags = fsc.O_RDONLY | fsc.O_NONBLOCK): number {
  const fd = openSync(path, flags);
  cleanups.push(() => closeSync(fd));
  return fd;
}

/**
 * Counts the opens of `path` from now on (Linux, inotify). Elsewhere there is nothing to count
 * with, and the tests assert the codes only: `expectOpens` then checks nothing.
 */
function watch(path: string): OpenWatch | undefined {
  if (!hasInotify) return undefined;
  const w = watchOpens(path);
  cleanups.push(() => w.close());
  return w;
}

function expectOpens(w: OpenWatch | undefined, n: number): void {
  if (w) expect(w.opens()).toBe(n);
}

/** The outcome of an open: 'ok' (the end is closed at once) or the error's code. */
function outcome(p: Promise<{ close(): void }>): Promise<unknown> {
  return p.then(
    (end) => {
      end.close();
      return 'ok';
    },
    (err: { code?: unknown }) => err.code,
  );
}

/** Starts a waiting writer on the FIFO at `path`, then puts `replacement` at `path` before its next attempt. */
function swapWhileWriterWaits(path: string, replacement: string, options?: Parameters<typeof openFifo>[2]): Promise<unknown> {
  const writing = outcome(openFifo(path, 'w', options));
  renameSync(replacement, path);
  return within(writing, BOUND, 'the waiting writer to settle after the swap');
}

describe('openFifo opens only a FIFO, never through a symlink', () => {
  it('a symlink to a FIFO is ELOOP for a reader and a writer (a breaking change: it was followed); the FIFO is never opened', async () => {
    const dir = tmp();
    const target = fifo(dir);
    hold(target);
    const link = join(dir, 'link');
    symlinkSync(target, link);
    const w = watch(target);
    expect(await outcome(openFifo(link, 'r', { nonBlocking: true }))).toBe('ELOOP');
    expect(await outcome(openFifo(link, 'r'))).toBe('ELOOP');
    // A writer would open at once through the link: the FIFO has a reader.
    expect(await outcome(openFifo(link, 'w'))).toBe('ELOOP');
    expect(await outcome(openFifo(link, 'w', { nonBlocking: true }))).toBe('ELOOP');
    expectOpens(w, 0);
  });

  it('a symlink swapped in while a writer waits is ELOOP; the FIFO it points to (with a reader) is never opened', async () => {
    const dir = tmp();
    const p = fifo(dir);
    const target = fifo(dir);
    hold(target);
    const link = join(dir, 'link');
    symlinkSync(target, link);
    const w = watch(target);
    expect(await swapWhileWriterWaits(p, link)).toBe('ELOOP');
    expectOpens(w, 0);
  });

  it('a regular file or a directory is EINVAL and never opened, at the path from the start or swapped in while a writer waits', async () => {
    const dir = tmp();
    const file = join(dir, 'file');
    writeFileSync(file, 'not for the fifo reader');
    const sub = join(dir, 'sub');
    mkdirSync(sub);
    const w = watch(file);
    const wSub = watch(sub);
    for (const path of [file, sub]) {
      expect(await outcome(openFifo(path, 'r'))).toBe('EINVAL');
      expect(await outcome(openFifo(path, 'r', { nonBlocking: true }))).toBe('EINVAL');
      expect(await outcome(openFifo(path, 'w'))).toBe('EINVAL');
      expect(await outcome(openFifo(path, 'w', { nonBlocking: true }))).toBe('EINVAL');
    }
    const p = fifo(dir);
    expect(await swapWhileWriterWaits(p, file)).toBe('EINVAL');
    expectOpens(w, 0);
    expectOpens(wSub, 0);
    // Nothing was written to it either.
    expect(statSync(p).size).toBe('not for the fifo reader'.length);
  });

  it.runIf(existsSync('/dev/tty'))('a terminal at the path (/dev/tty) is EINVAL, for a reader and a writer', async () => {
    expect(await outcome(openFifo('/dev/tty', 'r'))).toBe('EINVAL');
    expect(await outcome(openFifo('/dev/tty', 'r', { nonBlocking: true }))).toBe('EINVAL');
    expect(await outcome(openFifo('/dev/tty', 'w'))).toBe('EINVAL');
    expect(await outcome(openFifo('/dev/tty', 'w', { nonBlocking: true }))).toBe('EINVAL');
  });

  it.runIf(canUnshareMount && existsSync('/dev/ptmx'))(
    'a terminal put at the path while a writer waits is EINVAL, never opened, and never becomes the controlling terminal (skipped unless Linux, root, a pty, and a mount namespace of its own)',
    async () => {
      const dir = tmp();
      // detached: setsid(), so the child is a session leader with no controlling terminal, the one
      // case where opening a terminal without O_NOCTTY makes it the controlling terminal.
      // unshare (no --fork) execs node in the same process, in a mount namespace of its own.
      const child = spawn('unshare', ['--mount', '--propagation', 'private', process.execPath, join(fixturesDir, 'fifo-open.mjs'), 'tty', dir], {
        detached: true,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const out = collect(child.stdout);
      expect(await within(exited(child), BOUND * 2, 'the tty fixture to exit')).toBe(0);
      // cttyControl: a plain open of the same path does make the terminal ours (the check can see
      // it). A write-only open never would on Linux; the reader's single open has no window a
      // test can hold open, so `opened` is what shows the writer's attempts never reach it.
      expect(JSON.parse(await out)).toEqual({ before: false, code: 'EINVAL', opened: false, cttyAfter: false, cttyControl: true });
    },
  );

  it.runIf(canUnshareMount)('Linux without /proc (unmounted in a mount namespace of its own; skipped unless root may unshare one): the same refusals, and a FIFO still opens', () => {
    const dir = tmp(0o755);
    const ok = fifo(dir);
    const link = join(dir, 'link');
    symlinkSync(ok, link);
    const file = join(dir, 'file');
    writeFileSync(file, 'x');
    const fixture = join(fixturesDir, 'fifo-open.mjs');
    const script = 'umount -l /proc && exec "$0" "$@"';
    const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, process.execPath, fixture, 'codes', ok, link, file, join(dir, 'missing')], {
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ codes: ['ok', 'ELOOP', 'EINVAL', 'ENOENT'] });
  });

  it.runIf(isLinux)('refused and abandoned opens leave no descriptor open (/proc/self/fd; Linux)', async () => {
    const dir = tmp();
    const target = fifo(dir);
    const link = join(dir, 'link');
    symlinkSync(target, link);
    const file = join(dir, 'file');
    writeFileSync(file, 'x');
    const lonely = fifo(dir);
    // Warm up: the first call binds libc and may open what stays open.
    await outcome(openFifo(file, 'r'));
    const before = openFdCount()!;
    for (let i = 0; i < 20; i++) {
      for (const path of [link, file, dir, join(dir, 'missing')]) {
        // Non-blocking: what a refusal must not depend on is the other side.
        await outcome(openFifo(path, 'r', { nonBlocking: true }));
        await outcome(openFifo(path, 'w', { nonBlocking: true }));
      }
      // ENXIO: the checked FIFO, no reader.
      expect(await outcome(openFifo(lonely, 'w', { nonBlocking: true }))).toBe('ENXIO');
      // A waiting writer aborted, and one whose FIFO is swapped for a file.
      const ac = new AbortController();
      const waiting = outcome(openFifo(lonely, 'w', { signal: ac.signal }));
      ac.abort();
      expect(await waiting).toBe('ABORT_ERR');
      const p = fifo(dir);
      const f = join(dir, `file-${i}`);
      writeFileSync(f, 'x');
      expect(await swapWhileWriterWaits(p, f)).toBe('EINVAL');
    }
    expect(openFdCount()).toBe(before);
  });
});

describe.runIf(isRoot)('openFifo and other users (two real users; skipped when not root: useradd and another uid need root)', () => {
  it("another user's FIFO is EACCES for a reader and a writer and is never opened; allowOwnerUids naming them opens it", async () => {
    const { uid } = secondUser();
    // Shared like /tmp: 1777, so the second user can make its FIFO here.
    const dir = tmp(0o1777);
    const theirs = join(dir, 'theirs');
    runAsSecondUser('mkfifo', ['-m', '666', theirs]);
    expect(statSync(theirs).uid).toBe(uid);
    // A reader of theirs, so a writer would open at once.
    const reader = hold(theirs);
    const w = watch(theirs);
    expect(await outcome(openFifo(theirs, 'r', { nonBlocking: true }))).toBe('EACCES');
    expect(await outcome(openFifo(theirs, 'r'))).toBe('EACCES');
    expect(await outcome(openFifo(theirs, 'w'))).toBe('EACCES');
    expect(await outcome(openFifo(theirs, 'w', { nonBlocking: true }))).toBe('EACCES');
    // Naming another uid does not trust them.
    expect(await outcome(openFifo(theirs, 'w', { allowOwnerUids: [uid + 1] }))).toBe('EACCES');
    expectOpens(w, 0);

    const writer = await openFifo(theirs, 'w', { allowOwnerUids: [uid] });
    expect(writer.writeSync(Buffer.from('allowed'))).toBe(7);
    writer.close();
    const buf = Buffer.alloc(16);
    expect(buf.subarray(0, readSync(reader, buf)).toString()).toBe('allowed');
    // (Counted one open at a time: inotify merges identical events queued back to back.)
    expectOpens(w, 1);
    const r = await openFifo(theirs, 'r', { nonBlocking: true, allowOwnerUids: [uid] });
    r.close();
    expectOpens(w, 1);
  });

  it('another user renames their FIFO over ours while our writer waits (a directory both can write to): EACCES, theirs never opened; allowOwnerUids lets the writer reach it', async () => {
    const { uid } = secondUser();
    // World-writable without the sticky bit: either user may rename over the other's entries.
    const dir = tmp(0o777);
    for (const allowed of [false, true]) {
      const ours = fifo(dir);
      const theirs = join(dir, uniqueName('theirs'));
      runAsSecondUser('mkfifo', ['-m', '666', theirs]);
      const reader = hold(theirs);
      const w = watch(theirs);
      const writing = outcome(openFifo(ours, 'w', allowed ? { allowOwnerUids: [uid] } : undefined));
      // spawnSync holds the event loop: the writer's next attempt comes after the rename.
      runAsSecondUser('mv', [theirs, ours]);
      expect(await within(writing, BOUND, 'the waiting writer to settle after the swap')).toBe(allowed ? 'ok' : 'EACCES');
      expectOpens(w, allowed ? 1 : 0);
      // Their reader got no byte (end of file: no writer holds it open now).
      expect(readSync(reader, Buffer.alloc(1))).toBe(0);
    }
  });

  it("from another uid (the effective uid dropped): root's FIFO and its own open, a third uid's is EACCES unless allowOwnerUids names it", () => {
    const { uid, gid } = secondUser();
    const dir = tmp(0o1777);
    const roots = fifo(dir, 'roots');
    chmodSync(roots, 0o666);
    const own = fifo(dir, 'own');
    chmodSync(own, 0o666);
    chownSync(own, uid, gid);
    const third = fifo(dir, 'third');
    chmodSync(third, 0o666);
    const thirdUid = uid + 1000;
    chownSync(third, thirdUid, gid);
    const run = (path: string, allow?: number[]): unknown => {
      const args = [join(fixturesDir, 'fifo-open.mjs'), 'as', String(uid), String(gid), path, ...(allow ? [allow.join(',')] : [])];
      const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`fifo-open.mjs failed: ${r.stderr}`);
      return (JSON.parse(r.stdout) as { code: unknown }).code;
    };
    expect(run(roots)).toBe('ok');
    expect(run(own)).toBe('ok');
    expect(run(third)).toBe('EACCES');
    expect(run(third, [thirdUid])).toBe('ok');
  });
});
