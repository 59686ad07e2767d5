/**
 * `winpipe send`: stdin to the pipe, the reply to stdout.
 *
 * Byte mode: all of stdin is written, our side ends, and everything the server writes until it
 * closes is printed. On Windows a pipe has no half-close: once the bytes are read, libuv closes our
 * side after 50 ms without data (its "EOF timer"), which is when the server sees its end.
 * Message mode: stdin is sent as one message and the first message back is printed.
 *
 * A server that never answers (`serve --print`, a log sink) would keep `send` waiting: `--no-reply`
 * sends and exits once everything is written, `--timeout MS` gives up (exit 1, `ETIMEDOUT`) when the
 * exchange has not finished within MS.
 *
 * @module
 */
import { connect, pipePath } from '../index.js';
import { PipeError } from '../errors.js';
import { MODE_FLAG, logger, modeOf, oneName, parseArgs, timeoutOf } from './args.js';

/** `winpipe send --help`. */
export const SEND_HELP = `usage: winpipe send [-v] [--no-reply] [--timeout MS] [--mode byte|message] NAME|PATH

Sends stdin to the pipe and prints the reply on stdout.
  byte mode (default): writes all of stdin, ends, prints what the server sends until it closes
  message mode: sends stdin as one message, prints the one message that comes back

  --no-reply    do not wait for an answer: exit once stdin is written (for a server
                that never answers, such as serve --print)
  --timeout MS  give up when connecting, sending and the answer take longer than MS
                milliseconds in all (exit 1, ETIMEDOUT); the default is to wait
  -v            verbose, on stderr
  --mode MODE   byte (default) or message
  -h, --help    this help

Exit status: 0 done, 1 a pipe error or the timeout (code: message on stderr), 2 usage.`;

/** Runs `winpipe send`; resolves with the exit status. */
export async function send(argv: readonly string[]): Promise<number> {
  const parsed = parseArgs(argv, [{ names: ['v'], key: 'verbose' }, { names: ['no-reply'], key: 'noReply' }, { names: ['timeout'], key: 'timeout', value: true }, MODE_FLAG]);
  if (parsed.flags.help) {
    process.stdout.write(`${SEND_HELP}\n`);
    return 0;
  }
  const name = oneName(parsed);
  const mode = modeOf(parsed);
  const timeout = timeoutOf(parsed);
  const noReply = parsed.flags.noReply === true;
  pipePath(name); // a bad name is a usage error, before any system call
  const log = logger('send', parsed.flags.verbose === true);

  const parts: Buffer[] = [];
  for await (const chunk of process.stdin) parts.push(chunk as Buffer);
  const input = Buffer.concat(parts);
  log(`read ${input.length} bytes from stdin; connecting to ${pipePath(name)}`);

  // The clock starts once stdin has ended: how long the user takes to type is not the pipe's fault.
  const expired = timeout === undefined ? undefined : AbortSignal.timeout(timeout);
  const timedOut = (): PipeError =>
    new PipeError({ code: 'ETIMEDOUT', syscall: 'send', path: pipePath(name), message: `ETIMEDOUT: no answer from ${pipePath(name)} within ${timeout} ms (--timeout)` });
  let conn;
  try {
    conn = await connect(name, { mode, ...(expired ? { signal: expired } : {}) });
  } catch (err) {
    if (expired?.aborted) throw timedOut();
    throw err;
  }
  // Ownership: conn is destroyed in the finally, whichever way the exchange ends. On expiry it is
  // destroyed at once, which ends the write or the read in progress; the finally reports it.
  const onExpired = (): void => void conn.destroy();
  expired?.addEventListener('abort', onExpired, { once: true });
  try {
    const writing = (async () => {
      await conn.writeMessage(input);
      if (mode === 'byte') await new Promise<void>((resolve) => conn.end(resolve));
    })();
    if (noReply) {
      await writing;
      if (expired?.aborted) throw timedOut();
      log(`sent ${input.length} bytes; not waiting for an answer (--no-reply)`);
      return 0;
    }
    // Read while writing: a server that answers as it reads must not fill the pipe both ways.
    const reading = (async () => {
      let got = 0;
      for await (const chunk of conn.messages()) {
        got += chunk.length;
        if (!process.stdout.write(chunk)) await new Promise((r) => process.stdout.once('drain', r));
        if (mode === 'message') break;
      }
      log(`received ${got} bytes`);
    })();
    await Promise.all([writing, reading]);
    if (expired?.aborted) throw timedOut();
  } catch (err) {
    if (expired?.aborted) throw timedOut();
    throw err;
  } finally {
    expired?.removeEventListener('abort', onExpired);
    conn.destroy();
  }
  return 0;
}
