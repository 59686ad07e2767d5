#!/usr/bin/env node
// `npm run bench`: winpipe against the alternatives a user would pick instead, in one run on one
// machine. Writes BENCHMARKS.md (the table and a short reading) and benchmarks/results.json.
//
//   node scripts/bench.mjs [--quick] [--smoke] [--runs=N] [--case B4[,B1]] [--cpu-prof] [--out-root=DIR]
//   node scripts/bench.mjs --wine [...]      the same, with Windows node.exe under Wine
//                                            (scripts/wine.mjs exec); npm run bench:wine
//   node scripts/bench.mjs --report          rewrite BENCHMARKS.md's sections from benchmarks/*.json
//
//   --quick   small sizes, 3 runs: under 2 minutes; results go to benchmarks/tmp/ only
//   --smoke   tiny sizes, 1 run, nothing written: checks that every case runs and validates
//             (test/repo/bench.test.ts)
//   --case    some cases (also --case=B4, --only=B1,B3); `npm run bench -- --case B4`. A full run of
//             some cases replaces just them in benchmarks/results.json and BENCHMARKS.md (the
//             section names what was re-measured when); with --quick it writes benchmarks/tmp/ only
//   --cpu-prof  every Node runner writes a CPU profile to benchmarks/tmp/prof/; summarize one with
//             node scripts/bench/profile-top.mjs <file>
//
// Method. Every case runs each implementation ("peer") in a fresh process per run, the peers of a
// case interleaved run by run (the order rotates), so drift and noise hit all of them alike. Each
// run first checks its data (byte counts and stamps, sequence numbers, message and connection
// counts); a run that fails its check is no result. The table gives medians over >= 5 runs, and
// the ratio ours/peer: B1, B4 and B6 are throughputs (higher is better), B2, B3 and B5 times
// (lower is better). Peak RSS is the measured process's own (the reader, the server, the
// ping-pong initiator); CPU per GiB is that process's CPU time.
//
// Peers: Node's own `stdio: 'pipe'`, IPC (`process.send`) and `net` pipes; Python's `os.pipe` and
// `multiprocessing.Pipe` (scripts/bench/peers.py, python3 on PATH); a C read/write loop
// (scripts/bench/peers.c, built with `cc`). Under Wine there is no Windows Python and no C
// compiler: those rows say n/a.
//
// The cases live in scripts/bench/cases/, one small module each (see cases/index.mjs for how to
// add one); this file is the runner; scripts/bench/report.mjs writes the tables.
//
// Node built-ins only. The benchmarks import the built package (dist/), building it first when
// it is missing or older than src/.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { caseModules } from './bench/cases/index.mjs';
import { argv, distEntry, flag, isWindows, log, maxRssKiB, nextSerial, peersC, peersPy, root, underWine, value } from './bench/lib.mjs';
import { fmtNum, jsonResults, label, markdown, printTable, summarize, writeReport } from './bench/report.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const RESULT = 'BENCH-RESULT ';

// ====================================================================== options

function config() {
  const smoke = flag('smoke');
  const quick = flag('quick') || smoke;
  const mode = smoke ? 'smoke' : quick ? 'quick' : 'full';
  // Wine moves every byte through wineserver and starts node.exe slowly (~1.5 s), so its runs use
  // smaller sizes (each case's sizes()) and --quick there has 2 runs.
  const c = { mode, runs: smoke ? 1 : quick ? (isWindows ? 2 : 3) : 5, sizes: {} };
  for (const m of caseModules) c.sizes[m.id] = m.sizes(mode, { isWindows, quick });
  const runs = value('runs');
  if (runs) c.runs = Math.max(1, Number(runs));
  const only = value('case') ?? value('only');
  c.only = only ? new Set(only.toUpperCase().split(',')) : undefined;
  if (c.only) {
    const unknown = [...c.only].filter((id) => !caseModules.some((m) => m.id === id));
    if (unknown.length) throw new Error(`unknown case ${unknown.join(', ')}; the cases are ${caseModules.map((m) => m.id).join(', ')}`);
  }
  return c;
}

/** Newest mtime of any file under `dir` (0 if none). */
function newest(dir) {
  let t = 0;
  if (!fs.existsSync(dir)) return t;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : fs.statSync(p).mtimeMs);
  }
  return t;
}

