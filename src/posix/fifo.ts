/**
 * FIFOs (named pipes in the filesystem, `mkfifo`), POSIX only: {@link createFifo} and
 * {@link openFifo}, which returns the same {@link PipeReader} / {@link PipeWriter} as `createPipe`.
 *
 * A blocking `open(2)` of a FIFO waits for the other side, and would block the event loop (or park
 * a libuv pool thread if done through `fs.open`). So both sides open with `O_NONBLOCK`, which never
 * blocks, and wait on a timer instead:
 *
 * - a writer gets `ENXIO` while no reader exists: retry until one does;
 * - a reader opens at once, but until a writer has come a read would report end of file: probe
 *   until one has (data waiting, a writer that came and went, or `read` answering `EAGAIN`, which
 *   means "writers exist, no data yet").
 *
 * Then `O_NONBLOCK` is cleared, so the end behaves like a normally opened one (synchronous calls
 * block, a child given the end sees a blocking descriptor).
 *
 * Only a FIFO is ever read or written, and only a trusted one (ours, root's, or a uid the caller
 * names; see trust.ts). Whoever can write to the FIFO's directory can put anything at the path, at
 * any moment: a symlink, another user's file, a terminal, a device whose open has effects. So
 * every check is made on a descriptor, never on the path alone (see {@link openChecked}).
 */
import { fstatSync, lstatSync, type BigIntStats } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { PipeReader } from '../reader.js';
import { PipeWriter } from '../writer.js';
import { PipeError, abortError, fromNodeError, invalidArgType, invalidArgValue, posixError } from '../errors.js';
import { resolveAllowServerUids } from '../options.js';
import { validateAbortSignal, validateBoolean, validateInteger, validateObject } from '../validate.js';
import * as libc from './libc.js';
import { RETRY, retry } from '../retry.js';
import { posixBackend } from './pipe.js';
import { checkFifoOwner } from './trust.js';

const { EAGAIN, EWOULDBLOCK, EINTR, ENOENT } = osConstants.errno;

/** Options for {@link createFifo}. */
export interface CreateFifoOptions {
  /** Permission bits, before the process umask. Default `0o600`: only the owner. */
  mode?: number;
}

/** Options for {@link openFifo}. */
export interface OpenFifoOptions {
  /** Stops waiting for the other side; the promise rejects with an `AbortError`. */
  signal?: AbortSignal;
  /**
   * Do not wait for the other side, as `open(path, O_NONBLOCK)` does: `'w'` fails at once with
   * `ENXIO` when no reader has the FIFO open; `'r'` opens at once (until a writer comes, reads see
   * end of file). The descriptor keeps `O_NONBLOCK`. Default `false`.
   */
  nonBlocking?: boolean;
  /**
   * POSIX: uids, besides ours and root, whose FIFOs this open may use. The FIFO's owner is read
   * from the opened descriptor (`fstat`) before a byte is read or written; any other owner fails
   * with `EACCES` and the descriptor is closed. This is the only way to use another user's FIFO.
   * Default `[]`. The same rule as `connect`'s `allowServerUids` for a server's uid (a FIFO has an
   * owner, not a server, hence the name). Windows: validated only.
   *
   * @example
   * ```ts
   * const reader = await openFifo('/srv/shared/events.fifo', 'r', { allowOwnerUids: [1001] });
   * ```
   */
  allowOwnerUids?: readonly number[];
}

function unsupported(syscall: string): PipeError {
  return new PipeError({
    code: 'ERR_UNSUPPORTED_PLATFORM',
    syscall,
    message: 'ERR_UNSUPPORTED_PLATFORM: FIFOs exist only on POSIX; on Windows use a named pipe (createServer / connect, or winpipe/connection)',
  });
}

function validatePath(path: unknown): asserts path is string {
  if (typeof path !== 'string') throw invalidArgType('path', 'of type string', path);
  if (path.length === 0) throw invalidArgValue('path', path, 'must not be empty');
  if (path.includes('\0')) throw invalidArgValue('path', path, 'must not contain NUL');
}

