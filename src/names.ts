/**
 * Every name-to-path rule: {@link pipePath} for `createServer`/`connect` (Windows pipe paths, the
 * POSIX socket directories), the opening spelling on Windows ({@link win32OpenPath}), remote
 * names ({@link refuseRemote}), and the channel's CPython addresses, used as given.
 */
import { tmpdir, userInfo } from 'node:os';
import { join, isAbsolute, sep } from 'node:path';
import { invalidArgType, invalidArgValue } from './errors.js';
import { isAccessPolicy, posixAccess } from './access.js';
import type { PipeSecurity } from './options.js';

// --- names ------------------------------------------------------------------------------------

/** `sun_path` capacity including the terminating NUL: 108 on Linux, 104 on macOS and the BSDs. */
export const SUN_PATH_MAX = process.platform === 'linux' ? 108 : 104;
const WINDOWS_PREFIXES = ['\\\\.\\pipe\\', '\\\\?\\pipe\\'];
/** Windows: a pipe path is at most 256 characters. */
const WINDOWS_PIPE_PATH_MAX = 256;

function validateNameString(name: unknown): asserts name is string {
  if (typeof name !== 'string') throw invalidArgType('name', 'of type string', name);
  if (name.length === 0) throw invalidArgValue('name', name, 'must not be empty');
  if (name.includes('\0')) throw invalidArgValue('name', name, 'must not contain NUL');
}

/**
 * Windows: the path every system call opens for a pipe path `pipePath` returned. A local pipe is
 * opened through `\\?\pipe\`, as libuv does: the `\\?\` prefix turns off Win32 path
 * normalisation, so no `..` or `/` can lead out of the pipe namespace (`\\.\pipe\..\C:\x` is
 * the file `C:\x`; `\\?\pipe\..\C:\x` is a pipe that does not exist). Remote paths are used
 * as given (they are refused without `allowRemote`, and `..` is refused in every name).
 * Users see `\\.\pipe\x` (`address()`, `conn.path`); both spellings name the same pipe.
 */
export function win32OpenPath(path: string): string {
  return /^\\\\[.?]\\pipe\\/i.test(path) ? `\\\\?\\pipe\\${path.slice(9)}` : path;
}

/**
 * Windows: a pipe path in the spelling users see. `//./pipe/x` (the spelling WSL and Docker
 * recipes use) and `\\?\pipe\x` become `\\.\pipe\x`; a `..` segment anywhere is refused,
 * since a Win32 open of `\\.\pipe\..\x` leaves the pipe namespace.
 * @throws TypeError `ERR_INVALID_ARG_VALUE`.
 */
export function canonicalWindowsPipePath(path: string, argName: string): string {
  let full = path;
  const slashed = /^\/\/([.?])\/pipe\//i.exec(full);
  if (slashed) full = `\\\\.\\pipe\\${full.slice(9)}`;
  else if (/^\\\\\?\\pipe\\/i.test(full)) full = `\\\\.\\pipe\\${full.slice(9)}`;
  if (full.split(/[\\/]/).some((seg) => seg === '..')) {
    throw invalidArgValue(argName, path, "must not contain a '..' segment (it would leave the pipe namespace)");
  }
  return full;
}

/** True for `\\server\pipe\name` with a server other than `.` or `?`. */
export function isRemotePipePath(path: string): boolean {
  return /^\\\\[^\\.?][^\\]*\\pipe\\/i.test(path) || /^\\\\[.?][^\\]+\\pipe\\/i.test(path);
}

/**
 * The one rule for remote names, shared by `connect` and the channel's `Client`: opening
 * `\\server\pipe\name` is an SMB login to `server` with the user's credentials, so it needs
 * `allowRemote: true`. Thrown before any system call.
 */
export function refuseRemote(path: string, allowRemote: boolean, argName: string, given: string): void {
  if (isRemotePipePath(path) && !allowRemote) {
    throw invalidArgValue(argName, given, 'is a remote pipe; pass { allowRemote: true } to connect to another machine');
  }
}

