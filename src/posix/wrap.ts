/**
 * A connected Unix socket made a connection, on either side: the directions this side may not use
 * closed, then the socket itself (byte mode) or a {@link MessageConnection} over CPython framing
 * ({@link SocketMessageTransport}), carrying the peer's credentials.
 */
import type net from 'node:net';
import { byteConnection } from '../connection.js';
import { MessageConnection } from '../message.js';
import type { HalfClose } from '../options.js';
import type { PipeConnection } from '../types.js';
import * as libc from './libc.js';
import { SocketMessageTransport } from './transport.js';
import { peerIdentity, type PeerCredentials } from './trust.js';
import { socketFd } from './socket.js';

// --- directions ----------------------------------------------------------------------------------

/**
 * Makes the directions this side must not use unusable, before the connection is handed out.
 *
 * - Not writable (server `'inbound'`, client `'read'`): half-close at once. The peer reads end
 *   of stream; our `writable` is false and a write fails as on any ended stream.
 * - Not readable (server `'outbound'`, client `'write'`): `shutdown(SHUT_RD)`, and whatever
 *   still arrives is discarded. Our side sees end of stream at once; on Linux the peer's writes
 *   then fail with EPIPE (the nearest thing to Windows' ERROR_ACCESS_DENIED for a wrong direction).
 */
function restrictDirections(socket: net.Socket, readable: boolean, writable: boolean): void {
  if (!writable) socket.end();
  if (!readable) {
    const fd = socketFd(socket);
    if (fd !== undefined) {
      try {
        libc.shutdown(fd, libc.SHUT_RD);
      } catch {
        // Without libc the direction is still closed on our side below.
      }
    }
    // Flowing with no 'data' listener: anything that arrives is dropped, then 'end'.
    socket.resume();
  }
}

/** Wraps a connected socket for `mode`. Ownership: the returned connection owns `socket`. */
export function wrapSocket(
  socket: net.Socket,
  mode: 'byte' | 'message',
  info: {
    path: string;
    clientProcessId: number | undefined;
    serverProcessId: number | undefined;
    peer: PeerCredentials | undefined;
    readable: boolean;
    writable: boolean;
    allowHalfOpen: boolean;
    maxMessageSize: number;
    readAheadBytes: number;
    halfClose: HalfClose | undefined;
  },
): PipeConnection {
  // The socket itself stays half-open: in message mode the MessageConnection decides, and a side
  // made one-way (SHUT_RD) reads an end that is ours, not the peer's.
  restrictDirections(socket, info.readable, info.writable);
  if (mode === 'message') {
    // Ownership: the transport owns the socket, and the MessageConnection owns the transport.
    const transport = new SocketMessageTransport(socket, info.path, info.maxMessageSize, { halfClose: info.halfClose });
    return new MessageConnection(transport, {
      path: info.path,
      readable: info.readable,
      writable: info.writable,
      allowHalfOpen: info.allowHalfOpen,
      readAheadBytes: info.readAheadBytes,
      ...(info.clientProcessId === undefined ? {} : { clientProcessId: info.clientProcessId }),
      ...(info.serverProcessId === undefined ? {} : { serverProcessId: info.serverProcessId }),
      ...(info.peer === undefined ? {} : { peerUid: info.peer.uid, peerGid: info.peer.gid }),
      peer: peerIdentity(info.peer),
    });
  }
  // Byte mode with halfClose 'zero-message' is what a byte connection always does here: end() is
  // shutdown(SHUT_WR), and reading goes on until the peer's end.
  // net reads allowHalfOpen when the read side ends: false makes the peer's end end ours, then 'close'.
  if (info.readable) {
    socket.allowHalfOpen = info.allowHalfOpen;
    startReading(socket);
  }
  const peer = info.peer;
  return byteConnection(socket, {
    path: info.path,
    clientProcessId: info.clientProcessId,
    serverProcessId: info.serverProcessId,
    peerUid: peer?.uid,
    peerGid: peer?.gid,
    peer: peerIdentity(peer),
  });
}

/**
 * Starts reading a socket accepted with `pauseOnConnect` without putting it in flowing mode, so
 * no data is emitted before the user attaches a listener, and a later `'data'` listener still
 * switches it to flowing (an explicit pause() would stop that).
 */
function startReading(socket: net.Socket): void {
  // Not paused (a client's socket): net started reading it as it connected (its own read(0)).
  if (socket.readableFlowing !== false) return;
  // The setter exists on every Readable (Node itself uses it for pauseOnCreate); the typings say readonly.
  (socket as { readableFlowing: boolean | null }).readableFlowing = null;
  socket.read(0);
}
