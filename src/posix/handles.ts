/**
 * POSIX side of the handle channel: pipe ends passed as `SCM_RIGHTS` over a Unix stream socket
 * that only this module reads and writes. libuv reads its sockets with `read(2)`, which drops
 * ancillary data (and with it the descriptors), so the socket is taken out of libuv's hands the
 * moment it is connected and read here with `recvmsg`.
 *
 * Wire format: each end is one byte, `r` or `w` (the kind of end it is), carrying exactly one
 * descriptor. Anything else (no descriptor, more than one, control data cut short, another byte)
 * closes every descriptor that came with it and fails that receive with `EPROTO`.
 *
 * Waiting never blocks the event loop and holds no thread: `sendmsg` / `recvmsg` are made with
 * `MSG_DONTWAIT`, and while a receive (or a send on a full socket) waits, the call is tried again
 * on a timer, 1 ms doubling to {@link POLL_MAX_MS}, as src/retry.ts does for every other wait.
 */
import koffi from 'koffi';
import { constants as osConstants } from 'node:os';
import type { Backend, RawEnd } from '../backend.js';
import type { PipeEnd } from '../end.js';
import { PipeReader } from '../reader.js';
import { PipeWriter } from '../writer.js';
import { PipeError, abortError, closedError, posixError } from '../errors.js';
import { SafetyNet } from '../gc.js';
import { Backoff, RETRY, retry } from '../retry.js';
import { adoptPosixFd } from './adopt.js';
import { setCloexec } from './fd.js';
import * as libc from './libc.js';

const { EAGAIN, EWOULDBLOCK, EINTR } = osConstants.errno;
const isDarwin = process.platform === 'darwin';

/** The longest wait between two looks at a socket with a receive pending, in ms. */
export const POLL_MAX_MS = 50;

const R = 0x72; // 'r'
const W = 0x77; // 'w'

/** `CMSG_SPACE(n)`: a control message holding `n` bytes, with its alignment padding. */
function cmsgSpace(n: number): number {
  const a = libc.CMSGHDR.align;
  const align = (x: number): number => Math.ceil(x / a) * a;
  return align(libc.CMSGHDR.data) + align(n);
}

/**
 * Room for one descriptor and no more: a second one (or a larger control message) sets
 * `MSG_CTRUNC`, and the kernel closes what did not fit.
 */
const CONTROL_ROOM = cmsgSpace(4);

/**
 * One native block for every sendmsg / recvmsg of the process: the header, one iovec, the data
 * byte and the control buffer. The calls are synchronous and never nested, and everything is read
 * back right after the call, so one block serves all channels.
 * Ownership: allocated once, kept for the life of the process.
 */
let scratch: { base: bigint; view: DataView; iov: bigint; data: bigint; control: bigint } | undefined;
const IOV_AT = 64;
const DATA_AT = 80;
const CONTROL_AT = 96;

function block(): NonNullable<typeof scratch> {
  if (scratch) return scratch;
  const size = CONTROL_AT + 64;
  const base = koffi.alloc('uint8_t', size) as bigint;
  scratch = { base, view: new DataView(koffi.view(base, size)), iov: base + BigInt(IOV_AT), data: base + BigInt(DATA_AT), control: base + BigInt(CONTROL_AT) };
  return scratch;
}

function setSize(view: DataView, at: number, size: number, value: number): void {
  if (size === 8) view.setBigUint64(at, BigInt(value), true);
  else view.setUint32(at, value, true);
}

function getSize(view: DataView, at: number, size: number): number {
  return size === 8 ? Number(view.getBigUint64(at, true)) : view.getUint32(at, true);
}

/** Fills the header for one data byte and `controlLength` bytes of control room. */
function header(controlLength: number): NonNullable<typeof scratch> {
  const b = block();
  const { view } = b;
  const h = libc.MSGHDR;
  for (let i = 0; i < CONTROL_AT + 64; i += 4) view.setUint32(i, 0, true);
  view.setBigUint64(IOV_AT, b.data, true);
  view.setBigUint64(IOV_AT + 8, 1n, true);
  view.setBigUint64(h.iov, b.iov, true);
  setSize(view, h.iovlen, h.iovlenSize, 1);
  view.setBigUint64(h.control, b.control, true);
  setSize(view, h.controllen, h.controllenSize, controlLength);
  return b;
}

/**
 * One `sendmsg` of `byte` with `fd` as `SCM_RIGHTS`. Returns true once sent, {@link RETRY} when
 * the socket is full.
 * Ownership: `fd` stays the caller's whatever happens; the kernel holds its own reference to the
 * file until the peer receives it or the socket goes away.
 * @throws PipeError from sendmsg (`EPIPE`, `ECONNRESET`, ...).
 */