/**
 * The full OS path winpipe uses for `name`.
 *
 * - Windows: `\\.\pipe\<name>`. A name that already is a pipe path (`\\.\pipe\x`,
 *   `\\?\pipe\x`, `//./pipe/x` as WSL recipes write it, or a remote `\\server\pipe\x`) is
 *   kept, spelled `\\.\pipe\x` for a local pipe. Backslashes inside the name are allowed
 *   (Windows treats them as part of the name); a `..` segment is refused. At most 256 characters
 *   in all. Every system call opens it through `\\?\pipe\x` ({@link win32OpenPath}).
 * - POSIX: an absolute path is used as is. Any other name becomes `<dir>/<name>.sock`, where
 *   `<dir>` is a private per-user directory (mode 0700): `$XDG_RUNTIME_DIR/winpipe` when set,
 *   else `<os.tmpdir()>/winpipe-<uid>` (the effective uid). With `security: 'everyone'` the directory is
 *   `<os.tmpdir()>/winpipe-<uid>.public` (mode 0711: ours, traversable, not listable or writable
 *   by others; there is no shared directory another user could own). Every such directory is
 *   checked with `lstat` on listen and on connect (a real directory, owned by us, not open to
 *   others: else `EACCES` / `ENOTDIR`). The name must not contain `/`, and
 *   the path must fit `sun_path` (108 bytes on Linux, 104 on macOS): it is rejected, never
 *   truncated.
 *
 * @example
 * ```ts
 * pipePath('my-app');  // Windows: '\\\\.\\pipe\\my-app'   Linux: '/run/user/1000/winpipe/my-app.sock'
 * ```
 * @throws TypeError `ERR_INVALID_ARG_VALUE` for empty names, NUL, `/` in a POSIX name, `..` in a
 * Windows name, or a path too long.
 */
export function pipePath(name: string, options?: { security?: PipeSecurity; platform?: NodeJS.Platform }): string {
  validateNameString(name);
  const platform = options?.platform ?? process.platform;
  if (platform === 'win32') {
    const lower = name.toLowerCase();
    const given = WINDOWS_PREFIXES.some((p) => lower.startsWith(p)) || /^\/\/[.?]\/pipe\//i.test(name) || isRemotePipePath(name) ? name : `\\\\.\\pipe\\${name}`;
    const full = canonicalWindowsPipePath(given, 'name');
    if (full.length > WINDOWS_PIPE_PATH_MAX) throw invalidArgValue('name', name, `makes a pipe path longer than ${WINDOWS_PIPE_PATH_MAX} characters`);
    if (/^\\\\[.?]\\pipe\\$/i.test(full)) throw invalidArgValue('name', name, 'must name a pipe after \\\\.\\pipe\\');
    return full;
  }
  return posixPath(name, isAbsolute(name) ? undefined : socketDirs(), options?.security ?? 'current-user');
}

/** The POSIX part of {@link pipePath}, for a validated name: `dirs` is undefined for an absolute one. */
function posixPath(name: string, dirs: SocketDirs | undefined, security: PipeSecurity): string {
  let full: string;
  if (dirs === undefined) full = name;
  else {
    const dir = isPublicSecurity(security) ? dirs.public : dirs.private;
    // The same name in the same directory as last time: it passed the checks below then, and the
    // same string comes back (no new one to make, and the candidates' check compares it with itself).
    const last = lastSocketPath;
    if (last !== undefined && last.name === name && last.dir === dir) return last.path;
    if (name.includes('/')) throw invalidArgValue('name', name, "must not contain '/' (use an absolute path to choose the location)");
    // What join() would make, without its normalising pass (3.5k instructions a connect, B6): the
    // directory is join()'s own output (normalised, no trailing slash) and `<name>.sock` one segment
    // that is neither '.' nor '..'.
    // Where the separator is not '/', join() rewrites the slashes, so it is kept.
    full = sep === '/' ? `${dir}/${name}.sock` : join(dir, `${name}.sock`);
    checkSunPath(full, name);
    lastSocketPath = { dir, name, path: full };
    return full;
  }
  checkSunPath(full, name);
  return full;
}

/** The last `<dir>/<name>.sock` {@link posixPath} made. */
let lastSocketPath: { dir: string; name: string; path: string } | undefined;

