/**
 * Unix domain sockets as winpipe makes them, apart from the rule that decides who may use them
 * (src/posix/trust.ts): the one place that creates a socket descriptor, binds a listening socket
 * at its path, and connects to one. `createServer` / `connect` (src/posix/server.ts,
 * src/posix/connect.ts) and the `winpipe/connection` Listener / Client (src/channel/posix.ts)
 * both call only this module for that.
 *
 * A Linux abstract name (`\0name`) is connected through `socket` + `connect` with the exact
 * sockaddr length, not `net.connect`: Node pads it to the whole of sun_path, which is a different
 * name from the exact-length one a Listener (ours or CPython's) binds. The connected descriptor is
 * then handed to `net.Socket({ fd })`. A path in the file system goes through `net.connect`: the
 * same socket and the same errors, fewer instructions per connect than the koffi path, and it works
 * where `net.Socket({ fd })` does no I/O on a socket (Bun 1.4, docs/runtimes.md).
 */
import { closeSync, constants as fsc, fchmodSync, fstatSync, linkSync, lstatSync, mkdtempSync, openSync, rmdirSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { constants as osConstants } from 'node:os';
import { dirname, join } from 'node:path';
import { PipeError, abortError, posixError } from '../errors.js';
import { SUN_PATH_MAX } from '../names.js';
import { setCloexec, setNonBlocking } from './fd.js';
import * as libc from './libc.js';
import { currentUid, posixFromNode } from './trust.js';

const isLinux = process.platform === 'linux';
const { EAGAIN, EINPROGRESS, EINTR, EWOULDBLOCK } = osConstants.errno;
const OPEN_DIR = fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK | fsc.O_NOCTTY;
const S_IFMT = 0o170000;

/**
 * A new `AF_UNIX` stream socket, close-on-exec (and non-blocking with `nonBlocking`) from birth on
 * Linux, right after elsewhere. Ownership: the caller owns the returned fd.
 */
export function unixSocket(nonBlocking: boolean): number {
  const fd = libc.socket(libc.AF_UNIX, libc.SOCK_STREAM | libc.SOCK_CLOEXEC | (nonBlocking ? libc.SOCK_NONBLOCK : 0), 0);
  if (fd < 0) throw posixError(libc.errno(), 'socket');
  if (!isLinux) {
    try {
      setCloexec(fd);
      if (nonBlocking) setNonBlocking(fd);
    } catch (err) {
      libc.close(fd);
      throw err;
    }
  }
  return fd;
}

/** The libuv fd under a connected `net.Socket`, or undefined. */
export function socketFd(socket: net.Socket): number | undefined {
  // `_handle.fd` is libuv's own descriptor for the stream; Node exposes it on POSIX.
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/**
 * `struct sockaddr_un` for `path`, and the exact length to pass to bind or connect.
 * @throws PipeError `ENAMETOOLONG` when the path (and its NUL) does not fit sun_path.
 */
function sockaddrUn(path: string, sunPathMax: number): { addr: Uint8Array; len: number } {
  const bytes = Buffer.from(path);
  if (bytes[0] === 0 ? bytes.length > sunPathMax : bytes.length >= sunPathMax) {
    throw new PipeError({ code: 'ENAMETOOLONG', syscall: 'connect', path, message: `ENAMETOOLONG: ${bytes.length} bytes do not fit sun_path (${sunPathMax})` });
  }
  const addr = new Uint8Array(2 + sunPathMax);
  addr.set(bytes, 2);
  if (isLinux) {
    // sa_family_t is a host-order u16; every Linux Node runs on is little-endian.
    new DataView(addr.buffer).setUint16(0, libc.AF_UNIX, true);
    // Abstract names have no terminating NUL and their length is exact.
    return { addr, len: 2 + bytes.length + (bytes[0] === 0 ? 0 : 1) };
  }
  // BSD layout: sun_len, sun_family, sun_path.
  const len = 2 + bytes.length + 1;
  addr[0] = len;
  addr[1] = libc.AF_UNIX;
  return { addr, len };
}

/**
 * A listening Unix socket at `path` with file mode `mode`, never reachable at any other mode:
 * bound in a fresh 0700 staging directory next to `path` (`<dir>/.XXXXXX/s`), chmod-ed there,
 * `listen`-ed, then hard-linked to `path` (fails with `EADDRINUSE` if anything is there; a rename
 * would replace it) and the staging name and directory removed. Linux abstract names (`\0...`)
 * have no file and are bound directly.
 *
 * Returns the listening fd (close-on-exec), the socket file's dev/ino, and `self`: the effective
 * uid it was bound as, which owns the staging directory and the socket file. A server compares its
 * clients with that uid for as long as it listens (trust.ts mayAccept), as a Windows pipe keeps
 * the DACL it was created with. Nothing but the caller removes the file later: libuv is handed the
 * fd and never learns a path, so it unlinks nothing.
 * Ownership: the caller owns the returned fd.
 *
 * @throws PipeError `EADDRINUSE`, `EACCES`, `ENOENT`, `ENAMETOOLONG` (the staging path does not fit sun_path).
 */
export function bindListening(path: string, mode: number, backlog: number, sunPathMax: number): { fd: number; file: { dev: number; ino: number } | undefined; self: number } {
  const abstract = isLinux && path.startsWith('\0');
  // One reading for the checks below and for the server's checks of its clients.
  const self = currentUid();
  let stage: string | undefined;
  let staged: string | undefined;
  let dirFd: number | undefined;
  if (!abstract) {
    try {
      // `<dir>/.XXXXXX` (a plain join would normalise the '.' away).
      stage = mkdtempSync(`${dirname(path)}/.`);
    } catch (err) {
      throw posixFromNode(err, 'mkdtemp', path);
    }
    staged = join(stage, 's');
    try {
      if (Buffer.byteLength(staged) >= sunPathMax) {
        throw new PipeError({ code: 'ENAMETOOLONG', syscall: 'bind', path, message: `ENAMETOOLONG: the staging path ${staged} does not fit sun_path; choose a shorter directory` });
      }
      // Held open so that the chmod below goes to the socket in OUR staging directory even if the
      // parent is someone else's and they swap the name for a symlink (chmod by path would follow it).
      dirFd = openSync(stage, OPEN_DIR);
      let st = fstatSync(dirFd);
      // mkdtemp never grants group or other bits, whatever the umask: with them it is not ours.
      if (!st.isDirectory() || st.uid !== self || (st.mode & 0o077) !== 0) {
        throw new PipeError({ code: 'EACCES', syscall: 'mkdtemp', path: stage, message: `EACCES: the staging directory ${stage} was replaced` });
      }
      // mkdtemp's 0700 went through the umask (077 leaves it, 0777 makes it 0000, which we could
      // not bind in): set it through the descriptor.
      if ((st.mode & 0o7777) !== 0o700) {
        fchmodSync(dirFd, 0o700);
        st = fstatSync(dirFd);
        if ((st.mode & 0o7777) !== 0o700)
          throw new PipeError({ code: 'EACCES', syscall: 'fchmod', path: stage, message: `EACCES: the staging directory ${stage} stays mode ${(st.mode & 0o7777).toString(8)}` });
      }
    } catch (err) {
      if (dirFd !== undefined) closeSync(dirFd);
      rmdirSync(stage);
      throw err instanceof PipeError ? err : posixFromNode(err, 'open', stage);
    }
  }
  let fd: number;
  try {
    fd = unixSocket(false);
  } catch (err) {
    if (dirFd !== undefined) closeSync(dirFd);
    if (stage) rmdirSync(stage);
    throw err;
  }
  try {
    const { addr, len } = sockaddrUn(staged ?? path, sunPathMax);
    if (libc.bind(fd, addr, len) !== 0) throw posixError(libc.errno(), 'bind', path);
    if (dirFd !== undefined) {
      if (libc.fchmodat(dirFd, 's', mode, 0) !== 0) throw posixError(libc.errno(), 'fchmodat', path);
      verifySocketMode(dirFd, staged!, mode, path, self);
    }
    if (libc.listen(fd, backlog) !== 0) throw posixError(libc.errno(), 'listen', path);
    let file: { dev: number; ino: number } | undefined;
    if (staged) {
      try {
        linkSync(staged, path);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw new PipeError({ code: code === 'EEXIST' ? 'EADDRINUSE' : (code ?? 'UNKNOWN'), syscall: 'listen', path, cause: err });
      }
      const st = lstatSync(path);
      file = { dev: st.dev, ino: st.ino };
    }
    return { fd, file, self };
  } catch (err) {
    libc.close(fd);
    throw err;
  } finally {
    if (staged) {
      try {
        unlinkSync(staged);
      } catch {
        // Not bound (the error above says why).
      }
    }
    if (dirFd !== undefined) closeSync(dirFd);
    if (stage) rmdirSync(stage);
  }
}

/** {@link verifySocketMode}'s answer: `struct stat` as 32-bit words (read right after the call). */
const sockStat = new Uint32Array(libc.STAT_WORDS);
const S_IFSOCK = 0o140000;

/**
 * Reads back the socket `s` in the staging directory `dirFd` after its `fchmodat`: a socket, ours,
 * mode exactly `mode`. Through the directory descriptor (`fstatat`) where libc's is bound; else
 * by its path, inside that 0700 directory of ours that no other uid can enter. `self`: our
 * effective uid as bindListening read it.
 * @throws PipeError `EACCES` when it is not what was made.
 */
function verifySocketMode(dirFd: number, staged: string, mode: number, path: string, self: number): void {
  let fileMode: number;
  let owner: number;
  const rc = libc.fstatat?.(dirFd, 's', sockStat, libc.AT_SYMLINK_NOFOLLOW) ?? -2;
  if (rc === 0) {
    fileMode = sockStat[libc.STAT_MODE_WORD]!;
    owner = sockStat[libc.STAT_UID_WORD]!;
  } else if (rc === -2) {
    const st = lstatSync(staged);
    fileMode = st.mode;
    owner = st.uid;
  } else {
    throw posixError(libc.errno(), 'fstatat', path);
  }
  if ((fileMode & S_IFMT) !== S_IFSOCK || owner !== self || (fileMode & 0o7777) !== mode) {
    throw new PipeError({ code: 'EACCES', syscall: 'fchmodat', path, message: `EACCES: the socket bound for ${path} is mode ${(fileMode & 0o7777).toString(8)}, not ${mode.toString(8)}` });
  }
}

/** Removes the socket file at `path` if it is still the one we bound (same dev/ino). */
export function removeSocketFile(path: string, file: { dev: number; ino: number } | undefined): void {
  if (!file) return;
  try {
    const st = lstatSync(path);
    // Only our own socket: a later server may already have replaced it at the same path.
    if (st.isSocket() && st.dev === file.dev && st.ino === file.ino) unlinkSync(path);
  } catch {
    // Already gone.
  }
}

/** A connect's pending error, read with `SO_ERROR` once the socket is writable. */
const soError = new Uint8Array(4);
const soErrorLen = new Uint32Array(1);
const pollOut = new Uint8Array(8);

/** 0: connected; -1: still in progress; else the errno the connect ended with. */
function connectDone(fd: number): number {
  const view = new DataView(pollOut.buffer);
  view.setInt32(0, fd, true);
  view.setInt16(4, libc.POLLOUT, true);
  view.setInt16(6, 0, true);
  const n = libc.poll(pollOut, 1, 0);
  if (n < 0) return libc.errno() === EINTR ? -1 : libc.errno();
  if (n === 0) return -1;
  soErrorLen[0] = 4;
  if (libc.getsockopt(fd, libc.SOL_SOCKET, libc.SO_ERROR, soError, soErrorLen) !== 0) return libc.errno();
  return new DataView(soError.buffer).getInt32(0, true);
}

/** How often an in-progress connect is looked at again, in ms (a Unix socket connect rarely gets there). */
const IN_PROGRESS_POLL_MS = 1;

/**
 * Connects a new socket to the Unix socket at `path` (a Linux `\0name` at its exact length) and
 * returns it as a `net.Socket` (`allowHalfOpen`). Never blocks: a non-blocking connect answers at
 * once for a Unix socket (a full backlog is `EAGAIN` on Linux, `ECONNREFUSED` on macOS); one still
 * in progress is looked at again on a timer. Rejects with a PipeError whose `code` is the errno's
 * (`ENOENT`, `ECONNREFUSED`, `EAGAIN`, `EACCES`, ...), or an `AbortError`; the fd is closed on
 * every failure.
 *
 * With `paused`, the socket is paused as it connects, before any data event can run: for a reader
 * that takes exact frames (the channel's handshake), not for a connection that flows.
 *
 * Ownership: the returned socket owns the fd.
 */
export function connectUnix(path: string, signal?: AbortSignal, paused = false): Promise<net.Socket> {
  return path.charCodeAt(0) === 0 ? connectExact(path, signal, paused) : connectByPath(path, signal, paused);
}

/** {@link connectUnix} for a path in the file system, through `net.connect`. */
function connectByPath(path: string, signal: AbortSignal | undefined, paused: boolean): Promise<net.Socket> {
  if (signal?.aborted) return Promise.reject(abortError(signal));
  return new Promise((resolve, reject) => {
    connectPathThen(path, signal, paused, (err, socket) => (err ? reject(err) : resolve(socket!)));
  });
}

/**
 * How {@link connectPathThen} reports: `(error)` or `(undefined, socket)`, exactly once. It runs in
 * the socket's `'connect'` event, so whatever reads the connected descriptor there (the peer's
 * credentials) reads it while it surely exists.
 */
export type Connected = (err: PipeError | Error | undefined, socket?: net.Socket) => void;

/**
 * {@link connectUnix} for a path in the file system with a callback instead of a promise, for a
 * caller that makes its own (connect: one promise per call, as `net.connect` wrapped by hand
 * has). Never calls `done` synchronously; the signal must not be aborted already.
 * Ownership: on success `done` owns the socket.
 */
export function connectPathThen(path: string, signal: AbortSignal | undefined, paused: boolean, done: Connected): void {
  const socket = net.connect({ path, allowHalfOpen: true });
  // Only with a signal (a closure less per connect without one).
  const onAbort = signal
    ? (): void => {
        socket.off('connect', onConnect);
        socket.off('error', onError);
        socket.destroy();
        done(abortError(signal));
      }
    : undefined;
  const onConnect = (): void => {
    if (onAbort) signal!.removeEventListener('abort', onAbort);
    socket.off('error', onError);
    if (paused) socket.pause();
    done(undefined, socket);
  };
  const onError = (err: Error): void => {
    if (onAbort) signal!.removeEventListener('abort', onAbort);
    socket.off('connect', onConnect);
    socket.destroy();
    done(posixFromNode(err, 'connect', path));
  };
  if (onAbort) signal!.addEventListener('abort', onAbort, { once: true });
  socket.once('connect', onConnect);
  socket.once('error', onError);
}

/** {@link connectUnix} for a Linux abstract name, at its exact length, through koffi. */
function connectExact(path: string, signal: AbortSignal | undefined, paused: boolean): Promise<net.Socket> {
  if (signal?.aborted) return Promise.reject(abortError(signal));
  let addr: { addr: Uint8Array; len: number };
  try {
    addr = sockaddrUn(path, SUN_PATH_MAX);
  } catch (err) {
    return Promise.reject(err);
  }
  let fd: number;
  try {
    fd = unixSocket(true);
  } catch (err) {
    return Promise.reject(err);
  }
  let e = libc.connect(fd, addr.addr, addr.len) === 0 ? 0 : libc.errno();
  // An interrupted connect goes on in the background; its end is seen as for EINPROGRESS.
  if (e === EINTR) e = EINPROGRESS;
  if (e === 0) return adopt(fd, path, paused);
  if (e !== EINPROGRESS) {
    libc.close(fd);
    return Promise.reject(posixError(e === EWOULDBLOCK ? EAGAIN : e, 'connect', path));
  }
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      clearTimeout(timer);
      libc.close(fd);
      reject(abortError(signal!));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const look = (): void => {
      const r = connectDone(fd);
      if (r === -1) {
        timer = setTimeout(look, IN_PROGRESS_POLL_MS);
        return;
      }
      signal?.removeEventListener('abort', onAbort);
      if (r !== 0) {
        libc.close(fd);
        reject(posixError(r, 'connect', path));
        return;
      }
      adopt(fd, path, paused).then(resolve, reject);
    };
    look();
  });
}

/** Ownership: the net.Socket takes `fd`; if it cannot, the fd is closed here. */
function adopt(fd: number, path: string, paused: boolean): Promise<net.Socket> {
  try {
    const socket = new net.Socket({ fd, readable: true, writable: true, allowHalfOpen: true });
    if (paused) socket.pause();
    return Promise.resolve(socket);
  } catch (err) {
    libc.close(fd);
    return Promise.reject(posixFromNode(err, 'connect', path));
  }
}
