// The Windows backend's correction of libuv's write errors (src/windows/pipe.ts asyncWriteError).
// libuv 1.49 and later (node.exe 22) report a completed write that found the reader gone as
// EAGAIN (ERROR_NO_DATA); the pipe's own state turns it back into EPIPE, and only then.
import { describe, expect, it } from 'vitest';
import { isPipeError, type PipeError } from '../../src/errors.js';
import { windowsBackend } from '../../src/windows/pipe.js';

/** The error Node builds from libuv's UV_EAGAIN for a write. */
function libuvEagain(): NodeJS.ErrnoException {
  return Object.assign(new Error('write EAGAIN'), { code: 'EAGAIN', errno: -4088, syscall: 'write' });
}

describe('windowsBackend.asyncWriteError', () => {
  it("an EAGAIN on a pipe whose reader is gone is EPIPE with win32Code ERROR_NO_DATA, libuv's error as cause", () => {
    const [reader, writer] = windowsBackend.createPipe(undefined);
    windowsBackend.close(reader);
    try {
      const original = libuvEagain();
      const err = windowsBackend.asyncWriteError!(writer, original);
      expect(isPipeError(err)).toBe(true);
      expect(err).toMatchObject({ code: 'EPIPE', syscall: 'write', win32Code: 'ERROR_NO_DATA' });
      expect((err as PipeError).cause).toBe(original);
    } finally {
      windowsBackend.close(writer);
    }
  });

  it('an EAGAIN while the reader is still there is left as it is', () => {
    const [reader, writer] = windowsBackend.createPipe(undefined);
    try {
      const original = libuvEagain();
      expect(windowsBackend.asyncWriteError!(writer, original)).toBe(original);
      // The check is a query: the pipe carries bytes as before.
      windowsBackend.writeSync(writer, Buffer.from('x'));
      expect(windowsBackend.readSync(reader, Buffer.alloc(8))).toBe(1);
    } finally {
      windowsBackend.close(reader);
      windowsBackend.close(writer);
    }
  });

  it('any other error is left as it is, reader or not', () => {
    const [reader, writer] = windowsBackend.createPipe(undefined);
    windowsBackend.close(reader);
    try {
      const other = Object.assign(new Error('write ECONNRESET'), { code: 'ECONNRESET', syscall: 'write' });
      expect(windowsBackend.asyncWriteError!(writer, other)).toBe(other);
    } finally {
      windowsBackend.close(writer);
    }
  });
});
