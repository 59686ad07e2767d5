/**
 * Byte-mode connections: a `net.Socket` (libuv does the I/O on both platforms: IOCP for an
 * overlapped named pipe, epoll/kqueue for a Unix socket) given the {@link PipeConnection} members.
 */
import net from 'node:net';
import { PipeError, fromNodeError, isPipeError } from './errors.js';
import type { PeerIdentity, PipeConnection } from './types.js';
import { validateBuffer } from './validate.js';

/** Identity of a connection, set once it is established. */
export interface ConnectionInfo {
  path: string;
  clientProcessId?: number | undefined;
  serverProcessId?: number | undefined;
  /** Client side, Windows: the pipe's owner SID, checked by src/windows/trust.ts. */
  serverOwnerSid?: string | undefined;
  peerUid?: number | undefined;
  peerGid?: number | undefined;
  /** Who is at the other end: filled by trust.ts of the platform. */
  peer?: PeerIdentity | undefined;
  /**
   * Windows: the identity, read when first asked (src/windows/trust.ts, LazyPeer); then `peer`
   * and the peer's pid (`clientProcessId` or `serverProcessId`, by `peerIs`) come from it.
   */
  peerSource?: PeerSource | undefined;
}

/** Who is at the other end, read when first asked. */
export interface PeerSource {
  /** `'client'`: the peer is the client (a server connection), so its pid is `clientProcessId`. */
  readonly peerIs: 'client' | 'server';
  get(): PeerIdentity;
}

/**
 * Makes every `'error'` a stream emits a {@link PipeError} (portable `code`, the original as
 * `cause`), so users of winpipe's sockets see one error class, as they do everywhere else.
 */
export function emitPipeErrors<T extends NodeJS.EventEmitter>(stream: T, syscall: string): T {
  stream.emit = pipeErrorEmit(stream.emit as AnyEmit, syscall) as T['emit'];
  return stream;
}

type AnyEmit = (this: unknown, event: string | symbol, ...args: unknown[]) => boolean;

/**
 * `emit` over `base` that turns an `'error'` into a {@link PipeError}: per stream in
 * {@link emitPipeErrors}, and once for all byte connections ({@link byteConnection}).
 */
// biome-ignore-start lint/complexity/noArguments: these emits run once per chunk read; `arguments` passes the
// event's arguments on as they came, where rest parameters would copy them into an array every time.
function pipeErrorEmit(base: AnyEmit, syscall: string): AnyEmit {
  return function (this: unknown, event: string | symbol, arg?: unknown): boolean {
    if (event === 'error' && !isPipeError(arg)) {
      const args = Array.prototype.slice.call(arguments);
      args[1] = fromNodeError(arg, syscall);
      return Reflect.apply(base, this, args) as boolean;
    }
    // Every other event ('data' above all) goes through untouched and uncopied, with exactly the
    // arguments it was emitted with: this wrapper runs once per chunk read. Most of the rest
    // ('end', 'finish', 'resume', ...) have none: called directly too, not through a list made
    // from `arguments`.
    const n = arguments.length;
    if (n === 2) return base.call(this, event, arg);
    if (n === 1) return base.call(this, event);
    return Reflect.apply(base, this, arguments) as boolean;
  };
}

/**
 * The error for a failed write of a connection: a write on our own destroyed stream is the library
 * state `ERR_PIPE_CLOSED` (Node's ERR_STREAM_DESTROYED as cause), as everywhere else in winpipe;
 * anything else keeps its code, as a PipeError.
 */
export function writeError(err: unknown, path: string): PipeError {
  if (isPipeError(err)) return err;
  if ((err as { code?: unknown })?.code === 'ERR_STREAM_DESTROYED') return new PipeError({ code: 'ERR_PIPE_CLOSED', syscall: 'write', path, cause: err });
  return fromNodeError(err, 'write');
}

/** The error-wrapping emit of {@link emitPipeErrors}, one function for every byte connection. */
const socketErrorEmit = pipeErrorEmit(net.Socket.prototype.emit as AnyEmit, 'read');

/**
 * {@link socketErrorEmit}, and on `'end'`: net (allowHalfOpen false) then replaces the socket's
 * `write` with its own writeAfterFIN, which hands a plain `Error` (code EPIPE) to the callback
 * without going through `_write`; that one gets the PipeError treatment too.
 */
function byteEmit(this: net.Socket, event: string | symbol, arg?: unknown): boolean {
  const n = arguments.length;
  if (n === 2) return socketErrorEmit.call(this, event, arg);
  const result = n === 1 ? socketErrorEmit.call(this, event) : (Reflect.apply(socketErrorEmit, this, arguments) as boolean);
  if (event === 'end') adoptWriteAfterEnd(this);
  return result;
}
// biome-ignore-end lint/complexity/noArguments: the emits above

const wrappedWrites = new WeakSet<object>();
/**
 * The wrapper made for each `write` net put on a socket: net puts the same writeAfterFIN on every
 * socket, so one wrapper serves them all (no closure and WeakSet entry per connection); weak, so a
 * function of a socket's own is not kept alive by it.
 */
const wrapperOf = new WeakMap<object, net.Socket['write']>();
/** The `write` every socket inherits: one that is not it was put on the socket itself. */
const inheritedWrite = net.Socket.prototype.write;
function adoptWriteAfterEnd(socket: net.Socket): void {
  const own = socket.write;
  if (own === inheritedWrite || typeof own !== 'function' || wrappedWrites.has(own)) return;
  let wrapped = wrapperOf.get(own);
  if (wrapped === undefined) {
    wrapped = function (this: net.Socket, ...args: unknown[]): boolean {
      const last = args.length - 1;
      if (last >= 0 && typeof args[last] === 'function') args[last] = pipeErrorCallback(args[last] as WriteCallback);
      return Reflect.apply(own, this, args) as boolean;
    } as net.Socket['write'];
    wrappedWrites.add(wrapped);
    wrapperOf.set(own, wrapped);
  }
  socket.write = wrapped;
}

