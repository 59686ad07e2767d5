/**
 * Windows named-pipe clients for `connect`: `CreateFileW` through src/windows/open.ts (busy retry,
 * owner check), then the handle in the mode asked for (src/windows/connection.ts).
 */
import { PipeError, abortError } from '../errors.js';
import type { ResolvedConnectOptions } from '../options.js';
import type { PipeConnection } from '../types.js';
import { wrap } from './connection.js';
import * as k32 from './kernel32.js';
import { openPipe, ownSession } from './open.js';
import { readRendezvous, validateRendezvousName } from './rendezvous.js';
import { LazyPeer } from './trust.js';

/**
 * The pipe path a rendezvous name resolves to (src/windows/rendezvous.ts), or `ENOENT` when no
 * server of ours publishes it.
 */
export function resolveRendezvous(name: string): string {
  validateRendezvousName(name);
  const path = readRendezvous(name);
  if (path === undefined) throw new PipeError({ code: 'ENOENT', syscall: 'connect', path: name, message: `ENOENT: no server publishes the rendezvous name '${name}'` });
  return path;
}

export function windowsConnect(path: string, o: ResolvedConnectOptions): Promise<PipeConnection> {
  if (o.signal?.aborted) return Promise.reject(abortError(o.signal));
  const access = o.access === 'read' ? k32.GENERIC_READ | k32.FILE_WRITE_ATTRIBUTES : o.access === 'write' ? k32.GENERIC_WRITE | k32.FILE_READ_ATTRIBUTES : k32.GENERIC_READ | k32.GENERIC_WRITE;
  // Identification only: a server cannot act as this user with our token.
  const flags = k32.FILE_FLAG_OVERLAPPED | k32.SECURITY_SQOS_PRESENT | k32.SECURITY_IDENTIFICATION;
  let serverSession: number | undefined;
  try {
    serverSession = o.serverSession === 'same' ? ownSession() : o.serverSession;
  } catch (err) {
    return Promise.reject(err);
  }
  return openPipe(path, { access, flags, trusted: o.trustedServerOwners, deadline: Date.now() + o.connectTimeout, signal: o.signal, serverSession }).then(({ handle, serverOwnerSid }) =>
    clientConnection(handle, path, o, serverOwnerSid),
  );
}

/**
 * Wraps a client handle that openPipe opened and checked. Ownership: takes `handle`; on every
 * failure (a mode mismatch, anything else) it is closed before the throw.
 */
function clientConnection(handle: k32.HANDLE, path: string, o: ResolvedConnectOptions, serverOwnerSid: string | undefined): PipeConnection {
  try {
    if (o.mode === 'message' && !k32.SetNamedPipeHandleState(handle, [k32.PIPE_READMODE_MESSAGE], null, null)) {
      const e = k32.GetLastError();
      // ERROR_INVALID_PARAMETER: the server's pipe is a byte pipe.
      throw new PipeError({ code: 'EPROTOTYPE', syscall: 'SetNamedPipeHandleState', path, win32Errno: e, message: `EPROTOTYPE: ${path} is not a message-mode pipe` });
    }
  } catch (err) {
    k32.CloseHandle(handle);
    throw err;
  }
  // Ownership: wrap() takes the handle (and closes it if it fails).
  return wrap(handle, o.mode, {
    path,
    serverOwnerSid,
    // The server's pid, session and user, with the owner just checked: one place, trust.ts, read
    // when first asked.
    peerSource: new LazyPeer(handle, 'server', serverOwnerSid),
    readable: o.access !== 'write',
    writable: o.access !== 'read',
    allowHalfOpen: o.allowHalfOpen,
    maxMessageSize: o.maxMessageSize,
    readAheadBytes: o.readAheadBytes,
    halfClose: o.halfClose,
  });
}
