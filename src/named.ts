/**
 * The platform-neutral part of named pipes: option types and their validation, the
 * name-to-path rule ({@link pipePath}), and the public shapes of servers and connections.
 * Windows implements them over CreateNamedPipeW (src/windows/server.ts), POSIX over Unix domain
 * sockets (src/posix/server.ts).
 */
import type { EventEmitter } from 'node:events';
import { tmpdir, userInfo } from 'node:os';
import { join, isAbsolute, sep } from 'node:path';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { invalidArgType, invalidArgValue } from './errors.js';
import { validateAbortSignal, validateBoolean, validateInteger, validateObject, validateOneOf } from './validate.js';
import { isAccessPolicy, posixAccess, validateAccessPolicy, type AccessPolicy } from './access.js';
import { DEFAULT_ADMIT_TIMEOUT, type AdmitFunction, type AdmitRefusal } from './admit.js';

/** `'byte'`: a stream of bytes. `'message'`: each write is one message, read back whole. */
export type PipeMode = 'byte' | 'message';
/** The half-close convention of a connection: `'zero-message'` is go-winio's (see `ConnectOptions.halfClose`). */
export type HalfClose = 'zero-message';
/** Direction from the server's side: `'inbound'` = clients write, the server reads. */
export type ServerAccess = 'duplex' | 'inbound' | 'outbound';
/** Direction from the client's side. */
export type ClientAccess = 'duplex' | 'read' | 'write';
/**
 * Who may connect. `'current-user'`: only the creating user (and SYSTEM on Windows; on POSIX a
 * 0600 socket in a 0700 directory of ours, and every accepted client's uid, read with
 * SO_PEERCRED / getpeereid, must be ours or root: others are closed before `'connection'`).
 * `'everyone'`: any local user, who may connect but not create instances of the pipe; on POSIX
 * a 0666 socket in `<os.tmpdir()>/winpipe-<uid>.public`, a directory of ours that others may
 * traverse but not list or write (0711), so nobody else can rename, replace or remove the
 * socket. Other users reach it by its full path (`server.address()`) with `allowServerUids`.
 * `{ sddl }`: a Windows SDDL string (Windows only).
 * `{ allow, integrity }`: a preset ({@link AccessPolicy}, docs/access.md): who may connect, built
 * into a descriptor for you on Windows, and onto the socket directory, mode and peer-credential
 * check on POSIX (what has no POSIX meaning throws `ENOTSUP`).
 *
 * @example
 * ```ts
 * const server = createServer({ security: 'everyone' });
 * await server.listen('my-app'); // POSIX: /tmp/winpipe-1000.public/my-app.sock, mode 0666
 * ```
 */
export type PipeSecurity = 'current-user' | 'everyone' | { sddl: string } | AccessPolicy;

/**
 * Who is at the other end of a connection, as the OS says (never what the peer claims): on a
 * server connection the client, on a client connection the server.
 *
 * - POSIX: `pid`, `uid`, `gid` from `SO_PEERCRED` (Linux) / `getpeereid` + `LOCAL_PEERPID`
 *   (macOS), read once, in the call whose uid the trust checks use; on a server, Linux adds the
 *   supplementary `groups` (`SO_PEERGROUPS`, kernel 4.13+).
 * - Windows, server side: `pid` (GetNamedPipeClientProcessId), `sessionId`
 *   (GetNamedPipeClientSessionId), and from the client's own token (ImpersonateNamedPipeClient,
 *   OpenThreadToken, RevertToSelf): `sid`, `user` (`DOMAIN\name`), `groupSids`, `elevated`,
 *   `integrity`, `appContainer`, `packageSid`, `logonSession`. Read at accept, before `admit`
 *   and `'connection'`, so a client that has already exited still has its identity. A client that
 *   connected at anonymous level has no token: then only `pid` and `sessionId` (its process is
 *   never asked instead: a pid may already name another process).
 * - Windows, client side: `pid`, `sessionId` (GetNamedPipeServer…), `sid` = the user of the server
 *   process when its token can be opened (it cannot for SYSTEM services), else the pipe's owner
 *   SID (always readable; also on `serverOwnerSid`), and `user` for that SID. Read the first time
 *   `peer` or `serverProcessId` is asked for, then kept; first asked after the close, the handle
 *   is gone and the identity is `{ pid: undefined }`.
 *
 * @example
 * ```ts
 * server.on('connection', (conn) => {
 *   console.log(conn.peer); // Linux: { pid: 4242, uid: 1000, gid: 1000 }  Windows: { pid, sessionId: 1, sid: 'S-1-5-21-…', user: 'PC\\ann' }
 * });
 * ```
 */
export interface PeerIdentity {
  /** The process id, when the OS gives it. */
  pid: number | undefined;
  /** POSIX: the effective uid. */
  uid?: number;
  /** POSIX: the effective gid. */
  gid?: number;
  /** Linux (server side, SO_PEERGROUPS, kernel 4.13+): the supplementary groups. Absent elsewhere. */
  groups?: number[];
  /** Windows: the user SID (`S-1-5-…`). */
  sid?: string;
  /** Windows: the account name of `sid`, `DOMAIN\name`. */
  user?: string;
  /** Windows: the Terminal Services session id. */
  sessionId?: number;
  /** Windows, server side (from the client's token): the enabled groups' SIDs (deny-only groups left out). */
  groupSids?: string[];
  /** Windows, server side (token): true for an elevated (full administrator) token. */
  elevated?: boolean;
  /** Windows, server side (token): the mandatory integrity level. */
  integrity?: 'untrusted' | 'low' | 'medium' | 'high' | 'system' | 'protected';
  /** Windows, server side (token): true inside an AppContainer (a sandboxed or packaged app). */
  appContainer?: boolean;
  /** Windows, server side (token): the AppContainer's package SID (`S-1-15-2-…`), when `appContainer`. */
  packageSid?: string;
  /** Windows, server side (token): the logon session (the token's AuthenticationId LUID), `0x…`. */
  logonSession?: string;
}