type ByteSocket = net.Socket & { path: string };

/** `writeMessage` of every byte connection (one function, `this` is the socket). */
function writeMessage(this: ByteSocket, data: ArrayBufferView): Promise<void> {
  validateBuffer(data, 'data');
  const path = this.path;
  return new Promise((resolve, reject) => {
    this.write(data as Uint8Array, (err) => (err ? reject(writeError(err, path)) : resolve()));
  });
}

/**
 * `messages` of every byte connection. Byte mode has no boundaries: each chunk as it arrives.
 * Unlike `for await (... of socket)`, reaching the end (or breaking out) does not destroy the
 * socket, as in message mode: after the peer's end() the other direction can still be used
 * (half-close).
 */
async function* messages(this: ByteSocket): AsyncIterableIterator<Buffer> {
  try {
    for await (const chunk of this.iterator({ destroyOnReturn: false })) yield chunk as Buffer;
  } catch (err) {
    // Our own destroy() ends a pending read with Node's ERR_STREAM_PREMATURE_CLOSE; say what
    // message mode says for the same thing. Socket errors are PipeErrors already.
    if ((err as { code?: unknown })?.code === 'ERR_STREAM_PREMATURE_CLOSE') {
      throw new PipeError({ code: 'ERR_PIPE_CLOSED', syscall: 'read', path: this.path, cause: err });
    }
    throw fromNodeError(err, 'read');
  }
}

const socketWrite = net.Socket.prototype._write;
const socketWritev = net.Socket.prototype._writev!;
type WriteCallback = (error?: Error | null) => void;

/**
 * The write callback of every byte connection sees a {@link PipeError}, as `'error'` does
 * (docs/guarantees.md): libuv reports a write whose reader went away as its own code (`EOF` on
 * node.exe 22, where libuv maps ERROR_BROKEN_PIPE so), and Node hands that to the callback as is.
 */
function pipeErrorCallback(callback: WriteCallback): WriteCallback {
  return (err) => callback(err && !isPipeError(err) ? fromNodeError(err, 'write') : err);
}
function byteWrite(this: net.Socket, chunk: unknown, encoding: BufferEncoding, callback: WriteCallback): void {
  socketWrite.call(this, chunk, encoding, pipeErrorCallback(callback));
}
function byteWritev(this: net.Socket, chunks: { chunk: unknown; encoding: BufferEncoding }[], callback: WriteCallback): void {
  socketWritev.call(this, chunks, pipeErrorCallback(callback));
}

/**
 * The pid of the connection's `side` (`'client'`: `clientProcessId`) from its peer source: the
 * peer's pid when the peer is on that side, else undefined (a connection never knows its own
 * side's pid). One rule for byte and message connections.
 */
export function peerPid(source: PeerSource, side: 'client' | 'server'): number | undefined {
  return source.peerIs === side ? source.get().pid : undefined;
}

type LazySocket = { _winpipePeer: PeerSource };
/** An accessor of {@link byteConnection} with a peer source, made once per field: one getter shared by every socket. */
function lazyField(read: (source: PeerSource) => unknown): PropertyDescriptor {
  return {
    get(this: LazySocket): unknown {
      return read(this._winpipePeer);
    },
    enumerable: true,
    configurable: true,
  };
}
const lazyClientPid = lazyField((p) => peerPid(p, 'client'));
const lazyServerPid = lazyField((p) => peerPid(p, 'server'));
const lazyPeer = lazyField((p) => p.get());

/**
 * Gives `socket` the PipeConnection members and returns it, typed as a PipeConnection.
 *
 * Own data properties, stored in one fixed order with shared function values, so that every
 * connection's socket follows one chain of V8 map transitions. Not `Object.setPrototypeOf` onto a
 * shared prototype (the B6 version before this): V8 gives an object whose prototype was changed
 * a map outside the transition tree, and every property added to it afterwards (net adds `write`
 * when the peer ends, `_peername` on `remoteAddress`, users add their own) makes a map of its own.
 * Each socket then had its own map by the time net closed it, so net's property accesses went
 * megamorphic and missed V8's stub cache on every connection (callgrind, B6 server: 345k
 * instructions per connection against net's 139k).
 */
export function byteConnection(socket: net.Socket, info: ConnectionInfo): PipeConnection {
  const s = socket as unknown as Record<string, unknown>;
  s.mode = 'byte';
  s.path = info.path;
  const source = info.peerSource;
  // Windows: the identity fields are accessors, read when first asked. Still one chain of maps:
  // every Windows connection defines the same three accessors, in this order, with the same
  // getter functions (V8 follows an accessor transition whose getter/setter pair is identical),
  // and the state is one data property. POSIX connections keep plain data properties.
  if (source) {
    s._winpipePeer = source;
    Object.defineProperty(s, 'clientProcessId', lazyClientPid);
    Object.defineProperty(s, 'serverProcessId', lazyServerPid);
  } else {
    s.clientProcessId = info.clientProcessId;
    s.serverProcessId = info.serverProcessId;
  }
  s.serverOwnerSid = info.serverOwnerSid;
  s.peerUid = info.peerUid;
  s.peerGid = info.peerGid;
  if (source) Object.defineProperty(s, 'peer', lazyPeer);
  else s.peer = info.peer ?? { pid: undefined };
  s.emit = byteEmit;
  s._write = byteWrite;
  s._writev = byteWritev;
  s.writeMessage = writeMessage;
  s.messages = messages;
  return socket as unknown as PipeConnection;
}
