/**
 * POSIX named pipes: Unix domain sockets through Node's own `net` (epoll / kqueue), so a pending
 * accept or read holds no thread of any pool.
 *
 * - Names map to socket paths with {@link pipePath}: `<private dir>/<name>.sock` (0700 directory,
 *   0600 socket), or our own public `winpipe-<uid>.public` directory (0711) with a 0666 socket for
 *   `security: 'everyone'`; absolute paths are used as is.
 * - Byte mode: the connection is the accepted `net.Socket` itself (src/connection.ts).
 * - Message mode: CPython `multiprocessing.connection` framing ({@link SocketMessageTransport}).
 * - `maxInstances`: the kernel accepts every client into the listen backlog; connections beyond the
 *   limit are held, unread, in arrival order, and handed out as earlier ones close; at most
 *   `maxPendingClients` are held, later ones are closed at once.
 * - Who may connect and whom we connect to: src/posix/trust.ts, the one place of that rule.
 */
import { lstatSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { byteConnection } from '../connection.js';
import { PipeError, abortError, fromNodeError } from '../errors.js';
import { MessageConnection } from '../message.js';
import { PipeServerBase } from '../server.js';
import type { HalfClose, ResolvedConnectOptions, ResolvedServerOptions } from '../options.js';
import type { ServerConnectionStats, PipeConnection, PipeServer } from '../types.js';
import { SUN_PATH_MAX, isPublicSecurity, pipePath, socketDir, socketDirMode, socketDirs, type SocketDirs } from '../names.js';
import * as libc from './libc.js';
import { isAccessPolicy } from '../access.js';
import { SocketMessageTransport } from './transport.js';
import { RETRY, retry } from '../retry.js';
import { checkDir, checkServer, currentUid, mayAccept, peerCredentials, peerIdentity, verifyDir, type PeerCredentials } from './trust.js';
import { Admissions } from '../admit.js';
import { bindListening, connectPathThen, connectUnix, removeSocketFile, socketFd } from './socket.js';

/** Mode of the socket file: only us, or every local user (connecting needs write permission). */
const PRIVATE_MODE = 0o600;
const SHARED_MODE = 0o666;
/** Node's own default listen backlog. */
const BACKLOG = 511;

// --- directions ----------------------------------------------------------------------------------

/**
 * Makes the directions this side must not use unusable, before the connection is handed out.
 *
 * - Not writable (server `'inbound'`, client `'read'`): half-close at once. The peer reads end
 *   of stream; our `writable` is false and a write fails as on any ended stream.
 * - Not readable (server `'outbound'`, client `'write'`): `shutdown(SHUT_RD)`, and whatever
 *   still arrives is discarded. Our side sees end of stream at once; on Linux the peer's writes
 *   then fail with EPIPE (the nearest thing to Windows' ERROR_ACCESS_DENIED for a wrong direction).
 */
function restrictDirections(socket: net.Socket, readable: boolean, writable: boolean): void {
  if (!writable) socket.end();
  if (!readable) {
    const fd = socketFd(socket);
    if (fd !== undefined) {
      try {
        libc.shutdown(fd, libc.SHUT_RD);
      } catch {
        // Without libc the direction is still closed on our side below.
      }
    }
    // Flowing with no 'data' listener: anything that arrives is dropped, then 'end'.
    socket.resume();
  }
}

/** Wraps a connected socket for `mode`. Ownership: the returned connection owns `socket`. */
function wrapSocket(
  socket: net.Socket,
  mode: 'byte' | 'message',
  info: {
    path: string;
    clientProcessId: number | undefined;
    serverProcessId: number | undefined;
    peer: PeerCredentials | undefined;
    readable: boolean;
    writable: boolean;
    allowHalfOpen: boolean;
    maxMessageSize: number;
    readAheadBytes: number;
    halfClose: HalfClose | undefined;
  },
): PipeConnection {
  // The socket itself stays half-open: in message mode the MessageConnection decides, and a side
  // made one-way (SHUT_RD) reads an end that is ours, not the peer's.
  restrictDirections(socket, info.readable, info.writable);
  if (mode === 'message') {
    // Ownership: the transport owns the socket, and the MessageConnection owns the transport.
    const transport = new SocketMessageTransport(socket, info.path, info.maxMessageSize, { halfClose: info.halfClose });
    return new MessageConnection(transport, {
      path: info.path,
      readable: info.readable,
      writable: info.writable,
      allowHalfOpen: info.allowHalfOpen,
      readAheadBytes: info.readAheadBytes,
      ...(info.clientProcessId === undefined ? {} : { clientProcessId: info.clientProcessId }),
      ...(info.serverProcessId === undefined ? {} : { serverProcessId: info.serverProcessId }),
      ...(info.peer === undefined ? {} : { peerUid: info.peer.uid, peerGid: info.peer.gid }),
      peer: peerIdentity(info.peer),
    });
  }
  // Byte mode with halfClose 'zero-message' is what a byte connection always does here: end() is
  // shutdown(SHUT_WR), and reading goes on until the peer's end.
  // net reads allowHalfOpen when the read side ends: false makes the peer's end end ours, then 'close'.
  if (info.readable) {
    socket.allowHalfOpen = info.allowHalfOpen;
    startReading(socket);
  }
  const peer = info.peer;
  return byteConnection(socket, {
    path: info.path,
    clientProcessId: info.clientProcessId,
    serverProcessId: info.serverProcessId,
    peerUid: peer?.uid,
    peerGid: peer?.gid,
    peer: peerIdentity(peer),
  });
}

/**
 * Starts reading a socket accepted with `pauseOnConnect` without putting it in flowing mode, so
 * no data is emitted before the user attaches a listener, and a later `'data'` listener still
 * switches it to flowing (an explicit pause() would stop that).
 */
function startReading(socket: net.Socket): void {
  // Not paused (a client's socket): net started reading it as it connected (its own read(0)).
  if (socket.readableFlowing !== false) return;
  // The setter exists on every Readable (Node itself uses it for pauseOnCreate); the typings say readonly.
  (socket as { readableFlowing: boolean | null }).readableFlowing = null;
  socket.read(0);
}

// --- server --------------------------------------------------------------------------------------

type ServerState = 'idle' | 'starting' | 'listening' | 'closed';


/**
 * A named-pipe server over a Unix domain socket.
 *
 * `maxInstances` on POSIX: a Unix socket has no instance limit, and the kernel completes every
 * client's `connect` into the listen backlog. winpipe keeps at most `maxInstances` connections
 * handed out; later ones are held unread in arrival order (their data waits in the kernel) and
 * handed out, oldest first, as earlier ones close. A held client's `connect` has already
 * succeeded, so `connect`'s `connectTimeout` does not apply to it. At most `maxPendingClients` are
 * held; a client beyond that is closed at once. Every client's uid is checked (trust.ts
 * `mayAccept`) before it is held or handed out.
 *
 * `maxConnections` bounds the two together (handed out plus held): a client beyond it is closed
 * as soon as it is accepted, before any system call of ours, so a peer that opens connections
 * and never closes them cannot take the descriptors the process needs for its own files.
 */
class PosixPipeServer extends PipeServerBase {
  readonly #o: ResolvedServerOptions;
  #state: ServerState = 'idle';
  #path: string | null = null;
  #server: net.Server | undefined;
  /** dev/ino of the socket file we bound, so close() removes ours and nobody else's. */
  #file: { dev: number; ino: number } | undefined;
  #live = 0;
  #held: { socket: net.Socket; peer: PeerCredentials | undefined }[] = [];
  /** Clients whose `admit` check is running: counted toward maxConnections, closed by close(). */
  readonly #admitting = new Admissions<net.Socket>((socket) => socket.destroy());
  /** Clients closed at accept because a bound was reached. */
  #dropped = 0;
  /** Clients `admit` refused. */
  #refused = 0;
  #reachedMax = 0;
  #refed = true;
  #closed: Promise<void> | undefined;

  constructor(options: ResolvedServerOptions, listener?: (conn: PipeConnection) => void) {
    super(listener);
    this.#o = options;
  }

  protected get stopped(): boolean {
    return this.#state === 'closed';
  }

  get listening(): boolean {
    return this.#state === 'listening';
  }

  address(): string | null {
    return this.#path;
  }

  // `rendezvous` has no effect here: a name lives in our private directory, which nobody else can take.
  protected startListening(name: string): Promise<void> {
    // Bad names throw here, synchronously, before any system call.
    const path = pipePath(name, { security: this.#o.security });
    if (this.#state !== 'idle') {
      return this.alreadyListening();
    }
    this.#state = 'starting';
    return this.#listen(name, path).catch((err: unknown) => {
      if (this.#state === 'starting') this.#state = 'idle';
      throw err;
    });
  }

  close(): Promise<void> {
    if (this.#closed) return this.#closed;
    this.#state = 'closed';
    const server = this.#server;
    this.#server = undefined;
    if (server) {
      // Stops accepting at once. libuv was handed an fd and unlinks nothing, so the socket file is
      // removed here, by #removeSocketFile, if it is still ours. Node's close callback would wait
      // for every live connection, which we leave alone: don't wait.
      server.close();
      server.on('error', () => {});
      this.#removeSocketFile();
    }
    // Clients accepted by the kernel but never handed out: nobody will serve them now.
    for (const { socket } of this.#held.splice(0)) socket.destroy();
    this.#admitting.closeAll();
    this.wakeIterations();
    this.#closed = new Promise<void>((resolve) => {
      process.nextTick(() => {
        this.emit('close');
        resolve();
      });
    });
    return this.#closed;
  }

  connectionStats(): ServerConnectionStats {
    return { current: this.#live + this.#held.length + this.#admitting.size, max: this.#o.maxConnections, dropped: this.#dropped, refused: this.#refused, reachedMax: this.#reachedMax };
  }

  securityDescriptor(): string {
    throw new PipeError({ code: 'ENOTSUP', syscall: 'securityDescriptor', message: 'ENOTSUP: a security descriptor is Windows-only; on POSIX access is the socket directory, its mode and the peer check' });
  }

  ref(): this {
    this.#refed = true;
    this.#server?.ref();
    return this;
  }

  unref(): this {
    this.#refed = false;
    this.#server?.unref();
    return this;
  }

  async #listen(name: string, path: string): Promise<void> {
    const security = this.#o.security;
    // The directory winpipe derives from a name must be ours and closed to others (trust.ts).
    if (!isAbsolute(name)) verifyDir(socketDir(security), { mode: socketDirMode(security), create: true, syscall: 'mkdir' });
    await this.#clearStale(path);
    this.#checkNotClosed(path);

    // Bound in a private staging directory, given its mode there, then linked into place: never
    // reachable at the umask's mode, and never replacing a file that appeared meanwhile.
    // Ownership: the fd is ours until server.listen({ fd }) below hands it to the net.Server.
    const { fd, file } = bindListening(path, isPublicSecurity(security) ? SHARED_MODE : PRIVATE_MODE, BACKLOG, SUN_PATH_MAX);
    this.#file = file;
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        server.off('listening', onListening);
        removeSocketFile(path, file);
        reject(new PipeError({ code: err.code ?? 'UNKNOWN', syscall: 'listen', path, cause: err }));
      };
      const onListening = (): void => {
        server.off('error', onError);
        resolve();
      };
      server.once('error', onError);
      server.once('listening', onListening);
      // libuv gets only the fd, so it never learns (or unlinks) a path: #removeSocketFile does.
      server.listen({ fd, backlog: BACKLOG });
    });
    server.on('error', (err: NodeJS.ErrnoException) => {
      if (this.#state === 'listening') this.emit('error', fromNodeError(err, 'accept'));
    });
    server.on('connection', (socket: net.Socket) => this.#onSocket(socket));
    if (this.#state === 'closed') {
      server.close();
      this.#path = path;
      this.#removeSocketFile();
      this.#path = null;
      this.#checkNotClosed(path);
    }
    if (!this.#refed) server.unref();
    this.#server = server;
    this.#path = path;
    this.#state = 'listening';
    this.emit('listening');
  }

  #checkNotClosed(path: string): void {
    if (this.#state === 'closed') throw new PipeError({ code: 'ERR_PIPE_CLOSED', syscall: 'listen', path });
  }

  /**
   * Makes room for our socket: nothing there is fine; a socket nobody listens on (ECONNREFUSED)
   * is stale and removed; a live one, or anything that is not a socket, means the name is taken.
   * A user's regular file is never deleted.
   */
  async #clearStale(path: string): Promise<void> {
    let st;
    try {
      st = lstatSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw fromNodeError(err, 'lstat');
    }
    const inUse = (cause?: unknown): PipeError => new PipeError({ code: 'EADDRINUSE', syscall: 'listen', path, ...(cause === undefined ? {} : { cause }) });
    if (!st.isSocket()) throw inUse();
    const probe = await probeSocket(path);
    if (probe === 'gone') return;
    if (probe !== 'stale') throw inUse(probe);
    try {
      unlinkSync(path);
    } catch (err) {
      // Someone else's stale socket in the shared (sticky) directory: we may not remove it.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw inUse(err);
    }
  }

  #removeSocketFile(): void {
    if (this.#path) removeSocketFile(this.#path, this.#file);
  }

  #onSocket(socket: net.Socket): void {
    if (this.#state !== 'listening') {
      socket.destroy();
      return;
    }
    const bound = this.#o.maxConnections;
    if (this.#live + this.#held.length + this.#admitting.size >= bound) {
      // Closed before any system call of ours: its descriptor is gone again at once.
      this.#drop(socket);
      return;
    }
    // The credentials decide (the uid; the groups for a preset's gid rule); the pid is information
    // for the connection. Linux: SO_PEERCRED, then SO_PEERGROUPS.
    const peer = peerCredentials(socketFd(socket), true);
    if (!mayAccept(peer, this.#o.security)) {
      // Another user's client (it could only get here through a socket made reachable by
      // hand, or a Linux abstract name): closed before the application sees it.
      socket.destroy();
      return;
    }
    const admit = this.#o.admit;
    if (admit) {
      // Unread (pauseOnConnect) while the check runs; an error meanwhile only ends it.
      const onError = (): void => {};
      socket.on('error', onError);
      const identity = peerIdentity(peer);
      this.#admitting.run(socket, admit, identity, this.#o.admitTimeout, () => this.#state === 'listening' && !socket.destroyed, (end) => {
        // Gone meanwhile: closed by close().
        if (end.kind === 'gone') return;
        socket.off('error', onError);
        if (end.kind === 'admitted') {
          this.#place(socket, peer, false);
          return;
        }
        // Not refused when the server closed or the client left meanwhile.
        if (!end.wanted) return;
        const { outcome } = end;
        if (outcome.admitted) return;
        this.#refused++;
        this.emit('refused', identity, outcome.reason, ...(outcome.error === undefined ? [] : [outcome.error]));
      });
      if (this.#live + this.#held.length + this.#admitting.size === bound) this.#reachedMax++;
      return;
    }
    this.#place(socket, peer, true);
  }

  /**
   * Hands out an accepted (and admitted) client, or holds it while `maxInstances` are busy.
   * `count`: it joins the bound here (an admitted client joined when its check began).
   */
  #place(socket: net.Socket, peer: PeerCredentials | undefined, count: boolean): void {
    const bound = this.#o.maxConnections;
    const max = this.#o.maxInstances;
    if (max !== 'unlimited' && this.#live >= max) {
      if (this.#held.length >= this.#o.maxPendingClients) {
        // Bounded: a peer cannot make us hold descriptors until EMFILE.
        this.#drop(socket);
        return;
      }
      // Held: not read (pauseOnConnect), so the client's data waits in the kernel, as a Windows
      // client waits for a free instance. A held client that fails is dropped.
      const entry = { socket, peer };
      this.#held.push(entry);
      socket.once('close', () => {
        const i = this.#held.indexOf(entry);
        if (i >= 0) this.#held.splice(i, 1);
      });
      socket.on('error', () => {});
    } else {
      this.#handOut(socket, peer);
    }
    // Counted here, where a client joins, not in #handOut, which also moves held ones up.
    if (count && this.#live + this.#held.length + this.#admitting.size === bound) this.#reachedMax++;
  }

  /** Closes a client that a bound turns away, and says so. */
  #drop(socket: net.Socket): void {
    socket.destroy();
    this.#dropped++;
    this.emit('drop');
  }

  #handOut(socket: net.Socket, peer: PeerCredentials | undefined): void {
    const o = this.#o;
    let conn: PipeConnection;
    try {
      conn = wrapSocket(socket, o.mode, {
        path: this.#path!,
        clientProcessId: peer?.pid,
        serverProcessId: undefined,
        peer,
        readable: o.access !== 'outbound',
        writable: o.access !== 'inbound',
        allowHalfOpen: o.allowHalfOpen,
        maxMessageSize: o.maxMessageSize,
        readAheadBytes: o.readAheadBytes,
        halfClose: o.halfClose,
      });
    } catch (err) {
      socket.destroy();
      this.emit('error', err);
      return;
    }
    this.#live++;
    // The slot is freed when the connection the user holds closes (in message mode its 'close'
    // also destroys the socket under it). One listener function for every connection of this
    // server ('close' is emitted once, so `on` is `once` without its wrapper).
    conn.on('close', this.#onConnectionClose);
    this.deliver(conn);
  }

  readonly #onConnectionClose = (): void => {
    this.#live--;
    // After every 'close' listener of this connection has run, so that users counting their
    // connections never see more than maxInstances at once. Nobody held, nobody to move up (no
    // tick per connection): a client placed later sees the slot freed here and is handed out.
    if (this.#held.length > 0) process.nextTick(this.#admitHeldNow);
  };
  readonly #admitHeldNow = (): void => this.#admitHeld();

  #admitHeld(): void {
    const max = this.#o.maxInstances;
    while (this.#state === 'listening' && this.#held.length > 0 && (max === 'unlimited' || this.#live < max)) {
      const { socket, peer } = this.#held.shift()!;
      if (!socket.destroyed) this.#handOut(socket, peer);
    }
  }
}

