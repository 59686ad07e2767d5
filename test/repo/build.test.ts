// scripts/build.mjs builds once per change: `npm ci` (prepare), `npm run demo`, `npm pack` (prepare)
// and `npm test` each ask for a build, and only the first of them, after a change, runs tsc. Checked
// on a scratch copy with a one-file src/, so that the repository's own dist/ is never touched.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { underWine } from '../helpers/index.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
let dir = '';

function build(...args: string[]): string {
  const r = spawnSync(process.execPath, [join(dir, 'scripts', 'build.mjs'), ...args], { cwd: dir, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.trim();
}

// The build runs on the host; under Wine it would only test tsc under node.exe.
describe.skipIf(underWine)('scripts/build.mjs: once per change', () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'winpipe-build-'));
    mkdirSync(join(dir, 'scripts'));
    mkdirSync(join(dir, 'src', 'cli'), { recursive: true });
    for (const f of ['scripts/build.mjs', 'tsconfig.json', 'tsconfig.cjs.json']) copyFileSync(join(repo, f), join(dir, f));
    writeFileSync(join(dir, 'package.json'), '{ "private": true, "type": "module" }\n');
    writeFileSync(join(dir, 'src', 'index.ts'), 'export const answer: number = 42;\n');
    writeFileSync(join(dir, 'src', 'cli', 'main.ts'), "export const cli = 'main';\n");
    // A node_modules of its own (the stamp goes in it), with the repository's TypeScript.
    mkdirSync(join(dir, 'node_modules', '@types'), { recursive: true });
    // 'junction': a directory link Windows lets anyone make (POSIX ignores the type).
    symlinkSync(join(repo, 'node_modules', 'typescript'), join(dir, 'node_modules', 'typescript'), 'junction');
    symlinkSync(join(repo, 'node_modules', '@types', 'node'), join(dir, 'node_modules', '@types', 'node'), 'junction');
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('builds, then skips while nothing changed; a changed source, a damaged dist/ or --force build again', () => {
    expect(build()).toMatch(/^built /);
    expect(readFileSync(join(dir, 'dist', 'cjs', 'index.js'), 'utf8')).toContain('42');
    expect(build()).toMatch(/^dist\/ is up to date/);
    writeFileSync(join(dir, 'src', 'index.ts'), 'export const answer: number = 43;\n');
    expect(build()).toMatch(/^built /);
    expect(readFileSync(join(dir, 'dist', 'esm', 'index.js'), 'utf8')).toContain('43');
    expect(build()).toMatch(/^dist\/ is up to date/);
    rmSync(join(dir, 'dist', 'cjs', 'index.js'));
    expect(build()).toMatch(/^built /);
    expect(build('--force')).toMatch(/^built /);
    expect(build()).toMatch(/^dist\/ is up to date/);
  }, 180_000);
});
