/**
 * Windows side of `adoptEnd`: an inherited HANDLE value, checked without changing it, then made
 * non-inheritable and given an fd in Node's own table (`uv_open_osfhandle`), which owns it.
 *
 * A handle from `CreatePipe` (ours, .NET's `AnonymousPipeServerStream`) is synchronous and is used
 * as `createPipe()`'s ends are. An overlapped one (a channel end, a named pipe opened with
 * `FILE_FLAG_OVERLAPPED`) must not be given a NULL OVERLAPPED: its `readSync` / `writeSync` go
 * through {@link overlappedBackend}, which waits for an operation of its own.
 */
import koffi from 'koffi';
import type { Backend, RawEnd } from '../backend.js';
import { PipeError, WIN32_ERRORS, win32Error } from '../errors.js';
import { openOsfHandle } from './crt.js';
import * as k32 from './kernel32.js';
import * as nt from './ntdll.js';
import { NativeBuffer } from './native-buffer.js';
import { windowsBackend } from './pipe.js';

const { ERROR_BROKEN_PIPE, ERROR_IO_PENDING, ERROR_TOO_MANY_OPEN_FILES } = WIN32_ERRORS;

/** One ULONG of file information, or undefined where the query fails (not that kind of file). */
function queryUlong(handle: k32.HANDLE, infoClass: number): number | undefined {
  const out = new Uint8Array(4);
  const status = nt.NtQueryInformationFile(handle, new Uint8Array(nt.IO_STATUS_BLOCK_SIZE), out, 4, infoClass);
  return status === 0 ? new DataView(out.buffer).getUint32(0, true) : undefined;
}

/** True when `handle` is a pipe: a socket is `FILE_TYPE_PIPE` as well, but has no pipe information. */
function isPipe(handle: k32.HANDLE): boolean {
  if (k32.GetFileType(handle) !== k32.FILE_TYPE_PIPE) return false;
  const info = new Uint8Array(nt.FILE_PIPE_LOCAL_INFORMATION_SIZE);
  return nt.NtQueryInformationFile(handle, new Uint8Array(nt.IO_STATUS_BLOCK_SIZE), info, info.byteLength, nt.FilePipeLocalInformation) === 0;
}

/**
 * Checks `handle` and takes it over: open (`EBADF`), a pipe (`EINVAL`), with the access the
 * direction needs (`EINVAL`). Nothing is changed before every check passed; then inheritance is
 * cleared and `uv_open_osfhandle` makes the fd.
 * Ownership: on success the fd owns `handle` (close the fd, never the handle); on failure the
 * handle is left as it was, inheritance included.
 */
export function adoptWindowsHandle(handle: bigint, direction: 'r' | 'w'): { backend: Backend; raw: RawEnd } {
  const flags: k32.Out<number> = [0];
  if (!k32.GetHandleInformation(handle, flags)) throw adoptError(win32Error(k32.GetLastError(), 'GetHandleInformation'), handle);
  if (!isPipe(handle)) throw new PipeError({ code: 'EINVAL', syscall: 'adoptEnd', message: `EINVAL: handle ${handle} is not a pipe` });
  const access = queryUlong(handle, nt.FileAccessInformation);
  const needed = direction === 'r' ? nt.FILE_READ_DATA : nt.FILE_WRITE_DATA;
  if (access !== undefined && (access & needed) === 0) {
    throw new PipeError({ code: 'EINVAL', syscall: 'adoptEnd', message: `EINVAL: handle ${handle} cannot ${direction === 'r' ? 'read' : 'write'} (is it the other end?)` });
  }
  const mode = queryUlong(handle, nt.FileModeInformation);
  const overlapped = mode !== undefined && (mode & (nt.FILE_SYNCHRONOUS_IO_ALERT | nt.FILE_SYNCHRONOUS_IO_NONALERT)) === 0;
  const inherited = (flags[0] & k32.HANDLE_FLAG_INHERIT) !== 0;
  // Our children must not get it: libuv spawns with bInheritHandles=TRUE.
  if (inherited && !k32.SetHandleInformation(handle, k32.HANDLE_FLAG_INHERIT, 0)) throw win32Error(k32.GetLastError(), 'SetHandleInformation');
  const fd = openOsfHandle(handle);
  if (fd < 0) {
    // Not taken: leave it as it came.
    if (inherited) k32.SetHandleInformation(handle, k32.HANDLE_FLAG_INHERIT, k32.HANDLE_FLAG_INHERIT);
    throw win32Error(ERROR_TOO_MANY_OPEN_FILES, 'uv_open_osfhandle');
  }
  // Ownership: the fd owns the handle from here (uv_open_osfhandle); the end closes the fd.
  return { backend: overlapped ? overlappedBackend : windowsBackend, raw: { fd, handle } };
}

