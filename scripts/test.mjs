#!/usr/bin/env node
// `npm test`: the host suite, then the Windows path under Wine (scripts/wine.mjs), then one total.
//
//   node scripts/test.mjs [vitest args...]    e.g. `npm test -- test/server.test.ts`
//
// The last line printed is the total over every run: `N passed, N failed, N skipped`, with one
// line per run above it (the host, then one per node.exe version under Wine).
// REQUIRE_WINE=1 turns a missing Wine into a failure (CI sets it). WINE_NODE_VERSION (e.g. `24,26`)
// and WINPIPE_WINE_BED are passed on to scripts/wine.mjs, which says what they do.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bedBlocker } from './wine-bed.mjs';
import { buildAndPack, cacheDir, countsFromReport, countsLine, discardPack, installPacked, log, onPath, repoRoot } from './lib.mjs';

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
  // In the checkout, so that checkouts testing at the same time do not install over each other.
  if (tgz) env.WINPIPE_PACKED_DIR = installPacked(tgz, path.join(repoRoot, '.wine', 'packed-host'));
} catch (err) {
  log(`pack: ${err.message}`);
  summary.push('pack: build, pack or install of the tarball failed; counted as 1 failed');
  add({ passed: 0, failed: 1, skipped: 0 });
}

// 2. The host suite.
const report = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'winpipe-report-')), 'host.json');
const vitest = path.join(repoRoot, 'node_modules', 'vitest', 'vitest.mjs');
const host = spawnSync(process.execPath, [vitest, 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...args], { cwd: repoRoot, env, stdio: 'inherit' });
const hostCounts = countsFromReport(report, host.status ?? host.signal);
fs.rmSync(path.dirname(report), { recursive: true, force: true });
for (const n of hostCounts.notes) summary.push(`host: ${n}`);
summary.push(countsLine('host', hostCounts));
add(hostCounts);

// 3. The Windows path under Wine.
if (process.platform === 'win32') {
  summary.push('wine: not needed on Windows (the host run is the Windows path)');
} else if (onPath('wine') || (process.env.WINPIPE_WINE_BED !== 'off' && !bedBlocker(cacheDir()))) {
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
  if (wineCounts.unavailable) {
    noWine(wineCounts.unavailable);
  } else {
    // One line per node.exe version (wine.mjs writes `runs`), then they count once each.
    for (const r of wineCounts.runs ?? [{ label: 'wine', ...wineCounts }]) summary.push(countsLine(r.label, r));
    add(wineCounts);
  }
} else {
  noWine(`no Wine 10 bed (${bedWhy()}) and no wine on PATH`);
}
discardPack(tgz);

function bedWhy() {
  return process.env.WINPIPE_WINE_BED === 'off' ? 'WINPIPE_WINE_BED=off' : bedBlocker(cacheDir());
}

function noWine(why) {
  if (process.env.REQUIRE_WINE === '1') {
    summary.push(`wine: ${why}, and REQUIRE_WINE=1 requires one; counted as 1 failed`);
    add({ passed: 0, failed: 1, skipped: 0 });
  } else {
    summary.push(`wine: ${why}; the Windows path was not tested (set REQUIRE_WINE=1 to make this an error)`);
  }
}

log('');
for (const line of summary) log(line);
log(`${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
process.exit(total.failed > 0 ? 1 : 0);