/**
 * Is anyone listening on the socket at `path`? `'stale'`: nobody (ECONNREFUSED); `'gone'`: no
 * file any more; otherwise the connection error (or `'live'`).
 */
function probeSocket(path: string): Promise<'live' | 'stale' | 'gone' | Error> {
  return new Promise((resolve) => {
    const socket = net.connect({ path, allowHalfOpen: true });
    socket.once('connect', () => {
      resolve('live');
      // Leave the live server as gently as possible: send nothing, half-close, and read whatever
      // it says until it closes. Closing with unread data would hand it an ECONNRESET, which
      // some servers do not handle. A server that never closes is cut off after a while.
      socket.unref();
      socket.end();
      socket.resume();
      socket.once('end', () => socket.destroy());
      socket.on('error', () => {});
      setTimeout(() => socket.destroy(), 5000).unref();
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      socket.destroy();
      if (err.code === 'ECONNREFUSED') resolve('stale');
      else if (err.code === 'ENOENT') resolve('gone');
      // EAGAIN: a full backlog is a live server; EACCES: not ours to take over.
      else resolve(err);
    });
  });
}

/**
 * Creates the POSIX server behind `createServer` (src/index.ts): a Unix domain socket served by
 * Node's `net`. `security: { sddl }` is Windows-only and throws here, synchronously;
 * `rejectRemoteClients` has no effect (Unix sockets are local); `pendingInstances`,
 * `inBufferSize` and `outBufferSize` are Windows-only and ignored.
 *
 * @example
 * ```ts
 * const server = createPosixServer(resolveServerOptions({ mode: 'message' }), (conn) => {
 *   conn.on('data', (msg) => conn.write(msg));
 * });
 * await server.listen('my-app');      // $XDG_RUNTIME_DIR/winpipe/my-app.sock, mode 0600
 * // security: 'everyone' -> <tmpdir>/winpipe-<uid>.public/my-app.sock, mode 0666, directory 0711
 * ```
 * @throws PipeError `ERR_UNSUPPORTED_PLATFORM` for `{ sddl }`.
 */
