/**
 * The Windows side of channels, as CPython's `multiprocessing.connection` does it on Windows:
 * message-mode named pipes (PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE), overlapped on both ends,
 * one pipe message per channel message and no length prefix.
 *
 * - `Pipe()`: a uniquely named single-instance pipe and a client opened on it at once;
 * - `Listener`: instances kept waiting in an overlapped `ConnectNamedPipe` (registered waits, no
 *   thread parked, see src/windows/overlapped.ts);
 * - `Client`: `CreateFileW`, retried on a timer while every instance is busy.
 *
 * Messages move through the named-pipe layer's message transport (`messageTransportFromHandle`).
 */
import { randomBytes } from 'node:crypto';
import { closeSync } from 'node:fs';
import { PipeError, WIN32_ERRORS, closedError, win32Error } from '../errors.js';
import { getOsfHandle, openOsfHandle } from '../windows/crt.js';
import * as k32 from '../windows/kernel32.js';
import type { Completion } from '../windows/overlapped.js';
import { SecurityAttributes } from '../windows/security.js';
import { AcceptPool, acceptedClient, createInstance, nameInUse, type InstanceSpec, type WaitingInstance } from '../windows/instance.js';
import { openPipe } from '../windows/open.js';
import type { ServerConnectionStats } from '../types.js';
import { validateWinAddress, win32OpenPath } from '../names.js';
import { Admissions, type AdmitFunction } from '../admit.js';
import { peerIdentity } from '../windows/trust.js';
import { messageTransportFromHandle } from '../windows/transport.js';
import type { ChannelPlatform } from './platform.js';
import { Connection, releasedOnce, type ChannelEndpoint, type PendingConnection } from './connection.js';

const E = WIN32_ERRORS;
/** Pipe buffer sizes. CPython uses 8 KiB; larger buffers let a writer run further ahead. */
const BUFSIZE = 64 * 1024;
/** How long a Client waits while every instance is busy: CPython's CONNECTION_TIMEOUT. */
const CONNECT_TIMEOUT_MS = 20_000;
const MESSAGE_PIPE = k32.PIPE_TYPE_MESSAGE | k32.PIPE_READMODE_MESSAGE | k32.PIPE_WAIT | k32.PIPE_REJECT_REMOTE_CLIENTS;
/** Identification only: a server cannot act as this user with our token. */
const CLIENT_FLAGS = k32.FILE_FLAG_OVERLAPPED | k32.SECURITY_SQOS_PRESENT | k32.SECURITY_IDENTIFICATION;

/** A non-inheritable duplicate of `handle` in this process. */
function duplicate(handle: k32.HANDLE): k32.HANDLE {
  const out: k32.Out<k32.HANDLE> = [0n];
  const self = k32.GetCurrentProcess();
  if (!k32.DuplicateHandle(self, handle, self, out, 0, false, k32.DUPLICATE_SAME_ACCESS)) throw win32Error(k32.GetLastError(), 'DuplicateHandle');
  return out[0];
}

/** Puts a client handle in message read mode; a byte pipe is EPROTOTYPE. Closes `handle` on failure. */
function setMessageReadMode(handle: k32.HANDLE, path: string): void {
  if (k32.SetNamedPipeHandleState(handle, [k32.PIPE_READMODE_MESSAGE], null, null)) return;
  const e = k32.GetLastError();
  // A write-only handle without FILE_WRITE_ATTRIBUTES cannot change the mode; it does not read anyway.
  if (e === E.ERROR_ACCESS_DENIED) return;
  k32.CloseHandle(handle);
  if (e === E.ERROR_INVALID_PARAMETER) {
    throw new PipeError({ code: 'EPROTOTYPE', syscall: 'SetNamedPipeHandleState', path, win32Errno: e, message: `EPROTOTYPE: ${path} is not a message-mode pipe` });
  }
  throw win32Error(e, 'SetNamedPipeHandleState', path);
}

