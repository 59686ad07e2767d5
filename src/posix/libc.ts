/**
 * `winpipe/posix`: the libc calls winpipe makes on Linux and macOS, typed and declared in one
 * place, each next to its C signature. Every function binds lazily on first call, so importing
 * this module on Windows is harmless; calling one there throws `ERR_UNSUPPORTED_PLATFORM`.
 *
 * These are raw calls: they return -1 on failure and leave the reason in {@link errno}, exactly as
 * in C. Check the result yourself, or use the high-level `createPipe()`.
 *
 * @example
 * ```ts
 * import { pipe2, O_CLOEXEC, errno } from 'winpipe/posix';
 * const fds = new Int32Array(2);
 * if (pipe2(fds, O_CLOEXEC) !== 0) throw new Error(`pipe2 failed: errno ${errno()}`);
 * ```
 *
 * @module
 */
import koffi from 'koffi';
import { PipeError } from '../errors.js';

const isLinux = process.platform === 'linux';
const isDarwin = process.platform === 'darwin';

let lib: ReturnType<typeof koffi.load> | undefined;
function libc(): ReturnType<typeof koffi.load> {
  if (process.platform === 'win32') {
    throw new PipeError({ code: 'ERR_UNSUPPORTED_PLATFORM', message: 'winpipe/posix is not available on Windows; use winpipe/win32' });
  }
  lib ??= koffi.load(isDarwin ? '/usr/lib/libSystem.B.dylib' : isLinux ? 'libc.so.6' : 'libc.so');
  return lib;
}

/** Binds `proto` on first call; later calls go straight to the koffi function. */
// biome-ignore lint/suspicious/noExplicitAny: the constraint "any function"; with unknown parameters, no typed prototype would fit it
function bind<F extends (...args: any[]) => any>(proto: string): F {
  let fn: F | undefined;
  return ((...args: unknown[]) => (fn ??= libc().func(proto) as unknown as F)(...args)) as F;
}

// --- constants ---------------------------------------------------------------------------------

/** `O_CLOEXEC` for {@link pipe2} (Linux; macOS has no pipe2) and {@link open}. */
export const O_CLOEXEC = isDarwin ? 0x1000000 : 0o2000000;
/** `O_NONBLOCK`. */
export const O_NONBLOCK = isDarwin ? 0x0004 : 0o4000;
/**
 * `O_NOFOLLOW` for {@link open}: a symlink as the last path component fails with `ELOOP` (Linux:
 * `O_PATH | O_NOFOLLOW` opens the symlink itself instead). Linux x64 and most arches 0o400000;
 * arm, arm64 and powerpc 0o100000; macOS 0x100.
 */
export const O_NOFOLLOW = isDarwin ? 0x100 : process.arch === 'arm64' || process.arch === 'arm' || process.arch.startsWith('ppc') ? 0o100000 : 0o400000;
/** `O_NOCTTY` for {@link open}: opening a terminal never makes it the controlling terminal. */
export const O_NOCTTY = isDarwin ? 0x20000 : 0o400;
/**
 * Linux only: `O_PATH` for {@link open}: a descriptor that names a file without opening it (no
 * driver `open`, no read or write; `fstat` works). 0 elsewhere: do not use it there.
 */
export const O_PATH = isLinux ? 0o10000000 : 0;
/** `O_RDONLY`, `O_WRONLY`, `O_RDWR` for `open`. */
export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
/** fcntl commands. */
export const F_GETFD = 1;
export const F_SETFD = 2;
export const F_GETFL = 3;
export const F_SETFL = 4;
/** Linux only: set / get a pipe's capacity in bytes. */
export const F_SETPIPE_SZ = 1031;
export const F_GETPIPE_SZ = 1032;
/** The close-on-exec flag for `F_GETFD` / `F_SETFD`. */
export const FD_CLOEXEC = 1;
/** poll events. */
export const POLLIN = 0x001;
export const POLLOUT = 0x004;
export const POLLERR = 0x008;
export const POLLHUP = 0x010;
/** Socket option levels and names for {@link getsockopt}. */
export const SOL_SOCKET = isDarwin ? 0xffff : 1;
/** Linux: `struct ucred { pid_t pid; uid_t uid; gid_t gid; }` of the peer, at `SOL_SOCKET`. */
export const SO_PEERCRED = 17;
/** Linux 4.13+: the peer's supplementary groups (`gid_t[]`) at `SOL_SOCKET`, as they were at connect time. */
export const SO_PEERGROUPS = 59;
/** macOS: the level of the `LOCAL_*` options (Unix domain sockets). */
export const SOL_LOCAL = 0;
/** macOS: the peer's `pid_t`, at `SOL_LOCAL`. */
export const LOCAL_PEERPID = 2;
/** `AF_UNIX`, the Unix domain socket family (the same on Linux and macOS). */
export const AF_UNIX = 1;
/** `SOCK_STREAM` (the same on Linux and macOS). */
export const SOCK_STREAM = 1;
/** Linux only: `SOCK_CLOEXEC`, or-ed into the type of {@link socket} / {@link socketpair}. macOS has none: use `FD_CLOEXEC`. */
export const SOCK_CLOEXEC = isLinux ? 0o2000000 : 0;
/** Linux only: `SOCK_NONBLOCK`, or-ed into the type of {@link socket}. macOS has none: use `O_NONBLOCK`. */
export const SOCK_NONBLOCK = isLinux ? 0o4000 : 0;
/** `SO_ERROR` at `SOL_SOCKET`: the pending error of a socket (how a non-blocking connect ended). */
export const SO_ERROR = isDarwin ? 0x1007 : 4;
/** `shutdown` directions (the same on Linux and macOS). */
export const SHUT_RD = 0;
export const SHUT_WR = 1;
export const SHUT_RDWR = 2;

