#!/usr/bin/env node
/**
 * The `winpipe` command (package.json `bin`): `relay`, `ls`, `serve`, `send`.
 * Exit status: 0 ok, 1 a pipe error (`code: message` on stderr), 2 a usage error.
 *
 * @example
 * ```sh
 * npx winpipe serve demo &             # an echo server
 * echo hello | npx winpipe send demo   # hello
 * npx winpipe ls
 * ```
 * @module
 */
import { UsageError, describeError, isArgumentError, packageVersion } from './args.js';
import { LS_HELP, ls } from './ls.js';
import { RELAY_HELP, relay } from './relay.js';
import { SEND_HELP, send } from './send.js';
import { SERVE_HELP, serve } from './serve.js';

const COMMANDS: Record<string, { run: (argv: readonly string[]) => Promise<number>; help: string }> = {
  relay: { run: relay, help: RELAY_HELP },
  ls: { run: ls, help: LS_HELP },
  serve: { run: serve, help: SERVE_HELP },
  send: { run: send, help: SEND_HELP },
};

/** `winpipe --help`. */
export const MAIN_HELP = `usage: winpipe <command> [flags] [NAME|PATH]

Real OS pipes from the command line (Windows named pipes; Unix sockets on POSIX).

  relay [-p] [-s] [-ep] [-ei] [-v] NAME   stdio <-> pipe (npiperelay's flags, for WSL + socat)
  ls [-l]                                 the pipes that can be found
  serve [--print] NAME                    an echo (or print) server, until SIGINT/SIGTERM
  send [--no-reply] [--timeout MS] NAME   stdin to the pipe, the reply to stdout

Every command takes --mode byte|message and --help. winpipe --version prints the version.
Exit status: 0 ok, 1 a pipe error (code: message on stderr), 2 usage.`;

/** Runs the command line `argv` (without node and the script); resolves with the exit status. */
export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === '--version' || command === '-V') {
    process.stdout.write(`${packageVersion() ?? 'unknown'}\n`);
    return 0;
  }
  if (command === '-h' || command === '--help' || command === 'help') {
    const topic = command === 'help' && rest[0] ? COMMANDS[rest[0]] : undefined;
    process.stdout.write(`${topic ? topic.help : MAIN_HELP}\n`);
    return 0;
  }
  const cmd = command === undefined ? undefined : COMMANDS[command];
  if (!cmd) {
    process.stderr.write(`${command === undefined ? 'winpipe: a command is required' : `winpipe: unknown command: ${command}`}\n\n${MAIN_HELP}\n`);
    return 2;
  }
  try {
    return await cmd.run(rest);
  } catch (err) {
    if (err instanceof UsageError || isArgumentError(err)) {
      process.stderr.write(`winpipe ${command}: ${err instanceof UsageError ? err.message : describeError(err)}\n${cmd.help.split('\n')[0]}\n`);
      return 2;
    }
    process.stderr.write(`${describeError(err)}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`${describeError(err)}\n`);
    process.exitCode = 1;
  },
);
