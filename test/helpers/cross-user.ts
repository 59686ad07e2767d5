// The second user's side of a cross-user test: test/fixtures/attacker.mjs run with the uid / gid
// of `wptattacker` (test/helpers/users.ts), its stdout as lines. Root only.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fixturesDir, within } from './index.js';
import { secondUser } from './users.js';

/**
 * Copies `test/fixtures/<name>` into a 0755 directory of its own, the copy 0644, so that the second
 * user can read it (a checkout may sit where it cannot). `remove()` deletes the directory.
 */
export function stageFixture(name: string): { file: string; remove(): void } {
  const dir = mkdtempSync('/tmp/wpt-fixture-');
  chmodSync(dir, 0o755);
  const file = join(dir, name);
  copyFileSync(join(fixturesDir, name), file);
  chmodSync(file, 0o644);
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

let staged: { file: string; remove(): void } | undefined;

/** attacker.mjs, staged once ({@link stageFixture}). Call {@link unstageAttacker} in afterAll. */
function script(): string {
  staged ??= stageFixture('attacker.mjs');
  return staged.file;
}

export function unstageAttacker(): void {
  staged?.remove();
  staged = undefined;
}

/**
 * A child's stdout as lines: every line so far, and a wait (up to `bound` ms) for the first line
 * that starts with one of `prefixes`. With `take`, the line found is removed, so that asking for
 * the same prefix again waits for the next such line.
 */
export function stdoutLines(child: ChildProcess): {
  lines: string[];
  wait(prefixes: string[], what: string, bound: number, take?: boolean): Promise<string>;
} {
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
  const wait = (prefixes: string[], what: string, bound: number, take = false): Promise<string> =>
    within(
      new Promise<string>((resolve) => {
        const look = (): void => {
          const i = lines.findIndex((l) => prefixes.some((p) => l.startsWith(p)));
          if (i < 0) waiters.push(look);
          else resolve(take ? lines.splice(i, 1)[0]! : lines[i]!);
        };
        look();
      }),
      bound,
      what,
    );
  return { lines, wait };
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
  const { lines, wait } = stdoutLines(child);
  const line = (...prefixes: string[]): Promise<string> => wait(prefixes, `the second user to say ${prefixes.join(' or ')} (said: ${lines.join(' | ')})`, bound);
  return { child, lines, line };
}