/** Throws unless `full` and its NUL fit sun_path. */
function checkSunPath(full: string, name: string): void {
  // A UTF-16 unit is at most 3 UTF-8 bytes: a short path fits without counting (Buffer.byteLength
  // measured 0.8k instructions a connect, B6).
  if (full.length * 3 >= SUN_PATH_MAX && Buffer.byteLength(full) >= SUN_PATH_MAX) {
    throw invalidArgValue('name', name, `makes a socket path of ${Buffer.byteLength(full)} bytes; sun_path holds ${SUN_PATH_MAX - 1}`);
  }
}

/**
 * POSIX {@link pipePath} for `connect`: the path, and the socket directories a name was resolved
 * against (undefined for an absolute path), which connect's candidates (src/posix/connect.ts) need
 * too. Reading them once per connect instead of twice saves four `process.env` reads (about 3k
 * instructions, B6); and the candidates then come from the same directories as the path.
 * `self`: the effective uid read (after the name was checked) for the directory's name, which
 * connect's first attempt, in the same tick, checks the directory and the server against, so that
 * a connect reads it once (a system call, B6); undefined for an absolute path.
 * @throws TypeError as {@link pipePath} does.
 */
export function posixConnectPath(name: string): { path: string; dirs: SocketDirs | undefined; self: number | undefined } {
  validateNameString(name);
  if (isAbsolute(name)) return { path: posixPath(name, undefined, 'current-user'), dirs: undefined, self: undefined };
  const self = effectiveUid();
  const dirs = socketDirs(self);
  return { path: posixPath(name, dirs, 'current-user'), dirs, self };
}

/**
 * POSIX: the directory for socket names (private, or the public one for 'everyone'). Only the
 * path: src/posix/trust.ts `verifyDir` (where the rule lives) makes and checks it.
 */
export function socketDir(security: PipeSecurity): string {
  const dirs = socketDirs();
  return isPublicSecurity(security) ? dirs.public : dirs.private;
}

/**
 * POSIX: the private and the public socket directory, as {@link socketDirs} gives them. Where
 * `XDG_RUNTIME_DIR` names the private one, `public` is read when asked for (an accessor).
 */
export interface SocketDirs {
  readonly private: string;
  readonly public: string;
}

/** The last answer of {@link tmpSocketDirs}, with the inputs it came from. */
let dirsMemo: { uid: number; runtime?: string; tmp?: string; temp1?: string; temp2?: string; private: string; public: string } | undefined;
/** The last answer of {@link socketDirs} where `XDG_RUNTIME_DIR` names the private directory. */
let runtimeMemo: { runtime: string; dirs: SocketDirs } | undefined;

/**
 * POSIX: both socket directories at once. `connect` asks for them on every call (its candidates),
 * and `os.tmpdir()` alone measured 3.3 µs (B6): the answer is kept while its inputs (the uid, and
 * the environment variables `os.tmpdir()` and `XDG_RUNTIME_DIR` name) stay the same.
 *
 * With `XDG_RUNTIME_DIR` set (absolute), the private directory needs only that variable: the
 * public one (the temporary directory's variables and the uid) is read when `public` is read,
 * so a connect that finds its server in the private directory reads one variable, not four (each
 * read of process.env measured 2k instructions, B6), and no uid.
 */
export function socketDirs(euid?: number): SocketDirs {
  const runtime = process.env.XDG_RUNTIME_DIR;
  if (runtime && isAbsolute(runtime)) {
    const r = runtimeMemo;
    if (r !== undefined && r.runtime === runtime) return r.dirs;
    const dirs: SocketDirs = Object.freeze({
      private: join(runtime, 'winpipe'),
      get public(): string {
        return tmpSocketDirs(runtime).public;
      },
    });
    runtimeMemo = { runtime, dirs };
    return dirs;
  }
  return tmpSocketDirs(runtime, euid);
}

/**
 * The uid a socket directory is named after: the effective one, the uid that makes the directory,
 * owns it and is checked against its owner (src/posix/trust.ts). The real uid named it before
 * 2026-12-06; a process that had changed only its effective uid (`process.seteuid`) then looked
 * for its sockets in a directory named after a user it no longer was, and refused it as not its own.
 */
