/**
 * Errors: one class, {@link PipeError}, for every OS failure and library state, plus the
 * Node-shaped argument errors thrown before any system call.
 *
 * @module
 */
import { getSystemErrorMap } from 'node:util';
import { constants as osConstants } from 'node:os';

/** Library-state codes (no OS error behind them). */
export type PipeLibraryCode = 'ERR_PIPE_CLOSED' | 'ERR_PIPE_BUSY' | 'ERR_MESSAGE_TOO_LARGE' | 'ERR_AUTHENTICATION' | 'ERR_CHANNEL_CLOSED' | 'ERR_UNSUPPORTED_PLATFORM';

/** Fields accepted by the {@link PipeError} constructor. */
export interface PipeErrorInit {
  /** Portable libuv-style name (`EPIPE`, `ENOENT`, ...) or a library `ERR_` code. */
  code: string;
  /** The function that failed, e.g. `WriteFile`, `pipe2`, `read`. */
  syscall?: string;
  /** The pipe path involved, where there is one. */
  path?: string;
  /** Original Win32 error number (Windows only). */
  win32Errno?: number;
  /** The underlying error, if any. */
  cause?: unknown;
  /** Overrides the generated message. */
  message?: string;
}

/**
 * The error for every OS failure and library state in winpipe.
 *
 * `code` is portable: the same libuv-style name on every platform (`EPIPE`, `ENOENT`, `EBUSY`,
 * ...), or a library code such as `ERR_PIPE_CLOSED`. `errno` is the number Node itself would
 * report for that code on this platform (negative, as in `err.errno` from `fs`). On Windows the
 * original Win32 error is kept in `win32Code` / `win32Errno`.
 *
 * @example
 * ```ts
 * try { writer.writeSync(buf); }
 * catch (err) {
 *   if (isPipeError(err) && err.code === 'EPIPE') console.log('reader went away');
 *   else throw err;
 * }
 * ```
 */
export class PipeError extends Error {
  override name = 'PipeError';
  /** Portable error name (`EPIPE`, ...) or library code (`ERR_PIPE_CLOSED`, ...). */
  readonly code: string;
  /** Node's (negative) errno for `code` on this platform; `undefined` for `ERR_` codes. */
  readonly errno: number | undefined;
  /** The failing function, e.g. `WriteFile` or `pipe2`. */
  readonly syscall: string | undefined;
  /** The pipe path, where there is one. */
  readonly path: string | undefined;
  /**
   * Windows only: the original error's symbolic name, e.g. `ERROR_NO_DATA`. The property exists
   * only where there is a Win32 error, so a printed POSIX error does not show `win32Code: undefined`.
   */
  declare readonly win32Code?: string;
  /** Windows only: the original error number, e.g. 232 (an own property only when there is one). */
  declare readonly win32Errno?: number;

  constructor(init: PipeErrorInit) {
    const errno = init.code.startsWith('ERR_') ? undefined : uvErrnoOf(init.code);
    const win32Code = init.win32Errno === undefined ? undefined : win32NameOf(init.win32Errno);
    super(init.message ?? describe(init, win32Code), init.cause === undefined ? undefined : { cause: init.cause });
    this.code = init.code;
    this.errno = errno;
    this.syscall = init.syscall;
    this.path = init.path;
    // Only where a Win32 error exists: `util.inspect` shows every own property, undefined or not.
    if (init.win32Errno !== undefined) {
      Object.defineProperty(this, 'win32Code', { value: win32Code, enumerable: true, configurable: true });
      Object.defineProperty(this, 'win32Errno', { value: init.win32Errno, enumerable: true, configurable: true });
    }
  }
}

function describe(init: PipeErrorInit, win32Code: string | undefined): string {
  const what = LIBRARY_MESSAGES[init.code] ?? uvMessageOf(init.code) ?? 'pipe error';
  let msg = `${init.code}: ${what}`;
  if (init.syscall) msg += `, ${init.syscall}`;
  if (init.path) msg += ` '${init.path}'`;
  if (win32Code) msg += ` (${win32Code} ${init.win32Errno})`;
  return msg;
}

const LIBRARY_MESSAGES: Record<string, string> = {
  ERR_PIPE_CLOSED: 'the pipe end is closed',
  ERR_PIPE_BUSY: 'another operation of the same kind is pending on this pipe end',
  ERR_MESSAGE_TOO_LARGE: 'message exceeds the allowed size',
  ERR_AUTHENTICATION: 'authentication failed',
  ERR_CHANNEL_CLOSED: 'the channel is closed',
  ERR_UNSUPPORTED_PLATFORM: 'not supported on this platform',
};

