/**
 * POSIX clients of named pipes: `connect` and `pipeExists` on Unix domain sockets, with the
 * candidate paths a name is looked for in and the trust checks before a byte is sent
 * (src/posix/trust.ts).
 */
import { lstatSync } from 'node:fs';
import type net from 'node:net';
import { basename, dirname, join } from 'node:path';
import { PipeError, abortError } from '../errors.js';
import type { ResolvedConnectOptions } from '../options.js';
import type { PipeConnection } from '../types.js';
import { socketDirMode, socketDirs, type SocketDirs } from '../names.js';
import { RETRY, retry } from '../retry.js';
import { checkDir, checkServer, currentUid, peerCredentials, verifyDir, type PeerCredentials } from './trust.js';
import { connectPathThen, connectUnix, socketFd } from './socket.js';
import { wrapSocket } from './wrap.js';

// --- client --------------------------------------------------------------------------------------

/** Codes that mean "nobody serves this path": portable ENOENT, as Windows' ERROR_FILE_NOT_FOUND. */
function isNobodyThere(code: string | undefined): boolean {
  return code === 'ENOENT' || code === 'ECONNREFUSED';
}

/** A path connect tries, and the socket directory to check before it (none for a path given in full elsewhere). */
interface Candidate {
  readonly path: string;
  readonly dir?: { readonly path: string; readonly mode: number };
}

/** A {@link Candidate}, or one made when connect comes to it (our public directory, read then). */
type CandidateEntry = Candidate | (() => Candidate);

/**
 * Where to look for `path`, each with the directory to verify first (trust.ts) or none: a name
 * in our private directory is also looked for in OUR public directory, so that `connect('name')`
 * reaches our own `security: 'everyone'` server, as `\\.\pipe\name` would on Windows. Never
 * anyone else's directory: reaching another user's server takes its full path and
 * `allowServerUids`. An absolute path is used as is; the server's uid is checked after connect.
 * `dirs`: the directories `path` was resolved against (names.ts posixConnectPath), else today's.
 * The public directory of a name in the private one is read only when that candidate is tried
 * (where `XDG_RUNTIME_DIR` names the private directory, reading it reads the environment).
 *
 * The answer for the same path and the same directories answer (names.ts keeps one object while
 * the environment and uid stay the same) is kept and shared, frozen: a client connecting to one
 * name again and again builds its list once.
 */
function candidates(path: string, dirs: SocketDirs = socketDirs()): readonly CandidateEntry[] {
  const last = lastCandidates;
  // A list that depends on the public directory is kept only while it stays the same.
  if (last !== undefined && last.dirs === dirs && last.path === path && (last.pub === undefined || last.pub === dirs.public)) return last.list;
  const found = findCandidates(path, dirs);
  const list = Object.freeze(found.list.map((c) => (typeof c === 'function' ? c : Object.freeze(c))));
  lastCandidates = { path, dirs, pub: found.pub, list };
  return list;
}
let lastCandidates: { path: string; dirs: SocketDirs; pub: string | undefined; list: readonly CandidateEntry[] } | undefined;

/** The candidates, and the public directory where they were decided by it. */
function findCandidates(path: string, dirs: SocketDirs): { list: CandidateEntry[]; pub: string | undefined } {
  const priv = dirs.private;
  const dir = dirname(path);
  if (dir === priv) {
    const base = basename(path);
    return {
      list: [
        { path, dir: Object.freeze({ path: priv, mode: PRIVATE_DIR_MODE }) },
        () => {
          const pub = dirs.public;
          return { path: join(pub, base), dir: { path: pub, mode: PUBLIC_DIR_MODE } };
        },
      ],
      pub: undefined,
    };
  }
  const pub = dirs.public;
  if (dir === pub) return { list: [{ path, dir: Object.freeze({ path: pub, mode: PUBLIC_DIR_MODE }) }], pub };
  return { list: [{ path }], pub };
}
const PRIVATE_DIR_MODE = socketDirMode('current-user');
const PUBLIC_DIR_MODE = socketDirMode('everyone');

/**
 * `pipeExists` on POSIX: a socket file at one of the paths `connect` would try, in a directory
 * that passes `connect`'s checks. Only `lstat`: nothing connects, so the server accepts nothing.
 */
