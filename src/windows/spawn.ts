/**
 * Windows `spawnWithHandles`: the child is created here, with `CreateProcessW` and a
 * `STARTUPINFOEXW` whose attribute list names exactly the handles it may inherit, through a
 * broker so that this process never holds an inheritable handle.
 *
 * The broker (scripts/lab/probe-broker.mjs): a suspended, never-resumed process of the same program,
 * created with no inheritance. The child's stdio and the handles given are duplicated
 * (inheritable) into the broker, and the child is created with
 * `PROC_THREAD_ATTRIBUTE_PARENT_PROCESS` = the broker and `PROC_THREAD_ATTRIBUTE_HANDLE_LIST` =
 * the broker's copies. The broker is then terminated, which closes its copies. A concurrent
 * `CreateProcessW(bInheritHandles=TRUE)` elsewhere in this process (libuv on another thread, an
 * addon) finds nothing of ours to inherit, and a libuv that passes its own handle list changes
 * nothing here.
 *
 * Like libuv's `uv_spawn`: MSVC-runtime quoting of the command line, a sorted Unicode
 * environment block, a PATH search (the cwd, then PATH; `.com`, `.exe`), `.bat`/`.cmd` refused
 * (CVE-2024-27980), `windowsHide` (the program, command line and environment block in
 * src/windows/command.ts). The exit wait is one registered wait on the process handle
 * (src/windows/overlapped.ts), never a pool thread.
 */
