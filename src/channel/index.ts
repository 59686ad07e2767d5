/**
 * `winpipe/connection`: message channels with the names and semantics of Python's
 * `multiprocessing.connection`, wire-compatible with CPython in both directions.
 *
 * | winpipe | Python |
 * |---|---|
 * | `Pipe({ duplex })` | `multiprocessing.Pipe(duplex)` |
 * | `new Listener(address, { authkey, backlog })`, `accept()`, `close()`, `address` | `Listener(address, authkey=..., backlog=...)` |
 * | `await Client(address, { authkey })` | `Client(address, authkey=...)` |
 * | `sendBytes` / `recvBytes` / `poll` / `close` / `fd` | `send_bytes` / `recv_bytes` / `poll` / `close` / `fileno()` |
 * | `send` / `recv` (v8 serialization, Node to Node) | `send` / `recv` (pickle) |
 * | `Connection.fromFd(fd)` | `Connection(fd)` |
 *
 * Platforms: POSIX uses Unix domain sockets (a filesystem path; relative paths are relative to the
 * cwd) with CPython's 4-byte big-endian length prefix; Windows uses message-mode named pipes
 * (`\\.\pipe\name`) with no prefix, exactly as CPython does on each.
 *
 * @example
 * ```ts
 * import { Listener, Client } from 'winpipe/connection';
 * const address = process.platform === 'win32' ? '\\\\.\\pipe\\my-app' : './my-app.sock';
 * const listener = new Listener(address, { authkey: Buffer.from('secret') });
 * const [server, client] = await Promise.all([listener.accept(), Client(address, { authkey: Buffer.from('secret') })]);
 * await client.sendBytes(Buffer.from('ping'));
 * console.log((await server.recvBytes()).toString());   // ping
 * client.close(); server.close(); listener.close();
 * ```
 *
 * @module
 */
import { PipeError, abortError, closedError, invalidArgType, invalidArgValue } from '../errors.js';
import { DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_MESSAGE_SIZE, MAX_CONNECTIONS_LIMIT, resolveAllowServerUids, resolveTrustedServerOwners } from '../options.js';
import type { PeerIdentity, ServerConnectionStats } from '../types.js';
import { refuseRemote } from '../names.js';
import { DEFAULT_ADMIT_TIMEOUT, type AdmitFunction } from '../admit.js';
import { validateAbortSignal, validateBoolean, validateInteger, validateObject } from '../validate.js';
import { clientHandshake, serverHandshake } from './auth.js';
import { type Connection, installFromFd, type FromFdOptions, type PendingConnection } from './connection.js';
import { platform, type ListenerBackend } from './platform.js';

const dispose: typeof Symbol.dispose = Symbol.dispose ?? Symbol.for('nodejs.dispose');

/** Options for {@link Pipe}. */
export interface PipeOptions {
  /** `true` (default): both ends send and receive. `false`: the first end receives, the second sends. */
  duplex?: boolean;
  /**
   * The largest message either end accepts, in bytes. Default 64 MiB. A connection reads ahead at
   * most 4 MiB (and 64 messages) that no `recv` has taken, so it buffers at most about 4 MiB +
   * `maxMessageSize`, however the peer splits its bytes.
   */
  maxMessageSize?: number;
}

