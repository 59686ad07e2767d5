/**
 * Byte-mode connections: a `net.Socket` (libuv does the I/O on both platforms: IOCP for an
 * overlapped named pipe, epoll/kqueue for a Unix socket) given the {@link PipeConnection} members.
 */
import type net from 'node:net';
import { fromNodeError, isPipeError } from './errors.js';
import type { PipeConnection } from './named.js';
import { validateBuffer } from './validate.js';

/** Identity of a connection, set once it is established. */
export interface ConnectionInfo {
  path: string;
  clientProcessId?: number | undefined;
  serverProcessId?: number | undefined;
}

/**
 * Makes every `'error'` a stream emits a {@link PipeError} (portable `code`, the original as
 * `cause`), so users of winpipe's sockets see one error class, as they do everywhere else.
 */
export function emitPipeErrors<T extends NodeJS.EventEmitter>(stream: T, syscall: string): T {
  const emit = stream.emit;
  stream.emit = function (this: T, event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'error' && !isPipeError(args[0])) args[0] = fromNodeError(args[0], syscall);
    return emit.call(this, event, ...args);
  } as T['emit'];
  return stream;
}

/** Gives `socket` the PipeConnection members and returns it, typed as a PipeConnection. */
export function byteConnection(socket: net.Socket, info: ConnectionInfo): PipeConnection {
  emitPipeErrors(socket, 'read');
  Object.defineProperties(socket, {
    mode: { value: 'byte', enumerable: true },
    path: { value: info.path, enumerable: true },
    clientProcessId: { value: info.clientProcessId, enumerable: true },
    serverProcessId: { value: info.serverProcessId, enumerable: true },
    writeMessage: {
      value(data: ArrayBufferView): Promise<void> {
        validateBuffer(data, 'data');
        return new Promise((resolve, reject) => {
          socket.write(data as Uint8Array, (err) => (err ? reject(fromNodeError(err, 'write')) : resolve()));
        });
      },
    },
    messages: {
      // Byte mode has no boundaries: each chunk as it arrives. Unlike `for await (... of socket)`,
      // reaching the end (or breaking out) does not destroy the socket, as in message mode: after
      // the peer's end() the other direction can still be used (half-close).
      async *value(): AsyncIterableIterator<Buffer> {
        for await (const chunk of socket.iterator({ destroyOnReturn: false })) yield chunk as Buffer;
      },
    },
  });
  return socket as unknown as PipeConnection;
}