export function createPosixServer(options: ResolvedServerOptions, listener?: (conn: PipeConnection) => void): PipeServer {
  if (typeof options.security === 'object' && !isAccessPolicy(options.security)) {
    throw new PipeError({ code: 'ERR_UNSUPPORTED_PLATFORM', syscall: 'createServer', message: 'ERR_UNSUPPORTED_PLATFORM: security: { sddl } is Windows-only; use \'current-user\' or \'everyone\'' });
  }
  return new PosixPipeServer(options, listener);
}

// --- client --------------------------------------------------------------------------------------

/** Codes that mean "nobody serves this path": portable ENOENT, as Windows' ERROR_FILE_NOT_FOUND. */
function isNobodyThere(code: string | undefined): boolean {
  return code === 'ENOENT' || code === 'ECONNREFUSED';
}

/** A path connect tries, and the socket directory to check before it (none for a path given in full elsewhere). */
interface Candidate {
  readonly path: string;
  readonly dir?: { readonly path: string; readonly mode: number };
}

/**
 * Where to look for `path`, each with the directory to verify first (trust.ts) or none: a name
 * in our private directory is also looked for in OUR public directory, so that `connect('name')`
 * reaches our own `security: 'everyone'` server, as `\\.\pipe\name` would on Windows. Never
 * anyone else's directory: reaching another user's server takes its full path and
 * `allowServerUids`. An absolute path is used as is; the server's uid is checked after connect.
 * `dirs`: the directories `path` was resolved against (names.ts posixConnectPath), else today's.
 *
 * The answer for the same path and the same directories answer (names.ts keeps one object while
 * the environment and uid stay the same) is kept and shared, frozen: a client connecting to one
 * name again and again builds its list once.
 */