/** Options for {@link createServer}. Every default is the safe choice. */
export interface CreateServerOptions {
  /** Default `'byte'`. */
  mode?: PipeMode;
  /**
   * Default `false` (`true` with `halfClose`), as `net`: a connection whose peer has ended (`'end'`) ends its own side too
   * and emits `'close'`, so a server learns that its client left without calling `end()` itself.
   * `true`: the connection stays writable after the peer's end (half-open), for protocols that
   * answer after the request's end of stream; then call `end()` when done.
   */
  allowHalfOpen?: boolean;
  /**
   * Default `'duplex'`. `'inbound'`: clients only write; `'outbound'`: clients only read.
   * Windows: PIPE_ACCESS_INBOUND / OUTBOUND, so a client must connect with `access: 'write'` /
   * `'read'`. POSIX: the server side of each connection is made one-way (the unused direction is
   * ended at once: `writable` is false, or reading ends and, on Linux, the client's writes fail
   * with EPIPE).
   */
  access?: ServerAccess;
  /**
   * How many clients may be connected at once: 1–254 or `'unlimited'` (default). Windows: the
   * pipe's instance limit; a client beyond it waits (see `connect`'s `connectTimeout`). POSIX: a client
   * beyond it connects (the kernel accepts it), but the server holds it unread and hands it out,
   * oldest first, when a connection closes; `connect`'s `connectTimeout` does not apply.
   */
  maxInstances?: number | 'unlimited';
  /**
   * POSIX: how many clients beyond `maxInstances` are held (each holds a descriptor) waiting for
   * a free slot; a client beyond that is closed at once (it reads end of stream). 0–65536,
   * default 64. Without `maxInstances` nothing is held. Windows: validated only; a client beyond
   * the instance limit waits in the kernel (see `connect`'s `connectTimeout`) and costs the server nothing.
   */
  maxPendingClients?: number;
  /**
   * How many clients the server holds at once, whatever `maxInstances` says: connections handed
   * out plus (POSIX) those held beyond `maxInstances`. 1 – 2^31-1, default 512
   * ({@link DEFAULT_MAX_CONNECTIONS}). A fixed number, not one read from the descriptor limit
   * (Node raises its soft limit to the hard limit at start-up, often tens of thousands): with the
   * usual 1,024 descriptors a server at the bound still has half of them for its own files. It
   * stays above the 256-client fan-in of the benchmarks and far above what a local service
   * usually serves at once; raise it for more.
   *
   * At the bound, POSIX: a new client is closed as soon as it is accepted (it reads end of
   * stream), counted in {@link PipeServer.connectionStats} `dropped`, and a `'drop'` event is
   * emitted. Windows: no instance is created beyond the bound, so a new client finds the pipe busy
   * and waits (`connect`'s `connectTimeout`, then `ETIMEDOUT`), as it would beyond `maxInstances`;
   * the server never sees it, so only `reachedMax` counts. Existing connections go on unaffected.
   *
   * @example
   * ```ts
   * const server = createServer({ maxConnections: 2000 });
   * server.on('drop', () => console.warn('a client was turned away', server.connectionStats()));
   * ```
   */
  maxConnections?: number;
  /**
   * Windows: instances kept waiting for clients. Default `min(4, maxInstances)`. POSIX: validated
   * only; the kernel's listen backlog (Node's default, 511) plays this part.
   */
  pendingInstances?: number;
  /** Windows: the input buffer size in bytes, default 64 KiB. POSIX: validated only; the kernel sizes socket buffers. */
  inBufferSize?: number;
  /** Windows: the output buffer size in bytes, default 64 KiB. POSIX: validated only; the kernel sizes socket buffers. */
  outBufferSize?: number;
  /** Default `'current-user'`. See {@link PipeSecurity} and docs/access.md. */
  security?: PipeSecurity;
  /**
   * A check run for every client once its identity ({@link PeerIdentity}) is known, before
   * `'connection'` and the async iterator see it. Resolve `true` to admit. `false`, a throw, a
   * rejection or no answer within `admitTimeout` refuses: the client is disconnected (it reads
   * end of stream, or `ECONNRESET`), counted in `connectionStats().refused`, and `'refused'` is
   * emitted; a throw or rejection is also a process warning with code `WINPIPE_ADMIT_FAILED`.
   * Checks run concurrently: a slow one never holds up another client. A client being checked
   * counts toward `maxConnections`.
   *
   * @example
   * ```ts
   * const server = createServer({ admit: (peer) => peer.uid === 1000 }); // POSIX
   * const server2 = createServer({ admit: (peer) => peer.sid === trustedSid && peer.elevated !== true }); // Windows
   * ```
   * Platform notes: POSIX peers carry `uid`, `gid` (and on Linux `groups`); Windows server-side
   * peers carry what the client's token says (see {@link PeerIdentity}); a client that connected
   * at anonymous impersonation level has no token, so only `pid` and `sessionId`.
   */
  admit?: AdmitFunction | undefined;
  /** How long `admit` may take per client, in ms, before the client is refused. Default 5000. */
  admitTimeout?: number;
  /**
   * Windows: refuse clients from other machines (PIPE_REJECT_REMOTE_CLIENTS). Default `true`.
   * POSIX: no effect; Unix domain sockets are local only.
   */
  rejectRemoteClients?: boolean;
  /**
   * Default `true`: if anyone already serves this name, `listen` fails with `EADDRINUSE` instead
   * of joining the squatter's pipe (Windows FILE_FLAG_FIRST_PIPE_INSTANCE). POSIX: a socket path
   * cannot be shared, so a live socket always gives `EADDRINUSE` (a stale one is replaced).
   */
  firstInstance?: boolean;
  /** Message mode: the largest message accepted, in bytes. Default 64 MiB. */
  maxMessageSize?: number;
  /**
   * Message mode: how many bytes of whole messages are read ahead of the application, per
   * connection. Default 1 MiB (and at most 16 messages). Once that much is waiting unread, winpipe
   * stops reading and the peer's writes wait (backpressure); one message being received may come on
   * top, so a connection buffers at most about `readAheadBytes + maxMessageSize`, however the peer
   * splits its bytes. Byte mode: no effect (a `net.Socket` reads ahead its own
   * `readableHighWaterMark`).
   */
  readAheadBytes?: number;
  /**
   * How `end()` half-closes, and what reading takes as the peer's end. Default `undefined`:
   * Windows has no half-close, so `end()` delivers what was written and then closes the whole pipe
   * (see docs/half-close.md), and in message mode an empty message is a message (CPython's rule).
   *
   * `'zero-message'`: go-winio's convention (`CloseWrite`), which Docker's `docker_engine` and
   * containerd speak. `end()` sends one zero-byte message (Windows: a zero-byte `WriteFile`, in
   * byte mode too, never libuv's shutdown and its 50 ms close timer) and the connection keeps
   * reading until the peer ends; a zero-byte message from the peer reads as end of stream. The
   * connection stays open for writing after the peer's end (half-open) until it is ended too.
   * POSIX: byte mode is `shutdown(SHUT_WR)`; message mode sends a zero-length frame, and reading
   * takes a zero-length frame as end of stream, so both paths behave the same.
   *
   * @example
   * ```ts
   * const conn = await connect('//./pipe/docker_engine', { halfClose: 'zero-message' });
   * conn.end(request);          // the zero-byte message follows the request
   * for await (const chunk of conn) process.stdout.write(chunk); // the whole answer
   * ```
   */
  halfClose?: HalfClose | undefined;
}