/** True if `err` is a {@link PipeError} (also across realms and duplicate copies of winpipe). */
export function isPipeError(err: unknown): err is PipeError {
  return err instanceof PipeError || (err instanceof Error && err.name === 'PipeError' && typeof (err as PipeError).code === 'string');
}

// --- portable errno numbers -------------------------------------------------------------------

let uvByName: Map<string, { errno: number; message: string }> | undefined;
function uvTable(): Map<string, { errno: number; message: string }> {
  if (!uvByName) {
    uvByName = new Map();
    // libuv's own table for this platform: the numbers Node puts in err.errno.
    for (const [errno, [name, message]] of getSystemErrorMap()) uvByName.set(name, { errno, message });
  }
  return uvByName;
}
function uvErrnoOf(code: string): number | undefined {
  return uvTable().get(code)?.errno;
}
function uvMessageOf(code: string): string | undefined {
  return uvTable().get(code)?.message;
}

/** POSIX: the portable name of a C `errno` value (`32` -> `EPIPE`). */
export function errnoName(errno: number): string {
  for (const [name, value] of Object.entries(osConstants.errno)) if (value === errno) return name;
  return 'UNKNOWN';
}

/** Builds a PipeError from a POSIX `errno` value. */
export function posixError(errno: number, syscall: string, path?: string): PipeError {
  return new PipeError({ code: errnoName(errno), syscall, ...(path === undefined ? {} : { path }) });
}

// --- Win32 errors -----------------------------------------------------------------------------

/** Win32 error numbers winpipe deals with, by name. */
export const WIN32_ERRORS = {
  ERROR_SUCCESS: 0,
  ERROR_INVALID_FUNCTION: 1,
  ERROR_FILE_NOT_FOUND: 2,
  ERROR_PATH_NOT_FOUND: 3,
  ERROR_TOO_MANY_OPEN_FILES: 4,
  ERROR_ACCESS_DENIED: 5,
  ERROR_INVALID_HANDLE: 6,
  ERROR_NOT_ENOUGH_MEMORY: 8,
  ERROR_NO_MORE_FILES: 18,
  ERROR_OUTOFMEMORY: 14,
  ERROR_NOT_SUPPORTED: 50,
  ERROR_BAD_NETPATH: 53,
  ERROR_NETNAME_DELETED: 64,
  ERROR_BAD_DEV_TYPE: 66,
  ERROR_INVALID_PARAMETER: 87,
  ERROR_BROKEN_PIPE: 109,
  ERROR_SEM_TIMEOUT: 121,
  ERROR_INSUFFICIENT_BUFFER: 122,
  ERROR_INVALID_NAME: 123,
  ERROR_BAD_PATHNAME: 161,
  ERROR_ALREADY_EXISTS: 183,
  ERROR_FILENAME_EXCED_RANGE: 206,
  ERROR_BAD_PIPE: 230,
  ERROR_PIPE_BUSY: 231,
  ERROR_NO_DATA: 232,
  ERROR_PIPE_NOT_CONNECTED: 233,
  ERROR_MORE_DATA: 234,
  WAIT_TIMEOUT: 258,
  ERROR_PIPE_CONNECTED: 535,
  ERROR_PIPE_LISTENING: 536,
  ERROR_OPERATION_ABORTED: 995,
  ERROR_IO_INCOMPLETE: 996,
  ERROR_IO_PENDING: 997,
  ERROR_CONNECTION_REFUSED: 1225,
  ERROR_PRIVILEGE_NOT_HELD: 1314,
} as const;

const WIN32_TO_UV: Record<number, string> = {
  1: 'EINVAL',
  2: 'ENOENT',
  3: 'ENOENT',
  4: 'EMFILE',
  // libuv says EPERM here; for pipes "access denied" is a permission check, which users know as EACCES.
  5: 'EACCES',
  6: 'EBADF',
  8: 'ENOMEM',
  14: 'ENOMEM',
  50: 'ENOTSUP',
  53: 'ENOENT',
  64: 'ECONNRESET',
  // FindFirstFileW on \\.\pipe\ under Wine 8 and 10: the pipe device does not support listing.
  66: 'ENOTSUP',
  87: 'EINVAL',
  109: 'EPIPE',
  121: 'ETIMEDOUT',
  122: 'ENOBUFS',
  123: 'ENOENT',
  161: 'ENOENT',
  183: 'EEXIST',
  206: 'ENAMETOOLONG',
  230: 'EPIPE',
  231: 'EBUSY',
  232: 'EPIPE',
  233: 'EPIPE',
  234: 'EMSGSIZE',
  258: 'ETIMEDOUT',
  535: 'EISCONN',
  536: 'ENOTCONN',
  995: 'ECANCELED',
  1225: 'ECONNREFUSED',
  1314: 'EPERM',
};