/** Builds dist/ when it is missing or older than src/ (the benchmarks measure the built package). */
function ensureBuilt() {
  if (process.env.WINPIPE_BENCH_DIST) return;
  const stale = !fs.existsSync(distEntry) || newest(path.join(root, 'src')) > fs.statSync(distEntry).mtimeMs;
  if (!stale) return;
  log('bench: dist/ is missing or older than src/; running scripts/build.mjs');
  const r = spawnSync(process.execPath, [path.join(here, 'build.mjs')], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`scripts/build.mjs exited with ${r.status ?? r.signal}`);
}

/** Runner mode: one measurement in this process, its result as the last line of stdout. */
async function runOne(spec) {
  const fn = caseModules.find((m) => m.id === spec.case)?.runners[spec.peer];
  let result;
  try {
    if (!fn) throw new Error(`no runner ${spec.case}/${spec.peer}`);
    result = await fn(spec.params);
  } catch (err) {
    result = { ok: false, error: String(err?.stack ?? err) };
  }
  result.maxRssKiB = maxRssKiB();
  process.stdout.write(`${RESULT}${JSON.stringify(result)}\n`);
  // Anything left (a server, a socket) must not keep the runner alive.
  process.exit(0);
}

/** Every case's table entries, each tagged with its case id. */
function cases(cfg, env) {
  const py = env.python;
  const cbin = env.cPeers;
  const na = (reason) => ({ status: 'n/a', reason });
  const list = [];
  for (const m of caseModules) {
    if (cfg.only && !cfg.only.has(m.id)) continue;
    const ctx = {
      env,
      node: (peer, params) => ({ node: { case: m.id, peer, params } }),
      pyRow: (args) => (py.ok ? { cmd: py.cmd, args: [peersPy, ...args] } : na(py.reason)),
      cRow: (args) => (cbin.ok ? { cmd: cbin.path, args } : na(cbin.reason)),
    };
    for (const c of m.define(cfg.sizes[m.id], ctx)) list.push({ id: m.id, ...c });
  }
  return list;
}

// ====================================================================== environment

function findPython() {
  if (underWine) return { ok: false, reason: 'no Windows Python under Wine' };
  for (const cmd of isWindows ? ['python', 'py'] : ['python3']) {
    // The interpreter itself, not a launcher or shim (pyenv's shims cost ~0.5 s per start).
    const r = spawnSync(cmd, ['-c', 'import sys; print(sys.executable); print(sys.version.split()[0])'], { encoding: 'utf8', windowsHide: true });
    if (r.status === 0) {
      const [exe, version] = r.stdout.trim().split(/\r?\n/);
      return { ok: true, cmd: exe && fs.existsSync(exe) ? exe : cmd, version };
    }
  }
  return { ok: false, reason: 'python3 not found on PATH' };
}

function buildC() {
  if (underWine) return { ok: false, reason: 'not cross-compiled for Wine' };
  if (isWindows) return { ok: false, reason: 'the C peer is POSIX only' };
  const out = path.join(root, 'benchmarks', 'tmp', 'peers');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  if (fs.existsSync(out) && fs.statSync(out).mtimeMs >= fs.statSync(peersC).mtimeMs) return { ok: true, path: out };
  const r = spawnSync('cc', ['-O2', '-o', out, peersC], { encoding: 'utf8' });
  if (r.error) return { ok: false, reason: 'no C compiler (cc not found)' };
  if (r.status !== 0) return { ok: false, reason: `cc failed: ${r.stderr.trim().split('\n')[0]}` };
  return { ok: true, path: out };
}

function wineVersion() {
  if (!isWindows) return null;
  const r = spawnSync(process.execPath, ['-e', "try{const k=require('koffi');process.stdout.write(k.load('ntdll.dll').func('const char *wine_get_version()')())}catch{}"], {
    cwd: root,
    encoding: 'utf8',
    windowsHide: true,
  });
  return r.stdout?.trim() || null;
}

function connectionModuleExists() {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
    return Boolean(pkg.exports?.['./connection']);
  } catch {
    return false;
  }
}

// ====================================================================== orchestration