/** Options for {@link connect}. */
export interface ConnectOptions {
  /**
   * The whole time `connect` may take, in ms; then it rejects with `ETIMEDOUT`. Default 5000.
   * It covers waiting while every instance is busy (Windows `ERROR_PIPE_BUSY`; POSIX: a full
   * listen backlog, `EAGAIN` on Linux) and, with {@link ConnectOptions.wait}, waiting for the
   * server to appear. It is not `net`'s idle timeout: nothing times out once connected.
   *
   * @example
   * ```ts
   * const conn = await connect('my-app', { connectTimeout: 1000 });
   * ```
   */
  connectTimeout?: number;
  /**
   * @deprecated Use {@link ConnectOptions.connectTimeout}: the same thing under a name that cannot
   * be mistaken for `net.connect`'s idle `timeout`. Still honoured (a `DeprecationWarning` with
   * code `WINPIPE_DEP_CONNECT_TIMEOUT`, once per process); `connectTimeout` wins when both are given.
   */
  timeout?: number;
  /**
   * Default `false`: a name nobody serves rejects at once with `ENOENT`. `true`: poll until a
   * server exists (backoff from 10 ms up to 250 ms), within `connectTimeout` (then `ETIMEDOUT`),
   * honouring `signal`, as npiperelay's `-p` does. Polling opens nothing until the name exists:
   * Windows asks `WaitNamedPipeW`, POSIX looks for the socket file (see {@link pipeExists}).
   *
   * POSIX: a name is looked for in our private directory, then in our public one. While waiting,
   * one of them that fails its check (made first by another user, a symlink, open to others) is
   * passed over rather than ending the wait with `EACCES`: our server may still come up in the
   * other one. Nothing is ever connected through it. Each such directory is reported once per
   * process as a warning (`process.on('warning')`) with code `WINPIPE_UNTRUSTED_CANDIDATE`, and a
   * wait that ends gives `ETIMEDOUT` with that directory's `EACCES` / `ENOTDIR` as its `cause`.
   * A server found in a trusted directory that runs as an untrusted uid still rejects `EACCES`.
   *
   * @example
   * ```ts
   * // Start the client first; it connects once the server is listening.
   * const conn = await connect('my-app', { wait: true, connectTimeout: 10_000 });
   * ```
   */
  wait?: boolean;
  /**
   * Windows: resolve `name` through the rendezvous file a `listen({ name, rendezvous: true })`
   * server of our own user published (see {@link ListenOptions.rendezvous}); no file is `ENOENT`
   * (polled with `wait`). The server's owner is checked as always. POSIX: accepted, no effect.
   * Default `false`.
   */
  rendezvous?: boolean;
  /**
   * Windows: the Terminal Services session the server must run in, checked on the pipe handle
   * (`GetNamedPipeServerSessionId`) before `connect` resolves, with the owner check; another
   * session, or one the system will not tell, rejects with `EACCES`. `'same'`: this process's own
   * session (`ProcessIdToSessionId`). Default: not checked. It is what a client can learn of the
   * server from the pipe itself: the server's pid (`serverProcessId`) is not a safe key, since
   * that process may have exited and its pid been reused. POSIX: there are no sessions; any value
   * rejects with `ENOTSUP` (the server's uid is checked instead, see `allowServerUids`).
   *
   * @example
   * ```ts
   * // A desktop app that must reach the server of its own login session, not another user's.
   * const conn = await connect('my-app', { serverSession: 'same' });
   * ```
   */
  serverSession?: 'same' | number;
  /** Aborts the connect (waiting included); it rejects with an `AbortError`. */
  signal?: AbortSignal;
  /**
   * Default `false` (`true` with `halfClose`), as `net`: a connection whose peer has ended (`'end'`) ends its own side too
   * and emits `'close'`, so a server learns that its client left without calling `end()` itself.
   * `true`: the connection stays writable after the peer's end (half-open), for protocols that
   * answer after the request's end of stream; then call `end()` when done.
   */
  allowHalfOpen?: boolean;
  /**
   * Should match the server's mode. Default `'byte'`. Windows checks a message-mode client only: on
   * a byte server's pipe it fails with `EPROTOTYPE` (but a byte server with `halfClose` has a
   * message-type pipe, so it connects). A byte-mode client of a message server connects: each of
   * its writes is one message to the server, and it reads the server's messages as one byte
   * stream. A Unix socket cannot tell either way, and the bytes are misread (the length prefixes
   * of message mode are read as data).
   */
  mode?: PipeMode;
  /** Default `'duplex'`. `'read'` / `'write'`: the other direction is ended at once on our side. */
  access?: ClientAccess;
  /** Message mode: the largest message accepted, in bytes. Default 64 MiB. */
  maxMessageSize?: number;
  /**
   * Message mode: how many bytes of whole messages are read ahead of the application, on this
   * connection. Default 1 MiB (and at most 16 messages). Once that much is waiting unread, winpipe
   * stops reading and the peer's writes wait (backpressure); one message being received may come on
   * top, so a connection buffers at most about `readAheadBytes + maxMessageSize`, however the peer
   * splits its bytes. Byte mode: no effect (a `net.Socket` reads ahead its own
   * `readableHighWaterMark`).
   */
  readAheadBytes?: number;
  /** Allow `\\server\pipe\name` names (Windows). Default `false`. */
  allowRemote?: boolean;
  /**
   * Whose server this client may connect to. Windows: the owner SID of the pipe (read with
   * `GetSecurityInfo` right after `CreateFileW`) must be in the set, or `connect` rejects with
   * `EACCES` and the handle is closed before any byte moves. The default set (`'default'`): our
   * user SID, our token's default owner (an elevated process owns what it creates as
   * Administrators; under Wine, as `…-513`), SYSTEM (`S-1-5-18`) and Administrators
   * (`S-1-5-32-544`), so services such as `docker_engine` or `openssh-ssh-agent` pass.
   *
   * - an array of SID strings replaces the set (narrow it: `[mySid]`); put `'default'` in it to
   *   widen the default set instead: `['default', 'S-1-5-21-…-1001']`;
   * - `'any'` turns the check off (what `net.connect` does).
   *
   * The owner is on the connection as `serverOwnerSid`. POSIX: validated only; the server's uid
   * is checked instead, widened with {@link ConnectOptions.allowServerUids}.
   */
  trustedServerOwners?: 'default' | 'any' | readonly string[];
  /**
   * POSIX: uids, besides ours and root, whose servers this client may talk to. The server's uid is
   * read from the connected socket (SO_PEERCRED / getpeereid) before anything is sent; any other
   * uid fails with `EACCES`. This is the only way to reach another user's server, for a name and
   * for an absolute path alike (e.g. another user's `security: 'everyone'` server, by the path its
   * `address()` gives). Default `[]`. Windows: validated only.
   *
   * @example
   * ```ts
   * const conn = await connect('/tmp/winpipe-1001.public/shared.sock', { allowServerUids: [1001] });
   * ```
   */
  allowServerUids?: readonly number[];
  /**
   * How `end()` half-closes, and what reading takes as the peer's end. Default `undefined`:
   * Windows has no half-close, so `end()` delivers what was written and then closes the whole pipe
   * (see docs/half-close.md), and in message mode an empty message is a message (CPython's rule).
   *
   * `'zero-message'`: go-winio's convention (`CloseWrite`), which Docker's `docker_engine` and
   * containerd speak. `end()` sends one zero-byte message (Windows: a zero-byte `WriteFile`, in
   * byte mode too, never libuv's shutdown and its 50 ms close timer) and the connection keeps
   * reading until the peer ends; a zero-byte message from the peer reads as end of stream. The
   * connection stays open for writing after the peer's end (half-open) until it is ended too.
   * POSIX: byte mode is `shutdown(SHUT_WR)`; message mode sends a zero-length frame, and reading
   * takes a zero-length frame as end of stream, so both paths behave the same.
   *
   * @example
   * ```ts
   * const conn = await connect('//./pipe/docker_engine', { halfClose: 'zero-message' });
   * conn.end(request);          // the zero-byte message follows the request
   * for await (const chunk of conn) process.stdout.write(chunk); // the whole answer
   * ```
   */
  halfClose?: HalfClose | undefined;
}

/**
 * One connected pipe, on either side: a `stream.Duplex`.
 *
 * In byte mode it is a `net.Socket`. In message mode every `write()` (or `writeMessage()`) is one
 * message, `'data'` emits one non-empty message per event, and `messages()` yields every message,
 * empty ones included. Use one of `'data'`/`read()` or `messages()`, not both.
 */
