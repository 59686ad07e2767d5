/**
 * The POSIX side of channels, as CPython's `multiprocessing.connection` does it on Unix:
 *
 * - `Pipe()`: `socketpair(AF_UNIX, SOCK_STREAM)` for a duplex pair, `pipe2` for a one-way pair;
 * - `Listener` / `Client`: Unix domain sockets on a filesystem path (relative to the cwd allowed;
 *   on Linux `\0name` is the abstract namespace);
 * - the wire: a 4-byte big-endian signed length per message, `-1` and an 8-byte length above
 *   2 GiB - 1 ({@link frameHeader}; decoding is {@link SocketMessageTransport}'s FrameDecoder).
 */
import { closeSync, fstatSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { constants as osConstants, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { PipeError, closedError, fromNodeError, posixError } from '../errors.js';
import { frameHeader } from '../framing.js';
import { SUN_PATH_MAX, validatePosixAddress } from '../names.js';
import * as libc from '../posix/libc.js';
import { posixBackend } from '../posix/pipe.js';
import { SocketMessageTransport } from '../posix/transport.js';
import { checkServer, currentUid, mayAccept, peerCredentials, peerIdentity } from '../posix/trust.js';
import { Admissions, type AdmitFunction } from '../admit.js';
import { setCloexec } from '../posix/fd.js';
import { RETRY, retry } from '../retry.js';
import { bindListening, connectUnix, removeSocketFile, socketFd } from '../posix/socket.js';
import type { HandshakeIO } from './auth.js';
import type { ChannelPlatform } from './platform.js';
import type { ServerConnectionStats } from '../types.js';
import { Connection, channelClosed, releasedOnce, type ChannelEndpoint, type PendingConnection } from './connection.js';

const isLinux = process.platform === 'linux';
const { EAGAIN } = osConstants.errno;

/**
 * One end on POSIX: a raw fd (socketpair, pipe, inherited) turned into a `net.Socket` on first use,
 * or a socket that is already connected (Listener / Client).
 */
class PosixEndpoint implements ChannelEndpoint {
  readonly readable: boolean;
  readonly writable: boolean;
  readonly path: string;
  readonly eager: boolean;
  readonly #max: number;
  readonly #fd: number;
  #socket: net.Socket | undefined;

  /** Ownership: the endpoint owns `fd` (or `socket`) until open() hands it to a transport. */
  constructor(init: { fd: number; socket?: net.Socket; readable: boolean; writable: boolean; path: string; maxMessageSize: number }) {
    this.#fd = init.fd;
    this.#socket = init.socket;
    // A socket from a Listener or Client is already in the event loop's hands.
    this.eager = init.socket !== undefined;
    this.readable = init.readable;
    this.writable = init.writable;
    this.path = init.path;
    this.#max = init.maxMessageSize;
  }

  open(): SocketMessageTransport {
    // allowHalfOpen: the transport's end() is a real half-close (CPython's peer may still answer).
    this.#socket ??= new net.Socket({ fd: this.#fd, readable: this.readable, writable: this.writable, allowHalfOpen: true });
    // Ownership: the transport owns the socket, and through it the fd.
    return new SocketMessageTransport(this.#socket, this.path, this.#max);
  }

  fd(): number {
    return this.#fd;
  }

  handle(): bigint {
    return BigInt(this.#fd);
  }

  kernelReadable(): boolean {
    const pfd = new Uint8Array(8);
    const view = new DataView(pfd.buffer);
    view.setInt32(0, this.#fd, true);
    view.setInt16(4, libc.POLLIN, true);
    if (libc.poll(pfd, 1, 0) <= 0) return false;
    return (view.getInt16(6, true) & (libc.POLLIN | libc.POLLHUP)) !== 0;
  }

  release(opened: boolean): void {
    if (opened) return;
    if (this.#socket) this.#socket.destroy();
    else closeSync(this.#fd);
  }
}

// --- Pipe ------------------------------------------------------------------------------------------

/** `Pipe()` on POSIX. Ownership: each returned connection owns its fd. */
export function posixPipe(duplex: boolean, maxMessageSize: number): [Connection, Connection] {
  let a: number;
  let b: number;
  if (duplex) {
    const sv = new Int32Array(2);
    // SOCK_CLOEXEC where it exists (Linux); elsewhere FD_CLOEXEC right after, as pipe() does.
    if (libc.socketpair(libc.AF_UNIX, libc.SOCK_STREAM | libc.SOCK_CLOEXEC, 0, sv) !== 0) throw posixError(libc.errno(), 'socketpair');
    [a, b] = [sv[0]!, sv[1]!];
    if (!isLinux) {
      try {
        setCloexec(a);
        setCloexec(b);
      } catch (err) {
        closeSync(a);
        closeSync(b);
        throw err;
      }
    }
  } else {
    const [r, w] = posixBackend.createPipe(undefined);
    [a, b] = [r.fd, w.fd];
  }
  const path = duplex ? 'socketpair' : 'pipe';
  return [
    new Connection(new PosixEndpoint({ fd: a, readable: true, writable: duplex, path, maxMessageSize })),
    new Connection(new PosixEndpoint({ fd: b, readable: duplex, writable: true, path, maxMessageSize })),
  ];
}

/** `Connection.fromFd` on POSIX: a socket or a pipe end; the direction comes from the open flags. */
export function posixFromFd(fd: number, maxMessageSize: number): Connection {
  let st;
  try {
    st = fstatSync(fd);
  } catch (err) {
    throw fromNodeError(err, 'fstat');
  }
  if (!st.isSocket() && !st.isFIFO()) throw new PipeError({ code: 'EINVAL', syscall: 'fromFd', message: `EINVAL: fd ${fd} is neither a socket nor a pipe` });
  const flags = libc.fcntl(fd, libc.F_GETFL, 0);
  if (flags < 0) throw posixError(libc.errno(), 'fcntl');
  const access = flags & 3;
  // An inherited fd is inheritable; ours should not leak into the children we spawn next.
  setCloexec(fd);
  const path = `fd ${fd}`;
  return new Connection(new PosixEndpoint({ fd, readable: access !== libc.O_WRONLY, writable: access !== libc.O_RDONLY, path, maxMessageSize }));
}

// --- handshake over a raw socket -----------------------------------------------------------------

/**
 * Whole frames read with exact-length `socket.read(n)` before any transport exists: a length above
 * the limit is refused from the header alone, as CPython's `recv_bytes(256)` does, so an
 * unauthenticated peer cannot make us buffer a large message. Bytes after the handshake stay in
 * the socket's buffer for the transport.
 */
class RawSocketFrames implements HandshakeIO {
  constructor(
    private readonly socket: net.Socket,
    private readonly path: string,
  ) {}

  sendBytes(data: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.write(Buffer.concat([frameHeader(data.byteLength), data]), (err) => (err ? reject(fromNodeError(err, 'send')) : resolve()));
    });
  }

  async recvBytes(maxLength: number): Promise<Buffer> {
    const head = await this.#exact(4, true);
    let size = head.readInt32BE(0);
    if (size === -1) {
      const long = (await this.#exact(8, false)).readBigUInt64BE(0);
      size = long > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(long);
    } else if (size < 0) {
      throw new PipeError({ code: 'EPROTO', syscall: 'recv', path: this.path, message: `EPROTO: bad message length ${size}` });
    }
    if (size > maxLength) throw new PipeError({ code: 'ERR_MESSAGE_TOO_LARGE', syscall: 'recv', path: this.path });
    return this.#exact(size, false);
  }

  async #exact(n: number, atBoundary: boolean): Promise<Buffer> {
    if (n === 0) return Buffer.alloc(0);
    const socket = this.socket;
    for (;;) {
      const chunk = socket.read(n) as Buffer | null;
      if (chunk !== null) {
        if (chunk.length === n) return chunk;
        // Fewer than n bytes come back only at end of stream.
        throw channelClosed(this.path);
      }
      if (socket.readableEnded || socket.destroyed) {
        if (atBoundary) throw channelClosed(this.path);
        throw channelClosed(this.path, new Error('end of stream in the middle of a message'));
      }
      await new Promise<void>((resolve, reject) => {
        const done = (err?: Error): void => {
          socket.off('readable', ok);
          socket.off('end', ok);
          socket.off('close', ok);
          socket.off('error', fail);
          if (err) reject(fromNodeError(err, 'recv'));
          else resolve();
        };
        const ok = (): void => done();
        const fail = (err: Error): void => done(err);
        socket.on('readable', ok);
        socket.on('end', ok);
        socket.on('close', ok);
        socket.on('error', fail);
      });
    }
  }
}

function pendingFromSocket(socket: net.Socket, path: string, maxMessageSize: number): PendingConnection {
  return {
    io: new RawSocketFrames(socket, path),
    connection: () => new Connection(new PosixEndpoint({ fd: socketFd(socket) ?? -1, socket, readable: true, writable: true, path, maxMessageSize })),
    destroy: () => socket.destroy(),
  };
}

// --- addresses ----------------------------------------------------------------------------------

/** Python's `arbitrary_address('AF_UNIX')`: a fresh name in a private temporary directory. */
export function arbitraryPosixAddress(): { address: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'winpipe-'));
  return { address: join(dir, `listener-${randomBytes(6).toString('hex')}`), dir };
}

// --- Listener ------------------------------------------------------------------------------------

/**
 * The POSIX listening socket behind a Listener. Like a `'current-user'` server (the rule is in
 * src/posix/trust.ts): the socket file is 0600 from the moment it appears, and a client whose uid
 * is neither ours nor root is closed before `accept()` sees it (a Linux abstract name has no file
 * permissions at all, so this is its only protection). At most `maxPending` clients are held
 * between the kernel's accept and the Listener's claim (queued, or in the handshake); one beyond
 * that is closed as soon as it is accepted.
 */
export class PosixListenerBackend {
  readonly address: string;
  readonly #absolute: string | undefined;
  readonly #file: { dev: number; ino: number } | undefined;
  /** The effective uid the Listener bound as (bindListening): the user it admits, with root. */
  readonly #self: number;
  readonly #tempDir: string | undefined;
  readonly #server: net.Server;
  readonly #max: number;
  readonly #maxPending: number;
  /** Accepted clients not yet claimed: queued, or handed out as a PendingConnection. */
  #unclaimed = 0;
  #dropped = 0;
  #reachedMax = 0;
  #queue: net.Socket[] = [];
  #waiters: { resolve(p: PendingConnection): void; reject(e: unknown): void }[] = [];
  #error: PipeError | undefined;
  #closed = false;
  #admit: AdmitFunction | undefined;
  #admitTimeout = 0;
  /** Clients whose admit check is running (counted in #unclaimed). */
  readonly #admitting = new Admissions<net.Socket>((socket) => socket.destroy());
  #refused = 0;

  /** Binds and listens synchronously, so that errors (EADDRINUSE, ENOENT, EACCES) are thrown here. */
  constructor(address: string, backlog: number, maxMessageSize: number, maxPending: number, tempDir?: string) {
    this.address = address;
    this.#max = maxMessageSize;
    this.#maxPending = maxPending;
    this.#tempDir = tempDir;
    // Ownership: the fd is ours until the net.Server below takes it.
    const { fd, file, self } = bindListening(address, 0o600, backlog, SUN_PATH_MAX);
    this.#self = self;
    // Remember what we bound, so close() removes our socket file and nobody else's. libuv only
    // gets the fd and unlinks nothing.
    if (file) this.#absolute = resolve(address);
    this.#file = file;
    // pauseOnConnect: nothing is read before accept(); the handshake reads exact frames itself.
    this.#server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
    this.#server.on('connection', (socket: net.Socket) => this.#onConnection(socket));
    this.#server.on('error', (err) => this.#fail(fromNodeError(err, 'accept')));
    // Ownership: the server's handle owns the listening fd from here and closes it.
    this.#server.listen({ fd, backlog });
    this.#server.unref();
  }

  next(): Promise<PendingConnection> {
    if (this.#closed) return Promise.reject(closedError('accept'));
    const socket = this.#queue.shift();
    if (socket) return Promise.resolve(this.#pending(socket));
    if (this.#error) return Promise.reject(this.#error);
    const p = new Promise<PendingConnection>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    // A pending accept keeps the process alive, as Python's blocking accept() would.
    this.#server.ref();
    const settle = (): void => {
      if (this.#waiters.length === 0) this.#server.unref();
    };
    p.then(settle, settle);
    return p;
  }

  withdraw(): void {
    this.#waiters = [];
    this.#server.unref();
  }

  stats(): ServerConnectionStats {
    return { current: this.#unclaimed, max: this.#maxPending, dropped: this.#dropped, refused: this.#refused, reachedMax: this.#reachedMax };
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
    this.#unclaimed -= this.#queue.length + this.#admitting.size;
    for (const s of this.#queue.splice(0)) s.destroy();
    this.#admitting.closeAll();
    this.#server.close();
    // Python's Listener unlinks its socket file on close; we do too, if it is still ours.
    if (this.#absolute !== undefined) removeSocketFile(this.#absolute, this.#file);
    if (this.#tempDir) rmSync(this.#tempDir, { recursive: true, force: true });
  }

  #onConnection(socket: net.Socket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    if (this.#unclaimed >= this.#maxPending) {
      // Closed before any system call of ours: clients that never finish their handshake cannot
      // make the Listener hold descriptors until EMFILE.
      socket.destroy();
      this.#dropped++;
      return;
    }
    const cred = peerCredentials(socketFd(socket), this.#admit !== undefined);
    if (!mayAccept(cred, 'current-user', this.#self)) {
      socket.destroy();
      return;
    }
    if (++this.#unclaimed === this.#maxPending) this.#reachedMax++;
    // Until the pending connection is claimed, a socket error must not become an uncaught exception.
    socket.on('error', () => {});
    const admit = this.#admit;
    if (admit) {
      // Before it is queued, so before accept() and the authkey handshake.
      this.#admitting.run(
        socket,
        admit,
        peerIdentity(cred),
        this.#admitTimeout,
        () => !this.#closed && !socket.destroyed,
        (end) => {
          // Gone meanwhile: close() took it.
          if (end.kind === 'gone') return;
          if (end.kind === 'admitted') {
            this.#queueOrHand(socket);
            return;
          }
          this.#unclaimed--;
          if (!end.outcome.admitted) this.#refused++;
        },
      );
      return;
    }
    this.#queueOrHand(socket);
  }

  #queueOrHand(socket: net.Socket): void {
    const w = this.#waiters.shift();
    if (w) w.resolve(this.#pending(socket));
    else this.#queue.push(socket);
  }

  /** Ownership: the PendingConnection owns `socket`; it stays counted until claimed or destroyed. */
  #pending(socket: net.Socket): PendingConnection {
    return releasedOnce(pendingFromSocket(socket, this.address, this.#max), () => this.#unclaimed--);
  }

  #fail(err: PipeError): void {
    this.#error = err;
    for (const w of this.#waiters.splice(0)) w.reject(err);
  }
}

// --- Client --------------------------------------------------------------------------------------

/** How long a Client retries a full accept queue: CPython's CONNECTION_TIMEOUT. */
const CONNECT_TIMEOUT_MS = 20_000;

/**
 * Connects to a POSIX Listener's socket. Rejects with `ENOENT`, `ECONNREFUSED`, `EACCES`, ...
 * Node connects without blocking, so a full accept queue is `EAGAIN` where Python's blocking
 * connect would wait: retry on a timer for up to 20 s, as Python's own connect timeout allows.
 */
export async function posixConnect(address: string, maxMessageSize: number, allowServerUids: readonly number[] = []): Promise<PendingConnection> {
  // Our effective uid as we connect (the kernel records the same for the Listener), read once
  // for the check below, as createServer's connect does.
  const self = currentUid();
  const socket = await retry<net.Socket>(
    () =>
      connectUnix(address, undefined, true).catch((err: PipeError) => {
        if (err.code === 'EAGAIN') return RETRY;
        throw err;
      }),
    { first: 2, max: 50, deadline: Date.now() + CONNECT_TIMEOUT_MS, timedOut: () => posixError(EAGAIN, 'connect', address) },
  );
  try {
    // Before the handshake sends a byte: the Listener must be ours, root's, or named (trust.ts).
    checkServer(peerCredentials(socketFd(socket)), allowServerUids, address, 'connect', self);
  } catch (err) {
    socket.destroy();
    throw err;
  }
  // Until the connection is claimed, a socket error must not become an uncaught exception.
  socket.on('error', () => {});
  // Nothing flows until the handshake reads exact frames or the transport starts: paused by
  // connectUnix as it connected.
  return pendingFromSocket(socket, address, maxMessageSize);
}

/** The POSIX channel platform (src/channel/platform.ts). */
export const posixChannel: ChannelPlatform = {
  address: (given) => validatePosixAddress(given),
  pipe: posixPipe,
  fromFd: (fd, _readable, _writable, max) => posixFromFd(fd, max),
  listen(address, o) {
    let backend: PosixListenerBackend;
    if (address !== undefined) backend = new PosixListenerBackend(address, o.backlog, o.maxMessageSize, o.maxPending);
    else {
      const { address: a, dir } = arbitraryPosixAddress();
      backend = new PosixListenerBackend(a, o.backlog, o.maxMessageSize, o.maxPending, dir);
    }
    backend.admitWith(o.admit, o.admitTimeout);
    return backend;
  },
  connect: (address, o) => posixConnect(address, o.maxMessageSize, o.allowServerUids),
};