export function posixPipeExists(path: string): boolean {
  for (const entry of candidates(path)) {
    const { path: candidate, dir } = typeof entry === 'function' ? entry() : entry;
    if (dir) {
      try {
        verifyDir(dir.path, { mode: dir.mode, create: false, syscall: 'connect', trustedOwners: [] });
      } catch {
        // No directory, or one connect would refuse: nothing we would talk to lives there.
        continue;
      }
    }
    try {
      if (lstatSync(candidate).isSocket()) return true;
    } catch {
      // ENOENT, or a path we may not look at: not there for us.
    }
  }
  return false;
}

/** A connected socket and the server's credentials, read in its `'connect'` event. */
interface Connected {
  socket: net.Socket;
  server: PeerCredentials | undefined;
}

/** One connect attempt (the retries on a full backlog). Resolves the connected socket or rejects with a PipeError (or an AbortError). */
async function attempt(path: string, signal: AbortSignal | undefined): Promise<Connected> {
  const socket = await connectUnix(path, signal);
  // Read now, while the handle surely exists: a server that closes at once can have the socket
  // ended and destroyed (its fd gone) before the caller's continuation runs. Handed on with the
  // socket (one object, not a WeakMap entry per connection).
  return { socket, server: peerCredentials(socketFd(socket)) };
}

function connectError(err: unknown, path: string): PipeError | Error {
  if ((err as Error)?.name === 'AbortError') return err as Error;
  const code = (err as NodeJS.ErrnoException).code;
  if (isNobodyThere(code)) return new PipeError({ code: 'ENOENT', syscall: 'connect', path, cause: err });
  return new PipeError({ code: code ?? 'UNKNOWN', syscall: 'connect', path, cause: err });
}

/**
 * What a waiting connect (`wait: true`) learns across its attempts: the first candidate directory
 * it passed over because it does not trust it. `connect` makes one per call and gives it to every
 * attempt; its timeout names that directory's error as its `cause`.
 */
export interface UntrustedSeen {
  untrusted?: PipeError | undefined;
}

/** Directories already warned about: one `WINPIPE_UNTRUSTED_CANDIDATE` warning per directory per process, as Node warns. */
const warnedDirs = new Set<string>();

function passOver(err: PipeError, seen: UntrustedSeen): void {
  seen.untrusted ??= err;
  const dir = err.path ?? '';
  if (warnedDirs.has(dir)) return;
  warnedDirs.add(dir);
  process.emitWarning(`winpipe: a waiting connect passes over ${dir}, which it does not trust (${err.message}); another user may have made it first. It waits on in the directories it trusts.`, {
    code: 'WINPIPE_UNTRUSTED_CANDIDATE',
  });
}

/**
 * Connects to the Unix socket at `path` (already resolved by `pipePath`). A directory derived from
 * a name is checked first and the server's uid right after connect, before a byte is sent
 * (src/posix/trust.ts): someone else's directory, or a server not running as us, root or one of
 * `allowServerUids`, rejects with `EACCES`. Nobody there (no file,
 * or nobody listening: ECONNREFUSED) rejects at once with `ENOENT`, the code Windows gives. A
 * full listen backlog (`EAGAIN`, Linux) is retried on a timer until `timeout`, then
 * `ETIMEDOUT`. An aborted `signal` rejects with an `AbortError`, before any system call if it
 * was aborted already. macOS reports a full backlog as ECONNREFUSED, so there it is `ENOENT`.
 * With `waiting` (the attempts of a `wait: true` connect), a candidate directory that fails its
 * check is passed over instead (recorded in `waiting`, and one `WINPIPE_UNTRUSTED_CANDIDATE`
 * warning per directory per process), so the attempt can end `ENOENT` and the wait go on; the
 * server's uid is still checked, and a server that fails it still rejects with `EACCES`.
 * `euid`: our effective uid, when the caller read it in this same tick (connectTarget); else read here.
 *
 * @example
 * ```ts
 * const conn = await posixConnect(pipePath('my-app'), resolveConnectOptions({ connectTimeout: 1000 }));
 * conn.end('hello');
 * ```
 */
