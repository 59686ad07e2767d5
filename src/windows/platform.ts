/**
 * The Windows side of the platform seam (src/platform.ts): named pipes from src/windows/server.ts
 * and client.ts, anonymous pipes from src/windows/pipe.ts, and the rest of this directory.
 */
import { pipePath, refuseRemote } from '../names.js';
import type { Platform } from '../platform.js';
import { adoptWindowsHandle } from './adopt.js';
import { WindowsHandleCore, openPeerProcess } from './handles.js';
import { listWindowsPipes } from './list.js';
import { windowsBackend } from './pipe.js';
import { validateRendezvousName } from './rendezvous.js';
import { resolveRendezvous, windowsConnect } from './client.js';
import { createWindowsServer, windowsPipeExists } from './server.js';
import { noNulls, spawnWindowsChild } from './spawn.js';

/** The Windows platform; src/platform.ts picks it on win32. Ownership as each member's module says. */
export const windowsPlatform: Platform = {
  name: 'windows',
  pipes: windowsBackend,
  createServer: createWindowsServer,
  connectTarget(name, o) {
    // A rendezvous name is read from its file at each attempt (with `wait`, until it appears).
    if (o.rendezvous) {
      validateRendezvousName(name);
      return { path: name, dirs: undefined };
    }
    const path = pipePath(name);
    refuseRemote(path, o.allowRemote, 'name', name);
    return { path, dirs: undefined };
  },
  connectOnce(path, o) {
    if (!o.rendezvous) return windowsConnect(path, o);
    try {
      return windowsConnect(resolveRendezvous(path), o);
    } catch (err) {
      return Promise.reject(err);
    }
  },
  exists: windowsPipeExists,
  listPipes: listWindowsPipes,
  spawn({ command, given, args, handles, options, killOnClose }) {
    // A static argument list is checked before any handle exists; a function's result once the values are known.
    if (given !== undefined) given.forEach((a, i) => noNulls(`args[${i}]`, a));
    return spawnWindowsChild({ command, args, handles, options: { ...options, killOnClose } });
  },
  spawnNeedsHandle: true,
  minAdoptValue: 1,
  adopt: adoptWindowsHandle,
  handleChannelMode: 'message',
  handleCore(conn, peerPid) {
    // At once, as the connection is made: a pid looked up later may be someone else's.
    return new WindowsHandleCore(conn, peerPid, openPeerProcess(peerPid));
  },
};
