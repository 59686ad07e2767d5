/**
 * The options of named pipes: their public types ({@link CreateServerOptions},
 * {@link ConnectOptions}, {@link ListenOptions}), and the checks and defaults of `createServer`'s
 * and `connect`'s. Names and paths are src/names.ts; the shapes of servers and connections,
 * src/types.ts.
 */
import { invalidArgType, invalidArgValue } from './errors.js';
import { validateAbortSignal, validateBoolean, validateInteger, validateObject, validateOneOf } from './validate.js';
import { isAccessPolicy, validateAccessPolicy, type AccessPolicy } from './access.js';
import { DEFAULT_ADMIT_TIMEOUT, type AdmitFunction } from './admit.js';

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
export type ResolvedServerOptions = Required<Omit<CreateServerOptions, 'maxInstances' | 'halfClose' | 'admit'>> & {
  maxInstances: number | 'unlimited';
  halfClose: HalfClose | undefined;
  admit: AdmitFunction | undefined;
};
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
  return {
    allowHalfOpen,
    mode,
    access,
    maxInstances,
    maxPendingClients,
    maxConnections,
    pendingInstances,
    inBufferSize,
    outBufferSize,
    security,
    rejectRemoteClients,
    firstInstance,
    maxMessageSize,
    readAheadBytes,
    halfClose,
    admit,
    admitTimeout,
  };
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
  return {
    connectTimeout,
    wait,
    signal: o.signal,
    allowHalfOpen,
    mode,
    access,
    maxMessageSize,
    readAheadBytes,
    allowRemote,
    trustedServerOwners,
    allowServerUids,
    halfClose,
    rendezvous,
    serverSession,
  };
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
