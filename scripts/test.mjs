#!/usr/bin/env node
// `npm test`: the host suite, then the Windows path under Wine (scripts/wine.mjs), then one total.
//
//   node scripts/test.mjs [vitest args...]    e.g. `npm test -- test/server.test.ts`
//
// The last line printed is the total over both runs: `N passed, N failed, N skipped`.
// REQUIRE_WINE=1 turns a missing `wine` into a failure (CI sets it).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  buildAndPack,
  cacheDir,
  countsFromReport,
  countsLine,
  discardPack,
  installPacked,
  log,
  onPath,
  repoRoot,
} from './lib.mjs';

const args = process.argv.slice(2);
const summary = [];
const total = { passed: 0, failed: 0, skipped: 0 };
const add = (c) => {
  total.passed += c.passed;
  total.failed += c.failed;
  total.skipped += c.skipped;
};

// 1. The packed tarball, installed on the host (the wine run reuses the same tarball).
let tgz = null;
const env = { ...process.env };
try {
  tgz = buildAndPack();
  if (tgz) env.WINPIPE_PACKED_DIR = installPacked(tgz, path.join(cacheDir(), 'packed-host'));
} catch (err) {
  log(`pack: ${err.message}`);
  summary.push('pack: build, pack or install of the tarball failed; counted as 1 failed');
  add({ passed: 0, failed: 1, skipped: 0 });
}

// 2. The host suite.
const report = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'winpipe-report-')), 'host.json');
const vitest = path.join(repoRoot, 'node_modules', 'vitest', 'vitest.mjs');
const host = spawnSync(
  process.execPath,
  [vitest, 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...args],
  { cwd: repoRoot, env, stdio: 'inherit' },
);
const hostCounts = countsFromReport(report, host.status ?? host.signal);
fs.rmSync(path.dirname(report), { recursive: true, force: true });
for (const n of hostCounts.notes) summary.push(`host: ${n}`);
summary.push(countsLine('host', hostCounts));
add(hostCounts);

// 3. The Windows path under Wine.
if (process.platform === 'win32') {
  summary.push('wine: not needed on Windows (the host run is the Windows path)');
} else if (onPath('wine')) {
  const countsFile = path.join(repoRoot, '.wine', 'last-counts.json');
  fs.rmSync(countsFile, { force: true });
  const wineEnv = { ...process.env };
  if (tgz) wineEnv.WINPIPE_TGZ = tgz;
  const wine = spawnSync(process.execPath, [path.join(repoRoot, 'scripts', 'wine.mjs'), 'test', ...args], {
    cwd: repoRoot,
    env: wineEnv,
    stdio: 'inherit',
  });
  let wineCounts;
  try {
    wineCounts = JSON.parse(fs.readFileSync(countsFile, 'utf8'));
  } catch {
    wineCounts = { passed: 0, failed: 1, skipped: 0 };
    summary.push(`wine: scripts/wine.mjs exited with ${wine.status ?? wine.signal} before counting; counted as 1 failed`);
  }
  summary.push(countsLine('wine', wineCounts));
  add(wineCounts);
} else if (process.env.REQUIRE_WINE === '1') {
  summary.push('wine: not found on PATH, and REQUIRE_WINE=1 requires it (Debian: apt-get install -y wine64); counted as 1 failed');
  add({ passed: 0, failed: 1, skipped: 0 });
} else {
  summary.push('wine: not found on PATH; the Windows path was not tested (set REQUIRE_WINE=1 to make this an error)');
}
discardPack(tgz);

log('');
for (const line of summary) log(line);
log(`${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
process.exit(total.failed > 0 ? 1 : 0);