/** `F_DUPFD_CLOEXEC` for {@link fcntl}: a duplicate at the lowest free number >= arg, close-on-exec from birth. */
export const F_DUPFD_CLOEXEC = isDarwin ? 67 : 1030;
/** `SCM_RIGHTS`: a control message at {@link SOL_SOCKET} that carries descriptors (the same on Linux and macOS). */
export const SCM_RIGHTS = 1;
/** `MSG_DONTWAIT` for {@link sendmsg} / {@link recvmsg}: this call does not block, whatever the descriptor's mode. */
export const MSG_DONTWAIT = isDarwin ? 0x80 : 0x40;
/** Linux only: `MSG_NOSIGNAL`, no SIGPIPE for a send to a closed peer (EPIPE instead). 0 on macOS (Node ignores SIGPIPE). */
export const MSG_NOSIGNAL = isLinux ? 0x4000 : 0;
/** Linux only: `MSG_CMSG_CLOEXEC` for {@link recvmsg}: received descriptors are close-on-exec from birth. 0 on macOS: set `FD_CLOEXEC` at once. */
export const MSG_CMSG_CLOEXEC = isLinux ? 0x40000000 : 0;
/** `MSG_CTRUNC` in `msg_flags` after {@link recvmsg}: control data did not fit, and what did not fit is lost. */
export const MSG_CTRUNC = isDarwin ? 0x20 : 0x8;
/**
 * `struct msghdr` as {@link sendmsg} / {@link recvmsg} take it, by byte offset (64-bit Linux and
 * macOS): `msg_name`, `msg_namelen`, `msg_iov`, `msg_iovlen` (size_t on Linux, int on macOS),
 * `msg_control`, `msg_controllen` (size_t on Linux, socklen_t on macOS), `msg_flags`.
 */
export const MSGHDR = isDarwin
  ? { size: 48, name: 0, namelen: 8, iov: 16, iovlen: 24, iovlenSize: 4, control: 32, controllen: 40, controllenSize: 4, flags: 44 }
  : { size: 56, name: 0, namelen: 8, iov: 16, iovlen: 24, iovlenSize: 8, control: 32, controllen: 40, controllenSize: 8, flags: 48 };
/**
 * `struct cmsghdr`: `cmsg_len` (size_t on Linux, socklen_t on macOS), `cmsg_level`, `cmsg_type`,
 * then the data at `CMSG_DATA`, and each header aligned to `align` (`CMSG_ALIGN`).
 */
export const CMSGHDR = isDarwin ? { lenSize: 4, level: 4, type: 8, data: 12, align: 4 } : { lenSize: 8, level: 8, type: 12, data: 16, align: 8 };

// --- functions ---------------------------------------------------------------------------------

/** `int pipe2(int pipefd[2], int flags)` (Linux). `fds` receives [read end, write end]. */
export const pipe2: (fds: Int32Array, flags: number) => number = bind('int pipe2(_Out_ int *pipefd, int flags)');

/** `int pipe(int pipefd[2])`. Prefer {@link pipe2} where it exists: `pipe` + `fcntl` is not atomic. */
export const pipe: (fds: Int32Array) => number = bind('int pipe(_Out_ int *pipefd)');

