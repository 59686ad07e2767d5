/**
 * The POSIX security rule, in one place: who may be at the other end of a Unix socket, which
 * directories we serve from or connect through, and which FIFOs we open.
 * Both `createServer` / `connect` (src/posix/server.ts, src/posix/connect.ts) and the
 * `winpipe/connection` Listener / Client (src/channel/posix.ts) call only this module for those
 * checks.
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
 * - A listening socket has its final mode before anyone can reach it: `bindListening`
 *   (src/posix/socket.ts, where sockets are made, bound and connected) binds it in a fresh 0700
 *   staging directory, sets and reads back its mode there, then hard-links it into place
 *   (`EADDRINUSE` if anything is there).
 *
 * Peer credentials are read once per connection: Linux `SO_PEERCRED` gives pid, uid and gid in
 * one `getsockopt`; macOS and the BSDs `getpeereid` (uid, gid) plus `LOCAL_PEERPID` (macOS pid).
 * An attacker with OUR uid is not stopped by any of this: same-uid processes can ptrace each
 * other, and can connect, serve or replace our sockets as we can.
 */
import { closeSync, constants as fsc, fchmodSync, fstatSync, lstatSync, mkdirSync, openSync } from 'node:fs';
import { PipeError, posixError } from '../errors.js';
import * as libc from './libc.js';
import type { PipeSecurity } from '../options.js';
import type { PeerIdentity } from '../types.js';
import { isAccessPolicy, mayAcceptPolicy, posixAccess } from '../access.js';
import { effectiveUid } from '../names.js';

const isLinux = process.platform === 'linux';
const isDarwin = process.platform === 'darwin';

/**
 * The uid the checks compare with: the effective uid, which the kernel reports to peers and which
 * names our socket directories too (names.ts {@link effectiveUid}, the one reading of it).
 */
export function currentUid(): number {
  return effectiveUid();
}

/** What the kernel says about the process at the other end of a Unix socket. */
export interface PeerCredentials {
  /** Linux: the pid at connect / listen time; macOS: LOCAL_PEERPID; undefined elsewhere. */
  pid: number | undefined;
  uid: number;
  gid: number;
  /** Linux (SO_PEERGROUPS): the supplementary groups, read on accept only; absent where the kernel has no such option. */
  groups?: number[];
}

/**
 * The `peer` of a connection: the same credentials the checks here decided on, as the public
 * {@link PeerIdentity} (a fresh object per connection, so one user cannot change another's).
 */
