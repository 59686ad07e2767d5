/**
 * `adoptEnd`: the child's side of {@link spawnWithHandles} (and of any parent that passes a pipe by
 * number, as .NET's `GetClientHandleAsString()` does): a HANDLE value on Windows, or an fd number
 * on POSIX, becomes a {@link PipeReader} or {@link PipeWriter} that owns it.
 *
 * Every check runs before anything is changed: the value's type and range (before any system
 * call), then that it is open and a pipe, and that it goes the asked way. Only then is inheritance
 * cleared (so this process's own children do not get it) and the value taken over. A value that
 * fails a check is left exactly as it was: nothing that was not ours is closed.
 */
import type { RawEnd, Backend } from './backend.js';
import type { PipeEnd } from './end.js';
import { PipeReader } from './reader.js';
import { PipeWriter } from './writer.js';
import { PipeError, invalidArgType, invalidArgValue, outOfRange } from './errors.js';
import { host } from './platform.js';

/** The largest value accepted: an fd is an `int`; a Windows handle value fits in 32 bits, and above 2 ** 31 only pseudo-handles (sign-extended -1, -2, ...) live. */
const MAX_VALUE = 0x7fff_ffff;

/**
 * Ends made here that are still open, by value: adopting the same value twice would give two
 * owners one handle, and the second close would hit whatever reuses the number.
 */
const adopted = new Map<string, WeakRef<PipeEnd>>();

/**
 * Takes over a pipe end this process was given by number: a HANDLE value on Windows, an fd on
 * POSIX. `value` may be a number, a bigint, or the decimal string a parent put on the command
 * line (what `spawnWithHandles` passes to its `args` function, and what .NET's
 * `AnonymousPipeServerStream.GetClientHandleAsString()` gives). `'r'` returns a
 * {@link PipeReader}, `'w'` a {@link PipeWriter}; the end owns the value from then on and closes
 * it once.
 *
 * @example
 * ```ts
 * // child.mjs, started with spawnWithHandles(process.execPath, ([r, w]) => ['child.mjs', r!, w!], { handles: [...] })
 * import { adoptEnd } from 'winpipe';
 * const input = adoptEnd(process.argv[2]!, 'r');
 * const output = adoptEnd(process.argv[3]!, 'w');
 * for (let chunk; (chunk = await input.read()).length > 0; ) await output.write(chunk);
 * input.close();
 * output.close();
 * ```
 *
 * Checks, in order, and nothing is changed until all pass:
 * - Windows: `GetHandleInformation` (open: else `EBADF`), `GetFileType` and the pipe's own
 *   information (a pipe, not a file or a socket: else `EINVAL`), the handle's access (it can read
 *   for `'r'`, write for `'w'`: else `EINVAL`). Then `SetHandleInformation` clears
 *   `HANDLE_FLAG_INHERIT`, and `uv_open_osfhandle` gives it an fd in Node's table, which owns it.
 * - POSIX: `fstat` (open: else `EBADF`; a FIFO or a socket: else `EINVAL`), the open flags (readable
 *   for `'r'`, writable for `'w'`: else `EINVAL`). Then `FD_CLOEXEC` is set.
 *
 * Platform notes: an end from `CreatePipe` (a `createPipe()` end, a .NET anonymous pipe) is a
 * synchronous handle. Its async `read()` / `write()` and streams work as they do on `createPipe()`'s
 * own ends: libuv serves them on the Windows thread pool, never a libuv pool thread per pending
 * read. An overlapped handle (a channel `Connection` end, a named pipe opened with
 * `FILE_FLAG_OVERLAPPED`) goes through libuv's completion port, and its `readSync` / `writeSync`
 * wait for an overlapped operation of their own. Adopt only a value given to this process for
 * this purpose: one it already uses through an fd or another end cannot be told apart, and would
 * then have two owners (adopting through this function twice is refused with `EBUSY`).
 *
 * @throws TypeError `ERR_INVALID_ARG_TYPE` / `ERR_INVALID_ARG_VALUE`, RangeError `ERR_OUT_OF_RANGE`
 *   for a bad value or direction, before any system call. PipeError `EBADF` for a value that is not
 *   open, `EINVAL` for one that is not a pipe (or socket, POSIX) or goes the other way, `EBUSY` for
 *   a value this function already adopted and whose end is still open.
 */
export function adoptEnd(value: number | bigint | string, direction: 'r'): PipeReader;
export function adoptEnd(value: number | bigint | string, direction: 'w'): PipeWriter;
export function adoptEnd(value: number | bigint | string, direction: 'r' | 'w'): PipeReader | PipeWriter;
export function adoptEnd(value: number | bigint | string, direction: 'r' | 'w'): PipeReader | PipeWriter {
  const n = parseValue(value);
  if (direction !== 'r' && direction !== 'w') throw invalidArgValue('direction', direction, "must be 'r' or 'w'");
  const key = String(n);
  const prior = adopted.get(key)?.deref();
  if (prior && !prior.closed) {
    throw new PipeError({ code: 'EBUSY', syscall: 'adoptEnd', message: `EBUSY: ${key} was already adopted by this process, and that end is still open` });
  }
  // Ownership: from here the end owns the value (the fd, and on Windows the HANDLE the fd owns).
  const { backend, raw }: { backend: Backend; raw: RawEnd } = host.adopt(n, direction);
  const end = direction === 'r' ? new PipeReader(backend, raw) : new PipeWriter(backend, raw);
  for (const [k, ref] of adopted) if (ref.deref()?.closed !== false) adopted.delete(k);
  adopted.set(key, new WeakRef(end));
  return end;
}

/** The value as a bigint, checked for type and range (Windows: a NULL handle is not one). */
function parseValue(value: unknown): bigint {
  const min = host.minAdoptValue;
  const range = `>= ${min} && <= ${MAX_VALUE}`;
  let n: bigint;
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw outOfRange('value', 'an integer', value);
    n = BigInt(value);
  } else if (typeof value === 'bigint') {
    n = value;
  } else if (typeof value === 'string') {
    // The decimal form only (GetClientHandleAsString, spawnWithHandles' values): "0x10", " 3" or
    // "3.0" are more likely a mistake than a handle.
    if (!/^[0-9]{1,20}$/.test(value)) throw invalidArgValue('value', value, 'must be a decimal handle value or fd number');
    n = BigInt(value);
  } else {
    throw invalidArgType('value', 'of type number, bigint or string', value);
  }
  if (n < BigInt(min) || n > BigInt(MAX_VALUE)) throw outOfRange('value', range, typeof value === 'bigint' ? `${value}n` : value);
  return n;
}
