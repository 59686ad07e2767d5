/**
 * Opening a named pipe by name, as a client, for both stacks on Windows (`connect` in
 * src/windows/server.ts and the channel `Client` in src/channel/windows.ts): `CreateFileW`
 * through `\\?\pipe\`, retried on a timer while every instance is busy (`WaitNamedPipeW` would
 * block the event loop), then the two checks every client makes before a byte moves: the handle
 * is a pipe, and its owner is trusted (src/windows/trust.ts).
 */
import { PipeError, WIN32_ERRORS as E, win32Error } from '../errors.js';
import { win32OpenPath } from '../named.js';
import { RETRY, retry } from '../retry.js';
import * as k32 from './kernel32.js';
import { verifyServerOwner } from './trust.js';

export interface OpenSpec {
  /** `CreateFileW`'s desired access and flags. */
  access: number;
  flags: number;
  /** Whose pipe may be opened (`trustedServerOwners`). */
  trusted: 'any' | readonly string[];
  /** No attempt starts after this `Date.now()`; a pipe still busy then is `ETIMEDOUT`. */
  deadline: number;
  signal?: AbortSignal | undefined;
}

/**
 * Opens the pipe at `path`. Rejects with `ENOENT` (nobody serves), `ETIMEDOUT` (busy until the
 * deadline), `EINVAL` (not a pipe), `EACCES` (an untrusted owner), or an `AbortError`; the handle
 * is closed on every failure. Ownership: the caller owns the returned handle.
 */
export function openPipe(path: string, spec: OpenSpec): Promise<{ handle: k32.HANDLE; serverOwnerSid: string | undefined }> {
  return retry(
    () => {
      const handle = k32.CreateFileW(win32OpenPath(path), spec.access, 0, null, k32.OPEN_EXISTING, spec.flags, null);
      if (handle === k32.INVALID_HANDLE_VALUE) {
        const e = k32.GetLastError();
        if (e === E.ERROR_PIPE_BUSY) return RETRY;
        throw win32Error(e, 'CreateFileW', path);
      }
      try {
        // `\\?\pipe\` reaches only pipes; a handle of any other kind is still refused here.
        if (k32.GetFileType(handle) !== k32.FILE_TYPE_PIPE) throw new PipeError({ code: 'EINVAL', syscall: 'connect', path, message: `EINVAL: ${path} is not a pipe` });
        return { handle, serverOwnerSid: verifyServerOwner(handle, path, spec.trusted) };
      } catch (err) {
        k32.CloseHandle(handle);
        throw err;
      }
    },
    {
      first: 2,
      max: 50,
      deadline: spec.deadline,
      timedOut: () => new PipeError({ code: 'ETIMEDOUT', syscall: 'connect', path, win32Errno: E.ERROR_PIPE_BUSY }),
      signal: spec.signal,
    },
  );
}
