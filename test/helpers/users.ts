// The second local user of the cross-user tests: the same account test/posix/trust.test.ts makes
// (`wptattacker`, made with useradd once and reused after). Root only.
import { spawnSync } from 'node:child_process';

export const isRoot = process.getuid?.() === 0;

export const SECOND_USER = 'wptattacker';

/**
 * A user of its own for the tests that take a user past its pipe-page limit
 * (test/posix/pipe.test.ts): the kernel's limits count per user, and no other test should see
 * its pipes shrink meanwhile. Root only.
 */
export const PIPE_USER = 'wptpipes';

function idOf(flag: '-u' | '-g', name: string): number | undefined {
  const r = spawnSync('id', [flag, name], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.trim()) : undefined;
}

/** A local user's uid and gid; makes the account first if needed (idempotent, parallel-safe). */
export function localUser(name: string): { uid: number; gid: number } {
  if (idOf('-u', name) === undefined) {
    const r = spawnSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', name], { encoding: 'utf8' });
    // 9: the name exists (made in parallel meanwhile).
    if (r.status !== 0 && r.status !== 9) throw new Error(`useradd ${name} failed: ${r.stderr}`);
  }
  return { uid: idOf('-u', name)!, gid: idOf('-g', name)! };
}

/** The second user's uid and gid; makes the account first if needed (idempotent, parallel-safe). */
export function secondUser(): { uid: number; gid: number } {
  return localUser(SECOND_USER);
}

/** Runs `command args` as the second user, synchronously; throws if it fails. */
export function runAsSecondUser(command: string, args: string[]): void {
  const { uid, gid } = secondUser();
  const r = spawnSync(command, args, { uid, gid, cwd: '/', encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} as ${SECOND_USER} failed (${r.status}): ${r.stderr}`);
}
