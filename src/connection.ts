/**
 * Byte-mode connections: a `net.Socket` (libuv does the I/O on both platforms: IOCP for an
 * overlapped named pipe, epoll/kqueue for a Unix socket) given the {@link PipeConnection} members.
 */
import type net from 'node:net';
import { PipeError, fromNodeError, isPipeError } from './errors.js';
import type { PipeConnection } from './named.js';
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
}

/**
 * Makes every `'error'` a stream emits a {@link PipeError} (portable `code`, the original as
 * `cause`), so users of winpipe's sockets see one error class, as they do everywhere else.
 */
export function emitPipeErrors<T extends NodeJS.EventEmitter>(stream: T, syscall: string): T {
  const emit = stream.emit;
  stream.emit = function (this: T, event: string | symbol, arg?: unknown): boolean {
    if (event === 'error' && !isPipeError(arg)) {
      const args = Array.prototype.slice.call(arguments);
      args[1] = fromNodeError(arg, syscall);
      return Reflect.apply(emit, this, args) as boolean;
    }
    // Every other event ('data' above all) goes through untouched and uncopied, with exactly the
    // arguments it was emitted with: this wrapper runs once per chunk read.
    if (arguments.length === 2) return emit.call(this, event, arg);
    return Reflect.apply(emit, this, arguments) as boolean;
  } as T['emit'];
  return stream;
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

/** Gives `socket` the PipeConnection members and returns it, typed as a PipeConnection. */
export function byteConnection(socket: net.Socket, info: ConnectionInfo): PipeConnection {
  emitPipeErrors(socket, 'read');
  Object.defineProperties(socket, {
    mode: { value: 'byte', enumerable: true },
    path: { value: info.path, enumerable: true },
    clientProcessId: { value: info.clientProcessId, enumerable: true },
    serverProcessId: { value: info.serverProcessId, enumerable: true },
    serverOwnerSid: { value: info.serverOwnerSid, enumerable: true },
    peerUid: { value: info.peerUid, enumerable: true },
    peerGid: { value: info.peerGid, enumerable: true },
    writeMessage: {
      value(data: ArrayBufferView): Promise<void> {
        validateBuffer(data, 'data');
        return new Promise((resolve, reject) => {
          socket.write(data as Uint8Array, (err) => (err ? reject(writeError(err, info.path)) : resolve()));
        });
      },
    },
    messages: {
      // Byte mode has no boundaries: each chunk as it arrives. Unlike `for await (... of socket)`,
      // reaching the end (or breaking out) does not destroy the socket, as in message mode: after
      // the peer's end() the other direction can still be used (half-close).
      async *value(): AsyncIterableIterator<Buffer> {
        try {
          for await (const chunk of socket.iterator({ destroyOnReturn: false })) yield chunk as Buffer;
        } catch (err) {
          // Our own destroy() ends a pending read with Node's ERR_STREAM_PREMATURE_CLOSE; say what
          // message mode says for the same thing. Socket errors are PipeErrors already.
          if ((err as { code?: unknown })?.code === 'ERR_STREAM_PREMATURE_CLOSE') {
            throw new PipeError({ code: 'ERR_PIPE_CLOSED', syscall: 'read', path: info.path, cause: err });
          }
          throw fromNodeError(err, 'read');
        }
      },
    },
  });
  return socket as unknown as PipeConnection;
}
