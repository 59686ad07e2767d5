/**
 * The `winpipe` command's shared pieces: a small argv parser (npiperelay's Go-style single-dash
 * long flags, `-ep`, as well as `--ep`), usage errors (exit 2), the `code: message` report of a
 * pipe error (exit 1), and an exit that lets stdout drain first.
 *
 * @module
 */
import { readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isPipeError } from '../errors.js';
import type { PipeMode } from '../options.js';

/** A bad command line: printed with the command's usage line, exit status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** One flag a command accepts. `value`: it takes an argument (`--mode byte`, `--mode=byte`). */
export interface FlagSpec {
  names: readonly string[];
  key: string;
  value?: boolean;
}

/** The parsed command line: flags by key (true, or the value given) and the operands. */
export interface Parsed {
  flags: Record<string, string | true>;
  operands: string[];
}

/**
 * Parses `argv` against `specs`. A flag is accepted with one dash or two (Go's `flag` package, which
 * npiperelay uses, takes both); `--` ends the flags. `-h`/`--help` is always known, as `help`.
 * @throws UsageError for an unknown flag or a missing value.
 */
export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[]): Parsed {
  const all = [...specs, { names: ['h', 'help'], key: 'help' }];
  const flags: Record<string, string | true> = {};
  const operands: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      operands.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      operands.push(arg);
      continue;
    }
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    const spec = all.find((s) => s.names.includes(name));
    if (!spec) throw new UsageError(`unknown flag: ${arg}`);
    if (spec.value) {
      const v: string | undefined = eq < 0 ? argv[++i] : body.slice(eq + 1);
      if (v === undefined || v === '') throw new UsageError(`${arg} needs a value`);
      flags[spec.key] = v;
    } else {
      if (eq >= 0) throw new UsageError(`${name} takes no value`);
      flags[spec.key] = true;
    }
  }
  return { flags, operands };
}

/** The `--mode` flag shared by every command that opens a pipe. */
export const MODE_FLAG: FlagSpec = { names: ['mode'], key: 'mode', value: true };

/** `--mode` as a PipeMode (default `'byte'`). @throws UsageError */
export function modeOf(parsed: Parsed): PipeMode {
  const mode = parsed.flags.mode ?? 'byte';
  if (mode !== 'byte' && mode !== 'message') throw new UsageError(`--mode must be byte or message, not ${String(mode)}`);
  return mode;
}

/** Exactly one operand, the pipe's name or path. @throws UsageError */
export function oneName(parsed: Parsed): string {
  if (parsed.operands.length !== 1) throw new UsageError(parsed.operands.length === 0 ? 'a pipe NAME is required' : `one pipe NAME expected, got ${parsed.operands.length}`);
  return parsed.operands[0]!;
}

/**
 * The line printed for a failure, `code: message`. PipeError messages already start with their
 * code, so it is not repeated; a bad name (ERR_INVALID_ARG_VALUE) reads the same way.
 */
export function describeError(err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof code !== 'string') return message;
  return message.startsWith(`${code}:`) ? message : `${code}: ${message}`;
}

/** True for errors that come from the pipe or the OS (exit 1), as opposed to a bad argument (exit 2). */
export function isArgumentError(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return !isPipeError(err) && (code === 'ERR_INVALID_ARG_VALUE' || code === 'ERR_INVALID_ARG_TYPE' || code === 'ERR_OUT_OF_RANGE');
}

/** Resolves once everything written to `stream` so far has been handed to the OS. */
export function drained(stream: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => stream.write('', () => resolve()));
}

/**
 * Ends the process with `code` once stdout and stderr have drained. Used where a pipe or stdin may
 * still be open on purpose (`relay -ei`, `-ep`, a signal), which would otherwise keep it alive.
 */
export async function exitNow(code: number): Promise<never> {
  await Promise.all([drained(process.stdout), drained(process.stderr)]);
  process.exit(code);
}

/** A one-line note on stderr, prefixed with the command, when verbose. */
export function logger(command: string, verbose: boolean): (msg: string) => void {
  return verbose ? (msg) => process.stderr.write(`winpipe ${command}: ${msg}\n`) : () => {};
}

/**
 * The version of the winpipe package the running command comes from: the nearest `package.json`
 * named `winpipe` above the script (`dist/esm/cli/main.js` in a package; a bundle inside a checkout
 * finds the checkout's). Read at run time, so that it cannot drift from the package.
 */
export function packageVersion(script: string | undefined = process.argv[1]): string | undefined {
  if (!script) return undefined;
  let dir: string;
  try {
    dir = dirname(realpathSync(script));
  } catch {
    return undefined;
  }
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'winpipe' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // No package.json here (or not JSON): look further up.
    }
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/** `--timeout MS` as an integer number of milliseconds, or undefined. @throws UsageError */
export function timeoutOf(parsed: Parsed): number | undefined {
  const v = parsed.flags.timeout;
  if (v === undefined) return undefined;
  const ms = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(ms) || ms < 1 || ms > 0x7fff_ffff) throw new UsageError(`--timeout must be a whole number of milliseconds from 1, not ${String(v)}`);
  return ms;
}