export function trySend(socketFd: number, fds: readonly number[], byte: number): true | typeof RETRY {
  const length = cmsgSpace(4 * fds.length);
  const b = header(length);
  const { view } = b;
  const c = libc.CMSGHDR;
  view.setUint8(DATA_AT, byte);
  setSize(view, CONTROL_AT, c.lenSize, c.data + 4 * fds.length);
  view.setInt32(CONTROL_AT + c.level, libc.SOL_SOCKET, true);
  view.setInt32(CONTROL_AT + c.type, libc.SCM_RIGHTS, true);
  fds.forEach((fd, i) => view.setInt32(CONTROL_AT + c.data + 4 * i, fd, true));
  for (;;) {
    const n = libc.sendmsg(socketFd, b.base, libc.MSG_DONTWAIT | libc.MSG_NOSIGNAL);
    if (n === 1) return true;
    const e = libc.errno();
    if (e === EINTR) continue;
    if (e === EAGAIN || e === EWOULDBLOCK) return RETRY;
    throw posixError(e, 'sendmsg');
  }
}

/** What one look at the socket found. */
type Received = { fd: number; direction: 'r' | 'w' } | null | typeof RETRY;

/**
 * One `recvmsg(MSG_DONTWAIT)` of one byte and its descriptors: the received end, `null` at end of
 * stream, {@link RETRY} when nothing is there yet.
 * Ownership: the returned fd is the caller's (close-on-exec already). On a protocol error every
 * descriptor that arrived is closed here before the throw.
 * @throws PipeError `EPROTO` (see the module comment), or from recvmsg.
 */
function tryReceive(socketFd: number): Received {
  const b = header(CONTROL_ROOM);
  const { view } = b;
  let n: number;
  for (;;) {
    n = libc.recvmsg(socketFd, b.base, libc.MSG_DONTWAIT | libc.MSG_CMSG_CLOEXEC);
    if (n >= 0) break;
    const e = libc.errno();
    if (e === EINTR) continue;
    if (e === EAGAIN || e === EWOULDBLOCK) return RETRY;
    throw posixError(e, 'recvmsg');
  }
  if (n === 0) return null;
  const h = libc.MSGHDR;
  const c = libc.CMSGHDR;
  const flags = view.getInt32(h.flags, true);
  const controlLength = getSize(view, h.controllen, h.controllenSize);
  const byte = view.getUint8(DATA_AT);
  const fds: number[] = [];
  let at = 0;
  while (at + c.data <= controlLength) {
    const len = getSize(view, CONTROL_AT + at, c.lenSize);
    if (len < c.data) break;
    if (view.getInt32(CONTROL_AT + at + c.level, true) === libc.SOL_SOCKET && view.getInt32(CONTROL_AT + at + c.type, true) === libc.SCM_RIGHTS) {
      for (let i = c.data; i + 4 <= len && at + i + 4 <= controlLength; i += 4) fds.push(view.getInt32(CONTROL_AT + at + i, true));
    }
    at += Math.ceil(len / c.align) * c.align;
  }
  let problem: string | undefined;
  if ((flags & libc.MSG_CTRUNC) !== 0) problem = 'control data was cut short (more than one descriptor sent)';
  else if (fds.length !== 1) problem = `${fds.length} descriptors came with one end`;
  else if (byte !== R && byte !== W) problem = `unknown kind ${byte}`;
  if (problem === undefined && isDarwin) {
    // macOS has no MSG_CMSG_CLOEXEC: close-on-exec at once, before anything else can run.
    try {
      setCloexec(fds[0]!);
    } catch (err) {
      problem = `fcntl failed: ${(err as Error).message}`;
    }
  }
  if (problem !== undefined) {
    for (const fd of fds) libc.close(fd);
    throw new PipeError({ code: 'EPROTO', syscall: 'recvmsg', message: `EPROTO: ${problem}; what arrived is closed` });
  }
  return { fd: fds[0]!, direction: byte === R ? 'r' : 'w' };
}

/** A receive waiting for an end. */
interface Waiter {
  resolve(end: PipeReader | PipeWriter | null): void;
  reject(err: unknown): void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** Closes a channel's socket whose owner was dropped without `close()`: the kernel then closes every end still queued in it. */
const safetyNet = new SafetyNet<{ fd: number; open: boolean }>((held) => {
  if (!held.open) return;
  held.open = false;
  process.emitWarning(`Closing handle channel fd ${held.fd} on garbage collection`, { code: 'WINPIPE_HANDLE_CHANNEL_GC' });
  libc.close(held.fd);
});

/**
 * The POSIX core of a `HandleChannel`: one connected Unix stream socket, read and written only
 * with recvmsg / sendmsg.
 * Ownership: owns `fd` from construction; {@link close} closes it once (then the kernel closes the
 * descriptors of ends sent to us and never received).
 */
export class PosixHandleCore {
  readonly #held: { fd: number; open: boolean };
  readonly #backend: Backend;
  readonly #waiters: Waiter[] = [];
  readonly #backoff = new Backoff(1, POLL_MAX_MS);
  #timer: NodeJS.Timeout | undefined;
  #refed = true;
  #eof = false;
  #sending: Promise<unknown> = Promise.resolve();
  readonly peerPid: number | undefined;

