/**
 * What a Windows child runs, as libuv's `uv_spawn` builds it: the program found on PATH, the
 * command line with MSVC-runtime quoting, and the sorted Unicode environment block.
 */
import { statSync } from 'node:fs';
import { isAbsolute, join, resolve as resolvePath } from 'node:path';

/**
 * One argument as the MSVC runtime (and CommandLineToArgvW) reads it back, quoted only when it
 * must be, as libuv's quote_cmd_arg does: empty, or holding a space, tab or quote. Inside quotes,
 * backslashes are literal except before a quote: those, and any run before the closing quote,
 * are doubled, and a quote becomes \".
 */
export function quoteArg(arg: string): string {
  if (arg === '') return '""';
  if (!/[ \t"]/.test(arg)) return arg;
  if (!/["\\]/.test(arg)) return `"${arg}"`;
  let out = '"';
  let backslashes = 0;
  for (const ch of arg) {
    if (ch === '\\') {
      backslashes++;
      continue;
    }
    out += ch === '"' ? '\\'.repeat(backslashes * 2 + 1) : '\\'.repeat(backslashes);
    out += ch;
    backslashes = 0;
  }
  return `${out}${'\\'.repeat(backslashes * 2)}"`;
}

/** The command line: argv0 then the arguments, each quoted (or, verbatim, joined by spaces). */
export function commandLine(argv0: string, args: readonly string[], verbatim: boolean): string {
  return [quoteArg(argv0), ...args.map((a) => (verbatim ? a : quoteArg(a)))].join(' ');
}

/**
 * Variables a Windows process needs to start and that libuv copies from this process when `env`
 * lacks them (make_program_env's required list).
 */
const REQUIRED_ENV = ['HOMEDRIVE', 'HOMEPATH', 'LOGONSERVER', 'PATH', 'SYSTEMDRIVE', 'SYSTEMROOT', 'TEMP', 'USERDOMAIN', 'USERNAME', 'USERPROFILE', 'WINDIR'];

/**
 * The Unicode environment block: `NAME=value\0` entries sorted by name, case-insensitively
 * (Windows requires the order; `=C:`-style entries first), ending in an extra NUL.
 */
export function environmentBlock(env: Record<string, string | undefined>): Buffer {
  const entries = new Map<string, [string, string]>();
  for (const [k, v] of Object.entries(env)) if (v !== undefined && !k.includes('\0')) entries.set(k.toUpperCase(), [k, String(v)]);
  for (const k of REQUIRED_ENV) {
    if (entries.has(k)) continue;
    const own = Object.keys(process.env).find((n) => n.toUpperCase() === k);
    if (own !== undefined && process.env[own] !== undefined) entries.set(k, [own, process.env[own]!]);
  }
  const sorted = [...entries.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  let text = '';
  for (const [, [k, v]] of sorted) text += `${k}=${v}\0`;
  return Buffer.from(`${text || '\0'}\0`, 'utf16le');
}

/** `env`'s PATH, whatever its case (Windows names are case-insensitive), or ''. */
export function envPath(env: Record<string, string | undefined>): string {
  const key = Object.keys(env).find((k) => k.toUpperCase() === 'PATH');
  return key === undefined ? '' : (env[key] ?? '');
}

/** Whether `p` is a directory (false when it cannot be read), for the child's cwd. */
export function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/**
 * The program, found as libuv's search_path finds it: a name with a directory part is looked up
 * from `cwd` only; a bare name in `cwd` first, then each PATH entry. In each place the name as
 * given if it has an extension, then with `.com`, then `.exe`. Undefined if nothing is there.
 */
export function searchPath(file: string, cwd: string, pathEnv: string): string | undefined {
  const hasDir = /[\\/:]/.test(file);
  const base = file.replace(/^.*[\\/:]/, '');
  const hasExt = base.includes('.');
  const candidates = (dir: string): string[] => {
    const p = isAbsolute(file) ? file : join(dir, file);
    return [...(hasExt ? [p] : []), `${p}.com`, `${p}.exe`];
  };
  const dirs = hasDir
    ? [cwd]
    : [
        cwd,
        ...pathEnv
          .split(';')
          .map((d) => d.trim().replace(/^"(.*)"$/, '$1'))
          .filter((d) => d !== ''),
      ];
  for (const dir of dirs) {
    for (const c of candidates(resolvePath(cwd, dir))) if (isFile(c)) return c;
  }
  return undefined;
}
