/**
 * The public shapes of named-pipe servers and connections, types only: {@link PipeServer} and its
 * events, {@link PipeConnection} and its byte and message forms, {@link PeerIdentity} and
 * {@link ConnectionStats}. Windows implements them over CreateNamedPipeW (src/windows/server.ts),
 * POSIX over Unix domain sockets (src/posix/server.ts, src/posix/connect.ts).
 */
import type { EventEmitter } from 'node:events';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type { AdmitRefusal } from './admit.js';
import type { ListenOptions, PipeMode } from './options.js';

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
  /** Windows: the account name of `sid`, `DOMAIN\name`. Looked up at most once a minute per SID (a renamed account shows its old name until then): decide on `sid`. */
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