function candidates(path: string, dirs: SocketDirs = socketDirs()): readonly Candidate[] {
  const last = lastCandidates;
  if (last !== undefined && last.dirs === dirs && last.path === path) return last.list;
  const list = Object.freeze(findCandidates(path, dirs).map((c) => Object.freeze(c)));
  lastCandidates = { path, dirs, list };
  return list;
}
let lastCandidates: { path: string; dirs: SocketDirs; list: readonly Candidate[] } | undefined;

function findCandidates(path: string, dirs: SocketDirs): Candidate[] {
  const { private: priv, public: pub } = dirs;
  const dir = dirname(path);
  if (dir === priv) {
    return [
      { path, dir: Object.freeze({ path: priv, mode: PRIVATE_DIR_MODE }) },
      { path: join(pub, basename(path)), dir: Object.freeze({ path: pub, mode: PUBLIC_DIR_MODE }) },
    ];
  }
  if (dir === pub) return [{ path, dir: Object.freeze({ path: pub, mode: PUBLIC_DIR_MODE }) }];
  return [{ path }];
}
const PRIVATE_DIR_MODE = socketDirMode('current-user');
const PUBLIC_DIR_MODE = socketDirMode('everyone');

/**
 * `pipeExists` on POSIX: a socket file at one of the paths `connect` would try, in a directory
 * that passes `connect`'s checks. Only `lstat`: nothing connects, so the server accepts nothing.
 */