export interface PipeConnection extends Duplex, PipeConnectionFields {}

/**
 * What every connection has besides its stream face (see {@link PipeConnection}).
 *
 * @example
 * ```ts
 * function who(conn: PipeConnectionFields): string {
 *   return `${conn.path} pid ${conn.clientProcessId ?? conn.serverProcessId}`;
 * }
 * ```
 * Platform notes: `serverOwnerSid` is Windows only, `peerUid`/`peerGid` POSIX only.
 */
export interface PipeConnectionFields {
  /** `'byte'` or `'message'`. */
  readonly mode: PipeMode;
  /** The full OS path of the pipe. */
  readonly path: string;
  /** Server side: the connected client's process id (GetNamedPipeClientProcessId / SO_PEERCRED), read at accept. See {@link PeerIdentity}. */
  readonly clientProcessId: number | undefined;
  /** Client side: the server's process id. */
  readonly serverProcessId: number | undefined;
  /**
   * Client side, Windows: the SID (`S-1-5-…`) that owns the server's pipe, checked against
   * `trustedServerOwners` before `connect` resolved. `undefined` on the server side and on POSIX.
   */
  readonly serverOwnerSid: string | undefined;
  /**
   * POSIX: the uid of the process at the other end (the client's on the server side, the
   * server's on the client side), read with SO_PEERCRED / getpeereid in the same call as the pid
   * and already checked against `security` / `allowServerUids`. Windows: undefined.
   *
   * @example
   * ```ts
   * server.on('connection', (conn) => console.log(conn.clientProcessId, conn.peerUid, conn.peerGid));
   * ```
   */
  readonly peerUid: number | undefined;
  /** POSIX: the gid of the process at the other end (see {@link PipeConnection.peerUid}). Windows: undefined. */
  readonly peerGid: number | undefined;
  /** Who is at the other end (the client on a server connection, the server on a client connection). See {@link PeerIdentity}. */
  readonly peer: PeerIdentity;
  /** Sends one message (byte mode: writes the bytes); resolves once it is handed to the OS. */
  writeMessage(data: ArrayBufferView): Promise<void>;
  /** Every message until end of stream (byte mode: every chunk). */
  messages(): AsyncIterableIterator<Buffer>;
  /**
   * Keeps the process alive while this connection waits for data (the default), as
   * `net.Socket.ref()` does. Both modes have it, so code that holds a {@link PipeConnection} of
   * either mode can call it.
   *
   * @example
   * ```ts
   * conn.unref(); // a connection that should not keep a CLI running on its own
   * ```
   */
  ref(): this;
  /** Lets the process exit although this connection is open (see {@link PipeConnectionFields.ref}). */
  unref(): this;
}

/**
 * A byte-mode connection: a `net.Socket` (so `setTimeout`, `setNoDelay`-free socket methods,
 * `ref()`/`unref()` and `'timeout'` work as on any socket), with winpipe's identity fields.
 * `createServer()` / `connect()` without `mode: 'message'` give this type.
 *
 * @example
 * ```ts
 * const conn = await connect('my-app');     // BytePipeConnection
 * conn.setTimeout(30_000, () => conn.destroy());
 * ```
 * Windows: the socket is libuv's named-pipe stream over our handle. POSIX: the Unix socket itself.
 */
export interface BytePipeConnection extends net.Socket, PipeConnectionFields {
  readonly mode: 'byte';
}

/**
 * A message-mode connection: a `stream.Duplex` whose every `write()` is one message and whose
 * `'data'` events are whole messages. `{ mode: 'message' }` gives this type.
 *
 * @example
 * ```ts
 * const conn = await connect('my-app', { mode: 'message' }); // MessagePipeConnection
 * for await (const msg of conn.messages()) console.log(msg.length);
 * ```
 * Windows: PIPE_TYPE_MESSAGE. POSIX: CPython `multiprocessing.connection` framing on a Unix socket.
 */
export interface MessagePipeConnection extends PipeConnection {
  readonly mode: 'message';
}

/**
 * Picks the connection type for a `mode` option: message, byte, or either when not known.
 *
 * @example
 * ```ts
 * type C = ConnectionFor<'message'>; // MessagePipeConnection
 * ```
 * Platform notes: types only; the same on every platform.
 */
export type ConnectionFor<M extends PipeMode | undefined> = [M] extends ['message'] ? MessagePipeConnection : [M] extends ['byte' | undefined] ? BytePipeConnection : PipeConnection;

/**
 * The events of a {@link PipeServer}, with their arguments, as `net.Server`'s:
 * `'connection'` (a connected client), `'listening'`, `'close'` (after `close()` and the end of
 * accepting) and `'error'`.
 *
 * @example
 * ```ts
 * const onConn = (...[conn]: PipeServerEvents<BytePipeConnection>['connection']) => conn.setTimeout(1000);
 * server.on('connection', onConn);
 * ```
 * Platform notes: the same events on Windows and POSIX.
 */
export interface PipeServerEvents<C extends PipeConnection = PipeConnection> {
  connection: [conn: C];
  /**
   * POSIX: a client was closed as soon as it was accepted, because `maxConnections` (or, beyond
   * `maxInstances`, `maxPendingClients`) was reached; as `net.Server`'s `'drop'`. Never emitted
   * on Windows, where a client beyond the bound waits in the kernel (see `connectionStats()`).
   */
  drop: [];
  /**
   * A client was refused by `admit` (`reason` `'denied'`, `'timeout'` or `'error'`, with the
   * thrown `error`) and disconnected before the application saw it.
   */
  refused: [peer: PeerIdentity, reason: AdmitRefusal, error?: unknown];
  listening: [];
  close: [];
  error: [err: Error];
}

/**
 * Where and how {@link PipeServer.listen} serves: `path` (as `net`'s `listen({ path })`) or
 * `name` (either is resolved with {@link pipePath}), and a `signal` whose abort closes the server.
 *
 * @example
 * ```ts
 * const ac = new AbortController();
 * await server.listen({ name: 'my-app', signal: ac.signal });
 * ac.abort(); // the server closes, as net.Server does
 * ```
 */
export interface ListenOptions {
  /** A pipe name or full path, as for `listen(name)`. */
  path?: string;
  /** The same as `path`; give one of the two. */
  name?: string;
  /** Aborting it closes the server (before `listen` resolves: it rejects with an `AbortError`). */
  signal?: AbortSignal;
  /**
   * Windows: serve `name` (a plain name) under a random pipe name, published for our own user
   * only (`%LOCALAPPDATA%\winpipe\rendezvous\<name>.pipe`, a file with a DACL for us and SYSTEM),
   * so nobody can take the name first. Clients connect with `connect(name, { rendezvous: true })`;
   * `address()` is the random pipe path. Removed again by `close()`. Default `false`.
   * POSIX: accepted, no effect (a name already lives in our private directory, which nobody else
   * can take). See docs/access.md for the threat model.
   *
   * @example
   * ```ts
   * await server.listen({ name: 'my-app', rendezvous: true });
   * const conn = await connect('my-app', { rendezvous: true });
   * ```
   */
  rendezvous?: boolean;
}

