/**
 * `spawnWithHandles` on POSIX: Node's `spawn`, each end given after the child's stdio so that the
 * child has it at a known fd (3, 4, ...).
 */
import { spawn, type ChildProcess, type SpawnOptions, type StdioOptions } from 'node:child_process';
import { fstatSync } from 'node:fs';
import { fromNodeError } from '../errors.js';
import type { HandleSource } from '../spawn.js';
import { spawnKillOnClose } from './kill-on-close.js';

function fdOf(h: HandleSource): number {
  return typeof h === 'number' ? h : h.fd;
}

/** `stdio` as an array of at least three entries, as Node normalizes it. */
function stdioArray(stdio: StdioOptions | undefined): unknown[] {
  if (stdio === undefined) return ['pipe', 'pipe', 'pipe'];
  if (typeof stdio === 'string') return [stdio, stdio, stdio];
  const arr = [...stdio];
  while (arr.length < 3) arr.push(undefined);
  return arr;
}

/**
 * Spawns `command` with `handles` after its stdio; `args` gets each handle's fd in the child.
 * Ownership: the handles stay the caller's; the child gets its own copies.
 */
export function spawnPosix(command: string, args: (values: string[]) => string[], handles: readonly HandleSource[], options: SpawnOptions, killOnClose: boolean): ChildProcess {
  const stdio = stdioArray(options.stdio);
  const first = stdio.length;
  // Node dup2()s stdio[i] to fd i in the child, and only there: the child-side number is the index.
  const values = handles.map((_, i) => String(first + i));
  for (const h of handles) {
    const fd = fdOf(h);
    // A descriptor that is not open would fail only in the child, after the fork, as an untyped
    // spawn error: refuse it here, as the Windows side does.
    try {
      fstatSync(fd);
    } catch (err) {
      throw fromNodeError(err, 'spawnWithHandles');
    }
    stdio.push(fd);
  }
  const final = { ...options, stdio: stdio as StdioOptions };
  return killOnClose ? spawnKillOnClose(command, args(values), final) : spawn(command, args(values), final);
}
