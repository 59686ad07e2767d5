/**
 * The POSIX security rule, in one place: who may be at the other end of a Unix socket, which
 * directories we serve from or connect through, and how a listening socket appears at its path.
 * Both `createServer` / `connect` (src/posix/server.ts) and the `winpipe/connection` Listener /
 * Client (src/channel/posix.ts) call only this module for those checks.
 *
 * The rule:
 * - Accept: a `'current-user'` peer must be our uid or root (root plays Windows' SYSTEM: it can
 *   open a 0600 socket anyway); anyone else is closed before the application sees it.
 *   `'everyone'` accepts every uid.
 * - Connect: the server must be our uid, root, or a uid named in `allowServerUids`; otherwise
 *   `EACCES`, before a byte is sent.
 * - FIFOs: `openFifo` uses only a FIFO owned by our uid, root, or a uid named in
 *   `allowOwnerUids` (the owner read from the descriptor, not the path); otherwise `EACCES`,
 *   before a byte is read or written.
 * - Directories: a directory winpipe derives from a name (private or public) must be a real
 *   directory (not a symlink), owned by our uid, and not writable by anyone else; the private one
 *   is 0700, the public one 0711. Listen makes it, opens it (`O_DIRECTORY | O_NOFOLLOW`), checks
 *   the owner and sets exactly that mode through the descriptor (`fchmod`, whatever the umask),
 *   then reads it back; connect checks it with `lstat`. Otherwise `EACCES` (or `ENOTDIR`).
 * - A socket is bound inside a fresh 0700 staging directory next to its path (its mode, too, set
 *   through its descriptor), given its mode there and read back, then hard-linked into place (an atomic rename that never replaces an existing file:
 *   `EADDRINUSE`), and the staging name and directory are removed. Nobody can reach it, swap it or
 *   race a by-path `chmod` before it has its final mode.
 *
 * Peer credentials are read once per connection: Linux `SO_PEERCRED` gives pid, uid and gid in
 * one `getsockopt`; macOS and the BSDs `getpeereid` (uid, gid) plus `LOCAL_PEERPID` (macOS pid).
 * An attacker with OUR uid is not stopped by any of this: same-uid processes can ptrace each
 * other, and can connect, serve or replace our sockets as we can.
 */
import { closeSync, constants as fsc, fchmodSync, fstatSync, linkSync, lstatSync, mkdirSync, mkdtempSync, openSync, rmdirSync, unlinkSync } from 'node:fs';
import type net from 'node:net';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { PipeError, posixError } from '../errors.js';
import * as libc from './libc.js';
import type { PeerIdentity } from '../named.js';

const isLinux = process.platform === 'linux';
const isDarwin = process.platform === 'darwin';

/** The uid the checks compare with (the effective uid, which the kernel reports to peers). */
export function currentUid(): number {
  return typeof process.geteuid === 'function' ? process.geteuid() : userInfo().uid;
}

/** What the kernel says about the process at the other end of a Unix socket. */
export interface PeerCredentials {
  /** Linux: the pid at connect / listen time; macOS: LOCAL_PEERPID; undefined elsewhere. */
  pid: number | undefined;
  uid: number;
  gid: number;
}

/**
 * The `peer` of a connection: the same credentials the checks here decided on, as the public
 * {@link PeerIdentity} (a fresh object per connection, so one user cannot change another's).
 */
export function peerIdentity(cred: PeerCredentials | undefined): PeerIdentity {
  if (!cred) return { pid: undefined };
  return { pid: cred.pid, uid: cred.uid, gid: cred.gid };
}