/** Options for {@link Listener}. */
export interface ListenerOptions {
  /**
   * The shared secret. When given, every accepted connection runs CPython's HMAC handshake before
   * `accept()` resolves, and a peer with another key is refused (`ERR_AUTHENTICATION`). A string
   * is taken as UTF-8. Unlike Python 3.11, an empty key still authenticates (as in 3.12+).
   */
  authkey?: ArrayBufferView | string;
  /**
   * Connections the OS queues before `accept()` (POSIX `listen` backlog); on Windows, pipe
   * instances kept waiting (at most 4; a client that finds them all busy retries). Default 16.
   * (Python's default is 1; Node clients connect without blocking, so a deeper queue spares them
   * retries.)
   */
  backlog?: number;
  /**
   * The largest message accepted on accepted connections, in bytes. Default 64 MiB. A connection
   * reads ahead at most 4 MiB (and 64 messages) that no `recv` has taken, so it buffers at most
   * about 4 MiB + `maxMessageSize`, however the peer splits its bytes.
   */
  maxMessageSize?: number;
  /**
   * With an `authkey`: how long a client may take over the handshake, in ms, before it is dropped
   * and the oldest pending `accept()` rejects with `ETIMEDOUT`. Default 10 000; `0` waits for ever.
   * Handshakes run concurrently, so a slow or silent client never holds up another client's
   * `accept()`. Before the handshake is done, a message longer than 256 bytes is refused from its
   * size alone, before it is read (POSIX: the length prefix; Windows: a read of at most 257 bytes).
   */
  handshakeTimeout?: number;
  /**
   * How many clients the Listener holds before `accept()` has them: queued, or in their
   * handshake (a client counts until it has authenticated, or until `accept()` takes it when
   * there is no `authkey`). 1 – 2^31-1, default 512, as `createServer`'s `maxConnections`. A
   * client beyond it is turned away, so that clients that connect and never finish the handshake
   * cannot take every descriptor of the process: POSIX closes it as soon as it is accepted (its
   * `Client` fails); Windows creates no pipe instance beyond it, so the client finds the pipe busy
   * and retries (`Client` waits up to 20 s, as Python's does). See {@link Listener.connectionStats}.
   */
  maxPendingConnections?: number;
  /**
   * A check run for each client once its identity is known (the same {@link PeerIdentity} as
   * `createServer`'s `admit`), before `accept()` yields it and before the authkey handshake.
   * Only `true` admits; `false`, a throw (also a process warning `WINPIPE_ADMIT_FAILED`) or no
   * answer within `admitTimeout` closes the client, counted in `connectionStats().refused`.
   * Checks run concurrently, and a client being checked counts toward `maxPendingConnections`.
   *
   * @example
   * ```ts
   * const listener = new Listener(address, { authkey, admit: (peer) => peer.uid === process.getuid?.() });
   * ```
   */
  admit?: AdmitFunction;
  /** How long `admit` may take per client, in ms. Default 5000. */
  admitTimeout?: number;
}

/** Options for {@link Client}. */
export interface ClientOptions {
  /**
   * Aborts the connect and the handshake: `Client` rejects with an `AbortError`, and a connection
   * that completes afterwards is closed at once.
   */
  signal?: AbortSignal;
  /** The shared secret; see {@link ListenerOptions.authkey}. */
  authkey?: ArrayBufferView | string;
  /**
   * The largest message accepted, in bytes. Default 64 MiB. A connection reads ahead at most 4 MiB
   * (and 64 messages) that no `recv` has taken, so it buffers at most about 4 MiB +
   * `maxMessageSize`, however the peer splits its bytes.
   */
  maxMessageSize?: number;
  /**
   * Windows: whose pipe the Client may open, as `connect`'s option of the same name: by default
   * the pipe's owner must be our user, our token's default owner, SYSTEM or Administrators, or
   * the Client rejects with `EACCES`. `'any'` turns the check off. POSIX: validated only.
   */
  trustedServerOwners?: 'default' | 'any' | readonly string[];
  /**
   * POSIX: uids, besides ours and root, whose Listener this client may talk to (read from the
   * socket with SO_PEERCRED / getpeereid before the handshake); any other uid rejects with
   * `EACCES`. Default `[]`. Windows: validated only.
   */
  allowServerUids?: readonly number[];
  /**
   * Windows: allow a `\\server\pipe\name` address, as `connect`'s option of the same name.
   * Opening a remote pipe logs in to that machine with the user's credentials, so without it such
   * an address throws `ERR_INVALID_ARG_VALUE` before any system call. Default `false`. POSIX:
   * validated only.
   */
  allowRemote?: boolean;
  /** With an `authkey`: how long the server may take over the handshake, in ms; then `ETIMEDOUT`. Default 10 000; `0` waits for ever. */
  handshakeTimeout?: number;
}

