// Contract tests for PipeError (src/errors.ts): portable codes, Node's errno numbers, Win32 originals.
import { constants as osConstants } from 'node:os';
import { getSystemErrorName, inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { PipeError, isPipeError } from '../src/index.js';
import { errnoName, fromNodeError, posixError, win32Error, win32ToCode } from '../src/errors.js';

describe('PipeError', () => {
  it('carries code, errno (as Node reports it), syscall, path and cause', () => {
    const cause = new Error('underlying');
    const err = new PipeError({ code: 'ENOENT', syscall: 'CreateFileW', path: '\\\\.\\pipe\\x', cause });
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('PipeError');
    expect(err.code).toBe('ENOENT');
    // The same number Node puts in err.errno for ENOENT on this platform.
    expect(getSystemErrorName(err.errno!)).toBe('ENOENT');
    expect(err.syscall).toBe('CreateFileW');
    expect(err.path).toBe('\\\\.\\pipe\\x');
    expect(err.cause).toBe(cause);
    expect(isPipeError(err)).toBe(true);
    expect(isPipeError(new Error('x'))).toBe(false);
    expect(isPipeError({ code: 'EPIPE' })).toBe(false);
  });

  it('library codes have no errno', () => {
    const err = new PipeError({ code: 'ERR_PIPE_CLOSED', syscall: 'read' });
    expect(err.errno).toBeUndefined();
    expect(err.win32Code).toBeUndefined();
  });

  it('an error without a Win32 original has no win32Code/win32Errno property, so printing it shows none', () => {
    const err = new PipeError({ code: 'EPIPE', syscall: 'write' });
    expect('win32Code' in err).toBe(false);
    expect('win32Errno' in err).toBe(false);
    expect(inspect(err)).not.toMatch(/win32/);
    const w = new PipeError({ code: 'EPIPE', syscall: 'WriteFile', win32Errno: 232 });
    expect(Object.keys(w)).toEqual(expect.arrayContaining(['win32Code', 'win32Errno']));
    expect(inspect(w)).toMatch(/ERROR_NO_DATA/);
  });

  it('maps Win32 errors to portable codes and keeps the original', () => {
    const cases: [number, string, string][] = [
      [2, 'ENOENT', 'ERROR_FILE_NOT_FOUND'],
      [5, 'EACCES', 'ERROR_ACCESS_DENIED'],
      [109, 'EPIPE', 'ERROR_BROKEN_PIPE'],
      [231, 'EBUSY', 'ERROR_PIPE_BUSY'],
      [232, 'EPIPE', 'ERROR_NO_DATA'],
      [121, 'ETIMEDOUT', 'ERROR_SEM_TIMEOUT'],
      [183, 'EEXIST', 'ERROR_ALREADY_EXISTS'],
      [995, 'ECANCELED', 'ERROR_OPERATION_ABORTED'],
    ];
    for (const [n, code, name] of cases) {
      const err = win32Error(n, 'WriteFile');
      expect([err.code, err.win32Code, err.win32Errno]).toEqual([code, name, n]);
      expect(win32ToCode(n)).toBe(code);
    }
    expect(win32Error(99999, 'X').code).toBe('UNKNOWN');
  });

  it('maps POSIX errno values to their names', () => {
    expect(errnoName(osConstants.errno.EPIPE)).toBe('EPIPE');
    const err = posixError(osConstants.errno.ENXIO, 'open', '/tmp/fifo');
    expect([err.code, err.syscall, err.path]).toEqual(['ENXIO', 'open', '/tmp/fifo']);
  });

  it("wraps Node's errors; libuv's EOF for a failed write (Windows ERROR_BROKEN_PIPE) becomes EPIPE", () => {
    const eof = Object.assign(new Error('write EOF'), { code: 'EOF', errno: -4095, syscall: 'write' });
    const err = fromNodeError(eof, 'write');
    expect(isPipeError(err)).toBe(true);
    expect([err.code, err.syscall, err.cause]).toEqual(['EPIPE', 'write', eof]);
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', syscall: 'read' });
    expect(fromNodeError(reset, 'read')).toMatchObject({ code: 'ECONNRESET', syscall: 'read', message: 'read ECONNRESET' });
  });
});