/** `int fcntl(int fd, int cmd, int arg)`: the integer-argument form, which is all winpipe uses. */
export const fcntl: (fd: number, cmd: number, arg: number) => number = bind('int fcntl(int fd, int cmd, int arg)');

/** `int mkfifo(const char *pathname, mode_t mode)`. */
export const mkfifo: (path: string, mode: number) => number = bind(`int mkfifo(const char *pathname, ${isDarwin ? 'uint16_t' : 'uint32_t'} mode)`);

/** `ssize_t read(int fd, void *buf, size_t count)`. */
export const read: (fd: number, buf: Uint8Array, count: number) => number = bind('intptr_t read(int fd, void *buf, size_t count)');

/** `ssize_t write(int fd, const void *buf, size_t count)`. */
export const write: (fd: number, buf: Uint8Array, count: number) => number = bind('intptr_t write(int fd, const void *buf, size_t count)');

/** Linux x64 and arm64: where winpipe knows the layout of `struct stat` (see {@link fstat}). */
const statLayoutKnown = isLinux && (process.arch === 'x64' || process.arch === 'arm64');

/**
 * {@link bind} for a symbol an older libc may lack: bound on first call; where the symbol is
 * missing, every call returns -2 (never a valid result of these calls, which return 0 or -1).
 */
function bindOptional<A extends unknown[]>(proto: string): (...args: A) => number {
  let fn: ((...args: A) => number) | null | undefined;
  return (...args: A): number => {
    if (fn === undefined) {
      try {
        fn = libc().func(proto) as unknown as (...args: A) => number;
      } catch {
        fn = null;
      }
    }
    return fn === null ? -2 : fn(...args);
  };
}

/**
 * `int fstat(int fd, struct stat *statbuf)`, bound only where winpipe knows the layout: Linux
 * x64 and arm64 (glibc >= 2.33 and musl export the symbol), where `st_dev` and `st_ino` are the
 * first two 64-bit words. Returns -2 where the symbol is missing (an older glibc exports only
 * __fxstat); elsewhere undefined: use `fs.fstatSync`.
 */
export const fstat: ((fd: number, statbuf: BigUint64Array) => number) | undefined = statLayoutKnown
  ? bindOptional<[fd: number, statbuf: BigUint64Array]>('int fstat(int fd, _Out_ uint64_t *statbuf)')
  : undefined;

/**
 * `int lstat(const char *path, struct stat *statbuf)`, bound where winpipe knows the layout (as
 * {@link fstat}): Linux x64 and arm64, where glibc >= 2.33 and musl export the symbol. `statbuf`
 * must hold {@link STAT_WORDS} words; `st_mode` and `st_uid` are the 32-bit words
 * {@link STAT_MODE_WORD} and {@link STAT_UID_WORD}. Returns -2 where the symbol is missing (an
 * older glibc exports only __lxstat); elsewhere undefined: use `fs.lstatSync`.
 */
export const lstat: ((path: string, statbuf: Uint32Array) => number) | undefined = statLayoutKnown
  ? bindOptional<[path: string, statbuf: Uint32Array]>('int lstat(const char *path, _Out_ uint32_t *statbuf)')
  : undefined;
/**
 * `int fstatat(int dirfd, const char *pathname, struct stat *statbuf, int flags)`: {@link lstat}
 * relative to an open directory (with {@link AT_SYMLINK_NOFOLLOW}). Bound where {@link lstat} is,
 * with the same layout; -2 where the symbol is missing (an older glibc exports only __fxstatat);
 * elsewhere undefined.
 */
export const fstatat: ((dirfd: number, path: string, statbuf: Uint32Array, flags: number) => number) | undefined = statLayoutKnown
  ? bindOptional<[dirfd: number, path: string, statbuf: Uint32Array, flags: number]>('int fstatat(int dirfd, const char *pathname, _Out_ uint32_t *statbuf, int flags)')
  : undefined;
/** `AT_SYMLINK_NOFOLLOW` for {@link fstatat}: a symlink is described, not followed. */
export const AT_SYMLINK_NOFOLLOW = isDarwin ? 0x20 : 0x100;
/** `struct stat` in 32-bit words, at least (x64: 144 bytes; arm64: 128). */
export const STAT_WORDS = 36;
/** Word index of `st_mode` in `struct stat` (x64: after st_dev, st_ino, st_nlink; arm64: after st_dev, st_ino). */
export const STAT_MODE_WORD = process.arch === 'x64' ? 6 : 4;
/** Word index of `st_uid` in `struct stat` (x64: right after st_mode; arm64: after st_mode and a 32-bit st_nlink). */
export const STAT_UID_WORD = process.arch === 'x64' ? 7 : 6;