export function effectiveUid(): number {
  return typeof process.geteuid === 'function' ? process.geteuid() : userInfo().uid;
}

/**
 * {@link socketDirs} from the temporary directory and the effective uid (`euid` when the caller has
 * just read it); `runtime`: XDG_RUNTIME_DIR as read.
 */
function tmpSocketDirs(runtime: string | undefined, euid?: number): SocketDirs {
  const env = process.env;
  const tmp = env.TMPDIR;
  // os.tmpdir() takes TMP only without TMPDIR, and TEMP only without either (an empty value counts
  // as none): read them only then (each read of process.env measured 2k instructions, B6).
  const temp1 = tmp ? undefined : env.TMP;
  const temp2 = tmp || temp1 ? undefined : env.TEMP;
  const uid = euid ?? effectiveUid();
  const m = dirsMemo;
  if (m && m.uid === uid && m.runtime === runtime && m.tmp === tmp && m.temp1 === temp1 && m.temp2 === temp2) return m;
  const t = tmpdir();
  const priv = runtime && isAbsolute(runtime) ? join(runtime, 'winpipe') : join(t, `winpipe-${uid}`);
  dirsMemo = { uid, runtime, tmp, temp1, temp2, private: priv, public: join(t, `winpipe-${uid}.public`) };
  return dirsMemo;
}

/** POSIX: the mode of a socket directory winpipe makes (and the most it tolerates). */
export function socketDirMode(security: PipeSecurity): number {
  return isPublicSecurity(security) ? 0o711 : 0o700;
}

/** POSIX: does `security` put the socket in the public directory (0711, socket 0666)? */
export function isPublicSecurity(security: PipeSecurity): boolean {
  if (security === 'everyone') return true;
  return isAccessPolicy(security) && posixAccess(security).reach !== 'private';
}

// --- winpipe/connection addresses: CPython's, used as given ----------------------------------------

const PIPE_ADDRESS = /^\\\\([^\\]+)\\pipe\\[^\\].*$/is;

/**
 * Checks a Windows channel address (`\\.\pipe\name`, `//./pipe/name`, or `\\server\pipe\name`
 * for a Client) and returns it as used: `//./pipe/x` becomes `\\.\pipe\x`; a `..` segment is
 * refused (the same rule as `pipePath`). It is opened through `\\?\pipe\`.
 */
export function validateWinAddress(given: string, local: boolean): string {
  // The API takes a NUL-terminated name: a NUL would silently cut the name short.
  if (given.includes('\0')) throw invalidArgValue('address', given, 'must not contain NUL');
  const address = /^\/\/[.?]\/pipe\//i.test(given) || /^\\\\/.test(given) ? canonicalWindowsPipePath(given, 'address') : given;
  const m = PIPE_ADDRESS.exec(address);
  if (!m) throw invalidArgValue('address', address, 'must be a named-pipe path such as \\\\.\\pipe\\name');
  if (local && m[1] !== '.' && m[1] !== '?') throw invalidArgValue('address', address, 'is a remote pipe; a Listener can only create local pipes');
  if (address.length > 256) throw invalidArgValue('address', address, 'is longer than 256 characters');
  return address;
}

/** Checks a POSIX channel address; returns it unchanged (relative paths stay relative, as in Python). */
export function validatePosixAddress(address: string): string {
  if (/^\\\\[^\\]+\\pipe\\/i.test(address)) throw invalidArgValue('address', address, 'is a Windows named-pipe address; on POSIX use a filesystem path');
  const abstract = process.platform === 'linux' && address.startsWith('\0');
  if (!abstract && address.includes('\0')) throw invalidArgValue('address', address, 'must not contain NUL');
  const bytes = Buffer.byteLength(address);
  // The path and its terminating NUL must fit sun_path; it is rejected, never truncated.
  if (abstract ? bytes > SUN_PATH_MAX : bytes >= SUN_PATH_MAX) {
    throw invalidArgValue('address', address, `is ${bytes} bytes; sun_path holds ${SUN_PATH_MAX - (abstract ? 0 : 1)}`);
  }
  return address;
}