/**
 * Creates a FIFO at `path`, like Python's `os.mkfifo(path, mode)` (the process umask applies).
 *
 * @example
 * ```ts
 * import { createFifo, openFifo } from 'winpipe';
 * createFifo('/tmp/my.fifo');                       // mode 0o600
 * const reader = await openFifo('/tmp/my.fifo', 'r'); // waits for a writer, without blocking the loop
 * ```
 * Platform notes: POSIX only. On Windows it throws `ERR_UNSUPPORTED_PLATFORM`; use a named pipe.
 * @throws TypeError / RangeError for a bad path or mode; PipeError `EEXIST`, `ENOENT`, `EACCES`, ...
 */
export function createFifo(path: string, options?: CreateFifoOptions): void {
  validatePath(path);
  validateObject(options, 'options');
  const mode = options?.mode ?? 0o600;
  validateInteger(mode, 'options.mode', 0, 0o7777);
  if (process.platform === 'win32') throw unsupported('mkfifo');
  if (libc.mkfifo(path, mode) !== 0) throw posixError(libc.errno(), 'mkfifo', path);
}

/**
 * Opens a FIFO for reading (`'r'`, resolves with a {@link PipeReader}) or writing (`'w'`, a
 * {@link PipeWriter}). Like a blocking `open(2)` it waits for the other side, but without blocking
 * the event loop and without holding a thread-pool thread: the wait is a timer-driven retry.
 *
 * - `'r'` resolves once a writer has opened the FIFO; reads then end (0 / empty Buffer) when the
 *   last writer closes.
 * - `'w'` resolves once a reader has it open; with `nonBlocking: true` it rejects at once with
 *   `ENXIO` instead of waiting.
 * - Only a FIFO is used, and only one owned by our uid, root, or a uid in `allowOwnerUids`: a
 *   symlink as the last path component rejects with `ELOOP` (it is never followed), anything else
 *   that is not a FIFO with `EINVAL`, a FIFO of another owner with `EACCES`, a missing path with
 *   `ENOENT`. Nothing but that FIFO is ever read or written.
 *
 * The end is non-inheritable (`O_CLOEXEC`) and blocking, like `createPipe`'s ends.
 *
 * @example
 * ```ts
 * const writer = await openFifo('/tmp/my.fifo', 'w', { signal: AbortSignal.timeout(5000) });
 * writer.writeSync(Buffer.from('hello\n'));
 * writer.close();                                     // the reader sees end of file
 * ```
 * Platform notes: POSIX only. On Windows it rejects with `ERR_UNSUPPORTED_PLATFORM`. Linux: the
 * path is opened with `O_PATH | O_NOFOLLOW` (which opens nothing: no driver runs, nothing can be
 * read or written), checked with `fstat`, and only then is that same inode opened, through
 * `/proc/self/fd`: nothing else is ever opened. macOS and the BSDs (and Linux without `/proc`):
 * the path is checked with `lstat`, then opened `O_NONBLOCK | O_NOCTTY | O_NOFOLLOW` and checked
 * again with `fstat`; something swapped in between the two is closed at once, never read or
 * written (and, with `O_NOCTTY`, never made the controlling terminal).
 * @throws TypeError / RangeError for a bad path, mode or options (synchronously).
 */
export function openFifo(path: string, mode: 'r', options?: OpenFifoOptions): Promise<PipeReader>;
export function openFifo(path: string, mode: 'w', options?: OpenFifoOptions): Promise<PipeWriter>;
export function openFifo(path: string, mode: 'r' | 'w', options?: OpenFifoOptions): Promise<PipeReader | PipeWriter>;
export function openFifo(path: string, mode: 'r' | 'w', options?: OpenFifoOptions): Promise<PipeReader | PipeWriter> {
  validatePath(path);
  if (mode !== 'r' && mode !== 'w') throw invalidArgValue('mode', mode, "must be 'r' or 'w'");
  validateObject(options, 'options');
  const signal = options?.signal;
  validateAbortSignal(signal, 'options.signal');
  const nonBlocking = options?.nonBlocking ?? false;
  validateBoolean(nonBlocking, 'options.nonBlocking');
  const allowOwnerUids = resolveAllowServerUids(options?.allowOwnerUids, 'options.allowOwnerUids');
  if (process.platform === 'win32') return Promise.reject(unsupported('open'));
  if (signal?.aborted) return Promise.reject(abortError(signal));
  return mode === 'r' ? openReader(path, signal, nonBlocking, allowOwnerUids) : openWriter(path, signal, nonBlocking, allowOwnerUids);
}

/**
 * Throws unless `st` is a FIFO that `allowOwnerUids` (with our uid and root) trusts: `ELOOP` for a
 * symlink, `EINVAL` for anything else that is not a FIFO, `EACCES` for another owner.
 */
