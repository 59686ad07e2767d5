/**
 * `spawnWithHandles`: give a child process pipe ends it can find by number, whatever it is written
 * in (a shell script, a C or .NET program that never looks at C-runtime descriptors above 2).
 *
 * - POSIX: each end goes into `stdio` after the others, so the child has it at a known fd
 *   (3, 4, ...). Node `dup2`s it into that child only; our descriptors are close-on-exec, so no
 *   other child gets them.
 * - Windows: the child gets an inheritable duplicate of the HANDLE and its value (decimal, as
 *   .NET's `GetClientHandleAsString` gives it) to put on its command line. libuv starts every child
 *   with `bInheritHandles=TRUE` and no handle list, so the duplicate exists only for the
 *   synchronous span of `child_process.spawn` and is closed right after. Limit: a child spawned
 *   from another thread (a worker) during that span also inherits it.
 *
 * Why not a CreateProcessW of our own with PROC_THREAD_ATTRIBUTE_HANDLE_LIST (which Wine 8 honours,
 * see scripts/probe-handle-list.mjs): the listed handles must be inheritable, so a concurrent libuv
 * spawn elsewhere in the process (no list) would inherit them anyway, and we would lose Node's
 * ChildProcess. Exact passing needs a handle that is never inheritable: a suspended child and a
 * DuplicateHandle into it.
 */
import { spawn, type ChildProcess, type SpawnOptions, type StdioOptions } from 'node:child_process';
import { fstatSync } from 'node:fs';
import { PipeError, closedError, fromNodeError, invalidArgType, invalidArgValue, win32Error } from './errors.js';
import { getOsfHandle } from './windows/crt.js';
import * as k32 from './windows/kernel32.js';

/** Something that has a descriptor of this process: a pipe end, a Connection, or an fd number. */
export type HandleSource = { readonly fd: number; readonly handle: bigint } | number;

/** Options for {@link spawnWithHandles}: Node's `spawn` options plus the handles to pass. */
export interface SpawnWithHandlesOptions extends SpawnOptions {
  /** The ends the child gets: `PipeReader` / `PipeWriter`, a `Connection`, or fd numbers. */
  handles: readonly HandleSource[];
}

/**
 * Spawns `command` so that it receives `options.handles`, and only it. `args` may be a function:
 * it is called with the value the child must use for each handle, in order (POSIX: the child's
 * fd number, which is not the parent's; Windows: the HANDLE value in decimal), and returns the
 * arguments.
 *
 * Close your own copy of an end after the spawn, as with `stdio`, so that end of file reaches the
 * reader when the child is done.
 *
 * @example
 * ```ts
 * import { createPipe, spawnWithHandles } from 'winpipe';
 * const { reader, writer } = createPipe();
 * const child = spawnWithHandles(
 *   process.platform === 'win32' ? 'writer.exe' : 'sh',
 *   ([w]) => (process.platform === 'win32' ? [w!, 'hello'] : ['-c', `printf hello >&${w}`]),
 *   { handles: [writer], stdio: 'inherit' },
 * );
 * writer.close();
 * console.log((await reader.read()).toString());   // hello
 * ```
 *
 * Platform notes: POSIX inheritance is exact. On Windows the handle is inheritable only while
 * `spawn` runs, on this thread; a child spawned by a worker thread at that moment also inherits it.
 * The child gets the end as it is: a `createPipe` end is a synchronous handle (plain
 * `ReadFile`/`WriteFile` work); a channel `Connection` end is overlapped.
 * @throws TypeError for bad arguments; PipeError `ERR_PIPE_CLOSED` for a closed end, or the OS
 * error of making the inheritable duplicate (Windows).
 */
export function spawnWithHandles(
  command: string,
  args: readonly string[] | ((values: string[]) => readonly string[]),
  options: SpawnWithHandlesOptions,
): ChildProcess {
  if (typeof command !== 'string') throw invalidArgType('command', 'of type string', command);
  if (typeof args !== 'function') validateArgs(args, 'args');
  if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options);
  const { handles, ...spawnOptions } = options;
  if (!Array.isArray(handles) || handles.length === 0) throw invalidArgValue('options.handles', handles, 'must be a non-empty array');
  const { stdio } = spawnOptions;
  if (stdio !== undefined && typeof stdio !== 'string' && !Array.isArray(stdio)) throw invalidArgType('options.stdio', 'of type string or an instance of Array', stdio);
  handles.forEach(validateSource);
  return process.platform === 'win32' ? spawnWindows(command, args, handles, spawnOptions) : spawnPosix(command, args, handles, spawnOptions);
}

/**
 * The arguments, each a string: Node would turn a symbol into an untyped TypeError and call an
 * object's own toString.
 */
