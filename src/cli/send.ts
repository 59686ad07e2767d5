/**
 * `winpipe send`: stdin to the pipe, the reply to stdout.
 *
 * Byte mode: all of stdin is written, our side ends, and everything the server writes until it
 * closes is printed. On Windows a pipe has no half-close: once the bytes are read, libuv closes our
 * side after 50 ms without data (its "EOF timer"), which is when the server sees its end.
 * Message mode: stdin is sent as one message and the first message back is printed.
 *
 * @module
 */
import { connect, pipePath } from '../index.js';
import { MODE_FLAG, logger, modeOf, oneName, parseArgs } from './args.js';

/** `winpipe send --help`. */
export const SEND_HELP = `usage: winpipe send [-v] [--mode byte|message] NAME|PATH

Sends stdin to the pipe and prints the reply on stdout.
  byte mode (default): writes all of stdin, ends, prints what the server sends until it closes
  message mode: sends stdin as one message, prints the one message that comes back

  -v            verbose, on stderr
  --mode MODE   byte (default) or message
  -h, --help    this help

Exit status: 0 done, 1 a pipe error (code: message on stderr), 2 usage.`;

/** Runs `winpipe send`; resolves with the exit status. */
export async function send(argv: readonly string[]): Promise<number> {
  const parsed = parseArgs(argv, [{ names: ['v'], key: 'verbose' }, MODE_FLAG]);
  if (parsed.flags.help) {
    process.stdout.write(`${SEND_HELP}\n`);
    return 0;
  }
  const name = oneName(parsed);
  const mode = modeOf(parsed);
  pipePath(name); // a bad name is a usage error, before any system call
  const log = logger('send', parsed.flags.verbose === true);

  const parts: Buffer[] = [];
  for await (const chunk of process.stdin) parts.push(chunk as Buffer);
  const input = Buffer.concat(parts);
  log(`read ${input.length} bytes from stdin; connecting to ${pipePath(name)}`);

  const conn = await connect(name, { mode });
  try {
    await conn.writeMessage(input);
    if (mode === 'byte') conn.end();
    let got = 0;
    for await (const chunk of conn.messages()) {
      got += chunk.length;
      if (!process.stdout.write(chunk)) await new Promise((r) => process.stdout.once('drain', r));
      if (mode === 'message') break;
    }
    log(`received ${got} bytes`);
  } finally {
    conn.destroy();
  }
  return 0;
}