export function posixConnect(path: string, o: ResolvedConnectOptions, dirs?: SocketDirs, waiting?: UntrustedSeen, euid?: number): Promise<PipeConnection> {
  const signal = o.signal;
  if (signal?.aborted) return Promise.reject(abortError(signal));
  // A session expectation that cannot be checked here must not pass as met.
  if (o.serverSession !== undefined) {
    return Promise.reject(
      new PipeError({ code: 'ENOTSUP', syscall: 'connect', path, message: 'ENOTSUP: serverSession: POSIX has no Terminal Services sessions (check the server by its uid: allowServerUids)' }),
    );
  }
  // One promise per call, settled from the socket's own events: no async function or awaited
  // promise per stage, each a
  // microtask and an allocation on every connect.
  return new Promise<PipeConnection>((resolve, reject) => {
    const deadline = Date.now() + o.connectTimeout;
    const list = candidates(path, dirs);
    // Our effective uid, read once for this connect (by connectTarget, in this tick, when given):
    // the directory check and the server's.
    const self = euid ?? currentUid();
    let i = 0;
    let busy: string | undefined;
    let target = '';
    const settle = (err: PipeError | Error | undefined, socket?: net.Socket): void => {
      if (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (isNobodyThere(code)) next();
        else if (code === 'EAGAIN') {
          busy = target;
          i = list.length;
          next();
        } else reject(connectError(err, target));
        return;
      }
      // In the socket's 'connect' event: its descriptor surely exists (a server that closes at
      // once can have it ended and destroyed before any later continuation).
      connected(socket!, peerCredentials(socketFd(socket!)));
    };
    const connected = (socket: net.Socket, server: PeerCredentials | undefined): void => {
      try {
        resolve(clientConnection(socket, server, target, o, self));
      } catch (err) {
        socket.destroy();
        reject(err);
      }
    };
    const next = (): void => {
      while (i < list.length) {
        const entry = list[i++]!;
        const { path: candidate, dir } = typeof entry === 'function' ? entry() : entry;
        if (dir) {
          try {
            checkDir(dir.path, dir.mode, o.allowServerUids, 'connect', self);
          } catch (err) {
            // No directory: nobody of ours serves there. Anything else (someone else's, a symlink,
            // open to others) is never connected through: without `wait` the connect ends there.
            if ((err as PipeError).code === 'ENOENT') continue;
            // Waiting: our server cannot appear in that directory, but may in the other one (a
            // squatted public directory says nothing about our private one). Pass it over, say so,
            // and let the wait go on.
            if (waiting && err instanceof PipeError) {
              passOver(err, waiting);
              continue;
            }
            reject(err);
            return;
          }
        }
        target = candidate;
        if (signal?.aborted) reject(abortError(signal));
        else if (candidate.charCodeAt(0) === 0) attempt(candidate, signal).then((c) => connected(c.socket, c.server), settle);
        else connectPathThen(candidate, signal, false, settle);
        return;
      }
      if (!busy) {
        reject(new PipeError({ code: 'ENOENT', syscall: 'connect', path }));
        return;
      }
      // Every slot of the backlog is taken: the server is there but slow to accept. Retry with a
      // short, growing delay, as Windows retries CreateFileW on ERROR_PIPE_BUSY.
      const again = busy;
      target = again;
      retry<Connected>(
        () =>
          attempt(again, signal).catch((err: unknown) => {
            if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return RETRY;
            throw connectError(err, again);
          }),
        { first: 2, max: 50, deadline, timedOut: () => new PipeError({ code: 'ETIMEDOUT', syscall: 'connect', path: again }), signal },
      ).then((c) => connected(c.socket, c.server), reject);
    };
    next();
  });
}

/** The client's connection on `socket` at `target`, once the server is one we trust (else `EACCES`, before a byte is sent). */
function clientConnection(socket: net.Socket, server: PeerCredentials | undefined, target: string, o: ResolvedConnectOptions, self: number): PipeConnection {
  // Before a byte is sent: the server must be ours, root's, or a uid the caller named.
  const peer = checkServer(server, o.allowServerUids, target, 'connect', self);
  return wrapSocket(socket, o.mode, {
    path: target,
    clientProcessId: undefined,
    serverProcessId: peer.pid,
    peer,
    readable: o.access !== 'write',
    writable: o.access !== 'read',
    allowHalfOpen: o.allowHalfOpen,
    maxMessageSize: o.maxMessageSize,
    readAheadBytes: o.readAheadBytes,
    halfClose: o.halfClose,
  });
}
