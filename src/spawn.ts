/**
 * `spawnWithHandles`: give a child process pipe ends it can find by number, whatever it is written
 * in (a shell script, a C or .NET program that never looks at C-runtime descriptors above 2).
 *
 * - POSIX: each end goes into `stdio` after the others, so the child has it at a known fd
 *   (3, 4, ...). Node `dup2`s it into that child only; our descriptors are close-on-exec, so no
 *   other child gets them.
 * - Windows: winpipe creates the child itself (src/windows/spawn.ts): `CreateProcessW` with a
 *   handle list naming only the child's stdio and the handles given, and a short-lived suspended
 *   broker process as the child's parent, which holds the inheritable copies. This process never
 *   holds an inheritable handle, so no other child (a worker's `spawn`, an addon's) can get one,
 *   and a libuv that passes its own handle list changes nothing. The price: a subset of `spawn`'s
 *   options, and a `ChildProcess`-like object instead of Node's.
 */
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { closedError, invalidArgType, invalidArgValue } from './errors.js';
import type { EventEmitter } from 'node:events';
import { host } from './platform.js';

/** Something that has a descriptor of this process: a pipe end, a Connection, or an fd number. */
export type HandleSource = { readonly fd: number; readonly handle: bigint } | number;

/**
 * The child {@link spawnWithHandles} returns: Node's `ChildProcess` on POSIX; on Windows an
 * object with the same members and events (`stdin`, `stdout`, `stderr` are streams for `'pipe'`
 * slots, else null).
 *
 * @example
 * ```ts
 * const child: HandleChild = spawnWithHandles(cmd, args, { handles: [writer], stdio: 'inherit' });
 * child.on('exit', (code, signal) => console.log(code, signal));
 * ```
 */
export interface HandleChild extends EventEmitter {
  readonly pid?: number | undefined;
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | null;
  readonly killed: boolean;
  readonly spawnfile: string;
  readonly spawnargs: string[];
  readonly stdin: ChildProcess['stdin'];
  readonly stdout: ChildProcess['stdout'];
  readonly stderr: ChildProcess['stderr'];
  kill(signal?: NodeJS.Signals | number): boolean;
  ref(): void;
  unref(): void;
}

/** Options for {@link spawnWithHandles}: Node's `spawn` options plus the handles to pass. */
export interface SpawnWithHandlesOptions extends SpawnOptions {
  /** The ends the child gets: `PipeReader` / `PipeWriter`, a `Connection`, or fd numbers. */
  handles: readonly HandleSource[];
  /**
   * The child ends when this process ends, however it ends (a crash, SIGKILL, `TerminateProcess`).
   * Default `false`: the child outlives us.
   *
   * - Windows: the child is in a job with `JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE` from its creation.
   *   Its own children are in it too, and end with it, unless one is started with
   *   `CREATE_BREAKAWAY_FROM_JOB` (the job allows that, as libuv's does).
   * - Linux: `PR_SET_PDEATHSIG` = SIGKILL, through util-linux `setpriv` and `sh` (which ends the
   *   child at once if we died before the kernel was asked). The parent the kernel watches is the
   *   thread that spawned: spawned from a worker thread, the child ends with that worker. Only the
   *   child: its own children live on. `options.argv0` cannot be combined with it
   *   (`ERR_INVALID_ARG_VALUE`).
   * - macOS, and Linux without `setpriv`: best effort. A watcher process, started right after the
   *   child, sends it SIGKILL when it reads end of file on a pipe only we hold. A death of ours
   *   between the two spawns, or a killed watcher, leaves the child alone. Only the child.
   */
  killOnClose?: boolean;
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
 * Platform notes: exact on both. POSIX: Node's `spawn`, every option, a real `ChildProcess`.
 * Windows: winpipe's own `CreateProcessW` (see the module notes). Supported options there:
 * `cwd`, `env`, `argv0`, `stdio` (`'pipe'`, `'ignore'`, `'inherit'`, `null`, or your own
 * ends/fds, for slots 0-2; later slots only `'ignore'`), `windowsHide`, `windowsVerbatimArguments`,
 * `killOnClose`. The child's side, in Node: `adoptEnd`.
 * `detached`, `shell`, `uid`, `gid`, `serialization`, `timeout`, `killSignal`, `signal`, `'ipc'`
 * and `'overlapped'` throw `ERR_INVALID_ARG_VALUE`. `.bat`/`.cmd` throw `EINVAL` (no shell). A missing
 * program is an `'error'` (`ENOENT`) then `'close'`, as in Node. The child is not put in libuv's
 * kill-on-close job: it outlives this process unless you kill it, or pass `killOnClose: true`
 * (see {@link SpawnWithHandlesOptions.killOnClose}). The child gets the end as it
 * is: a `createPipe` end is a synchronous handle (plain `ReadFile`/`WriteFile`); a channel
 * `Connection` end is overlapped.
 * @throws TypeError for bad arguments; PipeError `ERR_PIPE_CLOSED` for a closed end, `EBADF` for
 * an fd that is not open, `EINVAL` for a batch file (Windows).
 */
export function spawnWithHandles(command: string, args: readonly string[] | ((values: string[]) => readonly string[]), options: SpawnWithHandlesOptions): HandleChild {
  if (typeof command !== 'string') throw invalidArgType('command', 'of type string', command);
  if (typeof args !== 'function') validateArgs(args, 'args');
  if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options);
  const { handles, killOnClose, ...spawnOptions } = options;
  if (!Array.isArray(handles) || handles.length === 0) throw invalidArgValue('options.handles', handles, 'must be a non-empty array');
  if (killOnClose !== undefined && typeof killOnClose !== 'boolean') throw invalidArgType('options.killOnClose', 'of type boolean', killOnClose);
  const { stdio } = spawnOptions;
  if (stdio !== undefined && typeof stdio !== 'string' && !Array.isArray(stdio)) throw invalidArgType('options.stdio', 'of type string or an instance of Array', stdio);
  handles.forEach(validateSource);
  return host.spawn({
    command,
    given: typeof args === 'function' ? undefined : args,
    args: (values) => resolveArgs(args, values),
    handles,
    options: spawnOptions as Record<string, unknown>,
    killOnClose,
  });
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
  if (host.spawnNeedsHandle && typeof handle !== 'bigint') throw invalidArgType(`${name}.handle`, 'of type bigint', handle);
}

function resolveArgs(args: readonly string[] | ((values: string[]) => readonly string[]), values: string[]): string[] {
  const out: unknown = typeof args === 'function' ? args(values) : args;
  validateArgs(out, typeof args === 'function' ? 'args()' : 'args');
  return [...out];
}
