/**
 * Windows side of the handle channel: an end is duplicated into the peer process
 * (`DuplicateHandle`), and its value there is announced over a message-mode named pipe; the peer
 * takes it over as `adoptEnd` does.
 *
 * The peer process is opened once, when the connection is made (server: the client's pid from
 * `GetNamedPipeClientProcessId`; client: `GetNamedPipeServerProcessId`), and that handle is kept:
 * a pid read later could name another process by then. Only a process of our own user is a
 * target (its token's user SID must be ours).
 *
 * One owner for every duplicate, by this protocol (messages are JSON):
 * - `{"t":"end","id":n,"v":"<value>","d":"r"|"w"}`: the sender made the duplicate and owns it.
 * - `{"t":"taken","id":n}`: the receiver's answer; once it is written the receiver owns the value
 *   (it adopts it only after the write succeeded; if the write fails, the sender is gone and the
 *   receiver closes the value itself).
 * - The sender sees the channel end before `taken`: it closes the duplicate in the peer
 *   (`DuplicateHandle(..., DUPLICATE_CLOSE_SOURCE)` out of the peer). A duplicate it made but could
 *   not announce (the write failed) is closed the same way.
 * - The receiver sees the channel end with announced values not taken: the sender is gone and will
 *   close nothing more, so the receiver closes them (`CloseHandle`, in its own process).
 * - A side that closes its channel first leaves what is in flight to the other side, by the two
 *   rules above.
 */
import type { PipeEnd } from '../end.js';
import { PipeReader } from '../reader.js';
import { PipeWriter } from '../writer.js';
import { PipeError, WIN32_ERRORS, abortError, closedError, win32Error } from '../errors.js';
import type { PipeConnection } from '../types.js';
import * as adv from './advapi32.js';
import { adoptWindowsHandle } from './adopt.js';
import * as k32 from './kernel32.js';
import { currentUserSid } from './security.js';
import { tokenSid } from './trust.js';

/** What a peer process handle is opened with: duplicate into it, read its token, wait for it. */
export const PEER_ACCESS = k32.PROCESS_DUP_HANDLE | k32.PROCESS_QUERY_LIMITED_INFORMATION | k32.SYNCHRONIZE;

/** The peer process, or why it cannot be a target. */
export type PeerProcess = { handle: bigint; error?: undefined } | { handle?: undefined; error: PipeError };

/**
 * Opens process `pid` as a target for ends, right now (call it as the connection is made), and
 * checks it runs as our user.
 * Ownership: the caller owns the returned handle and closes it with CloseHandle.
 */
export function openPeerProcess(pid: number | undefined, access = PEER_ACCESS): PeerProcess {
  if (pid === undefined) return { error: new PipeError({ code: 'ESRCH', syscall: 'OpenProcess', message: 'ESRCH: the peer process id is not known' }) };
  const handle = k32.OpenProcess(access, false, pid);
  if (!handle) {
    const err = win32Error(k32.GetLastError(), 'OpenProcess');
    return {
      error: new PipeError({ code: err.code, syscall: 'OpenProcess', win32Errno: err.win32Errno, message: `${err.code}: cannot open the peer process ${pid} for PROCESS_DUP_HANDLE`, cause: err }),
    };
  }
  let sid: string;
  try {
    sid = tokenSid(handle, adv.TokenUser);
  } catch (err) {
    k32.CloseHandle(handle);
    return {
      error: new PipeError({ code: 'EPERM', syscall: 'OpenProcessToken', message: `EPERM: the user of the peer process ${pid} cannot be read; ends go only to a process of our own user`, cause: err }),
    };
  }
  if (sid !== currentUserSid()) {
    k32.CloseHandle(handle);
    return {
      error: new PipeError({ code: 'EPERM', syscall: 'DuplicateHandle', message: `EPERM: the peer process ${pid} runs as ${sid}, not as our user; ends go only to a process of our own user` }),
    };
  }
  return { handle };
}

/**
 * Duplicates `handle` into `target`, not inheritable there, with the same access.
 * Ownership: the returned value lives in `target`; the caller must see it taken or close it with
 * {@link closeInPeer}.
 * @throws PipeError `EACCES` when the target handle lacks `PROCESS_DUP_HANDLE`.
 */