export function peerIdentity(cred: PeerCredentials | undefined): PeerIdentity {
  if (!cred) return { pid: undefined };
  const peer: PeerIdentity = { pid: cred.pid, uid: cred.uid, gid: cred.gid };
  if (cred.groups !== undefined) peer.groups = cred.groups.slice();
  return peer;
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
export function peerCredentials(fd: number | undefined, withGroups = false): PeerCredentials | undefined {
  if (fd === undefined) return undefined;
  try {
    if (isLinux) {
      // struct ucred { pid_t pid; uid_t uid; gid_t gid; }: all three in one call, into buffers
      // shared by every call (read right after it; nothing else runs in between).
      const len = ucredLen;
      len[0] = 12;
      if (libc.getsockopt(fd, libc.SOL_SOCKET, libc.SO_PEERCRED, ucredBytes, len) !== 0 || len[0]! < 12) return undefined;
      const pid = ucred[0]!;
      const cred: PeerCredentials = { pid: pid > 0 ? pid : undefined, uid: ucred[1]! >>> 0, gid: ucred[2]! >>> 0 };
      if (withGroups) {
        const groups = peerGroups(fd);
        if (groups !== undefined) cred.groups = groups;
      }
      return cred;
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

/** SO_PEERGROUPS' out-buffer: room for 64 groups at first; grown to what the kernel asks for (ERANGE). */
let groupsBuf = new Uint32Array(64);
/** The same memory as bytes, for getsockopt: made when the buffer is, not per accept. */
let groupsBytes = new Uint8Array(groupsBuf.buffer);
const groupsLen = new Uint32Array(1);
const ERANGE = 34;

/**
 * Linux: the peer's supplementary groups as the kernel recorded them at connect (SO_PEERGROUPS,
 * Linux 4.13+), or undefined where the option does not exist (ENOPROTOOPT) or fails.
 */
function peerGroups(fd: number): number[] | undefined {
  for (let tries = 0; tries < 3; tries++) {
    groupsLen[0] = groupsBuf.byteLength;
    if (libc.getsockopt(fd, libc.SOL_SOCKET, libc.SO_PEERGROUPS, groupsBytes, groupsLen) === 0) {
      // Copied out word by word: no subarray view and Array.from per accept (0.7k
      // instructions of each accept, by callgrind, in BENCHMARKS.md's B6 profile).
      const n = groupsLen[0]! >>> 2;
      const groups: number[] = [];
      for (let i = 0; i < n; i++) groups.push(groupsBuf[i]!);
      return groups;
    }
    if (libc.errno() !== ERANGE || groupsLen[0]! <= groupsBuf.byteLength) return undefined;
    groupsBuf = new Uint32Array(Math.ceil(groupsLen[0]! / 4));
    groupsBytes = new Uint8Array(groupsBuf.buffer);
  }
  return undefined;
}

/**
 * Accept side: may this peer be handed to the application? `'current-user'`: our uid or root;
 * `'everyone'`: any uid; a preset: our uid, root, and what it allows (src/access.ts
 * `mayAcceptPolicy`: listed uids, listed gids among the peer's groups, or any uid).
 * `self`: the effective uid the server listened as (socket.ts bindListening), which owns its
 * socket file and directory; not read again per accept, so a process that changes its effective
 * uid afterwards keeps serving the user it listened for.
 *
 * @example
 * ```ts
 * const { fd, self } = bindListening(path, 0o600, 511, SUN_PATH_MAX);
 * if (!mayAccept(peerCredentials(socketFd(socket)), 'current-user', self)) socket.destroy();
 * ```
 */
export function mayAccept(peer: PeerCredentials | undefined, security: PipeSecurity, self: number): boolean {
  if (security === 'everyone') return true;
  if (isAccessPolicy(security)) return mayAcceptPolicy(posixAccess(security), peer, self);
  if (!peer) return false;
  return trustedUid(peer.uid, [], self);
}

/** The one uid rule: ours (`self`, the effective uid), root's, or one the caller named. */
function trustedUid(uid: number, named: readonly number[], self: number = currentUid()): boolean {
  return uid === self || uid === 0 || named.includes(uid);
}

/**
 * Connect side: throws `EACCES` unless the server at `path` runs as our uid, root, or one of
 * `allowServerUids`. Returns the server's credentials. `self`: our effective uid as this connect
 * read it as it began (one `geteuid` for its directory check and this one); every caller has it.
 */
export function checkServer(peer: PeerCredentials | undefined, allowServerUids: readonly number[], path: string, syscall: string, self: number): PeerCredentials {
  if (!peer) {
    throw new PipeError({ code: 'EACCES', syscall, path, message: `EACCES: cannot read the credentials of the server at ${path}` });
  }
  if (!trustedUid(peer.uid, allowServerUids, self)) {
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
  checkDir(dir, opts.mode, opts.trustedOwners ?? NO_OWNERS, opts.syscall, currentUid());
}
const NO_OWNERS: readonly number[] = Object.freeze([]);

/**
 * The looking half of {@link verifyDir} (connect's), with our effective uid given: connect reads
 * it once for this check and the server's ({@link checkServer}). One `lstat`.
 * @throws PipeError as {@link verifyDir}.
 */
export function checkDir(dir: string, maxMode: number, trustedOwners: readonly number[], syscall: string, self: number): void {
  lstatDir(dir, syscall);
  const mode = dirStat[libc.STAT_MODE_WORD]!;
  const owner = dirStat[libc.STAT_UID_WORD]!;
  if ((mode & S_IFMT) !== S_IFDIR) throw notDir(dir, syscall);
  // Someone else's directory, or one a squatter pre-created: never connect through it.
  if (owner !== self && !trustedOwners.includes(owner)) throw notOurs(dir, syscall, owner, self);
  // Ours but looser than wanted (bits beyond `maxMode`): only we could have loosened it, but
  // someone may have used the gap: refuse. (Listen sets the mode back.)
  if ((mode & 0o777 & ~maxMode) !== 0) throw new PipeError({ code: 'EACCES', syscall, path: dir, message: `EACCES: ${dir} is mode ${(mode & 0o777).toString(8)}, open to other users` });
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

function notOurs(dir: string, syscall: string, owner: number, self: number = currentUid()): PipeError {
  return new PipeError({ code: 'EACCES', syscall, path: dir, message: `EACCES: ${dir} belongs to uid ${owner}, not ${self}` });
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

export function posixFromNode(err: unknown, syscall: string, path: string): PipeError {
  const code = (err as NodeJS.ErrnoException).code ?? 'UNKNOWN';
  return new PipeError({ code, syscall, path, cause: err });
}
