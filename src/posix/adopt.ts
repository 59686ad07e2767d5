/**
 * POSIX side of `adoptEnd`: an inherited fd, checked with `fstat` and its open flags, then made
 * close-on-exec.
 */
import { fstatSync } from 'node:fs';
import type { Backend, RawEnd } from '../backend.js';
import { PipeError, fromNodeError, posixError } from '../errors.js';
import * as libc from './libc.js';
import { posixBackend } from './pipe.js';

/** `O_ACCMODE`: the access bits of `F_GETFL` (Linux and macOS alike). */
const O_ACCMODE = 3;

/**
 * Checks `fd` and takes it over: open (`EBADF`), a FIFO or a socket (`EINVAL`), open for the
 * asked direction (`EINVAL`). Nothing is changed before every check passed; then `FD_CLOEXEC` is
 * set, so no child of ours inherits it.
 * Ownership: on success the caller owns `fd`; on failure it is left as it was.
 */
export function adoptPosixFd(fd: number, direction: 'r' | 'w'): { backend: Backend; raw: RawEnd } {
  let st;
  try {
    st = fstatSync(fd);
  } catch (err) {
    throw fromNodeError(err, 'fstat');
  }
  if (!st.isFIFO() && !st.isSocket()) {
    throw new PipeError({ code: 'EINVAL', syscall: 'adoptEnd', message: `EINVAL: fd ${fd} is neither a pipe nor a socket` });
  }
  const flags = libc.fcntl(fd, libc.F_GETFL, 0);
  if (flags < 0) throw posixError(libc.errno(), 'fcntl');
  const access = flags & O_ACCMODE;
  const usable = direction === 'r' ? access !== libc.O_WRONLY : access !== libc.O_RDONLY;
  if (!usable) {
    throw new PipeError({ code: 'EINVAL', syscall: 'adoptEnd', message: `EINVAL: fd ${fd} is not open for ${direction === 'r' ? 'reading' : 'writing'} (is it the other end?)` });
  }
  const fdFlags = libc.fcntl(fd, libc.F_GETFD, 0);
  if (fdFlags < 0) throw posixError(libc.errno(), 'fcntl');
  if ((fdFlags & libc.FD_CLOEXEC) === 0 && libc.fcntl(fd, libc.F_SETFD, fdFlags | libc.FD_CLOEXEC) < 0) throw posixError(libc.errno(), 'fcntl');
  return { backend: posixBackend, raw: { fd, handle: BigInt(fd) } };
}
