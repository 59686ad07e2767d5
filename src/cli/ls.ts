/**
 * `winpipe ls`: the pipes that can be found, one full path a line (each one `relay` and `send`
 * accept). No server pid: that needs a connection.
 *
 * - Windows: every pipe in `\\.\pipe\` (FindFirstFileW / FindNextFileW), with `-l` its current
 *   instance count. Where the system cannot list them (Wine 8 and 10 fail with ERROR_BAD_DEV_TYPE, 66),
 *   one line on stderr and exit 1.
 * - POSIX: the sockets in winpipe's own directories, the private one and the one for
 *   `security: 'everyone'` (found through `pipePath`, so they follow its rule).
 *
 * @module
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pipePath } from '../index.js';
import { win32Error } from '../errors.js';
import * as k32 from '../windows/kernel32.js';
import { UsageError, parseArgs } from './args.js';

/** `winpipe ls --help`. */
export const LS_HELP = `usage: winpipe ls [-l]

Lists the pipes that can be found, one path a line.
  Windows: every pipe in \\\\.\\pipe\\ (-l: with its number of instances)
  POSIX: the sockets in winpipe's directories (private, and the one for security 'everyone')

  -l            long: also the instance count (Windows)
  -h, --help    this help

Exit status: 0 listed, 1 the system cannot list pipes (code: message on stderr), 2 usage.`;

/** One pipe found: its full path and, on Windows, how many instances it has. */
export interface ListedPipe {
  path: string;
  instances?: number;
}

/**
 * Windows: the entries FindFirstFileW / FindNextFileW give for `pattern` (e.g. `\\.\pipe\*`),
 * each with `nFileSizeLow` (for a pipe: its instance count). An empty list where nothing matches.
 * @throws PipeError where the system cannot list them.
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

/** Windows: every pipe in `\\.\pipe\`. @throws PipeError where the system cannot list them (Wine 8 and 10). */
export function listWindowsPipes(): ListedPipe[] {
  return findFiles('\\\\.\\pipe\\*').map((f) => ({ path: `\\\\.\\pipe\\${f.name}`, instances: f.sizeLow }));
}

/** POSIX: the sockets in winpipe's directories (a directory not made yet holds none). */
export function listPosixPipes(): ListedPipe[] {
  const dirs = new Set([dirname(pipePath('x')), dirname(pipePath('x', { security: 'everyone' }))]);
  const out: ListedPipe[] = [];
  for (const dir of dirs) {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') continue;
      throw err;
    }
    for (const e of entries) if (e.isSocket() && e.name.endsWith('.sock')) out.push({ path: join(dir, e.name) });
  }
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

/** Runs `winpipe ls`; resolves with the exit status. */
export async function ls(argv: readonly string[]): Promise<number> {
  const parsed = parseArgs(argv, [{ names: ['l'], key: 'long' }]);
  if (parsed.flags.help) {
    process.stdout.write(`${LS_HELP}\n`);
    return 0;
  }
  if (parsed.operands.length > 0) {
    throw new UsageError('ls takes no operands');
  }
  const pipes = process.platform === 'win32' ? listWindowsPipes() : listPosixPipes();
  const long = parsed.flags.long === true;
  process.stdout.write(pipes.map((p) => (long && p.instances !== undefined ? `${p.path}\t${p.instances}` : p.path)).map((l) => `${l}\n`).join(''));
  return 0;
}