export function posixPipeExists(path: string): boolean {
  for (const { path: candidate, dir } of candidates(path)) {
    if (dir) {
      try {
        verifyDir(dir.path, { mode: dir.mode, create: false, syscall: 'connect', trustedOwners: [] });
      } catch {
        // No directory, or one connect would refuse: nothing we would talk to lives there.
        continue;
      }
    }
    try {
      if (lstatSync(candidate).isSocket()) return true;
    } catch {
      // ENOENT, or a path we may not look at: not there for us.
    }
  }
  return false;
}

/** A connected socket and the server's credentials, read in its `'connect'` event. */
interface Connected {
  socket: net.Socket;
  server: PeerCredentials | undefined;
}

/** One connect attempt (the retries on a full backlog). Resolves the connected socket or rejects with a PipeError (or an AbortError). */
async function attempt(path: string, signal: AbortSignal | undefined): Promise<Connected> {
  const socket = await connectUnix(path, signal);
  // Read now, while the handle surely exists: a server that closes at once can have the socket
  // ended and destroyed (its fd gone) before the caller's continuation runs. Handed on with the
  // socket (one object, not a WeakMap entry per connection).
  return { socket, server: peerCredentials(socketFd(socket)) };
}

function connectError(err: unknown, path: string): PipeError | Error {
  if ((err as Error)?.name === 'AbortError') return err as Error;
  const code = (err as NodeJS.ErrnoException).code;
  if (isNobodyThere(code)) return new PipeError({ code: 'ENOENT', syscall: 'connect', path, cause: err });
  return new PipeError({ code: code ?? 'UNKNOWN', syscall: 'connect', path, cause: err });
}