export function duplicateInto(target: bigint, handle: bigint): bigint {
  const out: k32.Out<k32.HANDLE> = [0n];
  if (!k32.DuplicateHandle(k32.GetCurrentProcess(), handle, target, out, 0, false, k32.DUPLICATE_SAME_ACCESS)) {
    const err = win32Error(k32.GetLastError(), 'DuplicateHandle');
    if (err.win32Errno === WIN32_ERRORS.ERROR_ACCESS_DENIED) {
      throw new PipeError({ code: 'EACCES', syscall: 'DuplicateHandle', win32Errno: err.win32Errno, message: 'EACCES: no PROCESS_DUP_HANDLE access to the peer process', cause: err });
    }
    throw err;
  }
  return out[0];
}

/** Closes `value` inside `target`: moved out of it (DUPLICATE_CLOSE_SOURCE) into ours, then closed here. Best effort: a target that is gone took it along. */
export function closeInPeer(target: bigint, value: bigint): void {
  const out: k32.Out<k32.HANDLE> = [0n];
  if (k32.DuplicateHandle(target, value, k32.GetCurrentProcess(), out, 0, false, k32.DUPLICATE_CLOSE_SOURCE | k32.DUPLICATE_SAME_ACCESS)) k32.CloseHandle(out[0]);
}

interface Announced {
  id: number;
  value: bigint;
  direction: 'r' | 'w';
}

interface PendingSend {
  value: bigint;
  resolve(): void;
  reject(err: unknown): void;
  /** Settled (taken, failed, or given up by close()): nothing more is done for it. */
  done: boolean;
}

interface Waiter {
  resolve(end: PipeReader | PipeWriter | null): void;
  reject(err: unknown): void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/**
 * The Windows core of a `HandleChannel`: a message-mode connection, plus the peer process opened
 * when it was made.
 * Ownership: owns `conn` and the peer process handle; {@link close} releases both once.
 */
export class WindowsHandleCore {
  readonly #conn: PipeConnection;
  readonly #peer: PeerProcess;
  readonly peerPid: number | undefined;
  #nextId = 1;
  readonly #sends = new Map<number, PendingSend>();
  readonly #announced: Announced[] = [];
  readonly #waiters: Waiter[] = [];
  #closed = false;
  #peerGone = false;

