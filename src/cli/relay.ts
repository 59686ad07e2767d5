/**
 * `winpipe relay`: stdio ⇄ a pipe, with npiperelay's flags, so that WSL recipes
 * (`socat ... EXEC:"npiperelay.exe -ei -s //./pipe/NAME"`) work with only the program changed.
 *
 * At the end of stdin (in this order, as npiperelay does): `-ei` exits at once (what was read has
 * been handed to the pipe); `-s` half-closes with `halfClose: 'zero-message'` in either mode
 * (Windows: go-winio's zero-byte message; POSIX: shutdown in byte mode, a zero-length frame in
 * message mode) and goes on relaying the pipe's answer; without `-s`, on POSIX our write side is
 * shut down (a Unix socket has half-close), and on Windows the pipe stays open until the server
 * closes it, as with npiperelay.
 *
 * At the end of the pipe: a Windows pipe's end is the server closing it, and relay exits 0. A
 * zero-byte message (message mode), or the server's half-close on POSIX, ends the pipe's output:
 * `-ep` exits then; otherwise stdin is still sent, and relay exits once stdin has ended too.
 *
 * @module
 */
import { connect, pipePath } from '../index.js';
import { isPipeError } from '../errors.js';
import type { HalfClose, PipeMode } from '../options.js';
import type { PipeConnection } from '../types.js';
import { MODE_FLAG, describeError, exitNow, logger, modeOf, oneName, parseArgs } from './args.js';

/** `winpipe relay --help`. */
export const RELAY_HELP = `usage: winpipe relay [-p] [-s] [-ep] [-ei] [-v] [--mode byte|message] NAME|PATH

Relays stdin to the pipe and the pipe to stdout (npiperelay's flags).
NAME is a pipe name; Windows also takes \\\\.\\pipe\\NAME and //./pipe/NAME,
POSIX an absolute socket path.

  -p            poll until the pipe is served (retry while it is not found or busy;
                POSIX: a socket directory another user made first is passed over)
  -s            at the end of stdin, send a zero-byte message (go-winio's CloseWrite,
                in byte mode too: the server's pipe must be message-type, as Docker's
                is) and keep relaying the answer; POSIX: shut down the write side
  -ep           exit at the end of the pipe (a zero-byte message, or the server's
                half-close), even if stdin has more to send
  -ei           exit at the end of stdin, even if the pipe has more to say
  -v            verbose: what happens, on stderr
  --mode MODE   byte (default) or message (go-winio and Docker pipes are message pipes)
  -h, --help    this help

Exit status: 0 done, 1 a pipe error (code: message on stderr), 2 usage.`;

const isWindows = process.platform === 'win32';
/** -p: the longest one waiting connect may take (connect's limit); relay then waits on with another. */
const POLL_SLICE_MS = 0x7fff_ffff;

/**
 * Connects; with `poll`, waits until the pipe is served, with connect's own `wait`: a name not
 * found (or busy) is retried, and on POSIX a socket directory that another user made first is
 * passed over while our own may still get the server. One attempt comes first, so that `-v` says
 * when it starts to poll. Rejects with an AbortError once `signal` aborts.
 */
export async function connectPolling(
  name: string,
  options: { mode: PipeMode; signal: AbortSignal; poll: boolean; log: (m: string) => void; halfClose?: HalfClose | undefined },
): Promise<PipeConnection> {
  const base = { mode: options.mode, signal: options.signal, halfClose: options.halfClose };
  if (!options.poll) return connect(name, base);
  // connectTimeout 0: a single attempt, which ends in ETIMEDOUT if nobody serves the name yet.
  let timeout = 0;
  for (;;) {
    try {
      return await connect(name, { ...base, wait: true, connectTimeout: timeout });
    } catch (err) {
      if (!isPipeError(err) || err.code !== 'ETIMEDOUT') throw err;
    }
    if (timeout === 0) options.log(`${pipePath(name)} is not served yet; polling`);
    timeout = POLL_SLICE_MS;
  }
}

