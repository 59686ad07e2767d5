// winpipe/posix: the typed libc layer, used raw (POSIX only; vitest.config.ts runs this folder
// on Linux and macOS).
import { closeSync, constants as fsc, fstatSync, mkdtempSync, openSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as libc from '../../src/posix/libc.js';

describe('winpipe/posix', () => {
  it('pipe (and pipe2 with O_CLOEXEC on Linux), write, read, close', () => {
    const fds = new Int32Array(2);
    if (process.platform === 'linux') {
      expect(libc.pipe2(fds, libc.O_CLOEXEC)).toBe(0);
      expect(libc.fcntl(fds[0]!, libc.F_GETFD, 0) & libc.FD_CLOEXEC).toBe(libc.FD_CLOEXEC);
    } else {
      expect(libc.pipe(fds)).toBe(0);
    }
    expect(libc.write(fds[1]!, Buffer.from('raw'), 3)).toBe(3);
    const buf = Buffer.alloc(8);
    expect(libc.read(fds[0]!, buf, 8)).toBe(3);
    expect(buf.subarray(0, 3).toString()).toBe('raw');
    expect(libc.close(fds[1]!)).toBe(0);
    expect(libc.read(fds[0]!, buf, 8)).toBe(0);
    expect(libc.close(fds[0]!)).toBe(0);
  });

  it('reports failures through errno', () => {
    expect(libc.close(-1)).toBe(-1);
    expect(libc.errno()).toBe(osConstants.errno.EBADF);
  });

  it('write to a pipe with no reader fails with EPIPE instead of killing the process', () => {
    const fds = new Int32Array(2);
    expect(libc.pipe(fds)).toBe(0);
    libc.close(fds[0]!);
    expect(libc.write(fds[1]!, Buffer.from('x'), 1)).toBe(-1);
    expect(libc.errno()).toBe(osConstants.errno.EPIPE);
    libc.close(fds[1]!);
  });

  it("open flags are the platform's (as Node's fs.constants, compiled from the same headers)", () => {
    expect(libc.O_NOFOLLOW).toBe(fsc.O_NOFOLLOW);
    expect(libc.O_NOCTTY).toBe(fsc.O_NOCTTY);
    expect(libc.O_NONBLOCK).toBe(fsc.O_NONBLOCK);
    expect([libc.O_RDONLY, libc.O_WRONLY, libc.O_RDWR]).toEqual([fsc.O_RDONLY, fsc.O_WRONLY, fsc.O_RDWR]);
  });

  it('open: O_CLOEXEC sets close-on-exec, O_NOFOLLOW refuses a symlink (ELOOP), Linux O_PATH names it instead', () => {
    const dir = mkdtempSync(join(tmpdir(), 'winpipe-open-'));
    try {
      const file = join(dir, 'file');
      writeFileSync(file, 'x');
      const link = join(dir, 'link');
      symlinkSync(file, link);
      const fd = libc.open(file, libc.O_RDONLY | libc.O_CLOEXEC);
      expect(fd).toBeGreaterThanOrEqual(0);
      expect(libc.fcntl(fd, libc.F_GETFD, 0) & libc.FD_CLOEXEC).toBe(libc.FD_CLOEXEC);
      libc.close(fd);
      expect(libc.open(link, libc.O_RDONLY | libc.O_NOFOLLOW | libc.O_CLOEXEC)).toBe(-1);
      expect(libc.errno()).toBe(osConstants.errno.ELOOP);
      expect(libc.open(join(dir, 'missing'), libc.O_RDONLY | libc.O_CLOEXEC)).toBe(-1);
      expect(libc.errno()).toBe(osConstants.errno.ENOENT);
      if (process.platform === 'linux') {
        const pathFd = libc.open(link, libc.O_PATH | libc.O_NOFOLLOW | libc.O_CLOEXEC);
        expect(pathFd).toBeGreaterThanOrEqual(0);
        expect(fstatSync(pathFd).isSymbolicLink()).toBe(true);
        libc.close(pathFd);
      } else {
        expect(libc.O_PATH).toBe(0);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('mkfifo creates a FIFO with the requested mode', () => {
    const dir = mkdtempSync(join(tmpdir(), 'winpipe-fifo-'));
    try {
      const path = join(dir, 'f');
      expect(libc.mkfifo(path, 0o600)).toBe(0);
      const st = statSync(path);
      expect(st.isFIFO()).toBe(true);
      expect(st.mode & 0o777).toBe(0o600);
      expect(libc.mkfifo(path, 0o600)).toBe(-1);
      expect(libc.errno()).toBe(osConstants.errno.EEXIST);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.runIf(libc.fstatat !== undefined)('fstatat reads st_mode and st_uid relative to an open directory, and describes a symlink instead of following it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'winpipe-fstatat-'));
    const fd = openSync(dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
    try {
      writeFileSync(join(dir, 'f'), 'x', { mode: 0o640 });
      symlinkSync('f', join(dir, 'l'));
      const st = new Uint32Array(libc.STAT_WORDS);
      const rc = libc.fstatat!(fd, 'f', st, libc.AT_SYMLINK_NOFOLLOW);
      if (rc === -2) return; // an older glibc without the symbol: callers fall back to lstat
      expect(rc).toBe(0);
      expect(st[libc.STAT_MODE_WORD]! & 0o170777).toBe(0o100640);
      expect(st[libc.STAT_UID_WORD]).toBe(process.getuid!());
      expect(libc.fstatat!(fd, 'l', st, libc.AT_SYMLINK_NOFOLLOW)).toBe(0);
      expect(st[libc.STAT_MODE_WORD]! & 0o170000).toBe(0o120000);
      expect(libc.fstatat!(fd, 'missing', st, libc.AT_SYMLINK_NOFOLLOW)).toBe(-1);
      expect(libc.errno()).toBe(osConstants.errno.ENOENT);
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
