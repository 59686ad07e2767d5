#!/usr/bin/env node
// A/B of two builds on one bench runner, interleaved in one run: what an engine change is
// measured with before it goes into `npm run bench`. Build A is dist/ (or --a=<dir>),
// build B the directory given; both must hold esm/ (a copy of another checkout's dist/).
//
//   node scripts/bench/ab.mjs --b=benchmarks/dist-old --case=B4 --peer=ours \
//        --params='{"clients":64,"msgs":100,"size":100}' [--runs=5]
//   node scripts/wine.mjs exec scripts/bench/ab.mjs ...   (the Windows path; put B under
//        benchmarks/, which the Wine stage copies, so that koffi resolves the same way)
//
// --a=<dir> puts another build in A's place (default dist/). --peer-b=<peer> runs B with another
// runner of the same case (B is then dist/ too unless --b is given): ours against a peer in one
// interleaved run, e.g. --case=B6 --peer=ours --peer-b=node-net. --params-b=<json> gives B other
// parameters (B1 with another pipe size, say).
//
// Prints each run and the medians, and the ratio A/B of the runner's rate (count / seconds).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const arg = (n, d) => process.argv.find((a) => a.startsWith(`--${n}=`))?.slice(n.length + 3) ?? d;
const a = arg('a');
const b = arg('b');
const peerB = arg('peer-b');
if (!b && !peerB && !arg('params-b')) throw new Error('--b=<dir with esm/>, --peer-b=<peer> or --params-b=<json> is required');
const spec = { case: arg('case', 'B4'), peer: arg('peer', 'ours'), params: JSON.parse(arg('params', '{"clients":64,"msgs":100,"size":100}')) };
const paramsB = arg('params-b');
const specB = { ...spec, peer: peerB ?? spec.peer, ...(paramsB ? { params: JSON.parse(paramsB) } : {}) };
const runs = Number(arg('runs', 5));
const bench = path.join(here, '..', 'bench.mjs');
let unit = '/s';

function once(dist, spec) {
  const env = { ...process.env };
  if (dist) env.WINPIPE_BENCH_DIST = path.resolve(dist);
  else delete env.WINPIPE_BENCH_DIST;
  const r = spawnSync(process.execPath, [bench, '--run', JSON.stringify(spec)], { env, encoding: 'utf8', maxBuffer: 64 << 20 });
  const line = r.stdout.split(/\r?\n/).find((l) => l.startsWith('BENCH-RESULT '));
  if (!line) throw new Error(`runner failed: ${r.stderr.slice(-2000)}`);
  const res = JSON.parse(line.slice('BENCH-RESULT '.length));
  if (!res.ok) throw new Error(`run failed its check: ${res.error}`);
  // B1 reports bytes, not a count: its rate is MiB/s.
  const mib = res.count === undefined && res.measuredBytes !== undefined;
  unit = mib ? ' MiB/s' : '/s';
  return { rate: (mib ? res.measuredBytes / 2 ** 20 : (res.count ?? 1)) / res.seconds, cpu: res.cpuSeconds };
}
const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const A = [];
const B = [];
for (let i = 0; i < runs; i++) {
  // Alternate which goes first, so that a drift in load hits both alike.
  for (const which of i % 2 ? ['B', 'A'] : ['A', 'B']) {
    const r = which === 'A' ? once(a, spec) : once(b, specB);
    (which === 'A' ? A : B).push(r);
    console.log(`run ${i + 1}/${runs} ${which} ${r.rate.toFixed(0)}${unit} cpu ${r.cpu?.toFixed(2)} s`);
  }
}
const ma = median(A.map((r) => r.rate));
const mb = median(B.map((r) => r.rate));
const ca = median(A.map((r) => r.cpu ?? NaN));
const cb = median(B.map((r) => r.cpu ?? NaN));
console.log(
  `A (${a ?? 'dist'} ${spec.peer}${paramsB ? ` ${JSON.stringify(spec.params)}` : ''}) median ${ma.toFixed(0)}${unit}, cpu ${ca.toFixed(2)} s; B (${b ?? 'dist'} ${specB.peer}${paramsB ? ` ${paramsB}` : ''}) median ${mb.toFixed(0)}${unit}, cpu ${cb.toFixed(2)} s; A/B ${(ma / mb).toFixed(2)}×`,
);