  constructor(conn: PipeConnection, peerPid: number | undefined, peer: PeerProcess) {
    this.#conn = conn;
    this.peerPid = peerPid;
    this.#peer = peer;
    conn.on('data', (m: Buffer) => this.#onMessage(m));
    conn.on('end', () => this.#onPeerGone());
    conn.on('close', () => this.#onPeerGone());
    // A broken pipe ends the channel; it reaches the user through the pending calls.
    conn.on('error', () => this.#onPeerGone());
  }

  get closed(): boolean {
    return this.#closed;
  }

  async send(end: PipeEnd, direction: 'r' | 'w', signal: AbortSignal | undefined): Promise<void> {
    if (this.#closed) throw closedError('DuplicateHandle');
    if (this.#peerGone) throw new PipeError({ code: 'EPIPE', syscall: 'DuplicateHandle', message: 'EPIPE: the peer has closed the channel' });
    if (signal?.aborted) throw abortError(signal);
    if (this.#peer.error) throw this.#peer.error;
    const target = this.#peer.handle;
    // Ownership: the duplicate lives in the peer and is ours until the peer answers `taken`.
    const value = duplicateInto(target, end.handle);
    const id = this.#nextId++;
    const taken = new Promise<void>((resolve, reject) => this.#sends.set(id, { value, resolve, reject, done: false }));
    const message = Buffer.from(JSON.stringify({ t: 'end', id, v: String(value), d: direction }));
    try {
      await this.#conn.writeMessage(message);
    } catch (err) {
      const s = this.#sends.get(id);
      this.#sends.delete(id);
      // Not announced: nobody there knows the value, so it is closed in the peer at once.
      if (s && !s.done) closeInPeer(target, value);
      throw err;
    }
    if (!signal) return taken;
    // Aborting stops the wait only: the value is out, and its owner is settled by the protocol.
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => reject(abortError(signal));
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      taken.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  receive(signal: AbortSignal | undefined): Promise<PipeReader | PipeWriter | null> {
    if (this.#closed) return Promise.reject(closedError('ReadFile'));
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const next = this.#announced.shift();
    if (next) return this.#take(next);
    if (this.#peerGone) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, signal, onAbort: undefined };
      if (signal) {
        waiter.onAbort = () => {
          const i = this.#waiters.indexOf(waiter);
          if (i >= 0) this.#waiters.splice(i, 1);
          reject(abortError(signal));
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.#waiters.push(waiter);
    });
  }

  /**
   * Answers `taken`, then adopts the value. Ownership: ours from the moment the answer is written;
   * if it cannot be written the sender is gone (it closes nothing more), so the value is closed here.
   */
  async #take(a: Announced): Promise<PipeReader | PipeWriter | null> {
    try {
      await this.#conn.writeMessage(Buffer.from(JSON.stringify({ t: 'taken', id: a.id })));
    } catch (err) {
      k32.CloseHandle(a.value);
      throw err;
    }
    let adopted: ReturnType<typeof adoptWindowsHandle>;
    try {
      adopted = adoptWindowsHandle(a.value, a.direction);
    } catch (err) {
      // Not a pipe going the announced way: ours all the same, so closed (a value that is not open is left).
      if ((err as PipeError).code !== 'EBADF') k32.CloseHandle(a.value);
      throw err;
    }
    return a.direction === 'r' ? new PipeReader(adopted.backend, adopted.raw) : new PipeWriter(adopted.backend, adopted.raw);
  }

  #onMessage(m: Buffer): void {
    let msg: { t?: unknown; id?: unknown; v?: unknown; d?: unknown };
    try {
      msg = JSON.parse(m.toString('utf8')) as typeof msg;
    } catch {
      return;
    }
    if (typeof msg.id !== 'number') return;
    if (msg.t === 'taken') {
      const s = this.#sends.get(msg.id);
      if (!s || s.done) return;
      s.done = true;
      this.#sends.delete(msg.id);
      s.resolve();
      return;
    }
    if (msg.t === 'end' && typeof msg.v === 'string' && /^[0-9]{1,20}$/.test(msg.v) && (msg.d === 'r' || msg.d === 'w')) {
      const a: Announced = { id: msg.id, value: BigInt(msg.v), direction: msg.d };
      if (this.#closed) return;
      const w = this.#waiters.shift();
      if (!w) {
        this.#announced.push(a);
        return;
      }
      if (w.onAbort) w.signal!.removeEventListener('abort', w.onAbort);
      this.#take(a).then(w.resolve, w.reject);
    }
  }

  /** The peer closed or died (or the pipe broke): settle everything in flight, by the rules above. */
  #onPeerGone(): void {
    if (this.#peerGone) return;
    this.#peerGone = true;
    if (this.#closed) return;
    const target = this.#peer.handle;
    for (const [id, s] of this.#sends) {
      this.#sends.delete(id);
      if (s.done) continue;
      s.done = true;
      if (target !== undefined) closeInPeer(target, s.value);
      s.reject(new PipeError({ code: 'EPIPE', syscall: 'DuplicateHandle', message: 'EPIPE: the peer closed the channel before it took the end; the duplicate there is closed' }));
    }
    // The sender is gone and closes nothing more: what it announced and we did not take is ours to close.
    for (const a of this.#announced.splice(0)) k32.CloseHandle(a.value);
    for (const w of this.#waiters.splice(0)) {
      if (w.onAbort) w.signal!.removeEventListener('abort', w.onAbort);
      w.resolve(null);
    }
  }

  ref(): void {
    this.#conn.ref();
  }

  unref(): void {
    this.#conn.unref();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // Sends not yet taken are left to the peer's rules (it sees our end); their promises fail here.
    for (const s of this.#sends.values()) {
      if (s.done) continue;
      s.done = true;
      s.reject(closedError('DuplicateHandle'));
    }
    this.#sends.clear();
    // Announced but not taken: the peer is still there (else they were closed when it went), sees
    // our end, and closes them itself.
    this.#announced.length = 0;
    for (const w of this.#waiters.splice(0)) {
      if (w.onAbort) w.signal!.removeEventListener('abort', w.onAbort);
      w.reject(closedError('ReadFile'));
    }
    this.#conn.destroy();
    // Ownership: the peer process handle was opened for this channel and is closed once, here.
    if (this.#peer.handle !== undefined) k32.CloseHandle(this.#peer.handle);
  }
}
