/**
 * winpipe: real OS pipes for Node.js and Electron.
 *
 * - Windows: kernel32 `CreatePipe`, `ReadFile`, `WriteFile`, bridged into Node's own fd table.
 * - Linux / macOS: `pipe2` (`pipe` + `FD_CLOEXEC` on macOS), `read`, `write`.
 *
 * The platform is picked once, from `process.platform`, in src/platform.ts.
 *
 * @example
 * ```ts
 * import { createPipe } from 'winpipe';
 * import { spawn } from 'node:child_process';
 *
 * const { reader, writer } = createPipe();
 * const child = spawn(process.execPath, ['-e', 'process.stdout.write("hello")'], {
 *   stdio: ['ignore', writer, 'inherit'],
 * });
 * writer.close();                                  // the child has its own copy now
 * console.log((await reader.read()).toString());  // "hello"
 * reader.close();
 * ```
 *
 * @module
 */
import { PipeError, abortError, invalidArgType } from './errors.js';
import { RETRY, retry } from './retry.js';
import { resolveConnectOptions, resolveServerOptions, type ConnectOptions, type ResolvedConnectOptions, type CreateServerOptions } from './options.js';
import type { BytePipeConnection, MessagePipeConnection, PipeConnection, PipeServer } from './types.js';
import { pipePath, type SocketDirs } from './names.js';
import { createPipeWith, type CreatePipeOptions, type Pipe } from './pipe.js';
import { host, type UntrustedSeen } from './platform.js';

/**
 * Creates an anonymous OS pipe, like Python's `os.pipe()` or pywin32's `win32pipe.CreatePipe`.
 * Both ends are non-inheritable unless `options.inheritable` says otherwise.
 *
 * @example
 * ```ts
 * const { reader, writer } = createPipe({ size: 1 << 20 });
 * writer.writeSync(Buffer.from('ping'));
 * const buf = Buffer.alloc(4);
 * reader.readSync(buf);           // 4
 * ```
 *
 * @throws TypeError / RangeError for bad options, before any system call.
 * @throws PipeError when the OS refuses (`EMFILE`, ...).
 */
export function createPipe(options?: CreatePipeOptions): Pipe {
  return createPipeWith(host.pipes, options);
}

/**
 * Creates a named-pipe server, like .NET's `NamedPipeServerStream` or Node's `net.createServer`,
 * with secure defaults: only the current user may connect, remote clients are rejected,
 * `listen` refuses a name someone else already serves, and at most 512 clients are held at once
 * (`maxConnections`; see `server.connectionStats()`).
 *
 * Windows: `CreateNamedPipeW` + overlapped `ConnectNamedPipe`; pending accepts hold no thread.
 * POSIX: a Unix domain socket in a private per-user directory (see {@link pipePath}).
 *
 * @example
 * ```ts
 * const server = createServer({ mode: 'message' }, (conn) => {
 *   conn.on('data', (msg) => conn.write(msg));        // echo each message
 * });
 * await server.listen('my-app');
 * console.log(server.address());                      // \\.\pipe\my-app, or /run/user/1000/winpipe/my-app.sock
 * ```
 * @throws TypeError / RangeError for bad options, before any system call.
 */
export function createServer(connectionListener?: (conn: BytePipeConnection) => void): PipeServer<BytePipeConnection>;
export function createServer(options: CreateServerOptions & { mode: 'message' }, connectionListener?: (conn: MessagePipeConnection) => void): PipeServer<MessagePipeConnection>;
export function createServer(options?: CreateServerOptions & { mode?: 'byte' }, connectionListener?: (conn: BytePipeConnection) => void): PipeServer<BytePipeConnection>;
export function createServer(options?: CreateServerOptions, connectionListener?: (conn: PipeConnection) => void): PipeServer;
export function createServer(options?: CreateServerOptions | ((conn: never) => void), connectionListener?: (conn: never) => void): PipeServer<never> {
  if (typeof options === 'function') {
    connectionListener = options;
    options = undefined;
  }
  if (connectionListener !== undefined && typeof connectionListener !== 'function') {
    throw invalidArgType('connectionListener', 'of type function', connectionListener);
  }
  const resolved = resolveServerOptions(options);
  const listener = connectionListener as ((conn: PipeConnection) => void) | undefined;
  return host.createServer(resolved, listener) as PipeServer<never>;
}

/**
 * Connects to a named pipe. Waits up to `connectTimeout` ms (default 5000) while every instance
 * is busy, then rejects with `ETIMEDOUT`. A name nobody serves rejects at once with `ENOENT`;
 * with `wait: true` it is polled instead (backoff 10 ms → 250 ms) until a server appears, within
 * the same `connectTimeout`. `signal` aborts every stage with an `AbortError`.
 *
 * @example
 * ```ts
 * const conn = await connect('my-app', { connectTimeout: 1000, signal: AbortSignal.timeout(5000) });
 * conn.end('hello');
 * // A client that may start before its server:
 * const late = await connect('my-app', { wait: true, connectTimeout: 10_000 });
 * ```
 * Windows: the pipe's owner must be trusted (`options.trustedServerOwners`; by default our user,
 * our token's default owner, SYSTEM or Administrators), else it rejects with `EACCES`; the owner
 * is on `conn.serverOwnerSid`. A `..` segment in the name is refused (`ERR_INVALID_ARG_VALUE`).
 * POSIX: a stale socket file (its server died) counts as nobody there (`ENOENT`, or polled with `wait`).
 * A socket directory of the name that fails its check (another user's, a symlink, open to others)
 * rejects with `EACCES` / `ENOTDIR`; with `wait` it is passed over and the wait goes on in the
 * other directory (see {@link ConnectOptions.wait}).
 *
 * @throws TypeError for a bad name or options (synchronously, before any system call).
 */