import { EventEmitter } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { constants as osConstants } from 'node:os';
import { resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';
import { PipeError, invalidArgType, invalidArgValue, win32Error } from '../errors.js';
import { createPipeWith, type Pipe } from '../pipe.js';
import { windowsBackend } from './pipe.js';
import { getOsfHandle } from './crt.js';
import * as k32 from './kernel32.js';
import { ObjectWait } from './overlapped.js';
import { commandLine, environmentBlock, envPath, isDirectory, quoteArg, searchPath } from './command.js';

/** A stdio entry or a handle to pass, as the caller gave it. */
type Source = { readonly fd: number; readonly handle?: bigint } | number;

/**
 * The `spawn` options this implementation honours; {@link UNSUPPORTED_OPTIONS} must be absent
 * (or false).
 */
export const SUPPORTED_OPTIONS = ['cwd', 'env', 'argv0', 'stdio', 'windowsHide', 'windowsVerbatimArguments', 'killOnClose'] as const;
/** `spawn` options refused with ERR_INVALID_ARG_VALUE rather than silently ignored. */
const UNSUPPORTED_OPTIONS = ['detached', 'shell', 'uid', 'gid', 'serialization', 'timeout', 'killSignal', 'signal'] as const;

/** Node's (libuv's) errno for ENOENT on Windows, which `exitCode` carries after a failed spawn, as Node's does. */
const UV_ENOENT = -4058;

/**
 * The child `spawnWithHandles` returns on Windows: the part of Node's `ChildProcess` its users
 * rely on. Events: `'spawn'`, `'exit'` (code, signal), `'close'` (code,
 * signal), `'error'`.
 */
export class WindowsChild extends EventEmitter {
  /** The process id, once spawned; undefined if the spawn failed. */
  pid: number | undefined = undefined;
  /** The exit code, once exited by itself (null if killed or still running). */
  exitCode: number | null = null;
  /** The signal given to {@link WindowsChild.kill} that ended it, once exited. */
  signalCode: NodeJS.Signals | null = null;
  /** True once {@link WindowsChild.kill} succeeded. */
  killed = false;
  readonly spawnfile: string;
  readonly spawnargs: string[];
  /** The parent's end of a `'pipe'` stdin, else null. */
  stdin: Writable | null = null;
  /** The parent's end of a `'pipe'` stdout, else null. */
  stdout: Readable | null = null;
  /** The parent's end of a `'pipe'` stderr, else null. */
  stderr: Readable | null = null;
  readonly connected = false;
  #openStreams = 0;
  #hasExited = false;
  #process: k32.HANDLE = 0n;
  #wait: ObjectWait | undefined;
  #refed = true;
  #killSignal: NodeJS.Signals | undefined;

  /** @internal */
  constructor(file: string, args: string[]) {
    super();
    this.spawnfile = file;
    this.spawnargs = args;
  }

  /** `[stdin, stdout, stderr]`, as Node's. */
  get stdio(): [Writable | null, Readable | null, Readable | null] {
    return [this.stdin, this.stdout, this.stderr];
  }

  /** @internal The parent's `'pipe'` ends; 'close' waits for them to close, as Node's does. */
  streams(streams: (Readable | Writable | null)[]): void {
    [this.stdin, this.stdout, this.stderr] = streams as [Writable | null, Readable | null, Readable | null];
    for (const st of streams) {
      if (!st) continue;
      this.#openStreams++;
      st.once('close', () => {
        this.#openStreams--;
        this.#maybeClose();
      });
    }
  }

  #maybeClose(): void {
    if (this.#hasExited && this.#openStreams === 0) process.nextTick(() => this.emit('close', this.exitCode, this.signalCode));
  }

  /** @internal Ownership: takes `process`, closed once the exit was seen. */
  started(pid: number, process: k32.HANDLE): void {
    this.pid = pid;
    this.#process = process;
    try {
      this.#wait = new ObjectWait(process, () => this.#exited());
    } catch (err) {
      // No way to hear of its exit (resource exhaustion): end it rather than leave it unwatched.
      k32.TerminateProcess(process, 1);
      k32.CloseHandle(process);
      this.#process = 0n;
      throw err;
    }
    this.#wait.ref(this.#refed);
    queueMicrotask(() => this.emit('spawn'));
  }

  /** @internal The spawn failed: 'error', then 'close', asynchronously, as Node does. */
  failed(err: PipeError): void {
    this.exitCode = err.errno ?? UV_ENOENT;
    process.nextTick(() => {
      this.emit('error', err);
      this.emit('close', this.exitCode, null);
    });
  }

  /**
   * Ends the child with `TerminateProcess` (exit code 1), as libuv does for SIGTERM, SIGKILL,
   * SIGINT and SIGQUIT; signal 0 only tells whether it still runs. Returns false if it already
   * exited. Other signals throw `ENOSYS`, unknown names `ERR_UNKNOWN_SIGNAL`.
   */
  kill(signal: NodeJS.Signals | number = 'SIGTERM'): boolean {
    const name = signalName(signal);
    if (!this.#process) return false;
    if (name === 0) return true;
    if (!['SIGTERM', 'SIGKILL', 'SIGINT', 'SIGQUIT'].includes(name)) throw new PipeError({ code: 'ENOSYS', syscall: 'kill' });
    if (!k32.TerminateProcess(this.#process, 1)) {
      const e = k32.GetLastError();
      // Access denied after exit: it is gone, as ESRCH.
      const code: [number] = [0];
      if (k32.GetExitCodeProcess(this.#process, code) && code[0] !== k32.STILL_ACTIVE) return false;
      throw win32Error(e, 'kill');
    }
    this.killed = true;
    this.#killSignal ??= name;
    return true;
  }

  /** Lets the event loop exit while the child runs (its exit is then not reported). */
  unref(): this {
    this.#refed = false;
    this.#wait?.ref(false);
    return this;
  }

  /** Undoes {@link WindowsChild.unref}. */
  ref(): this {
    this.#refed = true;
    this.#wait?.ref(true);
    return this;
  }

  #exited(): void {
    const code: [number] = [0];
    const ok = k32.GetExitCodeProcess(this.#process, code);
    // Ownership: the process handle was ours from CreateProcessW; the wait is done with it.
    k32.CloseHandle(this.#process);
    this.#process = 0n;
    this.#wait = undefined;
    if (this.#killSignal) this.signalCode = this.#killSignal;
    else this.exitCode = ok ? code[0]! : null;
    this.#hasExited = true;
    this.emit('exit', this.exitCode, this.signalCode);
    this.#maybeClose();
  }
}

function signalName(signal: unknown): NodeJS.Signals | 0 {
  if (signal === 0) return 0;
  const signals = osConstants.signals as Record<string, number>;
  if (typeof signal === 'number') {
    const name = Object.keys(signals).find((k) => signals[k] === signal);
    if (name) return name as NodeJS.Signals;
  } else if (typeof signal === 'string' && signal in signals) {
    return signal as NodeJS.Signals;
  }
  throw Object.assign(new TypeError(`Unknown signal: ${String(signal)}`), { code: 'ERR_UNKNOWN_SIGNAL' });
}

// --- what the caller asked for, checked before any system call ---------------------------------------

/** One stdio slot: a handle of ours to give, or none. */
type Slot = { kind: 'handle'; handle: k32.HANDLE } | { kind: 'ignore' } | { kind: 'inherit'; std: number } | { kind: 'pipe' };

/** Refuses the `spawn` options this path does not implement, rather than ignoring them. */
export function validateOptions(options: Record<string, unknown>): void {
  for (const key of UNSUPPORTED_OPTIONS) {
    const v = options[key];
    if (v !== undefined && v !== false) {
      throw invalidArgValue(`options.${key}`, v, `is not supported by spawnWithHandles on Windows (supported: ${SUPPORTED_OPTIONS.join(', ')})`);
    }
  }
  if (options.cwd !== undefined && typeof options.cwd !== 'string' && !(options.cwd instanceof URL)) throw invalidArgType('options.cwd', 'of type string or an instance of URL', options.cwd);
  if (options.env !== undefined && (options.env === null || typeof options.env !== 'object')) throw invalidArgType('options.env', 'of type object', options.env);
  if (options.argv0 !== undefined && typeof options.argv0 !== 'string') throw invalidArgType('options.argv0', 'of type string', options.argv0);
  for (const key of ['windowsHide', 'windowsVerbatimArguments'] as const) {
    if (options[key] !== undefined && typeof options[key] !== 'boolean') throw invalidArgType(`options.${key}`, 'of type boolean', options[key]);
  }
  stdioSlots(options.stdio);
}

/** A NUL would cut the string short in the command line or the environment block: Node refuses it too. */
export function noNulls(name: string, value: string): void {
  if (value.includes('\0')) throw invalidArgValue(name, value, 'must be a string without null bytes');
}

/** `stdio` as three slots. Entries past 2 may only be 'ignore' (the C-runtime's fd table is not passed). */
function stdioSlots(stdio: unknown): Slot[] {
  const arr: unknown[] = typeof stdio === 'string' ? [stdio, stdio, stdio] : Array.isArray(stdio) ? [...stdio] : stdio === undefined ? ['pipe', 'pipe', 'pipe'] : [];
  while (arr.length < 3) arr.push(undefined);
  const slots: Slot[] = [];
  arr.forEach((entry, i) => {
    const name = `options.stdio[${i}]`;
    const reason = "is not supported by spawnWithHandles on Windows: pass 'pipe', 'ignore', 'inherit', a pipe end or an fd";
    if (i >= 3) {
      if (entry === 'ignore' || entry === undefined || entry === null) return;
      throw invalidArgValue(name, entry, 'is not supported by spawnWithHandles on Windows: slots after 2 may only be ignored (pass extra ends in options.handles)');
    }
    if (entry === 'pipe' || entry === undefined) slots.push({ kind: 'pipe' });
    else if (entry === 'ignore' || entry === null) slots.push({ kind: 'ignore' });
    else if (entry === 'inherit') slots.push({ kind: 'inherit', std: [k32.STD_INPUT_HANDLE, k32.STD_OUTPUT_HANDLE, k32.STD_ERROR_HANDLE][i]! });
    else if (typeof entry === 'number' || (entry !== null && typeof entry === 'object' && typeof (entry as { fd?: unknown }).fd === 'number')) {
      slots.push({ kind: 'handle', handle: handleOf(entry as Source, name) });
    } else throw invalidArgValue(name, entry, reason);
  });
  return slots;
}

/** The HANDLE behind a pipe end, a Connection or an fd number of this process. */
export function handleOf(source: Source, name: string): k32.HANDLE {
  const fd = typeof source === 'number' ? source : source.fd;
  if (!Number.isInteger(fd) || fd < 0) throw invalidArgValue(name, source, 'must be a file descriptor or a pipe end');
  const h = typeof source === 'object' && typeof source.handle === 'bigint' ? source.handle : getOsfHandle(fd);
  if (h === k32.INVALID_HANDLE_VALUE || h <= 0n) throw new PipeError({ code: 'EBADF', syscall: 'spawnWithHandles', message: `EBADF: fd ${fd} is not open` });
  return h;
}

// --- the spawn ------------------------------------------------------------------------------------

/** What {@link spawnWindowsChild} needs, validated. */
export interface WindowsSpawnRequest {
  command: string;
  /** Called with the value of each handle in the child; returns the arguments. */
  args: (values: string[]) => string[];
  handles: readonly Source[];
  options: Record<string, unknown>;
}

const self = (): k32.HANDLE => k32.GetCurrentProcess();

/**
 * Creates the child. Throws (synchronously, before any handle exists) for bad input and for
 * `.bat`/`.cmd` (`EINVAL`, as Node); a program that is not there, or a `CreateProcessW` that
 * fails, is reported as `'error'` then `'close'`, as Node does, with nothing left open.
 */
export function spawnWindowsChild(req: WindowsSpawnRequest): WindowsChild {
  const { command, options } = req;
  validateOptions(options);
  noNulls('file', command);
  if (typeof options.argv0 === 'string') noNulls('options.argv0', options.argv0);
  if (typeof options.cwd === 'string') noNulls('options.cwd', options.cwd);
  if (options.env) for (const [k, v] of Object.entries(options.env as object)) noNulls(`options.env['${k}']`, `${k}${v === undefined ? '' : String(v)}`);
  const slots = stdioSlots(options.stdio);
  const handles = req.handles.map((h, i) => handleOf(h, `options.handles[${i}]`));
  const cwd = options.cwd === undefined ? process.cwd() : resolvePath(options.cwd instanceof URL ? fileURLToPath(options.cwd) : (options.cwd as string));
  const env = (options.env as Record<string, string | undefined> | undefined) ?? process.env;
  const hide = options.windowsHide === true;
  const program = searchPath(command, cwd, envPath(env));
  if (program !== undefined && /\.(bat|cmd)$/i.test(program)) {
    // Node refuses these without a shell since 20.12.2: cmd.exe would reparse the arguments.
    throw new PipeError({ code: 'EINVAL', syscall: 'spawn', path: command, message: `spawn EINVAL: ${command} is a batch file; run it through cmd.exe yourself (spawnWithHandles has no shell)` });
  }
  const argv0 = (options.argv0 as string | undefined) ?? command;
  // A missing cwd is ENOENT too, as libuv reports ERROR_DIRECTORY; checked before any handle exists.
  if (program === undefined || !isDirectory(cwd)) {
    // No child will exist, so no child's handle values either; an argument function still runs,
    // on this process's values, so that a bad result throws here as it does on POSIX (where the
    // values are known up front), before the ENOENT that follows.
    req.args(handles.map((h) => h.toString()));
    const child = new WindowsChild(command, [argv0]);
    child.failed(new PipeError({ code: 'ENOENT', syscall: `spawn ${command}`, path: command }));
    return child;
  }

  const killOnClose = options.killOnClose === true;
  const broker = createProcess(program, quoteArg(program), k32.CREATE_SUSPENDED | k32.CREATE_NO_WINDOW, null, null, null, false);
  if ('error' in broker) {
    const child = new WindowsChild(command, [argv0]);
    child.failed(win32Error(broker.error, `spawn ${command}`, command));
    return child;
  }
  // Ownership: the broker's thread handle is never needed.
  k32.CloseHandle(broker.thread);
  let list: bigint | undefined;
  const allocs: bigint[] = [];
  // 'pipe' slots: a createPipe each; the child's end goes to the broker, ours becomes a stream.
  // Ownership: both ends are ours; the child's end is closed once the child has its copy (finally).
  const pipes: (Pipe | undefined)[] = [];
  let spawned = false;
  try {
    // The broker joins the job first: the child, created with the broker as its parent, is then
    // in the job from its creation (a child inherits its attribute parent's job), and a spawn cut
    // short by our death takes the never-resumed broker with it.
    const job = killOnClose ? killOnCloseJob() : undefined;
    if (job !== undefined && !k32.AssignProcessToJobObject(job, broker.process)) {
      const child = new WindowsChild(command, [argv0]);
      child.failed(win32Error(k32.GetLastError(), 'AssignProcessToJobObject', command));
      return child;
    }
    for (const slot of slots) pipes.push(slot.kind === 'pipe' ? createPipeWith(windowsBackend) : undefined);
    // Ownership: every copy made in the broker below is the broker's; terminating it (finally)
    // closes them all. Ours (the caller's handles, the NUL file) stay ours.
    const toBroker = (h: k32.HANDLE): k32.HANDLE => {
      const out: k32.Out<k32.HANDLE> = [0n];
      if (!k32.DuplicateHandle(self(), h, broker.process, out, 0, true, k32.DUPLICATE_SAME_ACCESS)) throw win32Error(k32.GetLastError(), 'DuplicateHandle');
      return out[0];
    };
    const std = slots.map((slot, i): k32.HANDLE => {
      if (slot.kind === 'handle') return toBroker(slot.handle);
      if (slot.kind === 'pipe') return toBroker((i === 0 ? pipes[i]!.reader : pipes[i]!.writer).handle);
      if (slot.kind === 'inherit') {
        const h = k32.GetStdHandle(slot.std);
        if (h === 0n || h === k32.INVALID_HANDLE_VALUE) return 0n;
        // A process started without a console and with 'ignore' slots (windowsHide, under Wine at
        // least) can hold a std handle value that is not a handle: as libuv does for stdio it
        // inherits, pass none rather than fail the spawn (ERROR_INVALID_HANDLE).
        const out: k32.Out<k32.HANDLE> = [0n];
        if (!k32.DuplicateHandle(self(), h, broker.process, out, 0, true, k32.DUPLICATE_SAME_ACCESS)) {
          const e = k32.GetLastError();
          if (e === 6) return 0n;
          throw win32Error(e, 'DuplicateHandle');
        }
        return out[0];
      }
      // 'ignore': the NUL device, as libuv gives.
      const nul = k32.CreateFileW('NUL', k32.GENERIC_READ | k32.GENERIC_WRITE, k32.FILE_SHARE_READ | k32.FILE_SHARE_WRITE, null, k32.OPEN_EXISTING, 0, null);
      if (nul === k32.INVALID_HANDLE_VALUE) throw win32Error(k32.GetLastError(), 'CreateFileW', 'NUL');
      try {
        return toBroker(nul);
      } finally {
        // Ownership: ours only to be duplicated into the broker.
        k32.CloseHandle(nul);
      }
    });
    const passed = handles.map(toBroker);
    // The child inherits each listed handle at the broker's value: the number it must use.
    const args = req.args(passed.map((h) => h.toString()));
    args.forEach((a, i) => noNulls(`args[${i}]`, a));
    const listed = [...std.filter((h) => h !== 0n), ...passed];

    const size: [bigint] = [0n];
    k32.InitializeProcThreadAttributeList(null, 2, 0, size);
    const mem = koffi.alloc('uint8_t', Number(size[0])) as bigint;
    allocs.push(mem);
    if (!k32.InitializeProcThreadAttributeList(mem, 2, 0, size)) throw win32Error(k32.GetLastError(), 'InitializeProcThreadAttributeList');
    list = mem;
    const parent = koffi.alloc('uint8_t', 8) as bigint;
    allocs.push(parent);
    new DataView(koffi.view(parent, 8)).setBigUint64(0, broker.process, true);
    if (!k32.UpdateProcThreadAttribute(list, 0, k32.PROC_THREAD_ATTRIBUTE_PARENT_PROCESS, parent, 8n, null, null)) throw win32Error(k32.GetLastError(), 'UpdateProcThreadAttribute');
    const array = koffi.alloc('uint8_t', 8 * listed.length) as bigint;
    allocs.push(array);
    const view = new DataView(koffi.view(array, 8 * listed.length));
    listed.forEach((h, i) => view.setBigUint64(8 * i, h, true));
    if (!k32.UpdateProcThreadAttribute(list, 0, k32.PROC_THREAD_ATTRIBUTE_HANDLE_LIST, array, BigInt(8 * listed.length), null, null)) throw win32Error(k32.GetLastError(), 'UpdateProcThreadAttribute');

    // Decided before the one CreateProcessW, never by retrying one that failed: see brokerCannotShareConsole.
    const noWindow = hide || brokerCannotShareConsole();
    // killOnClose: suspended until it is seen in the job, so it never runs outside it.
    const flags = k32.CREATE_UNICODE_ENVIRONMENT | (noWindow ? k32.CREATE_NO_WINDOW : 0) | (job !== undefined ? k32.CREATE_SUSPENDED : 0);
    const line = commandLine(argv0, args, options.windowsVerbatimArguments === true);
    const child = new WindowsChild(command, [argv0, ...args]);
    // Ownership: on failure nothing of the attempt is ours to close (the broker's copies go with it, in
    // finally); on success the process handle goes to the child, the thread handle is closed here.
    const made = createProcess(program, line, flags, environmentBlock(env), cwd, { std, list, hide }, true);
    if ('error' in made) {
      child.failed(win32Error(made.error, `spawn ${command}`, command));
      return child;
    }
    if (job !== undefined) {
      const error = enterJob(job, made);
      if (error !== undefined) {
        // Ownership: the child never ran; it ends here, and both its handles are closed.
        k32.TerminateProcess(made.process, 1);
        k32.CloseHandle(made.process);
        child.failed(error);
        return child;
      }
    } else {
      // Ownership: the thread handle is never needed.
      k32.CloseHandle(made.thread);
    }
    spawned = true;
    child.started(made.pid, made.process);
    child.streams(pipes.map((p, i) => (p ? (i === 0 ? p.writer.createWriteStream() : p.reader.createReadStream()) : null)));
    return child;
  } finally {
    pipes.forEach((p, i) => {
      if (!p) return;
      (i === 0 ? p.reader : p.writer).close();
      if (!spawned) (i === 0 ? p.writer : p.reader).close();
    });
    if (list !== undefined) k32.DeleteProcThreadAttributeList(list);
    for (const a of allocs) koffi.free(a);
    // Ownership: the broker never ran; ending it closes every copy it held for the child.
    k32.TerminateProcess(broker.process, 0);
    k32.CloseHandle(broker.process);
  }
}

let wine: boolean | undefined;

/**
 * True when a console child created with the broker as PROC_THREAD_ATTRIBUTE_PARENT_PROCESS
 * cannot share this process's console, so that it must be given one of its own
 * (`CREATE_NO_WINDOW`, as `windowsHide` gives) before CreateProcessW, not after a failure.
 *
 * Windows connects the child to its creator's console whatever the attribute parent (as seen in
 * FarGroup/FarManager#495): never there. Wine's server instead duplicates the creator's console
 * handle value (the PEB's `ConsoleHandle`) out of the attribute parent, where it is no handle, and
 * CreateProcessW fails with ERROR_INVALID_HANDLE whenever this process is attached to a console:
 * one started windowless (libuv's windowsHide gives `CREATE_NO_WINDOW`, hence a console without a
 * window) or from a terminal. That failure comes after the server has made the process and copied
 * the listed handles into it, and the half-made process, with no thread to end, outlives
 * TerminateProcess and every handle of ours: a pipe end given to the child then never reaches
 * end of file. So the attempt must not be made. A process with Wine's pseudo-console (started
 * from Unix without a terminal) or none passes no handle value, and its children start as asked.
 */
function brokerCannotShareConsole(): boolean {
  wine ??= k32.GetProcAddress(k32.GetModuleHandleW('ntdll.dll'), 'wine_get_version') !== 0n;
  return wine && k32.GetConsoleProcessList([0], 1) > 0;
}

type Created = { process: k32.HANDLE; thread: k32.HANDLE; pid: number } | { error: number };

let sharedJob: k32.HANDLE | undefined;

/**
 * The job `killOnClose` children go in: one for the process, made on first use and never closed,
 * so that it closes when this process ends, however it ends, and takes every process in it along
 * (`JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE`). Its handle is not inheritable: a child holding one would
 * keep the job open. `JOB_OBJECT_LIMIT_BREAKAWAY_OK` lets a descendant start a process outside the
 * job by asking (`CREATE_BREAKAWAY_FROM_JOB`); nothing leaves it silently.
 */
function killOnCloseJob(): k32.HANDLE {
  if (sharedJob !== undefined) return sharedJob;
  const made = k32.CreateJobObjectW(null, null);
  if (made === 0n) throw win32Error(k32.GetLastError(), 'CreateJobObjectW');
  const info = Buffer.alloc(k32.JOBOBJECT_EXTENDED_LIMIT_INFORMATION_SIZE);
  info.writeUInt32LE(k32.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE | k32.JOB_OBJECT_LIMIT_BREAKAWAY_OK, k32.JOB_LIMIT_FLAGS_OFFSET);
  if (!k32.SetInformationJobObject(made, k32.JobObjectExtendedLimitInformation, info, info.length)) {
    const e = k32.GetLastError();
    k32.CloseHandle(made);
    throw win32Error(e, 'SetInformationJobObject');
  }
  // Ownership: this process's, for its lifetime; the system closes it at exit.
  sharedJob = made;
  return made;
}

/** @internal The job of `killOnClose` children, once one was spawned (tests ask IsProcessInJob about it). */
export function killOnCloseJobHandle(): k32.HANDLE | undefined {
  return sharedJob;
}

/**
 * Puts a suspended child in `job` if it did not inherit it, then resumes it. Returns the error
 * that stops it from running, if any (the caller ends it).
 */
function enterJob(job: k32.HANDLE, made: { process: k32.HANDLE; thread: k32.HANDLE }): PipeError | undefined {
  const inside: k32.Out<number> = [0];
  try {
    if (!k32.IsProcessInJob(made.process, job, inside)) return win32Error(k32.GetLastError(), 'IsProcessInJob');
    if (inside[0] === 0 && !k32.AssignProcessToJobObject(job, made.process)) return win32Error(k32.GetLastError(), 'AssignProcessToJobObject');
    if (k32.ResumeThread(made.thread) === 0xffff_ffff) return win32Error(k32.GetLastError(), 'ResumeThread');
    return undefined;
  } finally {
    // Ownership: the thread handle was only needed to resume it.
    k32.CloseHandle(made.thread);
  }
}

/** One CreateProcessW; the process and thread handles are returned, both the caller's to close. */
function createProcess(
  program: string,
  line: string,
  flags: number,
  env: Buffer | null,
  cwd: string | null,
  ext: { std: k32.HANDLE[]; list: bigint; hide: boolean } | null,
  inherit: boolean,
): Created {
  const si = Buffer.alloc(ext ? k32.STARTUPINFOEXW_SIZE : k32.STARTUPINFOW_SIZE);
  si.writeUInt32LE(si.length, 0);
  if (ext) {
    // dwFlags at 60, wShowWindow at 64, hStdInput/Output/Error at 80/88/96, lpAttributeList at 104.
    si.writeUInt32LE(k32.STARTF_USESTDHANDLES | k32.STARTF_USESHOWWINDOW, 60);
    si.writeUInt16LE(ext.hide ? k32.SW_HIDE : k32.SW_SHOWDEFAULT, 64);
    ext.std.forEach((h, i) => si.writeBigUInt64LE(h, 80 + 8 * i));
    si.writeBigUInt64LE(ext.list, 104);
    flags |= k32.EXTENDED_STARTUPINFO_PRESENT;
  }
  const pi = Buffer.alloc(k32.PROCESS_INFORMATION_SIZE);
  if (!k32.CreateProcessW(program, Buffer.from(`${line}\0`, 'utf16le'), null, null, inherit, flags, env, cwd, si, pi)) return { error: k32.GetLastError() };
  return { process: pi.readBigUInt64LE(0), thread: pi.readBigUInt64LE(8), pid: pi.readUInt32LE(16) };
}
