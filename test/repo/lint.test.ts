// The lint and the format check (Biome, biome.jsonc) over every JavaScript and TypeScript file of the
// repository: `npm run lint` as part of the host run, so a warning, an error or an unformatted line
// fails `npm test`. `npm run format` writes the formatting.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { underWine } from '../helpers/index.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SOURCE = /\.(ts|mts|cts|js|mjs|cjs)$/;

/** The sources under src/ and test/ (test/fixtures/bin/ holds built fixtures, no sources). */
function sourceCount(): number {
  return ['src', 'test'].flatMap((d) => readdirSync(join(repo, d), { recursive: true, encoding: 'utf8' })).filter((f) => SOURCE.test(f)).length;
}

// Biome reads the same files on every platform, and the Wine stage installs it for win32 only to
// keep one lock: the host run covers it, and under Wine the title says so.
const hostOnly = underWine ? ' (skipped under Wine: a host tool, the host run checks the same files)' : '';
describe.skipIf(underWine)(`biome check (lint and format, no writes)${hostOnly}`, () => {
  it('reports no error, no warning and no unformatted file, over every source of the repository', () => {
    const biome = join(repo, 'node_modules', '@biomejs', 'biome', 'bin', 'biome');
    const r = spawnSync(process.execPath, [biome, 'check', '--error-on-warnings', '--colors=off', '--max-diagnostics=50'], {
      cwd: repo,
      encoding: 'utf8',
      windowsHide: true,
    });
    const out = `${r.stdout}${r.stderr}`;
    expect(r.status, out).toBe(0);
    // The check looked at the tree: at least every source under src/ and test/.
    const checked = Number(/Checked (\d+) files?/.exec(out)?.[1] ?? 0);
    expect(checked, out).toBeGreaterThanOrEqual(sourceCount());
  }, 120_000);
});