/** The default of `handshakeTimeout`, in ms. */
const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;
/** CPython reads every handshake message with `recv_bytes(256)`. */
const HANDSHAKE_MESSAGE_MAX = 256;

function resolveHandshakeTimeout(value: unknown): number {
  if (value === undefined) return DEFAULT_HANDSHAKE_TIMEOUT;
  validateInteger(value, 'options.handshakeTimeout', 0, 0x7fff_ffff);
  return value;
}

export type { FromFdOptions } from './connection.js';
export { Connection } from './connection.js';

function resolveMax(value: unknown, name: string): number {
  if (value === undefined) return DEFAULT_MAX_MESSAGE_SIZE;
  validateInteger(value, name, 1, Number.MAX_SAFE_INTEGER);
  return value;
}

function resolveAuthkey(value: unknown): Buffer | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (ArrayBuffer.isView(value)) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  throw invalidArgType('options.authkey', 'of type string or an instance of Buffer, TypedArray, or DataView', value);
}

function resolveAddress(address: unknown, listener: boolean): string {
  if (typeof address !== 'string') throw invalidArgType('address', 'of type string', address);
  // POSIX would bind a nameless abstract socket nobody can find; omit the address for a fresh one.
  if (address.length === 0) throw invalidArgValue('address', address, 'must not be empty (omit it for a fresh address)');
  return platform.address(address, listener);
}

/**
 * A pair of connected {@link Connection}s, like Python's `multiprocessing.Pipe()`.
 *
 * - POSIX: `socketpair(AF_UNIX, SOCK_STREAM)`, or `pipe2` with `duplex: false`;
 * - Windows: a uniquely named message-mode pipe (current user only, one instance), both ends
 *   overlapped, as CPython builds it.
 *
 * Either end can go to a child in `spawn`'s `stdio` (pass the connection or its `fd`), where
 * `Connection.fromFd(n)` opens it.
 *
 * @example
 * ```ts
 * const [parentEnd, childEnd] = Pipe();
 * const child = spawn(process.execPath, ['child.mjs'], { stdio: ['inherit', 'inherit', 'inherit', childEnd.fd] });
 * childEnd.close();                               // the child has its own copy
 * await parentEnd.send({ job: 42 });
 * console.log(await parentEnd.recv());
 * ```
 * @throws TypeError / RangeError for bad options; PipeError when the OS refuses (`EMFILE`, ...).
 */
export function Pipe(options?: PipeOptions): [Connection, Connection] {
  validateObject(options, 'options');
  const duplex = options?.duplex ?? true;
  validateBoolean(duplex, 'options.duplex');
  const max = resolveMax(options?.maxMessageSize, 'options.maxMessageSize');
  return platform.pipe(duplex, max);
}

function fromFd(fd: number, options?: FromFdOptions): Connection {
  validateInteger(fd, 'fd', 0, 0x7fff_ffff);
  validateObject(options, 'options');
  const readable = options?.readable ?? true;
  const writable = options?.writable ?? true;
  validateBoolean(readable, 'options.readable');
  validateBoolean(writable, 'options.writable');
  const max = resolveMax(options?.maxMessageSize, 'options.maxMessageSize');
  return platform.fromFd(fd, readable, writable, max);
}
installFromFd(fromFd);

function resolveMaxPending(value: unknown): number {
  if (value === undefined) return DEFAULT_MAX_CONNECTIONS;
  validateInteger(value, 'options.maxPendingConnections', 1, MAX_CONNECTIONS_LIMIT);
  return value;
}