function checkFifo(st: BigIntStats, path: string, allowOwnerUids: readonly number[]): void {
  if (st.isSymbolicLink()) throw new PipeError({ code: 'ELOOP', syscall: 'open', path, message: `ELOOP: '${path}' is a symlink (a FIFO's path is never followed)` });
  if (!st.isFIFO()) throw new PipeError({ code: 'EINVAL', syscall: 'open', path, message: `EINVAL: '${path}' is not a FIFO` });
  checkFifoOwner(Number(st.uid), allowOwnerUids, path);
}

function fstatChecked(fd: number): BigIntStats {
  try {
    return fstatSync(fd, { bigint: true });
  } catch (err) {
    throw fromNodeError(err, 'fstat');
  }
}

/**
 * Linux: whether `/proc/self/fd` reopens work; false once `/proc` proved missing (a chroot or a
 * container without it), and always false where there is no `O_PATH`.
 */
let procReopen = libc.O_PATH !== 0;

/**
 * One non-blocking open of the FIFO at `path` for `access` (`O_RDONLY` / `O_WRONLY`), checked.
 * Returns the fd (`O_NONBLOCK`, `O_CLOEXEC`), or throws a PipeError: `ENXIO` for a writer while
 * no reader exists (the caller may retry), `ELOOP`, `EINVAL`, `EACCES` (see {@link checkFifo}),
 * or the open's own errno. A non-blocking open of a FIFO never waits, so it runs on the main thread.
 */
function openChecked(path: string, access: number, allowOwnerUids: readonly number[]): number {
  if (procReopen) {
    const fd = openThroughPathFd(path, access, allowOwnerUids);
    if (fd !== undefined) return fd;
  }
  return openPortable(path, access, allowOwnerUids);
}

/**
 * Linux: `O_PATH | O_NOFOLLOW` names whatever is at the path without opening it (no driver open,
 * no read or write, a symlink as itself), so the checks run on exactly what will be opened; then
 * `/proc/self/fd/N` opens that inode, not whatever the path names by then. Returns undefined
 * where `/proc` is not mounted (the caller falls back to {@link openPortable}).
 */
function openThroughPathFd(path: string, access: number, allowOwnerUids: readonly number[]): number | undefined {
  const pathFd = libc.open(path, libc.O_PATH | libc.O_NOFOLLOW | libc.O_CLOEXEC);
  if (pathFd < 0) throw posixError(libc.errno(), 'open', path);
  try {
    const checked = fstatChecked(pathFd);
    checkFifo(checked, path, allowOwnerUids);
    // The magic link is followed on purpose (no O_NOFOLLOW): it leads to the inode checked above.
    const fd = libc.open(`/proc/self/fd/${pathFd}`, access | libc.O_NONBLOCK | libc.O_NOCTTY | libc.O_CLOEXEC);
    if (fd < 0) {
      const e = libc.errno();
      if (e === ENOENT) {
        procReopen = false;
        return undefined;
      }
      throw posixError(e, 'open', path);
    }
    try {
      const opened = fstatChecked(fd);
      // Only a /proc that is not procfs could lead elsewhere; then refuse what it led to.
      if (opened.dev !== checked.dev || opened.ino !== checked.ino) {
        throw new PipeError({ code: 'EINVAL', syscall: 'open', path, message: `EINVAL: reopening '${path}' through /proc/self/fd reached another file` });
      }
    } catch (err) {
      libc.close(fd);
      throw err;
    }
    // Ownership: the caller owns fd.
    return fd;
  } finally {
    libc.close(pathFd);
  }
}

/**
 * Everywhere else: `lstat` refuses what sits at the path now without opening it; what is swapped
 * in before the open is opened (`O_NOFOLLOW`: never through a symlink; `O_NOCTTY`: a terminal
 * never becomes ours; `O_NONBLOCK`: the open never waits) and closed at once by the `fstat`
 * check, before any read or write.
 */
