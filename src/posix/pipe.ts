/**
 * The POSIX backend: anonymous pipes from `pipe2(O_CLOEXEC)` (Linux) or `pipe` + `FD_CLOEXEC`
 * (macOS, which has no pipe2), read and written with plain `read`/`write`.
 */
import { closeSync, fstatSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import type { Backend, RawEnd } from '../backend.js';
import { posixError } from '../errors.js';
import * as libc from './libc.js';

const { EINTR, EAGAIN, EWOULDBLOCK } = osConstants.errno;

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

function setCloexec(fd: number, cloexec: boolean): void {
  const flags = libc.fcntl(fd, libc.F_GETFD, 0);
  if (flags < 0) throw posixError(libc.errno(), 'fcntl');
  const next = cloexec ? flags | libc.FD_CLOEXEC : flags & ~libc.FD_CLOEXEC;
  if (next !== flags && libc.fcntl(fd, libc.F_SETFD, next) < 0) throw posixError(libc.errno(), 'fcntl');
}

export const posixBackend: Backend = {
  platform: 'posix',

  createPipe(size) {
    const fds = new Int32Array(2);
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
    if (size !== undefined && process.platform === 'linux') {
      // Best effort: above /proc/sys/fs/pipe-max-size an unprivileged process gets EPERM, and the
      // default capacity (64 KiB) stays. The kernel rounds up to a power-of-two number of pages.
      libc.fcntl(fds[1]!, libc.F_SETPIPE_SZ, size);
    }
    return [end(fds[0]!), end(fds[1]!)];
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

  identity(raw) {
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
    // Through Node, so libuv's bookkeeping (if any) stays consistent with the fd table.
    closeSync(raw.fd);
  },
};
