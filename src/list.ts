/**
 * `listPipes()`: the named pipes that can be found without connecting to any of them, the
 * enumeration `winpipe ls` prints.
 */
import { fromNodeError } from './errors.js';
import { host } from './platform.js';

/** One pipe {@link listPipes} found: what can be known of it without connecting. */
export interface PipeInfo {
  /**
   * What `connect` takes for it. Windows: the name after `\\.\pipe\`. POSIX: the socket's file name
   * without `.sock` (`connect(name)` tries the private directory first; use `path` for exactly this one).
   */
  readonly name: string;
  /** The full path: `\\.\pipe\<name>`, or the socket's path. `connect`, `relay` and `send` take it. */
  readonly path: string;
  /** Windows: the pipe's instances now, busy and free (`nFileSizeLow` of its entry). Absent on POSIX. */
  readonly instances?: number;
  /**
   * POSIX: the directory it is in: `'current-user'` (the private one) or `'everyone'` (the public
   * one, for `security: 'everyone'` servers). Absent on Windows.
   */
  readonly security?: 'current-user' | 'everyone';
}

/**
 * Lists the named pipes that can be found, without connecting to any: no server sees a thing
 * (unlike `fs.stat` of a Windows pipe path, which connects, nodejs/node#56002). Sorted by path.
 *
 * @example
 * ```ts
 * import { listPipes } from 'winpipe';
 * for (const p of await listPipes()) console.log(p.path, p.instances ?? '');
 * ```
 *
 * - Windows: every pipe in `\\.\pipe\` (FindFirstFileW / FindNextFileW), whoever serves it, with
 *   its instance count. Not its owner, its server's pid, or whether an instance is free: those
 *   need a connection. A pipe's entry exists from its first `CreateNamedPipeW` until its last
 *   instance closes. Under Wine (8 and 10) the pipe device cannot be listed (error 66): it rejects with
 *   `ENOTSUP`.
 * - POSIX: only what winpipe serves for this user: the sockets in its private directory and in
 *   the one for `security: 'everyone'` (as `pipePath` finds them; a directory `connect` would
 *   refuse is skipped). Not sockets at absolute paths of your choosing, other users' servers, or
 *   other programs' sockets. A socket a killed server left behind is listed (telling it from a
 *   live one needs a connection) until a server of that name replaces it.
 *
 * @throws PipeError (as a rejection) where the system cannot list pipes.
 */
export async function listPipes(): Promise<PipeInfo[]> {
  try {
    return await host.listPipes();
  } catch (err) {
    throw fromNodeError(err, 'listPipes');
  }
}