/**
 * How a bound on concurrent connections has acted: `server.connectionStats()` (bound:
 * `maxConnections`) and, for clients not yet taken by `accept()`, a `winpipe/connection`
 * `Listener`'s `connectionStats()` (bound: `maxPendingConnections`).
 *
 * @example
 * ```ts
 * const s = server.connectionStats(); // { current: 3, max: 512, dropped: 0, refused: 0, reachedMax: 0 }
 * ```
 * Platform notes: on Windows nothing is dropped (a client beyond the bound finds the pipe busy
 * and waits in the kernel, where the server cannot see it), so there `reachedMax` is the count.
 */
export interface ConnectionStats {
  /** Clients counted against the bound now. */
  readonly current: number;
  /** The bound. */
  readonly max: number;
  /**
   * POSIX: clients closed as soon as they were accepted, because the bound was reached (for a
   * server, also those beyond `maxPendingClients` while `maxInstances` are busy). Windows: 0.
   */
  readonly dropped: number;
  /**
   * How many times `current` reached `max`: from each of those moments until a client left, new
   * clients were turned away (POSIX: closed and counted in `dropped`; Windows: the pipe was busy).
   */
  readonly reachedMax: number;
}

/** A server's {@link ConnectionStats}, with the clients its `admit` check refused. */
export interface ServerConnectionStats extends ConnectionStats {
  /** Clients `admit` refused (it said no, did not answer within `admitTimeout`, or threw). */
  readonly refused: number;
}

type ServerListener<C extends PipeConnection, K extends keyof PipeServerEvents<C>> = (...args: PipeServerEvents<C>[K]) => void;

/**
 * A named-pipe server: an EventEmitter with typed events ({@link PipeServerEvents}) and an async
 * iterable of connections. `C` follows the server's `mode`: {@link BytePipeConnection} by
 * default, {@link MessagePipeConnection} for `{ mode: 'message' }`.
 *
 * @example
 * ```ts
 * const server = createServer();
 * server.on('connection', (conn) => conn.setTimeout(10_000)); // conn: BytePipeConnection
 * server.listen('my-app', () => console.log('listening on', server.address()));
 * ```
 */
export interface PipeServer<C extends PipeConnection = PipeConnection> extends EventEmitter, AsyncIterable<C> {
  /**
   * Starts serving `name` (see {@link pipePath}), or `{ path | name, signal }`; resolves once
   * clients can connect. `callback`, when given, runs on `'listening'`, and a failure is then
   * also emitted as `'error'` to the server's `'error'` listeners (as `net.Server.listen(path, cb)`;
   * with none, only the promise carries it); the promise settles either way.
   * Bad names and options throw synchronously.
   */
  listen(name: string | ListenOptions, callback?: () => void): Promise<void>;
  /** The full OS path in use, or `null` before `listen`. */
  address(): string | null;
  /** True between a successful `listen` and `close`. */
  readonly listening: boolean;
  /** Stops accepting (pending accepts settle) and removes the name; live connections stay. Idempotent. */
  close(): Promise<void>;
  /**
   * The connection bound at work ({@link CreateServerOptions.maxConnections}): a snapshot.
   *
   * @example
   * ```ts
   * const { current, max, dropped } = server.connectionStats();
   * if (dropped > 0) console.warn(`${dropped} clients turned away at ${max} connections (now ${current})`);
   * ```
   * Platform notes: `dropped` stays 0 on Windows (see {@link ConnectionStats}).
   */
  connectionStats(): ServerConnectionStats;
  /**
   * Windows: the security descriptor actually applied to the pipe, read back from a waiting
   * instance (GetSecurityInfo: owner, DACL and mandatory label) as SDDL, e.g.
   * `O:S-1-5-21-…D:P(D;;GA;;;NU)(A;;GA;;;S-1-5-21-…)(A;;0x12019b;;;IU)S:(ML;;NW;;;LW)`.
   * No `S:` part when the pipe has no explicit label.
   *
   * @example
   * ```ts
   * const server = createServer({ security: { allow: ['current-user'], integrity: 'low' } });
   * await server.listen('my-app');
   * console.log(server.securityDescriptor()); // …S:(ML;;NW;;;LW)
   * ```
   * @throws PipeError `ENOTSUP` on POSIX (see `address()` and the socket's mode instead);
   * `EBUSY` when no instance is waiting (every one is connected); `ERR_PIPE_CLOSED` when not listening.
   */
  securityDescriptor(): string;
  /** Keep the process alive while listening (default). */
  ref(): this;
  /** Let the process exit even though the server is listening. */
  unref(): this;
  [Symbol.asyncDispose](): Promise<void>;
  [Symbol.asyncIterator](): AsyncIterator<C>;

  on<K extends keyof PipeServerEvents<C>>(event: K, listener: ServerListener<C, K>): this;
  once<K extends keyof PipeServerEvents<C>>(event: K, listener: ServerListener<C, K>): this;
  off<K extends keyof PipeServerEvents<C>>(event: K, listener: ServerListener<C, K>): this;
  addListener<K extends keyof PipeServerEvents<C>>(event: K, listener: ServerListener<C, K>): this;
  removeListener<K extends keyof PipeServerEvents<C>>(event: K, listener: ServerListener<C, K>): this;
  prependListener<K extends keyof PipeServerEvents<C>>(event: K, listener: ServerListener<C, K>): this;
  prependOnceListener<K extends keyof PipeServerEvents<C>>(event: K, listener: ServerListener<C, K>): this;
  emit<K extends keyof PipeServerEvents<C>>(event: K, ...args: PipeServerEvents<C>[K]): boolean;
}

// --- validation -------------------------------------------------------------------------------

const MODES = ['byte', 'message'] as const;
const SERVER_ACCESS = ['duplex', 'inbound', 'outbound'] as const;
const CLIENT_ACCESS = ['duplex', 'read', 'write'] as const;
export const DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024 * 1024;
export const DEFAULT_BUFFER_SIZE = 64 * 1024;
/** Message mode: bytes of whole messages read ahead of the application, per connection. */
export const DEFAULT_READ_AHEAD_BYTES = 1024 * 1024;
/** POSIX: clients held beyond `maxInstances` before new ones are closed at once. */
export const DEFAULT_MAX_PENDING_CLIENTS = 64;
/**
 * Clients a server holds at once by default (`maxConnections`), and a `winpipe/connection`
 * Listener's clients not yet accepted (`maxPendingConnections`). Fixed, not derived from
 * RLIMIT_NOFILE: Node raises the soft limit to the hard one at start-up, so the limit says little
 * about what the process can spare. 512 keeps half of a 1,024-descriptor process for its own
 * files and is twice the benchmarks' 256-client fan-in.
 */
export const DEFAULT_MAX_CONNECTIONS = 512;
/** The largest `maxConnections` / `maxPendingConnections`. */
export const MAX_CONNECTIONS_LIMIT = 0x7fff_ffff;

/** Options with every default filled in. */
export type ResolvedServerOptions = Required<Omit<CreateServerOptions, 'maxInstances' | 'halfClose' | 'admit'>> & { maxInstances: number | 'unlimited'; halfClose: HalfClose | undefined; admit: AdmitFunction | undefined };
export type ResolvedConnectOptions = Required<Omit<ConnectOptions, 'signal' | 'trustedServerOwners' | 'timeout' | 'halfClose' | 'serverSession'>> & {
  halfClose: HalfClose | undefined;
  /** `connect`'s `serverSession` as given (`'same'` is resolved on Windows, at the check). */
  serverSession: 'same' | number | undefined;
  signal: AbortSignal | undefined;
  /** `'any'`, or the SIDs given, with `'default'` standing for the default set. */
  trustedServerOwners: 'any' | readonly string[];
};