/** One end on Windows: an overlapped message-mode pipe handle. */
class WinEndpoint implements ChannelEndpoint {
  readonly readable: boolean;
  readonly writable: boolean;
  readonly path: string;
  readonly eager: boolean;
  readonly #handle: k32.HANDLE;
  #max: number;
  #transport: ReturnType<typeof messageTransportFromHandle> | undefined;
  #fdCopy = -1;
  /** Runs once `handle` is closed, by release() or by the transport. */
  readonly #onClosed: (() => void) | undefined;

  /** Ownership: the endpoint owns `handle` until open() hands it to a transport. */
  constructor(handle: k32.HANDLE, init: { readable: boolean; writable: boolean; path: string; maxMessageSize: number; eager: boolean; onClosed?: () => void }) {
    this.#handle = handle;
    this.#onClosed = init.onClosed;
    this.eager = init.eager;
    this.readable = init.readable;
    this.writable = init.writable;
    this.path = init.path;
    this.#max = init.maxMessageSize;
  }

  open(): ReturnType<typeof messageTransportFromHandle> {
    // Ownership: the transport owns the handle from here and closes it once idle.
    this.#transport = messageTransportFromHandle(this.#handle, this.path, this.#max, this.#onClosed);
    return this.#transport;
  }

  /** Raises (or lowers) the largest message accepted from now on, for the end of a handshake. */
  setMaxMessageSize(max: number): void {
    this.#max = max;
    this.#transport?.setMaxMessageSize?.(max);
  }