function validateArgs(args: unknown, name: string): asserts args is readonly string[] {
  if (!Array.isArray(args)) throw invalidArgType(name, 'an instance of Array or a function', args);
  args.forEach((a: unknown, i) => {
    if (typeof a !== 'string') throw invalidArgType(`${name}[${i}]`, 'of type string', a);
  });
}

/**
 * A descriptor the child can be given: an integer fd of this process. Node's `stdio` truncates
 * anything else to an int (1.5 and NaN become 1 and 0, 2 ** 32 becomes 0), which would hand the
 * child another descriptor than the one meant.
 */
function validateSource(h: unknown, i: number): void {
  const name = `options.handles[${i}]`;
  const isFd = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 0x7fff_ffff;
  if (typeof h === 'number') {
    if (!isFd(h)) throw invalidArgValue(name, h, 'must be a file descriptor (an integer >= 0 and < 2 ** 31)');
    return;
  }
  if (h === null || typeof h !== 'object' || typeof (h as { fd?: unknown }).fd !== 'number') {
    throw invalidArgType(name, 'a pipe end, a Connection or a file descriptor', h);
  }
  const { fd, handle } = h as { fd: number; handle?: unknown };
  // A closed end (pipe end or Connection) reports fd -1.
  if (fd === -1) throw closedError('spawnWithHandles');
  if (!isFd(fd)) throw invalidArgValue(`${name}.fd`, fd, 'must be a file descriptor (an integer >= 0 and < 2 ** 31)');
  if (process.platform === 'win32' && typeof handle !== 'bigint') throw invalidArgType(`${name}.handle`, 'of type bigint', handle);
}

function fdOf(h: HandleSource): number {
  return typeof h === 'number' ? h : h.fd;
}

function resolveArgs(args: readonly string[] | ((values: string[]) => readonly string[]), values: string[]): string[] {
  const out: unknown = typeof args === 'function' ? args(values) : args;
  validateArgs(out, typeof args === 'function' ? 'args()' : 'args');
  return [...out];
}

/** `stdio` as an array of at least three entries, as Node normalizes it. */
function stdioArray(stdio: StdioOptions | undefined): unknown[] {
  if (stdio === undefined) return ['pipe', 'pipe', 'pipe'];
  if (typeof stdio === 'string') return [stdio, stdio, stdio];
  const arr = [...stdio];
  while (arr.length < 3) arr.push(undefined);
  return arr;
}

function spawnPosix(command: string, args: readonly string[] | ((v: string[]) => readonly string[]), handles: readonly HandleSource[], options: SpawnOptions): ChildProcess {
  const stdio = stdioArray(options.stdio);
  const first = stdio.length;
  // Node dup2()s stdio[i] to fd i in the child, and only there: the child-side number is the index.
  const values = handles.map((_, i) => String(first + i));
  for (const h of handles) {
    const fd = fdOf(h);
    // A descriptor that is not open would fail only in the child, after the fork, as an untyped
    // spawn error: refuse it here, as the Windows side does.
    try {
      fstatSync(fd);
    } catch (err) {
      throw fromNodeError(err, 'spawnWithHandles');
    }
    stdio.push(fd);
  }
  return spawn(command, resolveArgs(args, values), { ...options, stdio: stdio as StdioOptions });
}

function spawnWindows(command: string, args: readonly string[] | ((v: string[]) => readonly string[]), handles: readonly HandleSource[], options: SpawnOptions): ChildProcess {
  const self = k32.GetCurrentProcess();
  const dups: k32.HANDLE[] = [];
  try {
    for (const h of handles) {
      const source = typeof h === 'number' ? getOsfHandle(h) : h.handle;
      if (source === k32.INVALID_HANDLE_VALUE || source < 0n) throw new PipeError({ code: 'EBADF', syscall: 'spawnWithHandles', message: `EBADF: fd ${fdOf(h)} is not open` });
      const out: k32.Out<k32.HANDLE> = [0n];
      // A fresh inheritable duplicate: the caller's handle keeps its own (non-inheritable) flags.
      if (!k32.DuplicateHandle(self, source, self, out, 0, true, k32.DUPLICATE_SAME_ACCESS)) throw win32Error(k32.GetLastError(), 'DuplicateHandle');
      dups.push(out[0]);
    }
    // Inherited handles keep their value in the child: this is the number it must use.
    const values = dups.map((d) => d.toString());
    // libuv's CreateProcessW (bInheritHandles=TRUE) runs inside this call; the child gets its own
    // copies of the duplicates, ours close right after.
    return spawn(command, resolveArgs(args, values), options);
  } finally {
    // Ownership: the duplicates were ours only to be inherited; the child holds its own copies now.
    for (const d of dups) k32.CloseHandle(d);
  }
}
