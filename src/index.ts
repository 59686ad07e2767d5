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
import { createPipeWith, type CreatePipeOptions, type Pipe } from './pipe.js';
import { posixBackend } from './posix/pipe.js';
import { windowsBackend } from './windows/pipe.js';

const backend: Backend = process.platform === 'win32' ? windowsBackend : posixBackend;

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

/** Which backend this process uses: `'windows'` or `'posix'`. */
export const platform: 'windows' | 'posix' = backend.platform;

export type { CreatePipeOptions, Pipe } from './pipe.js';
export { PipeEnd, PipeReader, PipeWriter, DEFAULT_READ_SIZE, type PipeIoOptions } from './end.js';
export { PipeError, isPipeError, type PipeErrorInit, type PipeLibraryCode } from './errors.js';
