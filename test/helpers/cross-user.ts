// The second user's side of a cross-user test: test/fixtures/attacker.mjs run with the uid / gid
// of `wptattacker` (test/helpers/users.ts), its stdout as lines. Root only.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fixturesDir, within } from './index.js';
import { secondUser } from './users.js';

let staged: string | undefined;

/**
 * attacker.mjs, copied once into a 0755 directory of its own (the second user must be able to
 * read it; a checkout may sit where it cannot). Call {@link unstageAttacker} in afterAll.
 */
function script(): string {
  if (staged === undefined) {
    const dir = mkdtempSync('/tmp/wpt-fixture-');
    chmodSync(dir, 0o755);
    const file = join(dir, 'attacker.mjs');
    copyFileSync(join(fixturesDir, 'attacker.mjs'), file);
    chmodSync(file, 0o644);
    staged = file;
  }
  return staged;
}

export function unstageAttacker(): void {
  if (staged !== undefined) rmSync(dirname(staged), { recursive: true, force: true });
  staged = undefined;
}

export interface SecondUserRun {
  child: ChildProcess;
  /** Every line it has written so far. */
  lines: string[];
  /** Resolves with the first line (seen so far or later) that starts with one of `prefixes`. */
  line(...prefixes: string[]): Promise<string>;
}

/** Runs `attacker.mjs ...args` as the second user; the caller kills `child` when done. */
export function asSecondUser(args: string[], bound = 20_000): SecondUserRun {
  const { uid, gid } = secondUser();
  // argv cannot carry NUL: the fixture reads a leading '@' as the NUL of an abstract name.
  args = args.map((x) => (x.startsWith('\0') ? `@${x.slice(1)}` : x));
  const child = spawn(process.execPath, [script(), ...args], { uid, gid, cwd: '/', stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  const waiters: (() => void)[] = [];
  let rest = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    rest += chunk;
    const parts = rest.split('\n');
    rest = parts.pop()!;
    lines.push(...parts);
    for (const w of waiters.splice(0)) w();
  });
  const line = (...prefixes: string[]): Promise<string> =>
    within(
      new Promise<string>((resolve) => {
        const look = (): void => {
          const found = lines.find((l) => prefixes.some((p) => l.startsWith(p)));
          if (found !== undefined) resolve(found);
          else waiters.push(look);
        };
        look();
      }),
      bound,
      `the second user to say ${prefixes.join(' or ')} (said: ${lines.join(' | ')})`,
    );
  return { child, lines, line };
}
