/**
 * Descriptor flags, set where no `*_CLOEXEC` / `*_NONBLOCK` flag of the creating call exists
 * (macOS has neither `pipe2` nor `SOCK_CLOEXEC`), and on descriptors winpipe adopts.
 */
import { posixError } from '../errors.js';
import * as libc from './libc.js';

/**
 * Sets (or clears) close-on-exec on `fd`.
 *
 * @example
 * ```ts
 * setCloexec(fd); // an inherited fd stays out of the children we spawn next
 * ```
 * @throws PipeError from `fcntl` (`EBADF`).
 */
export function setCloexec(fd: number, cloexec = true): void {
  const flags = libc.fcntl(fd, libc.F_GETFD, 0);
  if (flags < 0) throw posixError(libc.errno(), 'fcntl');
  const next = cloexec ? flags | libc.FD_CLOEXEC : flags & ~libc.FD_CLOEXEC;
  if (next !== flags && libc.fcntl(fd, libc.F_SETFD, next) < 0) throw posixError(libc.errno(), 'fcntl');
}

/** Sets `O_NONBLOCK` on `fd`. @throws PipeError from `fcntl`. */
export function setNonBlocking(fd: number): void {
  const flags = libc.fcntl(fd, libc.F_GETFL, 0);
  if (flags < 0 || libc.fcntl(fd, libc.F_SETFL, flags | libc.O_NONBLOCK) < 0) throw posixError(libc.errno(), 'fcntl');
}
