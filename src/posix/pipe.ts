/**
 * The POSIX backend: anonymous pipes from `pipe2(O_CLOEXEC)` (Linux) or `pipe` + `FD_CLOEXEC`
 * (macOS, which has no pipe2), read and written with plain `read`/`write`.
 */
import { fstatSync, readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import type { Backend, RawEnd } from '../backend.js';
import { posixError } from '../errors.js';
import { setCloexec } from './fd.js';
import * as libc from './libc.js';

const { EINTR, EAGAIN, EWOULDBLOCK } = osConstants.errno;

// struct stat is 144 bytes on Linux x64 and 128 on arm64; one buffer serves every call (JS is
// single-threaded, and the words are read right after the call).
const statBuf = new BigUint64Array(18);
// pipe2's out-array, reused: the two numbers are copied into the RawEnds before anything else runs.
const pipeFds = new Int32Array(2);

function end(fd: number): RawEnd {
  return { fd, handle: BigInt(fd) };
}

/** poll() for one fd; used only when the fd was made non-blocking by libuv (async mode). */
function waitFor(fd: number, events: number, syscall: string): void {
  const pfd = new Uint8Array(8);
  const view = new DataView(pfd.buffer);
  view.setInt32(0, fd, true);
  view.setInt16(4, events, true);
  for (;;) {
    if (libc.poll(pfd, 1, -1) >= 0) return;
    const e = libc.errno();
    if (e !== EINTR) throw posixError(e, syscall);
  }
}

/**
 * The capacity a pipe that createPipe made without a `size` grows to once a stream or an
 * asynchronous read or write starts on it (Linux): 1 MiB, `/proc/sys/fs/pipe-max-size` by
 * default, so an unprivileged process may ask for it. B1 in BENCHMARKS.md: a 64 KiB pipe took 16
 * reads, 10 wakeups and 12 context switches per MiB, a 1 MiB pipe 1, 0.1 and 1.6.
 */
const STREAM_PIPE_SIZE = 1024 * 1024;

/**
 * Both ends of every pipe createPipe made without a `size`: only those grow. A FIFO's or an
 * explicitly sized pipe's capacity is someone's choice.
 */
const growable = new WeakSet<RawEnd>();

/**
 * How many pages of pipe buffer this process may add by growing pipes: an eighth of
 * `/proc/sys/fs/pipe-user-pages-soft` (of `-hard` where that is lower; 0 is no limit). Linux
 * counts every pipe page of a user against that limit, and a user past it gets 2-page pipes
 * (8 KiB) from every later pipe(2), in every process, with F_SETPIPE_SZ failing EPERM (root is
 * exempt). Growing within an eighth leaves the rest to the user's other pipes and processes.
 */
let pageBudget: number | undefined;
let pagesGrown = 0;

function budget(): number {
  if (pageBudget === undefined) {
    const limit = (name: string): number => {
      try {
        return Number.parseInt(readFileSync(`/proc/sys/fs/${name}`, 'utf8'), 10) || 0;
      } catch {
        return 0;
      }
    };
    const limits = [limit('pipe-user-pages-soft'), limit('pipe-user-pages-hard')].filter((n) => n > 0);
    pageBudget = limits.length ? Math.floor(Math.min(...limits) / 8) : Number.POSITIVE_INFINITY;
  }
  return pageBudget;
}

const PAGE = 4096;
const noRelease = (): void => {};

export const posixBackend: Backend = {
  platform: 'posix',

  createPipe(size) {
    const fds = pipeFds;
    if (process.platform === 'linux') {
      if (libc.pipe2(fds, libc.O_CLOEXEC) !== 0) throw posixError(libc.errno(), 'pipe2');
    } else {
      // No pipe2: a fork in another thread between these two calls could inherit the fds.
      // Node forks only through libuv, which marks its own fds; the window is a few instructions.
      if (libc.pipe(fds) !== 0) throw posixError(libc.errno(), 'pipe');
      for (const fd of fds) {
        try {
          setCloexec(fd, true);
        } catch (err) {
          libc.close(fds[0]!);
          libc.close(fds[1]!);
          throw err;
        }
      }
    }
    // Ownership: both fds belong to the caller from here.
    const ends: [RawEnd, RawEnd] = [end(fds[0]!), end(fds[1]!)];
    if (process.platform === 'linux') {
      if (size !== undefined) {
        // Best effort: above /proc/sys/fs/pipe-max-size an unprivileged process gets EPERM, and the
        // default capacity (64 KiB) stays. The kernel rounds up to a power-of-two number of pages.
        libc.fcntl(fds[1]!, libc.F_SETPIPE_SZ, size);
      } else {
        growable.add(ends[0]);
        growable.add(ends[1]);
      }
    }
    return ends;
  },

  startAsync(raw) {
    if (process.platform !== 'linux') return { capacity: undefined, release: noRelease };
    const now = libc.fcntl(raw.fd, libc.F_GETPIPE_SZ, 0);
    if (now < 0) return { capacity: undefined, release: noRelease };
    // The other end of this pipe may have grown it already.
    if (!growable.has(raw) || now >= STREAM_PIPE_SIZE) return { capacity: now, release: noRelease };
    growable.delete(raw);
    const pages = (STREAM_PIPE_SIZE - now) / PAGE;
    if (pagesGrown + pages > budget()) return { capacity: now, release: noRelease };
    // Best effort: EPERM past pipe-max-size or the user's soft limit, EBUSY never (growing).
    const grown = libc.fcntl(raw.fd, libc.F_SETPIPE_SZ, STREAM_PIPE_SIZE);
    if (grown < 0) return { capacity: now, release: noRelease };
    const added = (grown - now) / PAGE;
    pagesGrown += added;
    let released = false;
    return {
      capacity: grown,
      release() {
        if (released) return;
        released = true;
        pagesGrown -= added;
      },
    };
  },

  readSync(raw, into) {
    for (;;) {
      const n = libc.read(raw.fd, into, into.byteLength);
      if (n >= 0) return n;
      const e = libc.errno();
      if (e === EINTR) continue;
      if (e === EAGAIN || e === EWOULDBLOCK) waitFor(raw.fd, libc.POLLIN, 'poll');
      else throw posixError(e, 'read');
    }
  },

  writeSync(raw, from) {
    let done = 0;
    while (done < from.byteLength) {
      const rest = done === 0 ? from : from.subarray(done);
      const n = libc.write(raw.fd, rest, rest.byteLength);
      if (n >= 0) {
        done += n;
        continue;
      }
      const e = libc.errno();
      if (e === EINTR) continue;
      // Node ignores SIGPIPE, so a write with no reader comes back as EPIPE here.
      if (e === EAGAIN || e === EWOULDBLOCK) waitFor(raw.fd, libc.POLLOUT, 'poll');
      else throw posixError(e, 'write');
    }
    return done;
  },

  getInheritable(raw) {
    const flags = libc.fcntl(raw.fd, libc.F_GETFD, 0);
    if (flags < 0) throw posixError(libc.errno(), 'fcntl');
    return (flags & libc.FD_CLOEXEC) === 0;
  },

  setInheritable(raw, inheritable) {
    setCloexec(raw.fd, !inheritable);
  },

  // Linux: both ends of a pipe are the one pipefs inode.
  pairSharesIdentity: process.platform === 'linux',

  identity(raw) {
    // fstat through koffi where its layout is known: fs.fstatSync builds a Stats object with four
    // Dates, which was most of the cost of handing out an end's fd.
    const rc = libc.fstat?.(raw.fd, statBuf);
    if (rc === 0) return `${statBuf[0]}:${statBuf[1]}`;
    if (rc === -1) throw posixError(libc.errno(), 'fstat');
    const st = fstatSync(raw.fd);
    return `${st.dev}:${st.ino}`;
  },

  unadopted(raw, identity) {
    let now: string;
    try {
      now = this.identity(raw);
    } catch {
      return false;
    }
    if (now !== identity) return false;
    // We never set O_NONBLOCK ourselves: an end's own stream unregisters the safety net first.
    const fl = libc.fcntl(raw.fd, libc.F_GETFL, 0);
    return fl >= 0 && (fl & libc.O_NONBLOCK) === 0;
  },

  close(raw) {
    // Straight to close(2): libuv keeps no table of plain fds on POSIX (an fd a stream adopted is
    // closed by that stream, never here), and fs.closeSync costs a libuv request per call.
    // Linux and macOS release the descriptor even when close fails with EINTR: never retry.
    if (libc.close(raw.fd) !== 0) {
      const e = libc.errno();
      if (e !== EINTR) throw posixError(e, 'close');
    }
  },
};