function openPortable(path: string, access: number, allowOwnerUids: readonly number[]): number {
  let st: BigIntStats;
  try {
    st = lstatSync(path, { bigint: true });
  } catch (err) {
    throw fromNodeError(err, 'open');
  }
  checkFifo(st, path, allowOwnerUids);
  const fd = libc.open(path, access | libc.O_NONBLOCK | libc.O_NOCTTY | libc.O_NOFOLLOW | libc.O_CLOEXEC);
  if (fd < 0) throw posixError(libc.errno(), 'open', path);
  try {
    checkFifo(fstatChecked(fd), path, allowOwnerUids);
  } catch (err) {
    libc.close(fd);
    throw err;
  }
  // Ownership: the caller owns fd.
  return fd;
}

function setBlocking(fd: number): void {
  const flags = libc.fcntl(fd, libc.F_GETFL, 0);
  if (flags < 0 || libc.fcntl(fd, libc.F_SETFL, flags & ~libc.O_NONBLOCK) < 0) throw posixError(libc.errno(), 'fcntl');
}

/**
 * Retries `attempt` on a short, growing timer (ref'd: it keeps the process alive as a blocking
 * open would) until it returns a value, the signal fires or it throws; then `cleanup` on failure.
 */
function retryOpen<T>(attempt: () => T | undefined, signal: AbortSignal | undefined, cleanup: () => void): Promise<T> {
  return retry<T>(() => attempt() ?? RETRY, { first: 1, max: 25, signal }).catch((err: unknown) => {
    cleanup();
    throw err;
  });
}

async function openWriter(path: string, signal: AbortSignal | undefined, nonBlocking: boolean, allowOwnerUids: readonly number[]): Promise<PipeWriter> {
  const fd = await retryOpen<number>(
    () => {
      // Every attempt checks afresh what is at the path: it may be replaced while we wait.
      try {
        return openChecked(path, libc.O_WRONLY, allowOwnerUids);
      } catch (err) {
        // ENXIO: no reader has the FIFO open yet.
        if ((err as PipeError).code === 'ENXIO' && !nonBlocking) return undefined;
        throw err;
      }
    },
    signal,
    () => {},
  );
  try {
    if (!nonBlocking) setBlocking(fd);
  } catch (err) {
    libc.close(fd);
    throw err;
  }
  // Ownership: the writer owns the fd and closes it once.
  return new PipeWriter(posixBackend, { fd, handle: BigInt(fd) });
}

async function openReader(path: string, signal: AbortSignal | undefined, nonBlocking: boolean, allowOwnerUids: readonly number[]): Promise<PipeReader> {
  const fd = openChecked(path, libc.O_RDONLY, allowOwnerUids);
  let closed = false;
  const close = (): void => {
    if (!closed) libc.close(fd);
    closed = true;
  };
  let early: Buffer | undefined;
  if (!nonBlocking) {
    const probe = Buffer.alloc(64 * 1024);
    await retryOpen<true>(
      () => {
        const got = writerHasCome(fd, probe);
        if (got === false) return undefined;
        if (got !== true) early = got;
        return true;
      },
      signal,
      close,
    );
    try {
      setBlocking(fd);
    } catch (err) {
      close();
      throw err;
    }
  }
  // Ownership: the reader owns the fd and closes it once.
  return new PipeReader(posixBackend, { fd, handle: BigInt(fd) }, undefined, early);
}

/**
 * Whether a writer has opened the FIFO since we did. `true`: yes (a writer is there, or came and
 * went: its end of file is waiting). A Buffer: yes, and these bytes were read while finding out;
 * they go to the reader first. `false`: not yet.
 */
function writerHasCome(fd: number, probe: Buffer): boolean | Buffer {
  const pfd = new Uint8Array(8);
  const view = new DataView(pfd.buffer);
  view.setInt32(0, fd, true);
  view.setInt16(4, libc.POLLIN, true);
  // POLLHUP on a FIFO's read end: a writer came after we opened, and all writers left since.
  if (libc.poll(pfd, 1, 0) > 0 && (view.getInt16(6, true) & libc.POLLHUP) !== 0 && (view.getInt16(6, true) & libc.POLLIN) === 0) return true;
  for (;;) {
    const n = libc.read(fd, probe, probe.length);
    // Data (possibly arriving right after the poll above): a writer came; keep what we read.
    if (n > 0) return Buffer.from(probe.subarray(0, n));
    // 0: no writer has the FIFO open (none came yet, or only before we opened).
    if (n === 0) return false;
    const e = libc.errno();
    if (e === EINTR) continue;
    // EAGAIN: empty, but writers exist.
    if (e === EAGAIN || e === EWOULDBLOCK) return true;
    throw posixError(e, 'read');
  }
}
