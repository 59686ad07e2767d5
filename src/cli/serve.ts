/**
 * `winpipe serve`: an echo (default) or print server, for trying clients out. Runs until SIGINT
 * or SIGTERM; the address it listens on goes to stderr.
 *
 * @module
 */
import { createServer } from '../index.js';
import type { PipeMode } from '../options.js';
import type { PipeConnection } from '../types.js';
import { MODE_FLAG, describeError, exitNow, logger, modeOf, oneName, parseArgs } from './args.js';

/** `winpipe serve --help`. */
export const SERVE_HELP = `usage: winpipe serve [--print] [-v] [--mode byte|message] NAME

Serves NAME until SIGINT or SIGTERM; prints "listening on ADDRESS" on stderr.
  default   echo: every byte (message) a client sends is sent back; a client's end ends
            the reply (Windows byte pipes: the client closing)
  --print   print what clients send on stdout (message mode: one message per line)
            and send nothing back

  -v            one line per connection on stderr
  --mode MODE   byte (default) or message
  -h, --help    this help

Exit status: 0 stopped by a signal, 1 a pipe error (code: message on stderr), 2 usage.`;

/** Errors that mean the client has gone, whatever it had left to say or to read. */
const LEFT = new Set(['ECONNRESET', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE']);

async function handle(conn: PipeConnection, mode: PipeMode, print: boolean): Promise<void> {
  for await (const msg of conn.messages()) {
    if (print) {
      const out = mode === 'message' ? Buffer.concat([msg, Buffer.from('\n')]) : msg;
      if (!process.stdout.write(out)) await new Promise((r) => process.stdout.once('drain', r));
    } else {
      await conn.writeMessage(msg);
    }
  }
  conn.end();
}

/** Runs `winpipe serve`; resolves with the exit status once a signal stops it. */
export async function serve(argv: readonly string[]): Promise<number> {
  const parsed = parseArgs(argv, [{ names: ['print'], key: 'print' }, { names: ['v'], key: 'verbose' }, MODE_FLAG]);
  if (parsed.flags.help) {
    process.stdout.write(`${SERVE_HELP}\n`);
    return 0;
  }
  const name = oneName(parsed);
  const mode = modeOf(parsed);
  const print = parsed.flags.print === true;
  const log = logger('serve', parsed.flags.verbose === true);
  const live = new Set<PipeConnection>();

  const server = createServer({ mode }, (conn) => {
    live.add(conn);
    log(`client connected (pid ${conn.clientProcessId ?? 'unknown'})`);
    conn.on('close', () => {
      live.delete(conn);
      log('client gone');
    });
    handle(conn, mode, print).catch((err: unknown) => {
      conn.destroy();
      // A client that exits with our answer unread resets the connection (POSIX: ECONNRESET on
      // our read; either side: EPIPE on our write). That is how clients leave (`relay -ei`, a
      // killed `send`), not a failure of the server: said only with -v.
      const code = (err as { code?: unknown } | null)?.code;
      if (typeof code === 'string' && LEFT.has(code)) return log(`client left (${code})`);
      // Any other failure of one client is reported; the server goes on.
      process.stderr.write(`${describeError(err)}\n`);
    });
  });
  server.on('error', (err: unknown) => process.stderr.write(`${describeError(err)}\n`));
  await server.listen(name);
  process.stderr.write(`listening on ${server.address()}\n`);

  await new Promise<void>((resolve) => {
    const stop = (sig: NodeJS.Signals): void => {
      log(`${sig}: stopping`);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  // close() removes the name (POSIX: the socket file); live clients are cut off.
  await server.close();
  for (const conn of live) conn.destroy();
  return exitNow(0);
}
