/**
 * Windows side of `listPipes`: the entries of `\\.\pipe\`, as FindFirstFileW / FindNextFileW give
 * them. Listing opens no pipe, so no server sees a connection.
 */
import { PipeError, isPipeError, win32Error } from '../errors.js';
import type { PipeInfo } from '../list.js';
import * as k32 from './kernel32.js';

/**
 * The entries FindFirstFileW / FindNextFileW give for `pattern` (e.g. `\\.\pipe\*`), each with
 * `nFileSizeLow` (for a pipe: its instance count). An empty list where nothing matches.
 * @throws PipeError where the system cannot list them (Wine 8 and 10: ERROR_BAD_DEV_TYPE, 66, `ENOTSUP`).
 */
export function findFiles(pattern: string): { name: string; sizeLow: number }[] {
  const data = Buffer.alloc(k32.WIN32_FIND_DATAW_SIZE);
  const find = k32.FindFirstFileW(pattern, data);
  if (find === k32.INVALID_HANDLE_VALUE) {
    const e = k32.GetLastError();
    if (e === k32.WIN32_ERRORS.ERROR_FILE_NOT_FOUND) return [];
    throw win32Error(e, 'FindFirstFileW', pattern);
  }
  const out: { name: string; sizeLow: number }[] = [];
  // Ownership: `find` is ours and closed with FindClose in the finally, whatever happens.
  try {
    for (;;) {
      const raw = data.subarray(k32.WIN32_FIND_DATAW_FILENAME, k32.WIN32_FIND_DATAW_FILENAME + 520).toString('utf16le');
      const nul = raw.indexOf('\0');
      const name = nul < 0 ? raw : raw.slice(0, nul);
      if (name) out.push({ name, sizeLow: data.readUInt32LE(k32.WIN32_FIND_DATAW_SIZE_LOW) });
      data.fill(0);
      if (!k32.FindNextFileW(find, data)) {
        const e = k32.GetLastError();
        if (e === k32.WIN32_ERRORS.ERROR_NO_MORE_FILES) break;
        throw win32Error(e, 'FindNextFileW', pattern);
      }
    }
  } finally {
    k32.FindClose(find);
  }
  return out;
}

const PIPE_DIR = '\\\\.\\pipe\\';

/**
 * Every pipe in `\\.\pipe\`, with its current instance count, sorted by name.
 * @throws PipeError `ENOTSUP` where the system cannot list them: Wine 8 and 10 fail FindFirstFileW there
 * with ERROR_BAD_DEV_TYPE (66), whose libuv text ("operation not supported on socket") says nothing
 * useful, so the message says what happened.
 */
export function listWindowsPipes(): PipeInfo[] {
  let found: { name: string; sizeLow: number }[];
  try {
    found = findFiles(`${PIPE_DIR}*`);
  } catch (err) {
    if (!isPipeError(err) || err.win32Errno !== k32.WIN32_ERRORS.ERROR_BAD_DEV_TYPE) throw err;
    throw new PipeError({
      code: 'ENOTSUP',
      syscall: 'FindFirstFileW',
      path: PIPE_DIR,
      win32Errno: err.win32Errno,
      cause: err,
      message: `ENOTSUP: this system cannot list named pipes (FindFirstFileW on ${PIPE_DIR} fails with ERROR_BAD_DEV_TYPE 66, as under Wine 8 and 10); a pipe can still be reached by its name`,
    });
  }
  return found.map((f) => ({ name: f.name, path: `${PIPE_DIR}${f.name}`, instances: f.sizeLow })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
