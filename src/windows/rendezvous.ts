/**
 * Windows rendezvous names: a server listens on a random pipe name and publishes it in a file
 * only its own user can read or write; a client resolves the logical name through that file.
 *
 * Why: pipe names are global. Another user who creates `\\.\pipe\my-app` first cannot receive our
 * clients (the owner check refuses it) but can deny us the name. A random name (128 bits) cannot
 * be guessed, and the file that tells it lives where only we (and SYSTEM) can look:
 * `%LOCALAPPDATA%\winpipe\rendezvous\<name>.pipe`. The directory and each file get a protected
 * DACL (`D:P(A;OICI;FA;;;<our SID>)(A;OICI;FA;;;SY)`), on top of the profile's own ACL.
 * The client still checks the pipe's owner, so even a file someone managed to write could only
 * lead to a server of a trusted owner. Administrators and SYSTEM can read any file: they are
 * trusted here as everywhere on Windows. docs/access.md states the threat model.
 */
import { readFileSync, unlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { PipeError, invalidArgValue, win32Error } from '../errors.js';
import * as k32 from './kernel32.js';
import { SecurityAttributes, currentUserSid } from './security.js';

/** A logical name: one path segment of plain characters. */
const LOGICAL = /^[A-Za-z0-9._-]{1,200}$/;

/** @throws TypeError `ERR_INVALID_ARG_VALUE` for a name that is not one plain segment. */
export function validateRendezvousName(name: string): void {
  if (!LOGICAL.test(name) || name === '.' || name === '..') {
    throw invalidArgValue('name', name, 'must be a plain name (letters, digits, ., _, -; at most 200) to be a rendezvous name');
  }
}

/** `%LOCALAPPDATA%\winpipe\rendezvous` (else `<home>\AppData\Local\…`). */
export function rendezvousDir(): string {
  const base = process.env.LOCALAPPDATA || join(homedir(), 'AppData', 'Local');
  return join(base, 'winpipe', 'rendezvous');
}

/** The file that publishes `name`. */
export function rendezvousFile(name: string): string {
  return join(rendezvousDir(), `${name}.pipe`);
}

function ownOnlySddl(): string {
  return `D:P(A;OICI;FA;;;${currentUserSid()})(A;OICI;FA;;;SY)`;
}

/** Makes the rendezvous directory with our-own-only DACL (an existing one is kept). */
function makeDir(dir: string): void {
  mkdirSync(join(dir, '..'), { recursive: true });
  const sa = new SecurityAttributes({ sddl: ownOnlySddl() });
  try {
    if (!k32.CreateDirectoryW(dir, sa.bytes)) {
      const e = k32.GetLastError();
      if (e !== 183 /* ERROR_ALREADY_EXISTS */) throw win32Error(e, 'CreateDirectoryW', dir);
    }
  } finally {
    sa.free();
  }
}

/** The pipe path `name` is published as, or undefined when there is no file. */
export function readRendezvous(name: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(rendezvousFile(name), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new PipeError({ code: (err as NodeJS.ErrnoException).code ?? 'EIO', syscall: 'open', path: rendezvousFile(name), cause: err });
  }
  const path = text.trim();
  // Only a local pipe path of the shape we write: anything else is not ours to follow.
  if (!/^\\\\\.\\pipe\\winpipe-rv-[0-9a-f]{32}$/.test(path))
    throw new PipeError({ code: 'EINVAL', syscall: 'open', path: rendezvousFile(name), message: `EINVAL: ${rendezvousFile(name)} does not hold a rendezvous pipe name` });
  return path;
}

/** A fresh random pipe path for a rendezvous server. */
export function randomPipePath(): string {
  return `\\\\.\\pipe\\winpipe-rv-${randomBytes(16).toString('hex')}`;
}

/**
 * Publishes `pipe` as `name`: the file is created with our-own-only DACL (CreateFileW with it,
 * so it never exists with another), then written. A file already there is replaced only when its
 * pipe is gone (`isLive` false): else `EADDRINUSE`.
 */
export function publishRendezvous(name: string, pipe: string, isLive: (path: string) => boolean): void {
  const dir = rendezvousDir();
  makeDir(dir);
  const file = rendezvousFile(name);
  const existing = readRendezvousSafe(name);
  if (typeof existing === 'string' && isLive(existing))
    throw new PipeError({ code: 'EADDRINUSE', syscall: 'listen', path: file, message: `EADDRINUSE: the rendezvous name '${name}' is served (${existing})` });
  if (existing !== null) {
    try {
      unlinkSync(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new PipeError({ code: (err as NodeJS.ErrnoException).code ?? 'EIO', syscall: 'unlink', path: file, cause: err });
    }
  }
  const sa = new SecurityAttributes({ sddl: ownOnlySddl() });
  try {
    const h = k32.CreateFileW(file, k32.GENERIC_WRITE, 0, sa.bytes, k32.CREATE_NEW, 0, null);
    if (h === k32.INVALID_HANDLE_VALUE) {
      const e = k32.GetLastError();
      // ERROR_FILE_EXISTS: another listen of the name won the race.
      if (e === 80) throw new PipeError({ code: 'EADDRINUSE', syscall: 'listen', path: file, win32Errno: e });
      throw win32Error(e, 'CreateFileW', file);
    }
    k32.CloseHandle(h);
  } finally {
    sa.free();
  }
  // Ownership: the file is ours from here; close() removes it (removeRendezvous).
  writeFileSync(file, `${pipe}\n`);
}

/** undefined: no file; null: a file that names no rendezvous pipe (replaced). */
function readRendezvousSafe(name: string): string | undefined | null {
  try {
    return readRendezvous(name);
  } catch {
    return null;
  }
}

/** Removes the file of `name` if it still names `pipe` (a later server's file is left alone). */
export function removeRendezvous(name: string, pipe: string): void {
  try {
    if (readRendezvous(name) === pipe) unlinkSync(rendezvousFile(name));
  } catch {
    // Gone already, or not ours any more: nothing to remove.
  }
}

/** The owner, DACL and label of the published file, as SDDL (for tests and diagnostics). */
export function rendezvousFileSecurity(name: string, read: (h: k32.HANDLE) => string): string {
  const h = k32.CreateFileW(rendezvousFile(name), k32.READ_CONTROL, k32.FILE_SHARE_READ | k32.FILE_SHARE_WRITE | k32.FILE_SHARE_DELETE, null, k32.OPEN_EXISTING, 0, null);
  if (h === k32.INVALID_HANDLE_VALUE) throw win32Error(k32.GetLastError(), 'CreateFileW', rendezvousFile(name));
  try {
    return read(h);
  } finally {
    k32.CloseHandle(h);
  }
}