function win32NameOf(n: number): string {
  for (const [name, value] of Object.entries(WIN32_ERRORS)) if (value === n) return name;
  return `WIN32_ERROR_${n}`;
}

/** The portable code for a Win32 error number (`232` -> `EPIPE`). Unknown numbers give `UNKNOWN`. */
export function win32ToCode(win32Errno: number): string {
  return WIN32_TO_UV[win32Errno] ?? 'UNKNOWN';
}

/** Builds a PipeError from a Win32 error number. */
export function win32Error(win32Errno: number, syscall: string, path?: string): PipeError {
  return new PipeError({ code: win32ToCode(win32Errno), syscall, win32Errno, ...(path === undefined ? {} : { path }) });
}

/** Wraps an error thrown by Node itself (it has `code`, `errno`, `syscall`) as a PipeError. */
export function fromNodeError(err: unknown, fallbackSyscall: string): PipeError {
  if (isPipeError(err)) return err;
  const e = err as NodeJS.ErrnoException;
  let code = typeof e?.code === 'string' ? e.code : 'UNKNOWN';
  // libuv on Windows translates ERROR_BROKEN_PIPE to UV_EOF, also for a write whose reader went
  // away while it was pending. End of file is never an error in winpipe: that write is EPIPE, as
  // on POSIX and as ERROR_NO_DATA gives.
  if (code === 'EOF') code = 'EPIPE';
  return new PipeError({
    code,
    syscall: e?.syscall ?? fallbackSyscall,
    ...(e?.path === undefined ? {} : { path: e.path }),
    // Node's own message, unless the code was translated (it would name the old code).
    ...(code === e?.code && typeof e?.message === 'string' && e.message ? { message: e.message } : {}),
    cause: err,
  });
}

/** `ERR_PIPE_CLOSED`: use after close. */
export function closedError(syscall: string): PipeError {
  return new PipeError({ code: 'ERR_PIPE_CLOSED', syscall });
}

// --- Node-shaped argument errors ---------------------------------------------------------------

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return `function ${value.name || '<anonymous>'}`;
  if (typeof value === 'object') return `an instance of ${value.constructor?.name ?? 'Object'}`;
  let shown = typeof value === 'bigint' ? `${value}n` : (JSON.stringify(value) ?? String(value));
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
  return `type ${typeof value} (${shown})`;
}

/** TypeError with code `ERR_INVALID_ARG_TYPE`, as Node throws it. */
export function invalidArgType(name: string, expected: string, actual: unknown): TypeError {
  const err = new TypeError(`The "${name}" argument must be ${expected}. Received ${describeValue(actual)}`);
  return Object.assign(err, { code: 'ERR_INVALID_ARG_TYPE' });
}

/** TypeError with code `ERR_INVALID_ARG_VALUE`, as Node throws it. */
export function invalidArgValue(name: string, value: unknown, reason = 'is invalid'): TypeError {
  const err = new TypeError(`The argument '${name}' ${reason}. Received ${describeValue(value)}`);
  return Object.assign(err, { code: 'ERR_INVALID_ARG_VALUE' });
}

/** RangeError with code `ERR_OUT_OF_RANGE`, as Node throws it. */
export function outOfRange(name: string, range: string, value: unknown): RangeError {
  const err = new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${String(value)}`);
  return Object.assign(err, { code: 'ERR_OUT_OF_RANGE' });
}

/** Error with code `ERR_STREAM_CANNOT_PIPE`, as Node's `Writable.pipe` reports it. */
export function cannotPipe(): Error {
  return Object.assign(new Error('Cannot pipe, not readable'), { code: 'ERR_STREAM_CANNOT_PIPE' });
}

/** The DOMException Node's own APIs reject with on abort (`name` AbortError, `code` ABORT_ERR). */
export function abortError(signal?: AbortSignal): Error {
  const err = new DOMException('The operation was aborted', 'AbortError') as DOMException & { cause?: unknown };
  if (signal?.reason !== undefined) Object.defineProperty(err, 'cause', { value: signal.reason, configurable: true, writable: true });
  // Node's AbortError carries code 'ABORT_ERR' (DOMException's legacy code 20 is numeric).
  Object.defineProperty(err, 'code', { value: 'ABORT_ERR', configurable: true });
  return err;
}

/** Waits `ms`, or rejects with {@link abortError} once `signal` fires (at once if it already has). */
export function abortableSleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