  constructor(fd: number, backend: Backend, peerPid: number | undefined) {
    this.#held = { fd, open: true };
    this.#backend = backend;
    this.peerPid = peerPid;
    safetyNet.register(this, this.#held);
  }

  get closed(): boolean {
    return !this.#held.open;
  }

  send(end: PipeEnd, direction: 'r' | 'w', signal: AbortSignal | undefined): Promise<void> {
    const byte = direction === 'r' ? R : W;
    // One at a time, in call order: each is one sendmsg, retried while the socket is full.
    const sent = this.#sending.then(() =>
      retry(
        () => {
          if (!this.#held.open) throw closedError('sendmsg');
          // The end may have been closed while an earlier send waited.
          if (end.closed) throw closedError('sendmsg');
          return trySend(this.#held.fd, [end.fd], byte);
        },
        { first: 1, max: POLL_MAX_MS, signal },
      ),
    );
    this.#sending = sent.catch(() => undefined);
    return sent.then(() => undefined);
  }

  receive(signal: AbortSignal | undefined): Promise<PipeReader | PipeWriter | null> {
    if (!this.#held.open) return Promise.reject(closedError('recvmsg'));
    if (this.#eof) return Promise.resolve(null);
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, signal, onAbort: undefined };
      if (signal) {
        waiter.onAbort = () => {
          // Never received for an aborted waiter: a look at the socket serves only the first one, synchronously.
          const i = this.#waiters.indexOf(waiter);
          if (i >= 0) this.#waiters.splice(i, 1);
          if (this.#waiters.length === 0) this.#stopTimer();
          reject(abortError(signal));
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.#waiters.push(waiter);
      if (this.#waiters.length === 1) {
        this.#backoff.reset();
        this.#look();
      }
    });
  }

  /** Serves waiters, first come first served, from what the socket holds now; then waits on the timer. */
  #look(): void {
    this.#timer = undefined;
    while (this.#waiters.length > 0 && this.#held.open) {
      let got: Received;
      try {
        got = tryReceive(this.#held.fd);
      } catch (err) {
        this.#settle(this.#waiters.shift()!, undefined, err);
        continue;
      }
      if (got === RETRY) {
        this.#timer = setTimeout(() => this.#look(), this.#backoff.next());
        if (!this.#refed) this.#timer.unref();
        return;
      }
      this.#backoff.reset();
      if (got === null) {
        this.#eof = true;
        for (const w of this.#waiters.splice(0)) this.#settle(w, null);
        return;
      }
      let end: PipeReader | PipeWriter;
      try {
        end = this.#wrap(got.fd, got.direction);
      } catch (err) {
        this.#settle(this.#waiters.shift()!, undefined, err);
        continue;
      }
      this.#settle(this.#waiters.shift()!, end);
    }
  }

  /**
   * The received fd as an end, after the same checks as `adoptEnd` (a pipe or socket, open for
   * its direction).
   * Ownership: the end owns `fd`; if a check fails, `fd` is closed here.
   */
  #wrap(fd: number, direction: 'r' | 'w'): PipeReader | PipeWriter {
    let raw: RawEnd;
    try {
      ({ raw } = adoptPosixFd(fd, direction));
    } catch (err) {
      libc.close(fd);
      throw err;
    }
    return direction === 'r' ? new PipeReader(this.#backend, raw) : new PipeWriter(this.#backend, raw);
  }

  #settle(w: Waiter, end: PipeReader | PipeWriter | null | undefined, err?: unknown): void {
    if (w.onAbort) w.signal!.removeEventListener('abort', w.onAbort);
    if (end !== undefined) w.resolve(end);
    else w.reject(err);
  }

  #stopTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  ref(): void {
    this.#refed = true;
    this.#timer?.ref();
  }

  unref(): void {
    this.#refed = false;
    this.#timer?.unref();
  }

  close(): void {
    if (!this.#held.open) return;
    this.#held.open = false;
    safetyNet.unregister(this);
    this.#stopTimer();
    // Ownership: closed once, here. Ends sent to us and not yet received go with the socket.
    libc.close(this.#held.fd);
    for (const w of this.#waiters.splice(0)) this.#settle(w, undefined, closedError('recvmsg'));
  }
}

/**
 * Takes the socket under a just-connected `net.Socket` away from libuv: a close-on-exec duplicate
 * for us, then the socket is destroyed (closing libuv's descriptor). Nothing has been read from it:
 * libuv only reads when the event loop polls, and this runs in the same turn as the connect.
 * Ownership: the caller owns the returned fd; the socket is gone either way.
 */
export function takeSocket(fd: number | undefined, destroy: () => void): number {
  try {
    if (fd === undefined) throw new PipeError({ code: 'EBADF', syscall: 'fcntl', message: 'EBADF: the connection has no descriptor' });
    const dup = libc.fcntl(fd, libc.F_DUPFD_CLOEXEC, 0);
    if (dup < 0) throw posixError(libc.errno(), 'fcntl');
    return dup;
  } finally {
    destroy();
  }
}