export function resolveServerOptions(options: unknown): ResolvedServerOptions {
  validateObject(options, 'options');
  const o = (options ?? {}) as CreateServerOptions;
  const mode = o.mode ?? 'byte';
  validateOneOf(mode, 'options.mode', MODES);
  const access = o.access ?? 'duplex';
  validateOneOf(access, 'options.access', SERVER_ACCESS);
  const maxInstances = o.maxInstances ?? 'unlimited';
  if (maxInstances !== 'unlimited') validateInteger(maxInstances, 'options.maxInstances', 1, 254);
  const maxPendingClients = o.maxPendingClients ?? DEFAULT_MAX_PENDING_CLIENTS;
  validateInteger(maxPendingClients, 'options.maxPendingClients', 0, 65536);
  const maxConnections = o.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  validateInteger(maxConnections, 'options.maxConnections', 1, MAX_CONNECTIONS_LIMIT);
  const cap = maxInstances === 'unlimited' ? 254 : maxInstances;
  const pendingInstances = o.pendingInstances ?? Math.min(4, cap);
  validateInteger(pendingInstances, 'options.pendingInstances', 1, cap);
  const inBufferSize = o.inBufferSize ?? DEFAULT_BUFFER_SIZE;
  validateInteger(inBufferSize, 'options.inBufferSize', 0, 0x7fff_ffff);
  const outBufferSize = o.outBufferSize ?? DEFAULT_BUFFER_SIZE;
  validateInteger(outBufferSize, 'options.outBufferSize', 0, 0x7fff_ffff);
  const security = o.security ?? 'current-user';
  validateSecurity(security);
  const rejectRemoteClients = o.rejectRemoteClients ?? true;
  validateBoolean(rejectRemoteClients, 'options.rejectRemoteClients');
  const firstInstance = o.firstInstance ?? true;
  validateBoolean(firstInstance, 'options.firstInstance');
  const maxMessageSize = o.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
  validateInteger(maxMessageSize, 'options.maxMessageSize', 1, Number.MAX_SAFE_INTEGER);
  const readAheadBytes = o.readAheadBytes ?? DEFAULT_READ_AHEAD_BYTES;
  validateInteger(readAheadBytes, 'options.readAheadBytes', 1, Number.MAX_SAFE_INTEGER);
  const admit = o.admit;
  if (admit !== undefined && typeof admit !== 'function') throw invalidArgType('options.admit', 'of type function', admit);
  const admitTimeout = o.admitTimeout ?? DEFAULT_ADMIT_TIMEOUT;
  validateInteger(admitTimeout, 'options.admitTimeout', 1, 0x7fff_ffff);
  const halfClose = resolveHalfClose(o.halfClose, 'options.halfClose');
  // halfClose exists to answer after the peer's end, so it implies half-open unless told otherwise.
  const allowHalfOpen = o.allowHalfOpen ?? halfClose !== undefined;
  validateBoolean(allowHalfOpen, 'options.allowHalfOpen');
  return { allowHalfOpen, mode, access, maxInstances, maxPendingClients, maxConnections, pendingInstances, inBufferSize, outBufferSize, security, rejectRemoteClients, firstInstance, maxMessageSize, readAheadBytes, halfClose, admit, admitTimeout };
}

function validateSecurity(security: unknown): asserts security is PipeSecurity {
  if (security === 'current-user' || security === 'everyone') return;
  if (isAccessPolicy(security)) {
    validateAccessPolicy(security, 'options.security');
    return;
  }
  if (security !== null && typeof security === 'object' && !Array.isArray(security)) {
    const sddl = (security as { sddl?: unknown }).sddl;
    if (typeof sddl !== 'string') throw invalidArgType('options.security.sddl', 'of type string', sddl);
    if (sddl.length === 0 || sddl.includes('\0')) throw invalidArgValue('options.security.sddl', sddl, 'must be a non-empty string without NUL');
    return;
  }
  throw invalidArgValue('options.security', security, "must be 'current-user', 'everyone', { sddl } or { allow }");
}

/** POSIX: does `security` put the socket in the public directory (0711, socket 0666)? */
export function isPublicSecurity(security: PipeSecurity): boolean {
  if (security === 'everyone') return true;
  return isAccessPolicy(security) && posixAccess(security).reach !== 'private';
}

export function resolveConnectOptions(options: unknown): ResolvedConnectOptions {
  validateObject(options, 'options');
  const o = (options ?? {}) as ConnectOptions;
  if (o.timeout !== undefined) {
    // The old `timeout` option is an alias of `connectTimeout`: said once per process, as Node's own deprecations are.
    warnTimeoutDeprecated();
  }
  const connectTimeout = o.connectTimeout ?? o.timeout ?? 5000;
  validateInteger(connectTimeout, 'options.connectTimeout', 0, 0x7fff_ffff);
  const wait = o.wait ?? false;
  validateBoolean(wait, 'options.wait');
  validateAbortSignal(o.signal, 'options.signal');
  const mode = o.mode ?? 'byte';
  validateOneOf(mode, 'options.mode', MODES);
  const access = o.access ?? 'duplex';
  validateOneOf(access, 'options.access', CLIENT_ACCESS);
  const maxMessageSize = o.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
  validateInteger(maxMessageSize, 'options.maxMessageSize', 1, Number.MAX_SAFE_INTEGER);
  const readAheadBytes = o.readAheadBytes ?? DEFAULT_READ_AHEAD_BYTES;
  validateInteger(readAheadBytes, 'options.readAheadBytes', 1, Number.MAX_SAFE_INTEGER);
  const allowRemote = o.allowRemote ?? false;
  validateBoolean(allowRemote, 'options.allowRemote');
  const halfClose = resolveHalfClose(o.halfClose, 'options.halfClose');
  // halfClose exists to read the answer after our end, so it implies half-open unless told otherwise.
  const allowHalfOpen = o.allowHalfOpen ?? halfClose !== undefined;
  validateBoolean(allowHalfOpen, 'options.allowHalfOpen');
  const allowServerUids = resolveAllowServerUids(o.allowServerUids, 'options.allowServerUids');
  const trustedServerOwners = resolveTrustedServerOwners(o.trustedServerOwners, 'options.trustedServerOwners');
  const rendezvous = o.rendezvous ?? false;
  validateBoolean(rendezvous, 'options.rendezvous');
  const serverSession = o.serverSession;
  if (serverSession !== undefined && serverSession !== 'same') validateInteger(serverSession, 'options.serverSession', 0, 0xffff_ffff);
  return { connectTimeout, wait, signal: o.signal, allowHalfOpen, mode, access, maxMessageSize, readAheadBytes, allowRemote, trustedServerOwners, allowServerUids, halfClose, rendezvous, serverSession };
}

/** Validates a `halfClose` option: `'zero-message'` or `undefined`. */
function resolveHalfClose(value: unknown, name: string): HalfClose | undefined {
  if (value === undefined || value === 'zero-message') return value;
  throw invalidArgValue(name, value, "must be 'zero-message' or undefined");
}

let timeoutWarned = false;

