/**
 * A connected pipe handle, a server's or a client's, becomes a `PipeConnection`: in byte mode a
 * `net.Socket` that libuv drives through its own completion port; in message mode (and byte mode
 * with `halfClose`) our transport (src/windows/transport.ts). A handle joins one port only.
 */
import net from 'node:net';
import { byteConnection } from '../connection.js';
import { WIN32_ERRORS, win32Error } from '../errors.js';
import { MessageConnection } from '../message.js';
import type { HalfClose } from '../options.js';
import type { PipeConnection } from '../types.js';
import { openOsfHandle } from './crt.js';
import * as k32 from './kernel32.js';
import type { LazyPeer } from './trust.js';
import { WinMessageTransport } from './transport.js';

const E = WIN32_ERRORS;

/** Wraps a connected overlapped pipe handle. Ownership: the returned connection owns `handle`. */
export function wrap(
  handle: k32.HANDLE,
  mode: 'byte' | 'message',
  info: {
    path: string;
    serverOwnerSid?: string;
    readable: boolean;
    writable: boolean;
    maxMessageSize: number;
    readAheadBytes: number;
    allowHalfOpen: boolean;
    peerSource: LazyPeer;
    halfClose: HalfClose | undefined;
  },
  onRelease?: () => void,
): PipeConnection {
  // halfClose in byte mode cannot be a net.Socket: libuv's shutdown of a readable pipe sends
  // nothing and closes the whole handle 50 ms later (src/win/pipe.c, uv__process_pipe_shutdown_req
  // and eof_timer_cb), and its reader drops a zero-byte read (uv__process_pipe_read_req, then
  // uv__pipe_read_data hands 0 bytes to Node, which ignores them). Our own transport does both.
  if (mode === 'message' || info.halfClose) {
    let transport: WinMessageTransport;
    try {
      transport = new WinMessageTransport(handle, info.path, mode === 'message' ? info.maxMessageSize : Infinity, onRelease, { halfClose: info.halfClose, bytes: mode === 'byte' });
    } catch (err) {
      k32.CloseHandle(handle);
      throw err;
    }
    // The identity is read from `handle` only until the transport has closed it.
    info.peerSource.bind(() => transport.open);
    return new MessageConnection(transport, { ...info, mode });
  }
  const fd = openOsfHandle(handle);
  if (fd < 0) {
    k32.CloseHandle(handle);
    throw win32Error(E.ERROR_TOO_MANY_OPEN_FILES, 'uv_open_osfhandle', info.path);
  }
  // Ownership: from here the fd, and then the socket's libuv handle, owns the pipe handle.
  const socket = new net.Socket({ fd, readable: info.readable, writable: info.writable, allowHalfOpen: info.allowHalfOpen });
  // The identity is read from `handle` only while libuv has not closed it: net closes the handle
  // in _destroy, and `destroyed` is set before that.
  info.peerSource.bind(() => !socket.destroyed);
  return byteConnection(socket, info);
}