/**
 * A listening channel endpoint, like Python's `multiprocessing.connection.Listener`: a Unix domain
 * socket on POSIX, a message-mode named pipe on Windows. Python clients can connect to it, and
 * winpipe's {@link Client} can connect to a Python Listener.
 *
 * The address is bound in the constructor, so errors such as `EADDRINUSE` (the path exists, or
 * the pipe name is served) are thrown there, as in Python. `close()` removes the socket file.
 * Windows instances get a DACL for the current user only (Python's default DACL also lets other
 * local users read).
 *
 * @example
 * ```ts
 * const listener = new Listener('./app.sock', { authkey: 'secret' });
 * for (;;) {
 *   const conn = await listener.accept();        // rejects with ERR_AUTHENTICATION for a wrong key
 *   const request = await conn.recvBytes();
 *   await conn.sendBytes(request);
 *   conn.close();
 * }
 * ```
 * @throws TypeError / RangeError for a bad address or options; PipeError `EADDRINUSE`, `ENOENT`,
 * `EACCES` when the address cannot be bound.
 */
export class Listener {
  readonly #backend: ListenerBackend;
  readonly #authkey: Buffer | undefined;
  readonly #timeout: number;
  #waiters: { resolve(c: Connection): void; reject(e: unknown): void }[] = [];
  /** A `next()` is pending for the current pull generation. */
  #pulling = false;
  #generation = 0;
  #closed = false;
  /** Clients in their handshake. */
  #handshakes = new Set<PendingConnection>();
  /** Authenticated clients no accept() was waiting for. */
  #ready: Connection[] = [];

  /**
   * @param address POSIX: a filesystem path (relative to the cwd allowed). Windows:
   * `\\.\pipe\name`. Omitted: a fresh address, as Python's `arbitrary_address`.
   */
  constructor(address?: string | null, options?: ListenerOptions) {
    validateObject(options, 'options');
    this.#authkey = resolveAuthkey(options?.authkey);
    const backlog = options?.backlog ?? 16;
    validateInteger(backlog, 'options.backlog', 0, 0x7fff_ffff);
    const max = resolveMax(options?.maxMessageSize, 'options.maxMessageSize');
    this.#timeout = resolveHandshakeTimeout(options?.handshakeTimeout);
    const maxPending = resolveMaxPending(options?.maxPendingConnections);
    const admit = options?.admit;
    if (admit !== undefined && typeof admit !== 'function') throw invalidArgType('options.admit', 'of type function', admit);
    const admitTimeout = options?.admitTimeout ?? DEFAULT_ADMIT_TIMEOUT;
    validateInteger(admitTimeout, 'options.admitTimeout', 1, 0x7fff_ffff);
    // Before authentication nothing longer than a handshake message is read (Windows; POSIX
    // checks the length prefix of each handshake frame).
    const preAuth = this.#authkey === undefined ? undefined : HANDSHAKE_MESSAGE_MAX;
    const given = address === undefined || address === null ? undefined : resolveAddress(address, true);
    this.#backend = platform.listen(given, { backlog, maxMessageSize: max, maxPending, handshakeMax: preAuth, admit, admitTimeout });
  }

  /** The address clients connect to: the path as given, or `\\.\pipe\name`. */
  get address(): string {
    return this.#backend.address;
  }

