/**
 * Byte-mode connections: a `net.Socket` (libuv does the I/O on both platforms: IOCP for an
 * overlapped named pipe, epoll/kqueue for a Unix socket) given the {@link PipeConnection} members.
 */
import net from 'node:net';
import { PipeError, fromNodeError, isPipeError } from './errors.js';
import type { PeerIdentity, PipeConnection } from './named.js';
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
 * {@link emitPipeErrors}, and once for every byte connection on their shared prototype.
 */
function pipeErrorEmit(base: AnyEmit, syscall: string): AnyEmit {
  return function (this: unknown, event: string | symbol, arg?: unknown): boolean {
    if (event === 'error' && !isPipeError(arg)) {
      const args = Array.prototype.slice.call(arguments);
      args[1] = fromNodeError(arg, syscall);
      return Reflect.apply(base, this, args) as boolean;
    }
    // Every other event ('data' above all) goes through untouched and uncopied, with exactly the
    // arguments it was emitted with: this wrapper runs once per chunk read.
    if (arguments.length === 2) return base.call(this, event, arg);
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

const INFO = Symbol('winpipe.connectionInfo');
type WithInfo = net.Socket & { [INFO]: ConnectionInfo };

/** A getter of one ConnectionInfo field, for the prototype below. */
function infoGetter<K extends keyof ConnectionInfo>(key: K): PropertyDescriptor {
  return {
    get(this: WithInfo): ConnectionInfo[K] {
      return this[INFO][key];
    },
    enumerable: true,
  };
}

/**
 * What a byte-mode connection is: a net.Socket whose prototype adds the PipeConnection members.
 * One shared prototype instead of nine own properties and an own `emit` on every socket: those
 * gave each connection's socket a map of its own shape, and the accept / connect path (B6) spent
 * about 15 µs per connection in net's code running on them.
 */
const byteConnectionPrototype: object = Object.create(net.Socket.prototype, {
  mode: { get: () => 'byte', enumerable: true },
  path: infoGetter('path'),
  clientProcessId: infoGetter('clientProcessId'),
  serverProcessId: infoGetter('serverProcessId'),
  serverOwnerSid: infoGetter('serverOwnerSid'),
  peerUid: infoGetter('peerUid'),
  peerGid: infoGetter('peerGid'),
  peer: {
    get(this: WithInfo): PeerIdentity {
      return this[INFO].peer ?? { pid: undefined };
    },
    enumerable: true,
  },
  // The error-wrapping emit of emitPipeErrors, for every byte connection at once.
  emit: { value: pipeErrorEmit(net.Socket.prototype.emit as AnyEmit, 'read'), writable: true, configurable: true },
  writeMessage: {
    value(this: WithInfo, data: ArrayBufferView): Promise<void> {
      validateBuffer(data, 'data');
      const path = this[INFO].path;
      return new Promise((resolve, reject) => {
        this.write(data as Uint8Array, (err) => (err ? reject(writeError(err, path)) : resolve()));
      });
    },
  },
  messages: {
    // Byte mode has no boundaries: each chunk as it arrives. Unlike `for await (... of socket)`,
    // reaching the end (or breaking out) does not destroy the socket, as in message mode: after
    // the peer's end() the other direction can still be used (half-close).
    async *value(this: WithInfo): AsyncIterableIterator<Buffer> {
      try {
        for await (const chunk of this.iterator({ destroyOnReturn: false })) yield chunk as Buffer;
      } catch (err) {
        // Our own destroy() ends a pending read with Node's ERR_STREAM_PREMATURE_CLOSE; say what
        // message mode says for the same thing. Socket errors are PipeErrors already.
        if ((err as { code?: unknown })?.code === 'ERR_STREAM_PREMATURE_CLOSE') {
          throw new PipeError({ code: 'ERR_PIPE_CLOSED', syscall: 'read', path: this[INFO].path, cause: err });
        }
        throw fromNodeError(err, 'read');
      }
    },
  },
});

/** Gives `socket` the PipeConnection members and returns it, typed as a PipeConnection. */
export function byteConnection(socket: net.Socket, info: ConnectionInfo): PipeConnection {
  (socket as WithInfo)[INFO] = info;
  Object.setPrototypeOf(socket, byteConnectionPrototype);
  return socket as unknown as PipeConnection;
}
