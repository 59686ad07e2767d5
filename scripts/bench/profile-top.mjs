// Summarizes a V8 .cpuprofile (node --cpu-prof; scripts/bench.mjs --cpu-prof): self time per
// function, the top N (default 30).
//
//   node scripts/bench/profile-top.mjs <file.cpuprofile> [N]
import fs from 'node:fs';
const [file, n = 30] = process.argv.slice(2);
const p = JSON.parse(fs.readFileSync(file, 'utf8'));
const self = new Map();
const byId = new Map(p.nodes.map((x) => [x.id, x]));
const dt = new Map();
for (let i = 0; i < p.samples.length; i++) dt.set(p.samples[i], (dt.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
let total = 0;
for (const [id, t] of dt) {
  const node = byId.get(id);
  const cf = node.callFrame;
  const key = `${cf.functionName || '(anon)'} ${cf.url.split('/').slice(-2).join('/')}:${cf.lineNumber + 1}`;
  self.set(key, (self.get(key) ?? 0) + t);
  total += t;
}
const rows = [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(n));
for (const [k, t] of rows) console.log(`${((100 * t) / total).toFixed(1).padStart(5)}%  ${(t / 1000).toFixed(1).padStart(8)} ms  ${k}`);
console.log(`total ${(total / 1000).toFixed(1)} ms`);