  /**
   * Waits for the next client and, with an `authkey`, authenticates it (CPython's order: we
   * challenge first, then answer its challenge). While a call is pending the process stays alive.
   * Handshakes run concurrently: `accept()` resolves with the first client that completes its
   * handshake, so a client that connects and says nothing holds up nobody.
   *
   * Rejects with `ERR_AUTHENTICATION` when a handshake fails, `ETIMEDOUT` when a client takes
   * longer than `handshakeTimeout` (the connection is closed; the listener keeps listening; the
   * oldest pending call is the one that rejects), `ERR_PIPE_CLOSED` once the listener is closed.
   * `options.signal` aborts the wait (an `AbortError`); a client arriving later is kept for the
   * next `accept()`, never lost.
   *
   * @example
   * ```ts
   * const conn = await listener.accept({ signal: AbortSignal.timeout(5000) });
   * ```
   * @throws TypeError synchronously for a bad `options.signal`.
   */
  accept(options?: { signal?: AbortSignal }): Promise<Connection> {
    validateObject(options, 'options');
    const signal = options?.signal;
    validateAbortSignal(signal, 'options.signal');
    if (this.#authkey === undefined && signal === undefined) return this.#backend.next().then((pending) => pending.connection());
    if (this.#closed) return Promise.reject(closedError('accept'));
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const ready = this.#ready.shift();
    if (ready) return Promise.resolve(ready);
    const p = new Promise<Connection>((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(abortError(signal));
        // Nobody else waiting: stop taking clients, so an aborted accept keeps nothing alive.
        this.#settled();
      };
      const waiter = {
        resolve: (c: Connection): void => {
          signal?.removeEventListener('abort', onAbort);
          resolve(c);
        },
        reject: (e: unknown): void => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
    this.#pull();
    return p;
  }

  /**
   * The bound on clients not yet accepted at work ({@link ListenerOptions.maxPendingConnections}):
   * `current` clients queued or in their handshake now, `max`, `dropped` (POSIX: closed at once
   * because the bound was reached), `reachedMax` (times `current` reached `max`). A snapshot.
   *
   * @example
   * ```ts
   * const { dropped } = listener.connectionStats();
   * if (dropped > 0) console.warn(`${dropped} clients turned away before their handshake`);
   * ```
   * Platform notes: `dropped` stays 0 on Windows, where a client beyond the bound finds the pipe
   * busy and waits (the Listener cannot see it); `reachedMax` counts there.
   */
  connectionStats(): ServerConnectionStats {
    return this.#backend.stats();
  }

  /** Stops listening and removes the address; pending `accept()` calls reject. Idempotent. */
  close(): void {
    if (!this.#closed) {
      this.#closed = true;
      for (const w of this.#waiters.splice(0)) w.reject(closedError('accept'));
      for (const p of this.#handshakes) p.destroy();
      this.#handshakes.clear();
      for (const c of this.#ready.splice(0)) c.close();
    }
    this.#backend.close();
  }

  /** Same as {@link Listener.close}, for `using`. */
  [dispose](): void {
    this.close();
  }

  /** Takes clients from the backend while anyone waits, starting each one's handshake at once. */
  #pull(): void {
    if (this.#pulling || this.#closed || this.#waiters.length === 0) return;
    this.#pulling = true;
    const generation = this.#generation;
    this.#backend.next().then(
      (pending) => {
        if (generation === this.#generation) this.#pulling = false;
        if (this.#closed) {
          pending.destroy();
          return;
        }
        this.#handshakes.add(pending);
        void authenticate(pending, this.#authkey, serverHandshake, this.#timeout).then(
          (conn) => {
            this.#handshakes.delete(pending);
            if (this.#closed) conn.close();
            else {
              const w = this.#waiters.shift();
              // Everyone was served meanwhile: it waits for the next accept().
              if (w) w.resolve(conn);
              else this.#ready.push(conn);
            }
            this.#settled();
          },
          (err: unknown) => {
            this.#handshakes.delete(pending);
            this.#waiters.shift()?.reject(err);
            this.#settled();
          },
        );
        this.#pull();
      },
      (err: unknown) => {
        if (generation !== this.#generation) return;
        this.#pulling = false;
        // The listener is broken (or closed): every waiter learns it.
        for (const w of this.#waiters.splice(0)) w.reject(err);
      },
    );
  }

  /** Once nobody waits, stop asking the backend, so an idle listener keeps nothing alive. */
  #settled(): void {
    if (this.#waiters.length > 0 || !this.#pulling) return;
    this.#pulling = false;
    this.#generation++;
    this.#backend.withdraw();
  }
}

async function authenticate(pending: PendingConnection, key: Buffer | undefined, handshake: (io: PendingConnection['io'], key: Buffer) => Promise<void>, timeoutMs: number): Promise<Connection> {
  if (key !== undefined) {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      if (timeoutMs > 0) {
        timer = setTimeout(() => reject(new PipeError({ code: 'ETIMEDOUT', syscall: 'handshake', message: `ETIMEDOUT: the peer did not complete the handshake within ${timeoutMs} ms` })), timeoutMs);
      }
    });
    try {
      await Promise.race([handshake(pending.io, key), expired]);
    } catch (err) {
      pending.destroy();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }
  return pending.connection();
}

/**
 * Connects to a {@link Listener} (or a Python `Listener`) at `address`, like Python's
 * `multiprocessing.connection.Client`. With an `authkey` it runs CPython's handshake (answer
 * first, then challenge) before resolving. While every pipe instance is busy (Windows) or the
 * accept queue is full (POSIX) it retries for up to 20 s, as Python does.
 *
 * @example
 * ```ts
 * const conn = await Client('./app.sock', { authkey: 'secret' });
 * await conn.sendBytes(Buffer.from('hello'));
 * console.log((await conn.recvBytes()).toString());
 * conn.close();
 * ```
 * @throws TypeError / RangeError synchronously for a bad address or options, and (Windows) for a
 * remote `\\server\pipe\name` without `allowRemote: true`.
 * Rejects with PipeError `ENOENT` / `ECONNREFUSED` (nobody listens), `ETIMEDOUT` (busy),
 * `ERR_AUTHENTICATION` (wrong key on either side), `EACCES` (POSIX: the Listener runs as a uid
 * that is not ours, root, or in `allowServerUids`).
 */
export function Client(address: string, options?: ClientOptions): Promise<Connection> {
  const a = resolveAddress(address, false);
  validateObject(options, 'options');
  const signal = options?.signal;
  validateAbortSignal(signal, 'options.signal');
  const key = resolveAuthkey(options?.authkey);
  const max = resolveMax(options?.maxMessageSize, 'options.maxMessageSize');
  const trusted = resolveTrustedServerOwners(options?.trustedServerOwners, 'options.trustedServerOwners');
  const allowServerUids = resolveAllowServerUids(options?.allowServerUids, 'options.allowServerUids');
  const timeout = resolveHandshakeTimeout(options?.handshakeTimeout);
  const allowRemote = options?.allowRemote ?? false;
  validateBoolean(allowRemote, 'options.allowRemote');
  // Only a Windows address can name another machine; a POSIX one never matches.
  refuseRemote(a, allowRemote, 'address', address);
  if (signal?.aborted) return Promise.reject(abortError(signal));
  const connecting = platform.connect(a, { maxMessageSize: max, trustedServerOwners: trusted, allowServerUids, handshakeMax: key === undefined ? undefined : HANDSHAKE_MESSAGE_MAX });
  if (!signal) return connecting.then((pending) => authenticate(pending, key, clientHandshake, timeout));
  return new Promise<Connection>((resolve, reject) => {
    let aborted = false;
    let current: PendingConnection | undefined;
    const onAbort = (): void => {
      aborted = true;
      // Stop the handshake where it is: the Listener sees this client leave, not authenticate.
      current?.destroy();
      reject(abortError(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    connecting
      .then((pending) => {
        // Ownership: an abort before the connect completed leaves nobody to take `pending`.
        if (aborted) {
          pending.destroy();
          return undefined;
        }
        current = pending;
        return authenticate(pending, key, clientHandshake, timeout);
      })
      .then(
        (conn) => {
          signal.removeEventListener('abort', onAbort);
          if (!conn) return;
          // Ownership: nobody will receive a connection that completes after the abort; close it.
          if (aborted) conn.close();
          else resolve(conn);
        },
        (err: unknown) => {
          signal.removeEventListener('abort', onAbort);
          if (!aborted) reject(err);
        },
      );
  });
}

export { PipeError };