/** `connect`'s `timeout` is an alias of `connectTimeout`: said once per process, as Node's own deprecations are. */
function warnTimeoutDeprecated(): void {
  if (timeoutWarned) return;
  timeoutWarned = true;
  process.emitWarning("connect's `timeout` option is deprecated; use `connectTimeout` (it is not net's idle timeout).", {
    type: 'DeprecationWarning',
    code: 'WINPIPE_DEP_CONNECT_TIMEOUT',
  });
}

/** Validates a list of uids (`allowServerUids` of connect and the channel Client, `allowOwnerUids` of openFifo); a copy of it, `[]` by default. */
export function resolveAllowServerUids(value: unknown, name: string): readonly number[] {
  // The usual case, shared (frozen): no copy per connect.
  if (value === undefined) return NO_UIDS;
  const uids = value;
  if (!Array.isArray(uids)) throw invalidArgType(name, 'an instance of Array', uids);
  uids.forEach((uid, i) => validateInteger(uid, `${name}[${i}]`, 0, 0xffff_ffff));
  return [...uids] as number[];
}

const SID = /^S-1-\d+(-\d+)+$/i;
const NO_UIDS: readonly number[] = Object.freeze([]);
const DEFAULT_OWNERS: readonly string[] = Object.freeze(['default']);

/**
 * Validates a `trustedServerOwners` option (connect, and the channel Client): `'default'`, `'any'`,
 * or an array of SID strings and `'default'`. Returns `'any'` or the list (`['default']` by default).
 */
export function resolveTrustedServerOwners(value: unknown, name: string): 'any' | readonly string[] {
  if (value === undefined || value === 'default') return DEFAULT_OWNERS;
  if (value === 'any') return 'any';
  if (!Array.isArray(value)) throw invalidArgType(name, "'default', 'any' or an array of SID strings", value);
  for (const [i, sid] of value.entries()) {
    if (typeof sid !== 'string') throw invalidArgType(`${name}[${i}]`, 'of type string', sid);
    if (sid !== 'default' && !SID.test(sid)) throw invalidArgValue(`${name}[${i}]`, sid, "must be a SID such as 'S-1-5-18', or 'default'");
  }
  return [...value] as string[];
}

// --- names ------------------------------------------------------------------------------------

/** `sun_path` capacity including the terminating NUL: 108 on Linux, 104 on macOS and the BSDs. */
export const SUN_PATH_MAX = process.platform === 'linux' ? 108 : 104;
const WINDOWS_PREFIXES = ['\\\\.\\pipe\\', '\\\\?\\pipe\\'];
/** Windows: a pipe path is at most 256 characters. */
const WINDOWS_PIPE_PATH_MAX = 256;

function validateNameString(name: unknown): asserts name is string {
  if (typeof name !== 'string') throw invalidArgType('name', 'of type string', name);
  if (name.length === 0) throw invalidArgValue('name', name, 'must not be empty');
  if (name.includes('\0')) throw invalidArgValue('name', name, 'must not contain NUL');
}

/**
 * Windows: the path every system call opens for a pipe path `pipePath` returned. A local pipe is
 * opened through `\\?\pipe\`, as libuv does: the `\\?\` prefix turns off Win32 path
 * normalisation, so no `..` or `/` can lead out of the pipe namespace (`\\.\pipe\..\C:\x` is
 * the file `C:\x`; `\\?\pipe\..\C:\x` is a pipe that does not exist). Remote paths are used
 * as given (they are refused without `allowRemote`, and `..` is refused in every name).
 * Users see `\\.\pipe\x` (`address()`, `conn.path`); both spellings name the same pipe.
 */
export function win32OpenPath(path: string): string {
  return /^\\\\[.?]\\pipe\\/i.test(path) ? `\\\\?\\pipe\\${path.slice(9)}` : path;
}

/**
 * Windows: a pipe path in the spelling users see. `//./pipe/x` (the spelling WSL and Docker
 * recipes use) and `\\?\pipe\x` become `\\.\pipe\x`; a `..` segment anywhere is refused,
 * since a Win32 open of `\\.\pipe\..\x` leaves the pipe namespace.
 * @throws TypeError `ERR_INVALID_ARG_VALUE`.
 */
export function canonicalWindowsPipePath(path: string, argName: string): string {
  let full = path;
  const slashed = /^\/\/([.?])\/pipe\//i.exec(full);
  if (slashed) full = `\\\\.\\pipe\\${full.slice(9)}`;
  else if (/^\\\\\?\\pipe\\/i.test(full)) full = `\\\\.\\pipe\\${full.slice(9)}`;
  if (full.split(/[\\/]/).some((seg) => seg === '..')) {
    throw invalidArgValue(argName, path, "must not contain a '..' segment (it would leave the pipe namespace)");
  }
  return full;
}

/** True for `\\server\pipe\name` with a server other than `.` or `?`. */
export function isRemotePipePath(path: string): boolean {
  return /^\\\\[^\\.?][^\\]*\\pipe\\/i.test(path) || /^\\\\[.?][^\\]+\\pipe\\/i.test(path);
}

/**
 * The one rule for remote names, shared by `connect` and the channel's `Client`: opening
 * `\\server\pipe\name` is an SMB login to `server` with the user's credentials, so it needs
 * `allowRemote: true`. Thrown before any system call.
 */
export function refuseRemote(path: string, allowRemote: boolean, argName: string, given: string): void {
  if (isRemotePipePath(path) && !allowRemote) {
    throw invalidArgValue(argName, given, 'is a remote pipe; pass { allowRemote: true } to connect to another machine');
  }
}

/**
 * The full OS path winpipe uses for `name`.
 *
 * - Windows: `\\.\pipe\<name>`. A name that already is a pipe path (`\\.\pipe\x`,
 *   `\\?\pipe\x`, `//./pipe/x` as WSL recipes write it, or a remote `\\server\pipe\x`) is
 *   kept, spelled `\\.\pipe\x` for a local pipe. Backslashes inside the name are allowed
 *   (Windows treats them as part of the name); a `..` segment is refused. At most 256 characters
 *   in all. Every system call opens it through `\\?\pipe\x` ({@link win32OpenPath}).
 * - POSIX: an absolute path is used as is. Any other name becomes `<dir>/<name>.sock`, where
 *   `<dir>` is a private per-user directory (mode 0700): `$XDG_RUNTIME_DIR/winpipe` when set,
 *   else `<os.tmpdir()>/winpipe-<uid>`. With `security: 'everyone'` the directory is
 *   `<os.tmpdir()>/winpipe-<uid>.public` (mode 0711: ours, traversable, not listable or writable
 *   by others; there is no shared directory another user could own). Every such directory is
 *   checked with `lstat` on listen and on connect (a real directory, owned by us, not open to
 *   others: else `EACCES` / `ENOTDIR`). The name must not contain `/`, and
 *   the path must fit `sun_path` (108 bytes on Linux, 104 on macOS): it is rejected, never
 *   truncated.
 *
 * @example
 * ```ts
 * pipePath('my-app');  // Windows: '\\\\.\\pipe\\my-app'   Linux: '/run/user/1000/winpipe/my-app.sock'
 * ```
 * @throws TypeError `ERR_INVALID_ARG_VALUE` for empty names, NUL, `/` in a POSIX name, `..` in a
 * Windows name, or a path too long.
 */