/** ERROR_INVALID_HANDLE says "not open": EBADF, with the value in the message. */
function adoptError(err: PipeError, handle: bigint): PipeError {
  if (err.code !== 'EBADF') return err;
  return new PipeError({ code: 'EBADF', syscall: err.syscall, win32Errno: err.win32Errno, message: `EBADF: handle ${handle} is not open in this process`, cause: err });
}

/** sizeof(OVERLAPPED) on 64-bit Windows, and where its `hEvent` lives. */
const OVERLAPPED_SIZE = 32;
const HEVENT_OFFSET = 24;

/**
 * One blocking ReadFile / WriteFile on an overlapped handle: its own OVERLAPPED and event, waited
 * for here. The event's low bit keeps the completion from being queued to a port the handle may
 * belong to (libuv's, once it is read asynchronously, or the parent's). The OVERLAPPED, the event
 * and the native buffer live until the wait has seen the operation complete.
 * Returns the bytes moved, or the Win32 error.
 */
function overlappedIo(handle: k32.HANDLE, write: boolean, bytes: Uint8Array): { n: number; error: number } {
  const event = k32.CreateEventW(null, true, false, null);
  if (event === 0n) return { n: 0, error: k32.GetLastError() };
  const ov = koffi.alloc('uint8_t', OVERLAPPED_SIZE) as bigint;
  const buffer = new NativeBuffer(bytes.byteLength);
  try {
    const view = new DataView(koffi.view(ov, OVERLAPPED_SIZE));
    for (let i = 0; i < OVERLAPPED_SIZE; i += 8) view.setBigUint64(i, 0n, true);
    view.setBigUint64(HEVENT_OFFSET, event | 1n, true);
    if (write) buffer.write(bytes);
    const done: k32.Out<number> = [0];
    const ok = write ? k32.WriteFile(handle, buffer.ptr, bytes.byteLength, done, ov) : k32.ReadFile(handle, buffer.ptr, bytes.byteLength, done, ov);
    let error = ok ? 0 : k32.GetLastError();
    if (error === ERROR_IO_PENDING) {
      // Wait on the event itself (the OVERLAPPED's copy carries the tag bit).
      k32.WaitForSingleObject(event, k32.INFINITE);
      error = 0;
    }
    // Complete now, at once or after the wait: the count comes from the OVERLAPPED.
    if (error === 0 && !k32.GetOverlappedResult(handle, ov, done, false)) error = k32.GetLastError();
    if (error === 0 && !write) bytes.set(buffer.read(done[0]));
    return { n: done[0], error };
  } finally {
    buffer.free();
    koffi.free(ov);
    k32.CloseHandle(event);
  }
}

/** {@link windowsBackend} for an overlapped handle: the same, but sync reads and writes bring their own OVERLAPPED. */
export const overlappedBackend: Backend = {
  ...windowsBackend,

  readSync(raw, into) {
    for (;;) {
      const { n, error } = overlappedIo(raw.handle, false, into);
      if (error === ERROR_BROKEN_PIPE) return 0;
      if (error !== 0) throw win32Error(error, 'ReadFile');
      // A zero-byte success comes from the peer's zero-byte write: not end of file.
      if (n > 0) return n;
    }
  },

  writeSync(raw, from) {
    let done = 0;
    while (done < from.byteLength) {
      const { n, error } = overlappedIo(raw.handle, true, done === 0 ? from : from.subarray(done));
      if (error !== 0) throw win32Error(error, 'WriteFile');
      done += n;
    }
    return done;
  },
};
