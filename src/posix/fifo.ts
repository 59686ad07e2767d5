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
 */
import { closeSync, fstatSync, openSync, statSync, constants as fsConstants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { PipeReader, PipeWriter, unreadInto } from '../end.js';
import { PipeError, abortError, fromNodeError, invalidArgType, invalidArgValue, posixError } from '../errors.js';
import { validateAbortSignal, validateBoolean, validateInteger, validateObject } from '../validate.js';
import * as libc from './libc.js';
import { posixBackend } from './pipe.js';

const { EAGAIN, EWOULDBLOCK, EINTR } = osConstants.errno;

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
 * - A path that is not a FIFO rejects with `EINVAL` (nothing is opened); a missing one with `ENOENT`.
 *
 * The end is non-inheritable (`O_CLOEXEC`) and blocking, like `createPipe`'s ends.
 *
 * @example
 * ```ts
 * const writer = await openFifo('/tmp/my.fifo', 'w', { signal: AbortSignal.timeout(5000) });
 * writer.writeSync(Buffer.from('hello\n'));
 * writer.close();                                     // the reader sees end of file
 * ```
 * Platform notes: POSIX only. On Windows it rejects with `ERR_UNSUPPORTED_PLATFORM`.
 * @throws TypeError for a bad path, mode or options (synchronously).
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
  if (process.platform === 'win32') return Promise.reject(unsupported('open'));
  if (signal?.aborted) return Promise.reject(abortError(signal));
  return mode === 'r' ? openReader(path, signal, nonBlocking) : openWriter(path, signal, nonBlocking);
}

/** Not a FIFO: refused before anything is opened (opening a device can have side effects). */
function checkIsFifo(path: string): PipeError | undefined {
  try {
    if (!statSync(path).isFIFO()) return new PipeError({ code: 'EINVAL', syscall: 'open', path, message: `EINVAL: '${path}' is not a FIFO` });
  } catch (err) {
    return fromNodeError(err, 'open');
  }
  return undefined;
}

/**
 * `open(path, flags | O_NONBLOCK)` through Node (which adds O_CLOEXEC). Returns the fd, or throws.
 * A non-blocking open of a FIFO never waits, so doing it on the main thread is fine.
 */
function openNonBlocking(path: string, flags: number): number {
  const fd = openSync(path, flags | fsConstants.O_NONBLOCK);
  // The path may have been replaced between the stat and the open.
  if (!fstatSync(fd).isFIFO()) {
    closeSync(fd);
    throw new PipeError({ code: 'EINVAL', syscall: 'open', path, message: `EINVAL: '${path}' is not a FIFO` });
  }
  return fd;
}

function setBlocking(fd: number): void {
  const flags = libc.fcntl(fd, libc.F_GETFL, 0);
  if (flags < 0 || libc.fcntl(fd, libc.F_SETFL, flags & ~libc.O_NONBLOCK) < 0) throw posixError(libc.errno(), 'fcntl');
}

/** Retries `attempt` on a short, growing timer until it returns a value, the signal fires or it throws. */
function retry<T>(attempt: () => T | undefined, signal: AbortSignal | undefined, cleanup: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let delay = 1;
    const onAbort = (): void => {
      clearTimeout(timer);
      cleanup();
      reject(abortError(signal));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const tick = (): void => {
      let result: T | undefined;
      try {
        result = attempt();
      } catch (err) {
        signal?.removeEventListener('abort', onAbort);
        cleanup();
        reject(err);
        return;
      }
      if (result !== undefined) {
        signal?.removeEventListener('abort', onAbort);
        resolve(result);
        return;
      }
      // A ref'd timer keeps the process alive while we wait, as a blocking open would.
      timer = setTimeout(tick, delay);
      delay = Math.min(delay * 2, 25);
    };
    tick();
  });
}

async function openWriter(path: string, signal: AbortSignal | undefined, nonBlocking: boolean): Promise<PipeWriter> {
  const bad = checkIsFifo(path);
  if (bad) throw bad;
  const fd = await retry<number>(
    () => {
      try {
        return openNonBlocking(path, fsConstants.O_WRONLY);
      } catch (err) {
        // ENXIO: no reader has the FIFO open yet.
        if ((err as NodeJS.ErrnoException).code === 'ENXIO' && !nonBlocking) return undefined;
        throw fromNodeError(err, 'open');
      }
    },
    signal,
    () => {},
  );
  try {
    if (!nonBlocking) setBlocking(fd);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  // Ownership: the writer owns the fd and closes it once.
  return new PipeWriter(posixBackend, { fd, handle: BigInt(fd) });
}

async function openReader(path: string, signal: AbortSignal | undefined, nonBlocking: boolean): Promise<PipeReader> {
  const bad = checkIsFifo(path);
  if (bad) throw bad;
  let fd: number;
  try {
    fd = openNonBlocking(path, fsConstants.O_RDONLY);
  } catch (err) {
    throw fromNodeError(err, 'open');
  }
  let closed = false;
  const close = (): void => {
    if (!closed) closeSync(fd);
    closed = true;
  };
  let early: Buffer | undefined;
  if (!nonBlocking) {
    const probe = Buffer.alloc(64 * 1024);
    await retry<true>(
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
  const reader = new PipeReader(posixBackend, { fd, handle: BigInt(fd) });
  if (early) unreadInto(reader, early);
  return reader;
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