/** Runs one row once in a fresh process; resolves its parsed result. */
function runJob(row, timeoutMs) {
  // --cpu-prof: every Node runner writes a V8 CPU profile (see scripts/bench/profile-top.mjs).
  // One folder per run; forked client processes inherit the flags and write theirs next to it.
  const prof = flag('cpu-prof') ? ['--cpu-prof', `--cpu-prof-dir=${path.join(value('out-root') ?? root, 'benchmarks', 'tmp', 'prof', `${row.node?.case}-${row.node?.peer}-${nextSerial()}`)}`] : [];
  const [cmd, args] = row.node ? [process.execPath, [...prof, fileURLToPath(import.meta.url), '--run', JSON.stringify(row.node)]] : [row.cmd, row.args];
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], windowsHide: true });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => (out += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve({ ok: false, error: `timed out after ${Math.round(timeoutMs / 1000)} s` });
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ ok: false, error: String(err) });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const lines = out.trim().split(/\r?\n/);
      const line = row.node
        ? lines
            .reverse()
            .find((l) => l.startsWith(RESULT))
            ?.slice(RESULT.length)
        : lines.at(-1);
      try {
        resolve(JSON.parse(line));
      } catch {
        resolve({ ok: false, error: `no result (exit ${code}): ${out.slice(-500)}` });
      }
    });
  });
}

async function measure(cfg, list) {
  const timeoutMs = cfg.mode === 'full' ? 300_000 : 120_000;
  const t0 = Date.now();
  // Rows with a `shared` key (the B4 C floor) are one measurement for the whole case: timed in
  // the first entry that has them, interleaved with its peers, and reused by the later entries.
  const shared = new Map();
  for (const c of list) {
    const reused = c.rows.filter((r) => !r.status && r.shared && shared.has(r.shared));
    const live = c.rows.filter((r) => !r.status && !reused.includes(r));
    for (const r of c.rows) r.runs = [];
    for (const r of reused) r.runs = shared.get(r.shared);
    for (const r of live) if (r.shared) shared.set(r.shared, r.runs);
    log(`${c.id} ${c.title}`);
    if (reused.length) log(`  (${reused.map((r) => r.peer).join(', ')}: the runs above, measured once per case)`);
    for (let run = 0; run < cfg.runs; run++) {
      // Rotate the order each run: no peer always goes first (cold) or last.
      const order = live.map((_, i) => live[(i + run) % live.length]);
      for (const row of order) {
        const started = Date.now();
        const res = await runJob(row, timeoutMs);
        row.runs.push(res);
        const v = res.ok ? c.value(res) : NaN;
        const took = `(${((Date.now() - started) / 1000).toFixed(1)} s)`;
        log(`  run ${run + 1}/${cfg.runs} ${row.peer.padEnd(11)} ${res.ok ? `${fmtNum(v)} ${c.unit}` : `FAILED: ${String(res.error).split('\n')[0]}`} ${took}`);
      }
    }
    summarize(c);
  }
  return (Date.now() - t0) / 1000;
}

