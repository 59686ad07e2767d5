/**
 * HANDLE <-> fd bridge. Node links the C runtime statically, so a descriptor made by ucrtbase's
 * `_open_osfhandle` lives in a different table and Node answers EBADF. libuv's own
 * `uv_open_osfhandle` / `uv_get_osfhandle`, exported by node.exe (and electron.exe), use the
 * table Node reads. `koffi.load(null)` is the host executable, whatever its file name.
 */
import koffi from 'koffi';
import { defineTypes, type HANDLE } from './kernel32.js';

let host: ReturnType<typeof koffi.load> | undefined;
let openFn: ((h: HANDLE) => number) | undefined;
let getFn: ((fd: number) => HANDLE) | undefined;

function exe(): ReturnType<typeof koffi.load> {
  defineTypes();
  host ??= koffi.load(null);
  return host;
}

/**
 * `int uv_open_osfhandle(uv_os_fd_t os_fd)`.
 * Ownership: the returned fd owns `handle`; close it with `fs.closeSync(fd)`, never CloseHandle.
 * Returns -1 on failure (the handle is then still the caller's).
 */
export function openOsfHandle(handle: HANDLE): number {
  openFn ??= exe().func('int uv_open_osfhandle(HANDLE os_fd)') as unknown as (h: HANDLE) => number;
  return openFn(handle);
}

/** `uv_os_fd_t uv_get_osfhandle(int fd)`: the HANDLE behind a Node fd (INVALID_HANDLE_VALUE if none). */
export function getOsfHandle(fd: number): HANDLE {
  getFn ??= exe().func('HANDLE uv_get_osfhandle(int fd)') as unknown as (fd: number) => HANDLE;
  return getFn(fd);
}
