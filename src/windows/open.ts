/**
 * Opening a named pipe by name, as a client, for both stacks on Windows (`connect` in
 * src/windows/client.ts and the channel `Client` in src/channel/windows.ts): `CreateFileW`
 * through `\\?\pipe\`, retried on a timer while every instance is busy (`WaitNamedPipeW` would
 * block the event loop), then the two checks every client makes before a byte moves: the handle
 * is a pipe, and its owner is trusted (src/windows/trust.ts).
 */
import { PipeError, WIN32_ERRORS as E, win32Error } from '../errors.js';
import { win32OpenPath } from '../names.js';
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
  /** The session the server must run in (`connect`'s `serverSession`, resolved); not checked when undefined. */
  serverSession?: number | undefined;
}

/**
 * Opens the pipe at `path`. Rejects with `ENOENT` (nobody serves), `ETIMEDOUT` (busy until the
 * deadline), `EINVAL` (not a pipe), `EACCES` (an untrusted owner, or a server in another session
 * than `serverSession`), or an `AbortError`; the handle
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
        const serverOwnerSid = verifyServerOwner(handle, path, spec.trusted);
        if (spec.serverSession !== undefined) verifyServerSession(handle, path, spec.serverSession);
        return { handle, serverOwnerSid };
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

/** This process's Terminal Services session. @throws PipeError where the system will not say. */
export function ownSession(): number {
  const out: k32.Out<number> = [0];
  if (!k32.ProcessIdToSessionId(k32.GetCurrentProcessId(), out)) throw win32Error(k32.GetLastError(), 'ProcessIdToSessionId');
  return out[0];
}

/**
 * The server of the pipe `handle` runs in session `want`, by the pipe's own word
 * (`GetNamedPipeServerSessionId`), not by its pid. Another session, or none the system will give,
 * is `EACCES`: the expectation could not be shown to hold.
 */
function verifyServerSession(handle: k32.HANDLE, path: string, want: number): void {
  const got: k32.Out<number> = [0];
  if (!k32.GetNamedPipeServerSessionId(handle, got)) {
    const e = k32.GetLastError();
    throw new PipeError({ code: 'EACCES', syscall: 'connect', path, win32Errno: e, message: `EACCES: the server session of ${path} cannot be read (GetNamedPipeServerSessionId failed with ${e})` });
  }
  if (got[0] !== want) {
    throw new PipeError({ code: 'EACCES', syscall: 'connect', path, message: `EACCES: the server of ${path} runs in session ${got[0]}, not in session ${want}` });
  }
}