async function main() {
  const cfg = config();
  ensureBuilt();
  const env = {
    python: findPython(),
    cPeers: buildC(),
    wine: underWine ? wineVersion() : null,
    connection: connectionModuleExists(),
    // Windows has no load average; under Wine the host's is passed in by --wine.
    loadavg:
      value('host-load') ??
      (isWindows
        ? 'n/a'
        : os
            .loadavg()
            .map((x) => x.toFixed(2))
            .join(' ')),
    // node.exe 26 under Wine 10 lists no CPUs: the host's are passed in by --wine too.
    cpus: Number(value('host-cpus')) || os.cpus().length,
    cpuModel: value('host-cpu-model') ?? os.cpus()[0]?.model?.trim(),
  };
  const list = cases(cfg, env);
  log(`bench: ${cfg.mode} mode, ${cfg.runs} run(s) per row, ${label(env).title}`);
  const seconds = await measure(cfg, list);
  printTable(list);
  const failed = list.flatMap((c) => c.rows.filter((r) => r.status === 'failed' || r.status === 'partial').map((r) => `${c.id} ${c.param} ${r.peer}`));
  log(`\nbench: ${(seconds / 60).toFixed(1)} min; ${failed.length ? `FAILED data checks: ${failed.join(', ')}` : 'every run passed its data check'}`);
  if (cfg.mode !== 'smoke') {
    const outRoot = value('out-root') ?? root;
    const L = label(env);
    const json = jsonResults(cfg, list, env, seconds);
    const saved = path.join(outRoot, 'benchmarks', L.file);
    if (cfg.mode === 'full' && cfg.only && fs.existsSync(saved)) {
      // A full run of some cases replaces just those cases in the saved results; the section
      // says which cases were re-measured when.
      const old = JSON.parse(fs.readFileSync(saved, 'utf8'));
      const fresh = json.cases;
      json.cases = [];
      for (const m of caseModules) {
        if (cfg.only.has(m.id)) json.cases.push(...fresh.filter((c) => c.id === m.id));
        else json.cases.push(...old.cases.filter((c) => c.id === m.id));
      }
      json.config.sizes = { ...(old.config.sizes ?? {}), ...json.config.sizes };
      json.remeasured = [...(old.remeasured ?? []).filter((x) => !cfg.only.has(x.id)), ...[...cfg.only].map((id) => ({ id, date: json.date, loadavgAtStart: json.loadavgAtStart }))];
      json.date = old.date;
      json.seconds = old.seconds;
      json.loadavgAtStart = old.loadavgAtStart;
    }
    if (cfg.mode === 'full' && (!cfg.only || fs.existsSync(saved))) {
      fs.mkdirSync(path.join(outRoot, 'benchmarks'), { recursive: true });
      fs.writeFileSync(path.join(outRoot, 'benchmarks', L.file), `${JSON.stringify(json, null, 1)}\n`);
      const file = writeReport(outRoot, json.key, markdown(json));
      log(`bench: wrote ${file} (${json.key} section) and benchmarks/${L.file}`);
    } else {
      const dir = path.join(outRoot, 'benchmarks', 'tmp');
      fs.mkdirSync(dir, { recursive: true });
      const file = path.join(dir, L.file.replace('.json', `-${cfg.mode}.json`));
      fs.writeFileSync(file, `${JSON.stringify(json, null, 1)}\n`);
      fs.writeFileSync(file.replace('.json', '.md'), `${markdown(json)}\n`);
      log(`bench: ${cfg.mode}${cfg.only ? ' (--only)' : ''} results in ${file} (BENCHMARKS.md is written by full runs only)`);
    }
  }
  return failed.length ? 1 : 0;
}

/** `--wine` on the host: build, then run this script with Windows node.exe via scripts/wine.mjs. */
async function hostWine() {
  if (isWindows) throw new Error('--wine runs the Windows path under Wine from a Linux host; on Windows run the script directly');
  ensureBuilt();
  const { toWinePath } = await import(pathToFileURL(path.join(here, 'lib.mjs')).href);
  const pass = argv.filter((a) => a !== '--wine' && !a.startsWith('--out-root=') && !a.startsWith('--host-load=') && !a.startsWith('--host-cpu'));
  const load = `--host-load=${os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')} (Linux host)`;
  const cpus = [`--host-cpus=${os.cpus().length}`, `--host-cpu-model=${os.cpus()[0]?.model?.trim() ?? '?'}`];
  const r = spawnSync(process.execPath, [path.join(here, 'wine.mjs'), 'exec', path.join('scripts', 'bench.mjs'), `--out-root=${toWinePath(root)}`, load, ...cpus, ...pass], {
    cwd: root,
    stdio: 'inherit',
  });
  return r.status ?? 1;
}

/** `--report`: rewrite the BENCHMARKS.md sections from the saved results, without measuring. */
function reportOnly() {
  let n = 0;
  for (const file of ['results.json', 'results-wine.json', 'results-windows.json']) {
    const p = path.join(root, 'benchmarks', file);
    if (!fs.existsSync(p)) continue;
    const json = JSON.parse(fs.readFileSync(p, 'utf8'));
    writeReport(root, json.key ?? (file === 'results.json' ? 'native' : file === 'results-wine.json' ? 'wine' : 'windows'), markdown(json));
    log(`bench: BENCHMARKS.md section from benchmarks/${file}`);
    n++;
  }
  return n ? 0 : 1;
}

if (argv[0] === '--run') {
  await runOne(JSON.parse(argv[1]));
} else if (flag('report')) {
  process.exit(reportOnly());
} else {
  const code = flag('wine') ? await hostWine() : await main();
  process.exit(code);
}
