// Linux inotify, for tests that must show a file was never opened: the kernel reports every open
// of the watched inode (IN_OPEN), by any path and any process, except an O_PATH one (which opens
// nothing). Bound with koffi here, not in src/posix/libc.ts: winpipe itself never watches files.
import koffi from 'koffi';
import * as libc from '../../src/posix/libc.js';

const IN_OPEN = 0x20;
const IN_NONBLOCK = 0o4000;
const IN_CLOEXEC = 0o2000000;

let bound: { init1: (flags: number) => number; addWatch: (fd: number, path: string, mask: number) => number } | undefined;
function inotify(): NonNullable<typeof bound> {
  if (!bound) {
    const lib = koffi.load('libc.so.6');
    bound = {
      init1: lib.func('int inotify_init1(int flags)') as never,
      addWatch: lib.func('int inotify_add_watch(int fd, const char *pathname, uint32_t mask)') as never,
    };
  }
  return bound;
}

/** Whether inotify is here (Linux). Elsewhere tests that need it assert the error code only. */
export const hasInotify = process.platform === 'linux';

export interface OpenWatch {
  /**
   * How many opens of the watched file were reported since the watch began (or the last call).
   * inotify merges identical events queued back to back, so several opens may count as one:
   * 0 against not 0 is exact, larger numbers only when read one open at a time.
   */
  opens(): number;
  close(): void;
}

/** Starts counting the opens of `path`'s inode (the inode, not the name: a rename keeps the watch). */
export function watchOpens(path: string): OpenWatch {
  const { init1, addWatch } = inotify();
  const fd = init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) throw new Error(`inotify_init1 failed: errno ${libc.errno()}`);
  if (addWatch(fd, path, IN_OPEN) < 0) {
    const e = libc.errno();
    libc.close(fd);
    throw new Error(`inotify_add_watch(${path}) failed: errno ${e}`);
  }
  const buf = Buffer.alloc(4096);
  return {
    opens(): number {
      let n = 0;
      for (;;) {
        const got = libc.read(fd, buf, buf.length);
        // EAGAIN: nothing (more) queued.
        if (got <= 0) return n;
        // struct inotify_event { int wd; uint32_t mask; uint32_t cookie; uint32_t len; char name[len]; }
        for (let off = 0; off < got; off += 16 + buf.readUInt32LE(off + 12)) if (buf.readUInt32LE(off + 4) & IN_OPEN) n++;
      }
    },
    close(): void {
      libc.close(fd);
    },
  };
}