/**
 * What a waiting connect (`wait: true`) learns across its attempts: the first candidate directory
 * it passed over because it does not trust it. `connect` makes one per call and gives it to every
 * attempt; its timeout names that directory's error as its `cause`.
 */
export interface UntrustedSeen {
  untrusted?: PipeError | undefined;
}

/** Directories already warned about: one `WINPIPE_UNTRUSTED_CANDIDATE` warning per directory per process, as Node warns. */
const warnedDirs = new Set<string>();

function passOver(err: PipeError, seen: UntrustedSeen): void {
  seen.untrusted ??= err;
  const dir = err.path ?? '';
  if (warnedDirs.has(dir)) return;
  warnedDirs.add(dir);
  process.emitWarning(`winpipe: a waiting connect passes over ${dir}, which it does not trust (${err.message}); another user may have made it first. It waits on in the directories it trusts.`, {
    code: 'WINPIPE_UNTRUSTED_CANDIDATE',
  });
}

/**
 * Connects to the Unix socket at `path` (already resolved by `pipePath`). A directory derived from
 * a name is checked first and the server's uid right after connect, before a byte is sent
 * (src/posix/trust.ts): someone else's directory, or a server not running as us, root or one of
 * `allowServerUids`, rejects with `EACCES`. Nobody there (no file,
 * or nobody listening: ECONNREFUSED) rejects at once with `ENOENT`, the code Windows gives. A
 * full listen backlog (`EAGAIN`, Linux) is retried on a timer until `timeout`, then
 * `ETIMEDOUT`. An aborted `signal` rejects with an `AbortError`, before any system call if it
 * was aborted already. macOS reports a full backlog as ECONNREFUSED, so there it is `ENOENT`.
 * With `waiting` (the attempts of a `wait: true` connect), a candidate directory that fails its
 * check is passed over instead (recorded in `waiting`, and one `WINPIPE_UNTRUSTED_CANDIDATE`
 * warning per directory per process), so the attempt can end `ENOENT` and the wait go on; the
 * server's uid is still checked, and a server that fails it still rejects with `EACCES`.
 *
 * @example
 * ```ts
 * const conn = await posixConnect(pipePath('my-app'), resolveConnectOptions({ connectTimeout: 1000 }));
 * conn.end('hello');
 * ```
 */
