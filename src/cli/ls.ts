/**
 * `winpipe ls`: the pipes that can be found, one full path a line (each one `relay` and `send`
 * accept): what `listPipes()` returns. No server pid: that needs a connection.
 *
 * - Windows: every pipe in `\\.\pipe\` (FindFirstFileW / FindNextFileW), with `-l` its current
 *   instance count. Where the system cannot list them (Wine 8 and 10 fail with ERROR_BAD_DEV_TYPE, 66),
 *   one line on stderr and exit 1.
 * - POSIX: the sockets in winpipe's own directories, the private one and the one for
 *   `security: 'everyone'` (found through `pipePath`, so they follow its rule).
 *
 * @module
 */
import { listPipes } from '../list.js';
import { MODE_FLAG, UsageError, modeOf, parseArgs } from './args.js';

export { findFiles } from '../windows/list.js';

/** `winpipe ls --help`. */
export const LS_HELP = `usage: winpipe ls [-l] [--mode byte|message]

Lists the pipes that can be found, one path a line.
  Windows: every pipe in \\\\.\\pipe\\ (-l: with its number of instances)
  POSIX: the sockets in winpipe's directories (private, and the one for security 'everyone')

  -l            long: also the instance count (Windows)
  --mode MODE   accepted, as by every command; pipes of both modes are listed (a
                pipe's mode cannot be seen without connecting to it)
  -h, --help    this help

Exit status: 0 listed, 1 the system cannot list pipes (code: message on stderr), 2 usage.`;

/** Runs `winpipe ls`; resolves with the exit status. */
export async function ls(argv: readonly string[]): Promise<number> {
  const parsed = parseArgs(argv, [{ names: ['l'], key: 'long' }, MODE_FLAG]);
  if (parsed.flags.help) {
    process.stdout.write(`${LS_HELP}\n`);
    return 0;
  }
  modeOf(parsed); // a bad --mode is a usage error here too; both modes are listed
  if (parsed.operands.length > 0) {
    throw new UsageError('ls takes no operands');
  }
  const pipes = await listPipes();
  const long = parsed.flags.long === true;
  process.stdout.write(
    pipes
      .map((p) => (long && p.instances !== undefined ? `${p.path}\t${p.instances}` : p.path))
      .map((l) => `${l}\n`)
      .join(''),
  );
  return 0;
}
