/**
 * winpipe: real OS pipes for Node.js and Electron.
 *
 * - Windows: kernel32 `CreatePipe`, `ReadFile`, `WriteFile`, bridged into Node's own fd table.
 * - Linux / macOS: `pipe2` (`pipe` + `FD_CLOEXEC` on macOS), `read`, `write`.
 *
 * The backend is picked once, here, from `process.platform`.
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
import type { Backend } from './backend.js';
import { invalidArgType, invalidArgValue } from './errors.js';
import {
  isRemotePipePath,
  pipePath,
  resolveConnectOptions,
  resolveServerOptions,
  type ConnectOptions,
  type CreateServerOptions,
  type PipeConnection,
  type PipeServer,
} from './named.js';
import { createPipeWith, type CreatePipeOptions, type Pipe } from './pipe.js';
import { posixBackend } from './posix/pipe.js';
import { createPosixServer, posixConnect } from './posix/server.js';
import { windowsBackend } from './windows/pipe.js';
import { createWindowsServer, windowsConnect } from './windows/server.js';

const isWindows = process.platform === 'win32';
const backend: Backend = isWindows ? windowsBackend : posixBackend;

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
  return createPipeWith(backend, options);
}

/**
 * Creates a named-pipe server, like .NET's `NamedPipeServerStream` or Node's `net.createServer`,
 * with secure defaults: only the current user may connect, remote clients are rejected, and
 * `listen` refuses a name someone else already serves.
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
export function createServer(options?: CreateServerOptions, connectionListener?: (conn: PipeConnection) => void): PipeServer;
export function createServer(connectionListener?: (conn: PipeConnection) => void): PipeServer;
export function createServer(
  options?: CreateServerOptions | ((conn: PipeConnection) => void),
  connectionListener?: (conn: PipeConnection) => void,
): PipeServer {
  if (typeof options === 'function') {
    connectionListener = options;
    options = undefined;
  }
  if (connectionListener !== undefined && typeof connectionListener !== 'function') {
    throw invalidArgType('connectionListener', 'of type function', connectionListener);
  }
  const resolved = resolveServerOptions(options);
  return isWindows ? createWindowsServer(resolved, connectionListener) : createPosixServer(resolved, connectionListener);
}

/**
 * Connects to a named pipe. Waits up to `timeout` ms while every instance is busy, then rejects
 * with `ETIMEDOUT`; a name nobody serves rejects at once with `ENOENT`.
 *
 * @example
 * ```ts
 * const conn = await connect('my-app', { timeout: 1000, signal: AbortSignal.timeout(5000) });
 * conn.end('hello');
 * ```
 * Windows: the pipe's owner must be trusted (`options.trustedServerOwners`; by default our user,
 * our token's default owner, SYSTEM or Administrators), else it rejects with `EACCES`; the owner
 * is on `conn.serverOwnerSid`. A `..` segment in the name is refused (`ERR_INVALID_ARG_VALUE`).
 *
 * @throws TypeError for a bad name or options (synchronously, before any system call).
 */
export function connect(name: string, options?: ConnectOptions): Promise<PipeConnection> {
  const resolved = resolveConnectOptions(options);
  const path = pipePath(name);
  if (isWindows && isRemotePipePath(path) && !resolved.allowRemote) {
    throw invalidArgValue('name', name, 'is a remote pipe; pass { allowRemote: true } to connect to another machine');
  }
  return isWindows ? windowsConnect(path, resolved) : posixConnect(path, resolved);
}

/** Which backend this process uses: `'windows'` or `'posix'`. */
export const platform: 'windows' | 'posix' = backend.platform;

export type { CreatePipeOptions, Pipe } from './pipe.js';
export { pipePath, type CreateServerOptions, type ConnectOptions, type PipeServer, type PipeConnection, type PipeMode, type PipeSecurity, type ServerAccess, type ClientAccess, type HalfClose } from './named.js';
export { PipeEnd, PipeReader, PipeWriter, DEFAULT_READ_SIZE, type PipeIoOptions } from './end.js';
export { PipeError, isPipeError, type PipeErrorInit, type PipeLibraryCode } from './errors.js';
export { createFifo, openFifo, type CreateFifoOptions, type OpenFifoOptions } from './posix/fifo.js';
export { spawnWithHandles, type HandleChild, type HandleSource, type SpawnWithHandlesOptions } from './spawn.js';