/** Runs `winpipe relay`; resolves with the exit status. */
export async function relay(argv: readonly string[]): Promise<number> {
  const parsed = parseArgs(argv, [
    { names: ['p'], key: 'poll' },
    { names: ['s'], key: 'zero' },
    { names: ['ep'], key: 'exitOnPipeEnd' },
    { names: ['ei'], key: 'exitOnStdinEnd' },
    { names: ['v'], key: 'verbose' },
    MODE_FLAG,
  ]);
  if (parsed.flags.help) {
    process.stdout.write(`${RELAY_HELP}\n`);
    return 0;
  }
  const name = oneName(parsed);
  const mode = modeOf(parsed);
  const f = parsed.flags;
  pipePath(name); // a bad name is a usage error, before any system call
  const log = logger('relay', f.verbose === true);

  const abort = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    log(`${sig}: stopping`);
    abort.abort();
    void exitNow(sig === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  log(`connecting to ${pipePath(name)}`);
  let conn: PipeConnection;
  try {
    // -s: the library's half-close, so that end() is the zero-byte message and reading goes on.
    conn = await connectPolling(name, { mode, signal: abort.signal, poll: f.poll === true, log, halfClose: f.zero ? 'zero-message' : undefined });
  } catch (err) {
    // A signal during -p: onSignal is already ending the process with its own status.
    if (abort.signal.aborted) return new Promise<number>(() => {});
    throw err;
  }
  log(`connected (${mode} mode)`);

  let stdinDone = false;
  let pipeDone = false;
  return new Promise<number>((resolve) => {
    let settled = false;
    const finish = (code: number, why: string): void => {
      if (settled) return;
      settled = true;
      log(why);
      // stdin or the pipe may still be open on purpose (-ei, -ep): end the process, not just main.
      resolve(code);
      void exitNow(code);
    };
    const fail = (err: unknown): void => {
      if (settled) return;
      process.stderr.write(`${describeError(err)}\n`);
      finish(1, 'failed');
    };
    conn.on('error', fail);
    // Whoever reads our stdout went away (EPIPE): as npiperelay, a failed copy is exit 1.
    process.stdout.on('error', fail);
    let reading: Promise<void> = Promise.resolve();
    // Whatever the pipe said is on stdout before the process ends.
    conn.on('close', () => void reading.then(() => finish(0, 'pipe closed')));

    const pipeEnded = (what: string): void => {
      if (pipeDone) return;
      pipeDone = true;
      // A Windows pipe without halfClose has no half-close: its end is the server closing the pipe.
      if (isWindows && what === 'end' && !f.zero) return finish(0, 'pipe closed by the server');
      if (f.exitOnPipeEnd) return finish(0, `end of the pipe (${what}): -ep`);
      log(`end of the pipe (${what}); still sending stdin`);
      if (stdinDone) finish(0, 'both directions ended');
    };

    // pipe -> stdout, with backpressure from stdout.
    reading = (async () => {
      try {
        for await (const chunk of conn.messages()) {
          if (chunk.length === 0) {
            // go-winio's CloseWrite: a zero-byte message means "no more data".
            pipeEnded('zero-byte message');
            continue;
          }
          if (!process.stdout.write(chunk)) await new Promise((r) => process.stdout.once('drain', r));
        }
        pipeEnded('end');
      } catch (err) {
        fail(err);
      }
    })();

    // stdin -> pipe: each chunk is one write (message mode: one message), as npiperelay's io.Copy.
    void (async () => {
      try {
        for await (const chunk of process.stdin) await conn.writeMessage(chunk as Buffer);
        log('end of stdin');
        if (f.exitOnStdinEnd) return finish(0, 'end of stdin: -ei');
        if (f.zero) {
          // halfClose 'zero-message': the zero-byte message (POSIX: shutdown / a zero-length frame).
          conn.end();
          log('sent a zero-byte message');
        } else if (!isWindows) {
          // POSIX: shut down our write side (the server reads its end). Windows: no half-close.
          conn.end();
        }
        stdinDone = true;
        if (pipeDone) finish(0, 'both directions ended');
      } catch (err) {
        fail(err);
      }
    })();
  });
}