export function connect(name: string, options: ConnectOptions & { mode: 'message' }): Promise<MessagePipeConnection>;
export function connect(name: string, options?: ConnectOptions & { mode?: 'byte' }): Promise<BytePipeConnection>;
export function connect(name: string, options?: ConnectOptions): Promise<PipeConnection>;
export function connect(name: string, options?: ConnectOptions): Promise<PipeConnection> {
  const resolved = resolveConnectOptions(options);
  const { path, dirs, self } = host.connectTarget(name, resolved);
  if (!resolved.wait) return host.connectOnce(path, resolved, dirs, undefined, self);
  if (resolved.signal?.aborted) return Promise.reject(abortError(resolved.signal));
  return connectWaiting(path, resolved, dirs);
}

function connectOnce(path: string, o: ResolvedConnectOptions, dirs: SocketDirs | undefined, waiting?: UntrustedSeen): Promise<PipeConnection> {
  return host.connectOnce(path, o, dirs, waiting);
}

/** First wait between polls for a server that does not exist yet, and the most it grows to. */
const WAIT_FIRST_MS = 10;
const WAIT_MAX_MS = 250;

/** `connect` with `wait`: each attempt gets what is left of `connectTimeout`, so the whole call keeps to it. */
function connectWaiting(path: string, o: ResolvedConnectOptions, dirs: SocketDirs | undefined): Promise<PipeConnection> {
  const deadline = Date.now() + o.connectTimeout;
  // POSIX: a candidate directory we do not trust is passed over while waiting, not the end of it.
  const waiting: UntrustedSeen = {};
  return retry(
    () =>
      connectOnce(path, { ...o, connectTimeout: Math.max(0, deadline - Date.now()) }, dirs, waiting).catch((err: unknown) => {
        if ((err as { code?: unknown }).code !== 'ENOENT') throw err;
        return RETRY;
      }),
    {
      first: WAIT_FIRST_MS,
      max: WAIT_MAX_MS,
      deadline,
      signal: o.signal,
      timedOut: () => {
        const skipped = waiting.untrusted;
        return new PipeError({
          code: 'ETIMEDOUT',
          syscall: 'connect',
          path,
          message: `ETIMEDOUT: nobody served ${path} within ${o.connectTimeout} ms${skipped ? `; passed over ${skipped.path} (${skipped.code}), which it does not trust` : ''}`,
          ...(skipped ? { cause: skipped } : {}),
        });
      },
    },
  );
}

/**
 * Tells whether someone serves `name` right now, without connecting: no connection is made, so
 * the server sees nothing (`net`'s `fs.stat` of a Windows pipe connects to it, nodejs/node#56002).
 * Resolves `true` also when every instance is busy.
 *
 * - Windows: `WaitNamedPipeW` on `\\?\pipe\<name>` with a 1 ms timeout (a free instance, or
 *   `ERROR_SEM_TIMEOUT` while all are busy, both mean it exists). Enumerating `\\.\pipe\`
 *   would fail under Wine (`FindFirstFileW`, error 66), so it is not used.
 * - POSIX: `lstat` of the socket file `pipePath(name)` names (and, for a name, the public
 *   directory's as `connect` tries it), in a directory that passes the same ownership checks as
 *   `connect`'s. A stale socket file (its server died without removing it) still answers `true`;
 *   `connect` then rejects with `ENOENT`.
 *
 * @example
 * ```ts
 * if (!(await pipeExists('my-app'))) spawnServer();
 * const conn = await connect('my-app', { wait: true });
 * ```
 * @throws TypeError for a bad name (synchronously, as `pipePath` throws).
 */
export function pipeExists(name: string): Promise<boolean> {
  const path = pipePath(name);
  try {
    return Promise.resolve(host.exists(path));
  } catch (err) {
    return Promise.reject(err);
  }
}

/** Which backend this process uses: `'windows'` or `'posix'`. */
export const platform: 'windows' | 'posix' = host.name;

export type { CreatePipeOptions, Pipe } from './pipe.js';
export type {
  CreateServerOptions,
  ConnectOptions,
  ListenOptions,
  PipeMode,
  PipeSecurity,
  ServerAccess,
  ClientAccess,
  HalfClose,
} from './options.js';
export type {
  PipeServer,
  PipeServerEvents,
  ConnectionStats,
  ServerConnectionStats,
  PipeConnection,
  PipeConnectionFields,
  BytePipeConnection,
  MessagePipeConnection,
  PeerIdentity,
  ConnectionFor,
} from './types.js';
export { pipePath } from './names.js';
export { PipeEnd, type PipeIoOptions } from './end.js';
export { PipeReader, DEFAULT_READ_SIZE, type PipeChunksOptions } from './reader.js';
export { PipeWriter, type PipeWriteOptions } from './writer.js';
export { PipeError, isPipeError, type PipeErrorInit, type PipeLibraryCode } from './errors.js';
export { createFifo, openFifo, type CreateFifoOptions, type OpenFifoOptions } from './posix/fifo.js';
export { spawnWithHandles, type HandleChild, type HandleSource, type SpawnWithHandlesOptions } from './spawn.js';
export { adoptEnd } from './adopt.js';
export { listPipes, type PipeInfo } from './list.js';
export type { AccessPolicy, AccessPrincipal, IntegrityLevel } from './access.js';
export { createHandleServer, connectHandleChannel, HandleChannel, HandleServer, type HandleServerEvents, type HandleChannelIoOptions, type ConnectHandleChannelOptions } from './handles.js';
