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
import { PipeError, invalidArgType, invalidArgValue } from '../errors.js';
import { DEFAULT_MAX_MESSAGE_SIZE, resolveConnectOptions } from '../named.js';
import { validateBoolean, validateInteger, validateObject } from '../validate.js';
import { clientHandshake, serverHandshake } from './auth.js';
import { Connection, installFromFd, type FromFdOptions, type PendingConnection } from './connection.js';
import { PosixListenerBackend, arbitraryPosixAddress, posixConnect, posixFromFd, posixPipe, validatePosixAddress } from './posix.js';
import { WinListenerBackend, arbitraryWinAddress, validateWinAddress, winConnect, winFromFd, winPipe } from './windows.js';

const isWindows = process.platform === 'win32';
const dispose: typeof Symbol.dispose = Symbol.dispose ?? Symbol.for('nodejs.dispose');

/** Options for {@link Pipe}. */
export interface PipeOptions {
  /** `true` (default): both ends send and receive. `false`: the first end receives, the second sends. */
  duplex?: boolean;
  /** The largest message either end accepts, in bytes. Default 64 MiB. */
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
  /** The largest message accepted on accepted connections, in bytes. Default 64 MiB. */
  maxMessageSize?: number;
}

/** Options for {@link Client}. */
export interface ClientOptions {
  /** The shared secret; see {@link ListenerOptions.authkey}. */
  authkey?: ArrayBufferView | string;
  /** The largest message accepted, in bytes. Default 64 MiB. */
  maxMessageSize?: number;
  /**
   * POSIX: uids, besides ours and root, whose Listener this client may talk to (read from the
   * socket with SO_PEERCRED / getpeereid before the handshake); any other uid rejects with
   * `EACCES`. Default `[]`. Windows: validated only.
   */
  allowServerUids?: readonly number[];
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
  return isWindows ? validateWinAddress(address, listener) : validatePosixAddress(address);
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
  return isWindows ? winPipe(duplex, max) : posixPipe(duplex, max);
}

function fromFd(fd: number, options?: FromFdOptions): Connection {
  validateInteger(fd, 'fd', 0, 0x7fff_ffff);
  validateObject(options, 'options');
  const readable = options?.readable ?? true;
  const writable = options?.writable ?? true;
  validateBoolean(readable, 'options.readable');
  validateBoolean(writable, 'options.writable');
  const max = resolveMax(options?.maxMessageSize, 'options.maxMessageSize');
  return isWindows ? winFromFd(fd, readable, writable, max) : posixFromFd(fd, max);
}
installFromFd(fromFd);

interface ListenerBackend {
  readonly address: string;
  next(): Promise<PendingConnection>;
  close(): void;
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
    if (address === undefined || address === null) {
      if (isWindows) this.#backend = new WinListenerBackend(arbitraryWinAddress(), backlog, max);
      else {
        const { address: a, dir } = arbitraryPosixAddress();
        this.#backend = new PosixListenerBackend(a, backlog, max, dir);
      }
    } else {
      const a = resolveAddress(address, true);
      this.#backend = isWindows ? new WinListenerBackend(a, backlog, max) : new PosixListenerBackend(a, backlog, max);
    }
  }

  /** The address clients connect to: the path as given, or `\\.\pipe\name`. */
  get address(): string {
    return this.#backend.address;
  }

  /**
   * Waits for the next client and, with an `authkey`, authenticates it (CPython's order: we
   * challenge first, then answer its challenge). While a call is pending the process stays alive.
   *
   * Rejects with `ERR_AUTHENTICATION` when the handshake fails (the connection is closed; the
   * listener keeps listening), `ERR_PIPE_CLOSED` once the listener is closed.
   */
  accept(): Promise<Connection> {
    return this.#backend.next().then((pending) => authenticate(pending, this.#authkey, serverHandshake));
  }

  /** Stops listening and removes the address; pending `accept()` calls reject. Idempotent. */
  close(): void {
    this.#backend.close();
  }

  /** Same as {@link Listener.close}, for `using`. */
  [dispose](): void {
    this.close();
  }
}

async function authenticate(
  pending: PendingConnection,
  key: Buffer | undefined,
  handshake: (io: PendingConnection['io'], key: Buffer) => Promise<void>,
): Promise<Connection> {
  if (key !== undefined) {
    try {
      await handshake(pending.io, key);
    } catch (err) {
      pending.destroy();
      throw err;
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
 * @throws TypeError / RangeError synchronously for a bad address or options.
 * Rejects with PipeError `ENOENT` / `ECONNREFUSED` (nobody listens), `ETIMEDOUT` (busy),
 * `ERR_AUTHENTICATION` (wrong key on either side), `EACCES` (POSIX: the Listener runs as a uid
 * that is not ours, root, or in `allowServerUids`).
 */
export function Client(address: string, options?: ClientOptions): Promise<Connection> {
  const a = resolveAddress(address, false);
  validateObject(options, 'options');
  const key = resolveAuthkey(options?.authkey);
  const max = resolveMax(options?.maxMessageSize, 'options.maxMessageSize');
  const { allowServerUids } = resolveConnectOptions({ allowServerUids: options?.allowServerUids });
  const connecting = isWindows ? winConnect(a, max) : posixConnect(a, max, allowServerUids);
  return connecting.then((pending) => authenticate(pending, key, clientHandshake));
}

export { PipeError };
