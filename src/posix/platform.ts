/**
 * The POSIX side of the platform seam (src/platform.ts): named pipes (Unix sockets) from
 * src/posix/server.ts and src/posix/connect.ts, anonymous pipes from src/posix/pipe.ts, and the
 * rest of this directory.
 */
import type { SpawnOptions } from 'node:child_process';
import { posixConnectPath } from '../names.js';
import type { Platform } from '../platform.js';
import { adoptPosixFd } from './adopt.js';
import { PosixHandleCore, takeSocket } from './handles.js';
import { listPosixPipes } from './list.js';
import { posixBackend } from './pipe.js';
import { posixConnect, posixPipeExists } from './connect.js';
import { createPosixServer } from './server.js';
import { socketFd } from './socket.js';
import { spawnPosix } from './spawn.js';

/** The POSIX platform (Linux, macOS); src/platform.ts picks it off win32. Ownership as each member's module says. */
export const posixPlatform: Platform = {
  name: 'posix',
  pipes: posixBackend,
  createServer: createPosixServer,
  // The socket directories the name was resolved against go with the path, for connect's
  // candidates (src/posix/connect.ts), so the environment is read once per connect; and the
  // effective uid, read once for the directory's name and connect's checks (one geteuid, B6).
  connectTarget: (name) => posixConnectPath(name),
  connectOnce: posixConnect,
  exists: posixPipeExists,
  listPipes: listPosixPipes,
  spawn: ({ command, args, handles, options, killOnClose }) => spawnPosix(command, args, handles, options as SpawnOptions, killOnClose === true),
  spawnNeedsHandle: false,
  minAdoptValue: 0,
  adopt: (value, direction) => adoptPosixFd(Number(value), direction),
  handleChannelMode: 'byte',
  handleCore(conn, peerPid) {
    const fd = takeSocket(socketFd(conn as never), () => conn.destroy());
    return new PosixHandleCore(fd, posixBackend, peerPid);
  },
};
