// `npm run bench` works end to end: scripts/bench.mjs --smoke runs every case (B1-B7) against its
// peers on tiny sizes, one run each, and every run passes its data check. Nothing is timed here
// (the numbers of a smoke run mean nothing) and nothing is written. Under Wine the Python and C
// peers report n/a, which the script counts as fine.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function run(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, 'scripts', 'bench.mjs'), ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

describe('scripts/bench.mjs', () => {
  it('runs B1-B7 on tiny sizes and every run passes its data check (--smoke)', async () => {
    const { code, out } = await run(['--smoke']);
    for (const id of ['B1', 'B2', 'B3', 'B4', 'B5', 'B6', 'B7']) expect(out).toMatch(new RegExp(`^${id} `, 'm'));
    expect(out).not.toMatch(/FAILED/);
    expect(out).toContain('every run passed its data check');
    expect(code).toBe(0);
  }, 240_000);
});