export function posixConnect(path: string, o: ResolvedConnectOptions, dirs?: SocketDirs, waiting?: UntrustedSeen): Promise<PipeConnection> {
  const signal = o.signal;
  if (signal?.aborted) return Promise.reject(abortError(signal));
  // A session expectation that cannot be checked here must not pass as met.
  if (o.serverSession !== undefined) {
    return Promise.reject(new PipeError({ code: 'ENOTSUP', syscall: 'connect', path, message: 'ENOTSUP: serverSession: POSIX has no Terminal Services sessions (check the server by its uid: allowServerUids)' }));
  }
  // One promise per call, settled from the socket's own events: no async function or awaited
  // promise per stage (B6 counts them).
  return new Promise<PipeConnection>((resolve, reject) => {
    const deadline = Date.now() + o.connectTimeout;
    const list = candidates(path, dirs);
    // Our effective uid, read once for this connect: the directory check and the server's.
    const self = currentUid();
    let i = 0;
    let busy: string | undefined;
    let target = '';
    const settle = (err: PipeError | Error | undefined, socket?: net.Socket): void => {
      if (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (isNobodyThere(code)) next();
        else if (code === 'EAGAIN') {
          busy = target;
          i = list.length;
          next();
        } else reject(connectError(err, target));
        return;
      }
      // In the socket's 'connect' event: its descriptor surely exists (a server that closes at
      // once can have it ended and destroyed before any later continuation).
      connected(socket!, peerCredentials(socketFd(socket!)));
    };
    const connected = (socket: net.Socket, server: PeerCredentials | undefined): void => {
      try {
        resolve(clientConnection(socket, server, target, o, self));
      } catch (err) {
        socket.destroy();
        reject(err);
      }
    };
    const next = (): void => {
      while (i < list.length) {
        const { path: candidate, dir } = list[i++]!;
        if (dir) {
          try {
            checkDir(dir.path, dir.mode, o.allowServerUids, 'connect', self);
          } catch (err) {
            // No directory: nobody of ours serves there. Anything else (someone else's, a symlink,
            // open to others) is never connected through: without `wait` the connect ends there.
            if ((err as PipeError).code === 'ENOENT') continue;
            // Waiting: our server cannot appear in that directory, but may in the other one (a
            // squatted public directory says nothing about our private one). Pass it over, say so,
            // and let the wait go on.
            if (waiting && err instanceof PipeError) {
              passOver(err, waiting);
              continue;
            }
            reject(err);
            return;
          }
        }
        target = candidate;
        if (signal?.aborted) reject(abortError(signal));
        else if (candidate.charCodeAt(0) === 0) attempt(candidate, signal).then((c) => connected(c.socket, c.server), settle);
        else connectPathThen(candidate, signal, false, settle);
        return;
      }
      if (!busy) {
        reject(new PipeError({ code: 'ENOENT', syscall: 'connect', path }));
        return;
      }
      // Every slot of the backlog is taken: the server is there but slow to accept. Retry with a
      // short, growing delay, as Windows retries CreateFileW on ERROR_PIPE_BUSY.
      const again = busy;
      target = again;
      retry<Connected>(
        () =>
          attempt(again, signal).catch((err: unknown) => {
            if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return RETRY;
            throw connectError(err, again);
          }),
        { first: 2, max: 50, deadline, timedOut: () => new PipeError({ code: 'ETIMEDOUT', syscall: 'connect', path: again }), signal },
      ).then((c) => connected(c.socket, c.server), reject);
    };
    next();
  });
}

/** The client's connection on `socket` at `target`, once the server is one we trust (else `EACCES`, before a byte is sent). */
function clientConnection(socket: net.Socket, server: PeerCredentials | undefined, target: string, o: ResolvedConnectOptions, self: number): PipeConnection {
  // Before a byte is sent: the server must be ours, root's, or a uid the caller named.
  const peer = checkServer(server, o.allowServerUids, target, 'connect', self);
  return wrapSocket(socket, o.mode, {
    path: target,
    clientProcessId: undefined,
    serverProcessId: peer.pid,
    peer,
    readable: o.access !== 'write',
    writable: o.access !== 'read',
    allowHalfOpen: o.allowHalfOpen,
    maxMessageSize: o.maxMessageSize,
    readAheadBytes: o.readAheadBytes,
    halfClose: o.halfClose,
  });
}