/**
 * `int open(const char *pathname, int flags, ...)`, without the `mode` argument (which only
 * `O_CREAT` / `O_TMPFILE` read): winpipe never creates a file through it. Pass `O_CLOEXEC` yourself.
 */
export const open: (path: string, flags: number) => number = bind('int open(const char *pathname, int flags, ...)');

/** `int close(int fd)`. */
export const close: (fd: number) => number = bind('int close(int fd)');

/** `int poll(struct pollfd *fds, nfds_t nfds, int timeout)`; `fds` is {fd:int32, events:int16, revents:int16} × n. */
export const poll: (fds: Uint8Array, nfds: number, timeout: number) => number = bind('int poll(_Inout_ uint8_t *fds, unsigned long nfds, int timeout)');

/**
 * `int getsockopt(int sockfd, int level, int optname, void *optval, socklen_t *optlen)`.
 * `optval` receives the option's bytes; `optlen` (one element) is in/out: its capacity, then the size written.
 */
export const getsockopt: (fd: number, level: number, optname: number, optval: Uint8Array, optlen: Uint32Array) => number = bind(
  'int getsockopt(int sockfd, int level, int optname, _Inout_ uint8_t *optval, _Inout_ uint32_t *optlen)',
);

/** `int shutdown(int sockfd, int how)`: `how` is {@link SHUT_RD}, {@link SHUT_WR} or {@link SHUT_RDWR}. */
export const shutdown: (fd: number, how: number) => number = bind('int shutdown(int sockfd, int how)');

/** `int socketpair(int domain, int type, int protocol, int sv[2])`: `sv` receives two connected sockets. */
export const socketpair: (domain: number, type: number, protocol: number, sv: Int32Array) => number = bind('int socketpair(int domain, int type, int protocol, _Out_ int *sv)');

/** `int socket(int domain, int type, int protocol)`. */
export const socket: (domain: number, type: number, protocol: number) => number = bind('int socket(int domain, int type, int protocol)');

/** `int bind(int sockfd, const struct sockaddr *addr, socklen_t addrlen)`: `addr` holds the raw sockaddr bytes. */
const bindSocket: (fd: number, addr: Uint8Array, addrlen: number) => number = bind('int bind(int sockfd, const uint8_t *addr, uint32_t addrlen)');
// Exported under its C name; the module's own lazy binder is also called `bind`.
export { bindSocket as bind };

/**
 * `int connect(int sockfd, const struct sockaddr *addr, socklen_t addrlen)`: `addr` holds the raw
 * sockaddr bytes, `addrlen` their exact length (a Linux abstract name is exactly that long).
 */
export const connect: (fd: number, addr: Uint8Array, addrlen: number) => number = bind('int connect(int sockfd, const uint8_t *addr, uint32_t addrlen)');

/** `int getpeereid(int s, uid_t *euid, gid_t *egid)` (macOS, the BSDs): the peer's effective uid and gid. */
export const getpeereid: (fd: number, euid: Uint32Array, egid: Uint32Array) => number = bind('int getpeereid(int s, _Out_ uint32_t *euid, _Out_ uint32_t *egid)');

/** `int fchmodat(int dirfd, const char *pathname, mode_t mode, int flags)`: chmod relative to an open directory. */
export const fchmodat: (dirfd: number, path: string, mode: number, flags: number) => number = bind(
  `int fchmodat(int dirfd, const char *pathname, ${isDarwin ? 'uint16_t' : 'uint32_t'} mode, int flags)`,
);

/** `int listen(int sockfd, int backlog)`. */
export const listen: (fd: number, backlog: number) => number = bind('int listen(int sockfd, int backlog)');

/**
 * `ssize_t sendmsg(int sockfd, const struct msghdr *msg, int flags)`. `msg` is the native address
 * (koffi.alloc) of a {@link MSGHDR}-shaped header whose iovec and control pointers are native too.
 */
export const sendmsg: (fd: number, msg: bigint, flags: number) => number = bind('intptr_t sendmsg(int sockfd, void *msg, int flags)');

/**
 * `ssize_t recvmsg(int sockfd, struct msghdr *msg, int flags)`. `msg` as for {@link sendmsg}; the
 * kernel writes the data, the control messages, `msg_controllen` and `msg_flags` through it.
 */
export const recvmsg: (fd: number, msg: bigint, flags: number) => number = bind('intptr_t recvmsg(int sockfd, void *msg, int flags)');

/** The calling thread's `errno`, read right after a failed call. */
export function errno(): number {
  return koffi.errno();
}