  fd(): number {
    if (this.#fdCopy < 0) {
      // A descriptor in Node's own CRT table, over a duplicate, so that spawn's stdio accepts it
      // and the transport keeps sole ownership of the original.
      const dup = duplicate(this.#handle);
      const fd = openOsfHandle(dup);
      if (fd < 0) {
        k32.CloseHandle(dup);
        throw win32Error(E.ERROR_TOO_MANY_OPEN_FILES, 'uv_open_osfhandle', this.path);
      }
      // Ownership: the fd owns `dup`; release() closes it.
      this.#fdCopy = fd;
    }
    return this.#fdCopy;
  }

  handle(): bigint {
    return this.#handle;
  }

  kernelReadable(): boolean {
    // A pending overlapped ReadFile takes data as it arrives; what the OS has is already ours.
    return false;
  }

  release(opened: boolean): void {
    if (this.#fdCopy >= 0) {
      closeSync(this.#fdCopy);
      this.#fdCopy = -1;
    }
    if (opened) return;
    k32.CloseHandle(this.#handle);
    this.#onClosed?.();
  }
}

function connection(handle: k32.HANDLE, readable: boolean, writable: boolean, path: string, maxMessageSize: number, eager = false): Connection {
  return new Connection(new WinEndpoint(handle, { readable, writable, path, maxMessageSize, eager }));
}

function throwWin32(e: number, path: string): never {
  throw win32Error(e, 'CreateNamedPipeW', path);
}

// --- Pipe ------------------------------------------------------------------------------------------

/**
 * `Pipe()` on Windows, as CPython builds it: a uniquely named message-mode pipe with one instance
 * and the current user's DACL, opened by a client at once, so nobody else can take the instance.
 */
export function winPipe(duplex: boolean, maxMessageSize: number): [Connection, Connection] {
  const path = `\\\\.\\pipe\\winpipe-channel-${process.pid}-${randomBytes(8).toString('hex')}`;
  const openMode = (duplex ? k32.PIPE_ACCESS_DUPLEX : k32.PIPE_ACCESS_INBOUND) | k32.FILE_FLAG_OVERLAPPED | k32.FILE_FLAG_FIRST_PIPE_INSTANCE;
  const sa = new SecurityAttributes('current-user');
  let server: k32.HANDLE;
  try {
    // A fresh random name: anything but a handle is an error.
    const spec = { path, openMode, pipeMode: MESSAGE_PIPE, maxInstances: 1, outBufferSize: duplex ? BUFSIZE : 0, inBufferSize: BUFSIZE, security: sa.bytes };
    server = createInstance(spec, false, false) ?? throwWin32(E.ERROR_PIPE_BUSY, path);
  } finally {
    sa.free();
  }
  const access = duplex ? k32.GENERIC_READ | k32.GENERIC_WRITE : k32.GENERIC_WRITE | k32.FILE_READ_ATTRIBUTES;
  const client = k32.CreateFileW(win32OpenPath(path), access, 0, null, k32.OPEN_EXISTING, CLIENT_FLAGS, null);
  if (client === k32.INVALID_HANDLE_VALUE) {
    const e = k32.GetLastError();
    k32.CloseHandle(server);
    throw win32Error(e, 'CreateFileW', path);
  }
  try {
    setMessageReadMode(client, path);
  } catch (err) {
    k32.CloseHandle(server);
    throw err;
  }
  // The single instance is connected now (a client opened it); ConnectNamedPipe would only
  // report ERROR_PIPE_CONNECTED. Ownership: each connection owns its handle.
  return [connection(server, true, duplex, path, maxMessageSize), connection(client, duplex, true, path, maxMessageSize)];
}

/** `Connection.fromFd` on Windows: an inherited CRT fd over a message-mode pipe handle. */
export function winFromFd(fd: number, readable: boolean, writable: boolean, maxMessageSize: number): Connection {
  const h = getOsfHandle(fd);
  if (h === k32.INVALID_HANDLE_VALUE || h === 0n) throw new PipeError({ code: 'EBADF', syscall: 'uv_get_osfhandle', message: `EBADF: fd ${fd} is not open` });
  if (k32.GetFileType(h) !== k32.FILE_TYPE_PIPE) throw new PipeError({ code: 'EINVAL', syscall: 'fromFd', message: `EINVAL: fd ${fd} is not a pipe` });
  const own = duplicate(h);
  // Ownership: the fd (and the handle it owns) is closed; the connection owns the duplicate.
  closeSync(fd);
  const path = `fd ${fd}`;
  setMessageReadMode(own, path);
  return connection(own, readable, writable, path, maxMessageSize);
}

// --- addresses ----------------------------------------------------------------------------------

/** Python's `arbitrary_address('AF_PIPE')`. */
export function arbitraryWinAddress(): string {
  return `\\\\.\\pipe\\winpipe-listener-${process.pid}-${randomBytes(8).toString('hex')}`;
}

/**
 * A connected end before its handshake. With `handshakeMax`, nothing longer is read until
 * `connection()`: the transport reads at most `handshakeMax + 1` bytes of a longer message and
 * refuses it (`ERR_MESSAGE_TOO_LARGE`), so an unauthenticated peer cannot make us read, let alone
 * buffer, a large message. `onClosed` runs once the handle is closed.
 */
function pendingFromHandle(handle: k32.HANDLE, path: string, maxMessageSize: number, handshakeMax?: number, onClosed?: () => void): PendingConnection {
  // Message mode needs no framing of its own: the handshake runs on the connection itself.
  const ep = new WinEndpoint(handle, { readable: true, writable: true, path, maxMessageSize: handshakeMax ?? maxMessageSize, eager: true, onClosed });
  const conn = new Connection(ep);
  return {
    io: conn,
    connection: () => {
      ep.setMaxMessageSize(maxMessageSize);
      return conn;
    },
    destroy: () => conn.close(),
  };
}

// --- Listener ------------------------------------------------------------------------------------

/**
 * The named-pipe instances behind a Listener. Connected clients not yet claimed (ready, or in the
 * handshake) plus waiting instances stay within `maxPending`: at the bound no instance waits, so a
 * new client finds the pipe busy and retries until a slot frees. When the last client at the bound
 * leaves unclaimed (refused by `admit`) and no accepted connection is open, no instance of ours
 * exists: the next is made exclusively, as createServer does (src/windows/instance.ts, `guardGap`),
 * so a squatter who took the name meanwhile is found (`EADDRINUSE` from accept()), never joined.
 */
export class WinListenerBackend {
  readonly address: string;
  readonly #max: number;
  readonly #maxPending: number;
  /** Connected clients not yet claimed: ready, or handed out as a PendingConnection. */
  #unclaimed = 0;
  /** Accepted instances whose handle is still open: unclaimed, or claimed and not yet closed. */
  #held = 0;
  #reachedMax = 0;
  readonly #handshakeMax: number | undefined;
  readonly #backlog: number;
  #security: SecurityAttributes | undefined;
  readonly #pending: AcceptPool;
  #ready: k32.HANDLE[] = [];
  #waiters: { resolve(p: PendingConnection): void; reject(e: unknown): void }[] = [];
  #error: PipeError | undefined;
  #closed = false;
  #admit: AdmitFunction | undefined;
  #admitTimeout = 0;
  /** Clients whose admit check is running (counted in #unclaimed), with their handles: close() closes them. */
  readonly #admitting = new Admissions<k32.HANDLE>((handle) => this.#closeHeld(handle));
  #refused = 0;

  /** Creates the first instance synchronously, so that a name in use throws `EADDRINUSE` here. */
  constructor(address: string, backlog: number, maxMessageSize: number, maxPending: number, handshakeMax?: number) {
    this.address = address;
    this.#max = maxMessageSize;
    this.#maxPending = maxPending;
    this.#handshakeMax = handshakeMax;
    // CPython keeps one instance waiting. A few more let a burst of clients in without retries
    // (a busy client retries anyway); each waiting instance holds a registered wait, so at most 4,
    // as createServer's pendingInstances default.
    this.#backlog = Math.min(Math.max(backlog, 1), 4);
    this.#pending = new AcceptPool(
      (inst, c) => this.#onConnect(inst, c),
      {
        waiting: this.#backlog,
        // An instance waiting now is an unclaimed client later: both count against maxPending.
        cap: maxPending,
        live: () => this.#unclaimed,
        held: () => this.#held,
        running: () => !this.#closed,
        spec: (exclusive) => this.#spec(exclusive),
        slot: {},
        guardGap: true,
        askAtGap: true,
        // "Not now" comes only from an exclusive create (unlimited instances): an instance of ours
        // we closed lingers until its client closes too, so it is retried.
        notNow: 'retry',
        fail: (err) => this.#fail(err as PipeError),
      },
      false,
    );
    // FILE_FLAG_FIRST_PIPE_INSTANCE alone is not enough where it is not enforced (Wine): ask first.
    if (nameInUse(address)) throw new PipeError({ code: 'EADDRINUSE', syscall: 'CreateNamedPipeW', path: address });
    this.#security = new SecurityAttributes('current-user');
    try {
      this.#pending.start();
    } catch (err) {
      this.#security.free();
      throw err;
    }
  }

  next(): Promise<PendingConnection> {
    if (this.#closed) return Promise.reject(closedError('accept'));
    const handle = this.#ready.shift();
    if (handle !== undefined) return Promise.resolve(this.#pendingOf(handle));
    if (this.#error) return Promise.reject(this.#error);
    const p = new Promise<PendingConnection>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    // A pending accept keeps the process alive, as Python's blocking accept() would.
    this.#refAll();
    const settle = (): void => this.#refAll();
    p.then(settle, settle);
    return p;
  }

  withdraw(): void {
    this.#waiters = [];
    this.#refAll();
  }

  stats(): ServerConnectionStats {
    return { current: this.#unclaimed, max: this.#maxPending, dropped: 0, refused: this.#refused, reachedMax: this.#reachedMax };
  }

  /** Sets the check each client passes before it is queued; given right after construction, before any client. */
  admitWith(admit: AdmitFunction | undefined, timeout: number): void {
    this.#admit = admit;
    this.#admitTimeout = timeout;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of this.#waiters.splice(0)) w.reject(closedError('accept'));
    this.#unclaimed -= this.#ready.length + this.#admitting.size;
    for (const h of this.#ready.splice(0)) this.#closeHeld(h);
    this.#admitting.closeAll();
    // Close the instances now, so that the name is gone when close() returns (as in Python):
    // a client must not connect to an instance nobody will accept.
    this.#pending.cancel(true);
    this.#security?.free();
    this.#security = undefined;
  }

  #refAll(): void {
    this.#pending.ref(this.#waiters.length > 0);
  }

  /** The instance to create: `exclusive` for the listen itself and the gap (see the class). */
  #spec(exclusive: boolean): InstanceSpec {
    const openMode = k32.PIPE_ACCESS_DUPLEX | k32.FILE_FLAG_OVERLAPPED | (exclusive ? k32.FILE_FLAG_FIRST_PIPE_INSTANCE : 0);
    return { path: this.address, openMode, pipeMode: MESSAGE_PIPE, maxInstances: k32.PIPE_UNLIMITED_INSTANCES, outBufferSize: BUFSIZE, inBufferSize: BUFSIZE, security: this.#security!.bytes };
  }

  /** Closes an accepted instance the Listener still holds. */
  #closeHeld(handle: k32.HANDLE): void {
    k32.CloseHandle(handle);
    this.#held--;
  }

  #onConnect(inst: WaitingInstance, c: Completion): void {
    const connected = acceptedClient(c.error);
    if (!connected || this.#closed) {
      if (!inst.handleClosed) k32.CloseHandle(inst.handle);
      if (!this.#closed && c.error !== E.ERROR_OPERATION_ABORTED) this.#fail(win32Error(c.error, 'ConnectNamedPipe', this.address));
      this.#pending.replenish();
      return;
    }
    this.#held++;
    if (++this.#unclaimed === this.#maxPending) this.#reachedMax++;
    // A fresh instance waits before this client is even handed out.
    this.#pending.replenish();
    const admit = this.#admit;
    if (!admit) {
      this.#queueOrHand(inst.handle);
      return;
    }
    // Before it is queued, so before accept() and the authkey handshake. Ownership: the admission
    // owns the handle until it admits (then the queue does), refuses, or close() takes it.
    this.#admitting.run(
      inst.handle,
      admit,
      peerIdentity(inst.handle, 'client'),
      this.#admitTimeout,
      () => !this.#closed,
      (end) => {
        if (end.kind === 'gone') return;
        if (end.kind === 'admitted') {
          this.#queueOrHand(end.client);
          return;
        }
        this.#unclaimed--;
        if (!end.outcome.admitted) this.#refused++;
        this.#pending.replenish();
      },
    );
  }

  #queueOrHand(handle: k32.HANDLE): void {
    const w = this.#waiters.shift();
    if (w) w.resolve(this.#pendingOf(handle));
    else this.#ready.push(handle);
  }

  /** Ownership: the PendingConnection owns `handle`; it stays counted until claimed or destroyed. */
  #pendingOf(handle: k32.HANDLE): PendingConnection {
    const closed = (): void => {
      this.#held--;
    };
    return releasedOnce(pendingFromHandle(handle, this.address, this.#max, this.#handshakeMax, closed), () => {
      this.#unclaimed--;
      this.#pending.replenish();
    });
  }

  #fail(err: PipeError): void {
    this.#error = err;
    for (const w of this.#waiters.splice(0)) w.reject(err);
  }
}

// --- Client --------------------------------------------------------------------------------------

/**
 * Opens a Listener's pipe. Retries while every instance is busy, then `ETIMEDOUT`; absent is
 * `ENOENT`; a pipe whose owner is not in `trusted` is `EACCES` (src/windows/trust.ts, the same
 * check as `connect`). The handle is closed on every failure.
 */
export function winConnect(address: string, maxMessageSize: number, trusted: 'any' | readonly string[] = ['default'], handshakeMax?: number): Promise<PendingConnection> {
  const spec = { access: k32.GENERIC_READ | k32.GENERIC_WRITE, flags: CLIENT_FLAGS, trusted, deadline: Date.now() + CONNECT_TIMEOUT_MS };
  return openPipe(address, spec).then(({ handle }) => {
    // Ownership: setMessageReadMode closes the handle if it fails; then the connection owns it.
    setMessageReadMode(handle, address);
    return pendingFromHandle(handle, address, maxMessageSize, handshakeMax);
  });
}

/** The Windows channel platform (src/channel/platform.ts). */
export const windowsChannel: ChannelPlatform = {
  address: validateWinAddress,
  pipe: winPipe,
  fromFd: winFromFd,
  listen: (address, o) => {
    const backend = new WinListenerBackend(address ?? arbitraryWinAddress(), o.backlog, o.maxMessageSize, o.maxPending, o.handshakeMax);
    backend.admitWith(o.admit, o.admitTimeout);
    return backend;
  },
  connect: (address, o) => winConnect(address, o.maxMessageSize, o.trustedServerOwners, o.handshakeMax),
};