export function pipePath(name: string, options?: { security?: PipeSecurity; platform?: NodeJS.Platform }): string {
  validateNameString(name);
  const platform = options?.platform ?? process.platform;
  if (platform === 'win32') {
    const lower = name.toLowerCase();
    const given = WINDOWS_PREFIXES.some((p) => lower.startsWith(p)) || /^\/\/[.?]\/pipe\//i.test(name) || isRemotePipePath(name) ? name : `\\\\.\\pipe\\${name}`;
    const full = canonicalWindowsPipePath(given, 'name');
    if (full.length > WINDOWS_PIPE_PATH_MAX) throw invalidArgValue('name', name, `makes a pipe path longer than ${WINDOWS_PIPE_PATH_MAX} characters`);
    if (/^\\\\[.?]\\pipe\\$/i.test(full)) throw invalidArgValue('name', name, 'must name a pipe after \\\\.\\pipe\\');
    return full;
  }
  return posixPath(name, isAbsolute(name) ? undefined : socketDirs(), options?.security ?? 'current-user');
}

/** The POSIX part of {@link pipePath}, for a validated name: `dirs` is undefined for an absolute one. */
function posixPath(name: string, dirs: SocketDirs | undefined, security: PipeSecurity): string {
  let full: string;
  if (dirs === undefined) full = name;
  else {
    if (name.includes('/')) throw invalidArgValue('name', name, "must not contain '/' (use an absolute path to choose the location)");
    // What join() would make, without its normalising pass (3.5k instructions a connect, B6): the
    // directory is join()'s own output (normalised, no trailing slash) and `<name>.sock` one segment
    // that is neither '.' nor '..'.
    // Where the separator is not '/', join() rewrites the slashes, so it is kept.
    const dir = isPublicSecurity(security) ? dirs.public : dirs.private;
    full = sep === '/' ? `${dir}/${name}.sock` : join(dir, `${name}.sock`);
  }
  if (Buffer.byteLength(full) >= SUN_PATH_MAX) {
    throw invalidArgValue('name', name, `makes a socket path of ${Buffer.byteLength(full)} bytes; sun_path holds ${SUN_PATH_MAX - 1}`);
  }
  return full;
}

/**
 * POSIX {@link pipePath} for `connect`: the path, and the socket directories a name was resolved
 * against (undefined for an absolute path), which connect's candidates (src/posix/server.ts) need
 * too. Reading them once per connect instead of twice saves four `process.env` reads (about 3k
 * instructions, B6); and the candidates then come from the same directories as the path.
 * @throws TypeError as {@link pipePath} does.
 */
export function posixConnectPath(name: string): { path: string; dirs: SocketDirs | undefined } {
  validateNameString(name);
  const dirs = isAbsolute(name) ? undefined : socketDirs();
  return { path: posixPath(name, dirs, 'current-user'), dirs };
}

/**
 * POSIX: the directory for socket names (private, or the public one for 'everyone'). Only the
 * path: src/posix/trust.ts `verifyDir` (where the rule lives) makes and checks it.
 */
export function socketDir(security: PipeSecurity): string {
  const dirs = socketDirs();
  return isPublicSecurity(security) ? dirs.public : dirs.private;
}

/** POSIX: the private and the public socket directory, as {@link socketDirs} gives them. */
export interface SocketDirs {
  readonly private: string;
  readonly public: string;
}

/** The last answer of {@link socketDirs}, with the inputs it came from. */
let dirsMemo: { uid: number; runtime?: string; tmp?: string; temp1?: string; temp2?: string; private: string; public: string } | undefined;

/**
 * POSIX: both socket directories at once. `connect` asks for them on every call (its candidates),
 * and `os.tmpdir()` alone measured 3.3 µs (B6): the answer is kept while its inputs (the uid, and
 * the environment variables `os.tmpdir()` and `XDG_RUNTIME_DIR` name) stay the same.
 */
export function socketDirs(): SocketDirs {
  const env = process.env;
  const runtime = env.XDG_RUNTIME_DIR;
  const tmp = env.TMPDIR;
  // os.tmpdir() takes TMP only without TMPDIR, and TEMP only without either (an empty value counts
  // as none): read them only then (each read of process.env measured 2k instructions, B6).
  const temp1 = tmp ? undefined : env.TMP;
  const temp2 = tmp || temp1 ? undefined : env.TEMP;
  const uid = typeof process.getuid === 'function' ? process.getuid() : userInfo().uid;
  const m = dirsMemo;
  if (m && m.uid === uid && m.runtime === runtime && m.tmp === tmp && m.temp1 === temp1 && m.temp2 === temp2) return m;
  const t = tmpdir();
  const priv = runtime && isAbsolute(runtime) ? join(runtime, 'winpipe') : join(t, `winpipe-${uid}`);
  dirsMemo = { uid, runtime, tmp, temp1, temp2, private: priv, public: join(t, `winpipe-${uid}.public`) };
  return dirsMemo;
}

/** POSIX: the mode of a socket directory winpipe makes (and the most it tolerates). */
export function socketDirMode(security: PipeSecurity): number {
  return isPublicSecurity(security) ? 0o711 : 0o700;
}

// --- winpipe/connection addresses: CPython's, used as given ----------------------------------------

const PIPE_ADDRESS = /^\\\\([^\\]+)\\pipe\\[^\\].*$/is;

/**
 * Checks a Windows channel address (`\\.\pipe\name`, `//./pipe/name`, or `\\server\pipe\name`
 * for a Client) and returns it as used: `//./pipe/x` becomes `\\.\pipe\x`; a `..` segment is
 * refused (the same rule as `pipePath`). It is opened through `\\?\pipe\`.
 */
export function validateWinAddress(given: string, local: boolean): string {
  // The API takes a NUL-terminated name: a NUL would silently cut the name short.
  if (given.includes('\0')) throw invalidArgValue('address', given, 'must not contain NUL');
  const address = /^\/\/[.?]\/pipe\//i.test(given) || /^\\\\/.test(given) ? canonicalWindowsPipePath(given, 'address') : given;
  const m = PIPE_ADDRESS.exec(address);
  if (!m) throw invalidArgValue('address', address, 'must be a named-pipe path such as \\\\.\\pipe\\name');
  if (local && m[1] !== '.' && m[1] !== '?') throw invalidArgValue('address', address, 'is a remote pipe; a Listener can only create local pipes');
  if (address.length > 256) throw invalidArgValue('address', address, 'is longer than 256 characters');
  return address;
}

/** Checks a POSIX channel address; returns it unchanged (relative paths stay relative, as in Python). */
export function validatePosixAddress(address: string): string {
  if (/^\\\\[^\\]+\\pipe\\/i.test(address)) throw invalidArgValue('address', address, 'is a Windows named-pipe address; on POSIX use a filesystem path');
  const abstract = process.platform === 'linux' && address.startsWith('\0');
  if (!abstract && address.includes('\0')) throw invalidArgValue('address', address, 'must not contain NUL');
  const bytes = Buffer.byteLength(address);
  // The path and its terminating NUL must fit sun_path; it is rejected, never truncated.
  if (abstract ? bytes > SUN_PATH_MAX : bytes >= SUN_PATH_MAX) {
    throw invalidArgValue('address', address, `is ${bytes} bytes; sun_path holds ${SUN_PATH_MAX - (abstract ? 0 : 1)}`);
  }
  return address;
}
