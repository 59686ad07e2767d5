/**
 * The Windows backend: anonymous pipes from kernel32 `CreatePipe`, bridged into Node's fd table
 * with libuv's `uv_open_osfhandle`, read and written with `ReadFile` / `WriteFile`.
 *
 * CreatePipe handles are synchronous (no FILE_FLAG_OVERLAPPED). That is what a child expects on
 * its stdio, and libuv reads such a handle for `net.Socket` through the Windows thread pool, so
 * the async path never parks a libuv pool thread.
 */
import { closeSync } from 'node:fs';
import type { Backend, RawEnd } from '../backend.js';
import { PipeError, WIN32_ERRORS, win32Error } from '../errors.js';
import { getOsfHandle, openOsfHandle } from './crt.js';
import * as k32 from './kernel32.js';
import * as nt from './ntdll.js';

const { ERROR_BROKEN_PIPE, ERROR_NO_DATA } = WIN32_ERRORS;

/**
 * True when the other end of the pipe behind `handle` has closed its last handle. A query
 * only: nothing is written, so a live reader sees nothing. False when the query itself fails.
 */
function peerGone(handle: k32.HANDLE): boolean {
  const info = new Uint8Array(nt.FILE_PIPE_LOCAL_INFORMATION_SIZE);
  let status: number;
  try {
    status = nt.NtQueryInformationFile(handle, new Uint8Array(nt.IO_STATUS_BLOCK_SIZE), info, info.byteLength, nt.FilePipeLocalInformation);
  } catch {
    // This runs inside a libuv write callback, where a throw would end the process.
    return false;
  }
  if (status !== 0) return false;
  return new DataView(info.buffer).getUint32(nt.NAMED_PIPE_STATE_OFFSET, true) === nt.FILE_PIPE_CLOSING_STATE;
}

/** Wraps `handle` in a Node fd. Ownership: on success the fd owns the handle; on failure the handle is closed. */
function adopt(handle: k32.HANDLE): RawEnd {
  const fd = openOsfHandle(handle);
  if (fd < 0) {
    k32.CloseHandle(handle);
    throw win32Error(WIN32_ERRORS.ERROR_TOO_MANY_OPEN_FILES, 'uv_open_osfhandle');
  }
  return { fd, handle };
}

/** The smallest buffer `createPipe({ size })` asks for: one page, Linux's own floor. */
const MIN_PIPE_SIZE = 4096;

export const windowsBackend: Backend = {
  platform: 'windows',

  createPipe(size) {
    const r: k32.Out<k32.HANDLE> = [0n];
    const w: k32.Out<k32.HANDLE> = [0n];
    // NULL security attributes: both handles are created non-inheritable.
    // A floor of one page, as Linux has: Windows (and Wine) take a tiny nSize at its word, and a
    // 2-byte writeSync into a 1-byte pipe would block until someone reads.
    const nSize = size === undefined ? 0 : Math.max(size, MIN_PIPE_SIZE);
    if (!k32.CreatePipe(r, w, null, nSize)) throw win32Error(k32.GetLastError(), 'CreatePipe');
    let reader: RawEnd;
    try {
      reader = adopt(r[0]);
    } catch (err) {
      k32.CloseHandle(w[0]);
      throw err;
    }
    let writer: RawEnd;
    try {
      writer = adopt(w[0]);
    } catch (err) {
      closeSync(reader.fd);
      throw err;
    }
    return [reader, writer];
  },

  readSync(raw, into) {
    const got: k32.Out<number> = [0];
    for (;;) {
      if (k32.ReadFile(raw.handle, into, into.byteLength, got, null)) {
        // A zero-byte success comes from the peer's zero-byte WriteFile: not end of file.
        if (got[0] > 0) return got[0];
        continue;
      }
      const e = k32.GetLastError();
      if (e === ERROR_BROKEN_PIPE) return 0;
      throw win32Error(e, 'ReadFile');
    }
  },

  writeSync(raw, from) {
    const put: k32.Out<number> = [0];
    let done = 0;
    while (done < from.byteLength) {
      const rest = done === 0 ? from : from.subarray(done);
      if (!k32.WriteFile(raw.handle, rest, rest.byteLength, put, null)) {
        const e = k32.GetLastError();
        // ERROR_NO_DATA or ERROR_BROKEN_PIPE (reader gone) both map to EPIPE in win32ToCode.
        throw win32Error(e, 'WriteFile');
      }
      done += put[0];
    }
    return done;
  },

  asyncWriteError(raw, err) {
    // libuv 1.49 (Node 22) moved ERROR_NO_DATA from UV_EPIPE to UV_EAGAIN, for reads on a
    // PIPE_NOWAIT handle. Its write paths were meant to keep EPIPE (uv_translate_write_sys_error,
    // libuv 1.49.1), but a write completed later, as every write on a synchronous pipe is (the
    // thread pool writes it), still goes through the plain translation: "reader gone" arrives as
    // EAGAIN, with the Win32 code lost. For WriteFile, ERROR_NO_DATA is "the pipe is being
    // closed"; the pipe's own state confirms it before we say EPIPE, and any other state (or a
    // failed query) keeps libuv's error.
    if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || !peerGone(raw.handle)) return err;
    return new PipeError({ code: 'EPIPE', syscall: (err as NodeJS.ErrnoException).syscall ?? 'write', win32Errno: ERROR_NO_DATA, cause: err });
  },

  getInheritable(raw) {
    const flags: k32.Out<number> = [0];
    if (!k32.GetHandleInformation(raw.handle, flags)) throw win32Error(k32.GetLastError(), 'GetHandleInformation');
    return (flags[0] & k32.HANDLE_FLAG_INHERIT) !== 0;
  },

  setInheritable(raw, inheritable) {
    if (!k32.SetHandleInformation(raw.handle, k32.HANDLE_FLAG_INHERIT, inheritable ? k32.HANDLE_FLAG_INHERIT : 0)) {
      throw win32Error(k32.GetLastError(), 'SetHandleInformation');
    }
  },

  // Each end has its own HANDLE.
  pairSharesIdentity: false,

  identity(raw) {
    return String(getOsfHandle(raw.fd));
  },

  unadopted(raw, identity) {
    // The number must still map to the HANDLE we made. Windows offers no mark of an adopting
    // event loop; end-gc.ts also looks for a live stream on the fd.
    return identity === String(raw.handle) && String(getOsfHandle(raw.fd)) === identity;
  },

  close(raw) {
    // Ownership: the fd owns the handle (uv_open_osfhandle); closing the fd closes both, once.
    closeSync(raw.fd);
  },
};