/** The libuv fd under a connected `net.Socket`, or undefined. */
export function socketFd(socket: net.Socket): number | undefined {
  // `_handle.fd` is libuv's own descriptor for the stream; Node exposes it on POSIX.
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/** SO_PEERCRED's out-buffers (Linux): `struct ucred` as int32 words (host order), and its length. */
const ucred = new Int32Array(3);
const ucredBytes = new Uint8Array(ucred.buffer);
const ucredLen = new Uint32Array(1);

/**
 * The peer's pid, uid and gid, or undefined when the kernel cannot say (no libc binding, not a
 * Unix socket, the call failed). Callers treat undefined as "not trusted".
 *
 * @example
 * ```ts
 * net.createServer((s) => console.log(peerCredentials(socketFd(s)!))).listen('/tmp/x.sock');
 * ```
 */
export function peerCredentials(fd: number | undefined): PeerCredentials | undefined {
  if (fd === undefined) return undefined;
  try {
    if (isLinux) {
      // struct ucred { pid_t pid; uid_t uid; gid_t gid; }: all three in one call, into buffers
      // shared by every call (read right after it; nothing else runs in between).
      const len = ucredLen;
      len[0] = 12;
      if (libc.getsockopt(fd, libc.SOL_SOCKET, libc.SO_PEERCRED, ucredBytes, len) !== 0 || len[0]! < 12) return undefined;
      const pid = ucred[0]!;
      return { pid: pid > 0 ? pid : undefined, uid: ucred[1]! >>> 0, gid: ucred[2]! >>> 0 };
    }
    const uid = new Uint32Array(1);
    const gid = new Uint32Array(1);
    if (libc.getpeereid(fd, uid, gid) !== 0) return undefined;
    let pid: number | undefined;
    if (isDarwin) {
      const out = new Uint8Array(4);
      const len = new Uint32Array([out.byteLength]);
      if (libc.getsockopt(fd, libc.SOL_LOCAL, libc.LOCAL_PEERPID, out, len) === 0 && len[0]! >= 4) {
        const p = new DataView(out.buffer).getInt32(0, true);
        if (p > 0) pid = p;
      }
    }
    return { pid, uid: uid[0]!, gid: gid[0]! };
  } catch {
    // No libc binding on this platform: nothing is known, so nothing is trusted.
    return undefined;
  }
}

/**
 * Accept side: may this peer be handed to the application? `'current-user'`: our uid or root;
 * `'everyone'`: any uid.
 */
export function mayAccept(peer: PeerCredentials | undefined, security: 'current-user' | 'everyone'): boolean {
  if (security === 'everyone') return true;
  if (!peer) return false;
  return trustedUid(peer.uid, []);
}

/** The one uid rule: ours, root's, or one the caller named. */
function trustedUid(uid: number, named: readonly number[]): boolean {
  return uid === currentUid() || uid === 0 || named.includes(uid);
}

/**
 * Connect side: throws `EACCES` unless the server at `path` runs as our uid, root, or one of
 * `allowServerUids`. Returns the server's credentials.
 */
export function checkServer(peer: PeerCredentials | undefined, allowServerUids: readonly number[], path: string, syscall = 'connect'): PeerCredentials {
  if (!peer) {
    throw new PipeError({ code: 'EACCES', syscall, path, message: `EACCES: cannot read the credentials of the server at ${path}` });
  }
  if (!trustedUid(peer.uid, allowServerUids)) {
    throw new PipeError({
      code: 'EACCES',
      syscall,
      path,
      message: `EACCES: the server at ${path} runs as uid ${peer.uid}, not a trusted uid (ours, root, or options.allowServerUids)`,
    });
  }
  return peer;
}

/**
 * FIFO side: throws `EACCES` unless `owner` (the `st_uid` of the opened FIFO at `path`) is our
 * uid, root, or one of `allowOwnerUids`: the rule {@link checkServer} applies to a server's uid.
 */
export function checkFifoOwner(owner: number, allowOwnerUids: readonly number[], path: string): void {
  if (trustedUid(owner, allowOwnerUids)) return;
  throw new PipeError({
    code: 'EACCES',
    syscall: 'open',
    path,
    message: `EACCES: the FIFO at ${path} belongs to uid ${owner}, not a trusted uid (ours, root, or options.allowOwnerUids)`,
  });
}

/**
 * Checks a directory winpipe derives from a name: a real directory (no symlink), owned by us,
 * with no permission bits beyond `mode`. With `create` (listen), makes it first and then gives it
 * exactly `mode` through the opened directory ({@link ownDir}); without (connect), only looks
 * with `lstat`. On connect, `trustedOwners` (the caller's `allowServerUids`) may own it too:
 * trusting a uid's server is trusting its directory.
 *
 * @throws PipeError `ENOENT` (missing, without `create`), `ENOTDIR`, `EACCES` (someone else's, or
 *   open to others).
 */
export function verifyDir(dir: string, opts: { mode: number; create: boolean; syscall: string; trustedOwners?: readonly number[] }): void {
  if (opts.create) {
    ownDir(dir, opts.mode, opts.syscall);
    return;
  }
  lstatDir(dir, opts.syscall);
  const mode = dirStat[libc.STAT_MODE_WORD]!;
  const owner = dirStat[libc.STAT_UID_WORD]!;
  if ((mode & S_IFMT) !== S_IFDIR) throw notDir(dir, opts.syscall);
  const uid = currentUid();
  // Someone else's directory, or one a squatter pre-created: never connect through it.
  if (owner !== uid && !(opts.trustedOwners ?? []).includes(owner)) throw notOurs(dir, opts.syscall, owner);
  // Ours but looser than wanted (bits beyond `mode`): only we could have loosened it, but someone
  // may have used the gap: refuse. (Listen sets the mode back.)
  if ((mode & 0o777 & ~opts.mode) !== 0) throw new PipeError({ code: 'EACCES', syscall: opts.syscall, path: dir, message: `EACCES: ${dir} is mode ${(mode & 0o777).toString(8)}, open to other users` });
}

/** `O_RDONLY | O_DIRECTORY | O_NOFOLLOW`, and two that make opening anything else harmless. libuv adds `O_CLOEXEC` to every open. */
const OPEN_DIR = fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK | fsc.O_NOCTTY;

/**
 * The listen side of {@link verifyDir}: makes `dir` (an existing one is fine), opens it with
 * `O_DIRECTORY | O_NOFOLLOW` (close-on-exec), checks through that descriptor that it is ours, and
 * gives it exactly `mode` with `fchmod` on the same descriptor, then reads the mode back.
 *
 * Why: `mkdir`'s mode goes through the umask, so under umask 077 the public directory would be
 * 0700 and shut every other user out of an `'everyone'` server; an existing directory of ours may
 * be looser or tighter than `mode`. Setting it through the descriptor that was checked means a
 * name swapped meanwhile (for a symlink, or another directory) is never the one changed.
 * @throws PipeError `ENOTDIR` (a symlink or a non-directory in its place), `EACCES` (someone
 *   else's; or the mode did not take), or the errno of `mkdir` / `open`.
 */
function ownDir(dir: string, mode: number, syscall: string): void {
  try {
    mkdirSync(dir, { mode });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw posixFromNode(err, 'mkdir', dir);
  }
  let fd: number;
  try {
    fd = openSync(dir, OPEN_DIR);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // O_NOFOLLOW on a symlink is ELOOP; O_DIRECTORY on anything but a directory ENOTDIR.
    if (code === 'ELOOP' || code === 'ENOTDIR') throw notDir(dir, syscall);
    throw posixFromNode(err, syscall, dir);
  }
  // Ownership: fd is this function's, closed in the finally below.
  try {
    let st = fstatSync(fd);
    if (!st.isDirectory()) throw notDir(dir, syscall);
    // Someone else's directory, or one a squatter pre-created: never serve from it.
    if (st.uid !== currentUid()) throw notOurs(dir, syscall, st.uid);
    if ((st.mode & 0o7777) !== mode) {
      fchmodSync(fd, mode);
      st = fstatSync(fd);
      if ((st.mode & 0o7777) !== mode) {
        throw new PipeError({ code: 'EACCES', syscall: 'fchmod', path: dir, message: `EACCES: ${dir} stays mode ${(st.mode & 0o7777).toString(8)} after fchmod to ${mode.toString(8)}` });
      }
    }
  } catch (err) {
    throw err instanceof PipeError ? err : posixFromNode(err, 'fchmod', dir);
  } finally {
    closeSync(fd);
  }
}

function notDir(dir: string, syscall: string): PipeError {
  return new PipeError({ code: 'ENOTDIR', syscall, path: dir, message: `ENOTDIR: ${dir} is not a directory (a symlink is never followed)` });
}

function notOurs(dir: string, syscall: string, owner: number): PipeError {
  return new PipeError({ code: 'EACCES', syscall, path: dir, message: `EACCES: ${dir} belongs to uid ${owner}, not ${currentUid()}` });
}

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
/** {@link lstatDir}'s answer: `struct stat` as 32-bit words, one buffer for every call (read right after it). */
const dirStat = new Uint32Array(libc.STAT_WORDS);

/**
 * `lstat(dir)` into {@link dirStat} (st_mode and st_uid at libc's word indexes). Every connect
 * checks its socket directory, and `fs.lstatSync` measured 6.3k instructions a call (most of it
 * the Stats object) against 1.1k for libc's lstat through koffi into this buffer; the same call,
 * the same answer. Where libc's lstat is not bound (another OS or arch, an old glibc), Node's.
 * @throws PipeError with the errno's code (`ENOENT`, `EACCES`, `ENOTDIR`, `ELOOP`, ...).
 */
function lstatDir(dir: string, syscall: string): void {
  const rc = libc.lstat?.(dir, dirStat) ?? -2;
  if (rc === 0) return;
  if (rc !== -2) throw posixError(libc.errno(), syscall, dir);
  let st;
  try {
    st = lstatSync(dir);
  } catch (err) {
    throw posixFromNode(err, syscall, dir);
  }
  dirStat[libc.STAT_MODE_WORD] = st.mode;
  dirStat[libc.STAT_UID_WORD] = st.uid;
}

function posixFromNode(err: unknown, syscall: string, path: string): PipeError {
  const code = (err as NodeJS.ErrnoException).code ?? 'UNKNOWN';
  return new PipeError({ code, syscall, path, cause: err });
}

/** `struct sockaddr_un` for `path`, and the length to pass to bind. */
function sockaddrUn(path: string, sunPathMax: number): { addr: Uint8Array; len: number } {
  const bytes = Buffer.from(path);
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

function setCloexec(fd: number): void {
  const flags = libc.fcntl(fd, libc.F_GETFD, 0);
  if (flags < 0 || libc.fcntl(fd, libc.F_SETFD, flags | libc.FD_CLOEXEC) < 0) throw posixError(libc.errno(), 'fcntl');
}

/**
 * A listening Unix socket at `path` with file mode `mode`, never reachable at any other mode:
 * bound in a fresh 0700 staging directory next to `path` (`<dir>/.XXXXXX/s`), chmod-ed there,
 * `listen`-ed, then hard-linked to `path` (fails with `EADDRINUSE` if anything is there; a rename
 * would replace it) and the staging name and directory removed. Linux abstract names (`\0...`)
 * have no file and are bound directly.
 *
 * Returns the listening fd (close-on-exec) and the socket file's dev/ino. Nothing but the caller
 * removes the file later: libuv is handed the fd and never learns a path, so it unlinks nothing.
 * Ownership: the caller owns the returned fd.
 *
 * @throws PipeError `EADDRINUSE`, `EACCES`, `ENOENT`, `ENAMETOOLONG` (the staging path does not fit sun_path).
 */
export function bindListening(path: string, mode: number, backlog: number, sunPathMax: number): { fd: number; file: { dev: number; ino: number } | undefined } {
  const abstract = isLinux && path.startsWith('\0');
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
      if (!st.isDirectory() || st.uid !== currentUid() || (st.mode & 0o077) !== 0) {
        throw new PipeError({ code: 'EACCES', syscall: 'mkdtemp', path: stage, message: `EACCES: the staging directory ${stage} was replaced` });
      }
      // mkdtemp's 0700 went through the umask (077 leaves it, 0777 makes it 0000, which we could
      // not bind in): set it through the descriptor.
      if ((st.mode & 0o7777) !== 0o700) {
        fchmodSync(dirFd, 0o700);
        st = fstatSync(dirFd);
        if ((st.mode & 0o7777) !== 0o700) throw new PipeError({ code: 'EACCES', syscall: 'fchmod', path: stage, message: `EACCES: the staging directory ${stage} stays mode ${(st.mode & 0o7777).toString(8)}` });
      }
    } catch (err) {
      if (dirFd !== undefined) closeSync(dirFd);
      rmdirSync(stage);
      throw err instanceof PipeError ? err : posixFromNode(err, 'open', stage);
    }
  }
  const fd = libc.socket(libc.AF_UNIX, libc.SOCK_STREAM | libc.SOCK_CLOEXEC, 0);
  if (fd < 0) {
    if (dirFd !== undefined) closeSync(dirFd);
    if (stage) rmdirSync(stage);
    throw posixError(libc.errno(), 'socket');
  }
  try {
    if (!isLinux) setCloexec(fd);
    const { addr, len } = sockaddrUn(staged ?? path, sunPathMax);
    if (libc.bind(fd, addr, len) !== 0) throw posixError(libc.errno(), 'bind', path);
    if (dirFd !== undefined) {
      if (libc.fchmodat(dirFd, 's', mode, 0) !== 0) throw posixError(libc.errno(), 'fchmodat', path);
      verifySocketMode(dirFd, staged!, mode, path);
    }
    if (libc.listen(fd, backlog) !== 0) throw posixError(libc.errno(), 'listen', path);
    let file: { dev: number; ino: number } | undefined;
    if (staged) {
      try {
        linkSync(staged, path);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw new PipeError({ code: code === 'EEXIST' ? 'EADDRINUSE' : code ?? 'UNKNOWN', syscall: 'listen', path, cause: err });
      }
      const st = lstatSync(path);
      file = { dev: st.dev, ino: st.ino };
    }
    return { fd, file };
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
 * by its path, inside that 0700 directory of ours that no other uid can enter.
 * @throws PipeError `EACCES` when it is not what was made.
 */
function verifySocketMode(dirFd: number, staged: string, mode: number, path: string): void {
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
  if ((fileMode & S_IFMT) !== S_IFSOCK || owner !== currentUid() || (fileMode & 0o7777) !== mode) {
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
