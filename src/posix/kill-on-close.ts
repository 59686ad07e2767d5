/**
 * POSIX `spawnWithHandles(..., { killOnClose: true })`: the child dies when this process ends,
 * however it ends (SIGKILL included). Windows does it with a job (src/windows/spawn.ts).
 *
 * - `'pdeathsig'` (Linux with util-linux `setpriv`): the child is started as
 *   `setpriv --pdeathsig KILL -- /bin/sh -c <check> ... <command> <args...>`. `setpriv` asks the
 *   kernel (`PR_SET_PDEATHSIG`) for SIGKILL when its parent dies; that survives both execs. If we
 *   died before the `prctl`, the child already has another parent and would never get the signal:
 *   `sh` compares its parent pid (read after the `prctl`) with ours and ends itself if they differ,
 *   then `exec`s the command, which keeps the pid Node reports. Only the child: its own children
 *   are not followed.
 * - `'watcher'` (macOS, or Linux without setpriv), best effort: a small `sh` started right after
 *   the child, in a session of its own, blocks reading a pipe whose only write end we hold. When
 *   we end, it reads end of file and sends the child SIGKILL. When the child exits first, we
 *   SIGKILL the watcher before closing our end. Gaps: a death of ours between the two spawns
 *   leaves the child alone, and so does a watcher someone kills.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { delimiter, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromNodeError, invalidArgValue } from '../errors.js';
import { createPipeWith } from '../pipe.js';
import { posixBackend } from './pipe.js';

/** How `killOnClose` is done here; `'job'` is Windows'. */
export type KillOnCloseMechanism = 'job' | 'pdeathsig' | 'watcher';

/** @internal The command `sh` runs after setpriv: `$1` is our pid, the rest the program and its arguments. */
export const CHECK_PARENT = '[ "$PPID" = "$1" ] || kill -KILL $$; shift; exec "$@"';
/** The watcher: `$1` is the child's pid; stdin is the read end of the lifeline pipe. */
const WATCH = 'read _; kill -KILL "$1" 2>/dev/null';
/** @internal `$0` of both scripts, as `ps` shows them. */
export const SCRIPT_NAME = 'winpipe-kill-on-close';

let setprivPath: string | null | undefined;
let forced: KillOnCloseMechanism | undefined;

/** @internal Tests run the watcher where setpriv exists too. */
export function forceKillOnCloseMechanism(mechanism: KillOnCloseMechanism | undefined): void {
  forced = mechanism;
}

function isExecutableFile(p: string): boolean {
  try {
    if (!statSync(p).isFile()) return false;
    accessSync(p, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * util-linux's setpriv, if it has `--pdeathsig` (2.33 and later), in the system's own places: a
 * setpriv earlier on PATH is not asked. Looked for once.
 */
function findSetpriv(): string | null {
  if (setprivPath !== undefined) return setprivPath;
  setprivPath = null;
  if (process.platform !== 'linux') return null;
  for (const p of ['/usr/bin/setpriv', '/bin/setpriv', '/usr/sbin/setpriv', '/sbin/setpriv']) {
    if (!isExecutableFile(p)) continue;
    const r = spawnSync(p, ['--help'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] });
    if (r.status === 0 && r.stdout.includes('--pdeathsig')) {
      setprivPath = p;
      break;
    }
  }
  return setprivPath;
}

/** The mechanism `killOnClose` uses on this system. */
export function killOnCloseMechanism(): KillOnCloseMechanism {
  if (process.platform === 'win32') return 'job';
  if (forced) return forced;
  return findSetpriv() !== null ? 'pdeathsig' : 'watcher';
}

/**
 * True when `file` would be found and run as execvp finds it: with a `/`, from the cwd; else in
 * each entry of the child's PATH (libuv's rule: the child's `env`, else ours; unset, `/usr/bin:/bin`).
 */
function findsProgram(file: string, options: SpawnOptions): boolean {
  const cwd = options.cwd === undefined ? process.cwd() : options.cwd instanceof URL ? fileURLToPath(options.cwd) : String(options.cwd);
  if (file.includes('/')) return isExecutableFile(resolve(cwd, file));
  const env = options.env ?? process.env;
  const path = env.PATH ?? '/usr/bin:/bin';
  return path.split(delimiter).some((dir) => isExecutableFile(resolve(cwd, dir === '' ? '.' : dir, file)));
}

/** Node's `spawn`, with the child tied to this process's life as {@link killOnCloseMechanism} says. */
export function spawnKillOnClose(command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  const mechanism = killOnCloseMechanism();
  return mechanism === 'pdeathsig' ? spawnPdeathsig(findSetpriv()!, command, args, options) : spawnWatched(command, args, options);
}

function spawnPdeathsig(setpriv: string, command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  if (options.argv0 !== undefined) {
    throw invalidArgValue('options.argv0', options.argv0, 'cannot be combined with killOnClose on Linux (the child is started through setpriv and sh, which cannot set it)');
  }
  let file = command;
  let argv = args;
  if (options.shell) {
    // Node's own rule for `shell` on POSIX.
    file = typeof options.shell === 'string' ? options.shell : '/bin/sh';
    argv = ['-c', [command, ...args].join(' ')];
  }
  // A program that is not there: Node reports it as it always does ('error', ENOENT), and no child
  // runs, so there is nothing to tie to us. Through sh it would be an exit status 127.
  if (!findsProgram(file, options)) return spawn(command, args, options);
  return spawn(setpriv, ['--pdeathsig', 'KILL', '--', '/bin/sh', '-c', CHECK_PARENT, SCRIPT_NAME, String(process.pid), file, ...argv], { ...options, shell: false });
}

function spawnWatched(command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  const child = spawn(command, args, options);
  if (child.pid === undefined) return child;
  // Ownership: the lifeline's write end is ours until the child exits (or we do); its read end is
  // the watcher's stdin, and our copy is closed once the watcher has it.
  const lifeline = createPipeWith(posixBackend);
  let watcher: ChildProcess;
  try {
    watcher = spawn('/bin/sh', ['-c', WATCH, SCRIPT_NAME, String(child.pid)], { stdio: [lifeline.reader.fd, 'ignore', 'ignore'], detached: true });
  } catch (err) {
    lifeline.writer.close();
    child.kill('SIGKILL');
    throw fromNodeError(err, 'spawn');
  } finally {
    lifeline.reader.close();
  }
  watcher.unref();
  watcher.once('error', (err) => {
    // No watcher: the child could outlive us, which killOnClose promised it would not.
    lifeline.writer.close();
    child.kill('SIGKILL');
    child.emit('error', fromNodeError(err, 'spawn'));
  });
  child.once('exit', () => {
    // The watcher first: closing the lifeline while it runs would make it kill a pid that may be reused.
    watcher.kill('SIGKILL');
    lifeline.writer.close();
  });
  return child;
}
