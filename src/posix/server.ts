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
 * - Connecting: src/posix/connect.ts; a connected socket made a connection: src/posix/wrap.ts.
 */
import { lstatSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { isAbsolute } from 'node:path';
import { PipeError, fromNodeError } from '../errors.js';
import { PipeServerBase } from '../server.js';
import type { ResolvedServerOptions } from '../options.js';
import type { ServerConnectionStats, PipeConnection, PipeServer } from '../types.js';
import { SUN_PATH_MAX, isPublicSecurity, pipePath, socketDir, socketDirMode } from '../names.js';
import { isAccessPolicy } from '../access.js';
import { mayAccept, peerCredentials, peerIdentity, verifyDir, type PeerCredentials } from './trust.js';
import { Admissions } from '../admit.js';
import { bindListening, removeSocketFile, socketFd } from './socket.js';
import { wrapSocket } from './wrap.js';

/** Mode of the socket file: only us, or every local user (connecting needs write permission). */
const PRIVATE_MODE = 0o600;
const SHARED_MODE = 0o666;
/** Node's own default listen backlog. */
const BACKLOG = 511;

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
  /** The effective uid this server listened as (bindListening): the user `'current-user'` admits. */
  #self = -1;
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
    throw new PipeError({
      code: 'ENOTSUP',
      syscall: 'securityDescriptor',
      message: 'ENOTSUP: a security descriptor is Windows-only; on POSIX access is the socket directory, its mode and the peer check',
    });
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
    const { fd, file, self } = bindListening(path, isPublicSecurity(security) ? SHARED_MODE : PRIVATE_MODE, BACKLOG, SUN_PATH_MAX);
    this.#file = file;
    this.#self = self;
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
    if (!mayAccept(peer, this.#o.security, this.#self)) {
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
      this.#admitting.run(
        socket,
        admit,
        identity,
        this.#o.admitTimeout,
        () => this.#state === 'listening' && !socket.destroyed,
        (end) => {
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
        },
      );
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
    throw new PipeError({ code: 'ERR_UNSUPPORTED_PLATFORM', syscall: 'createServer', message: "ERR_UNSUPPORTED_PLATFORM: security: { sddl } is Windows-only; use 'current-user' or 'everyone'" });
  }
  return new PosixPipeServer(options, listener);
}
