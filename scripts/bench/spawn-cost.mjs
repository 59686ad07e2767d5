#!/usr/bin/env node
// What a spawnWithHandles costs against child_process.spawn of the same child, in one run,
// interleaved (docs/spawn.md "Handing a pipe to any child"). Each round starts the child and waits for
// its exit; the synchronous call alone is timed too.
//
//   npm run build && node scripts/wine.mjs exec scripts/bench/spawn-cost.mjs [rounds]   (Windows, Wine)
//   npm run build && node scripts/bench/spawn-cost.mjs [rounds]                         (POSIX: sh)
//
// Windows needs test/fixtures/bin/handles.exe (scripts/wine.mjs builds it). Prints one JSON line.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPipe, spawnWithHandles } from '../../dist/esm/index.js';

const rounds = Number(process.argv[2] ?? 30);
const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const [cmd, args] = process.platform === 'win32' ? [path.join(root, 'test', 'fixtures', 'bin', 'handles.exe'), ['exit', '0']] : ['sh', ['-c', 'exit 0']];
const { reader, writer } = createPipe();

const exit = (c) => new Promise((r) => (c.exitCode !== null ? r() : c.once('exit', r)));
async function once(kind) {
  const t0 = performance.now();
  const c = kind === 'ours' ? spawnWithHandles(cmd, args, { handles: [writer], stdio: 'ignore', windowsHide: true }) : spawn(cmd, args, { stdio: 'ignore', windowsHide: true });
  const call = performance.now() - t0;
  await exit(c);
  return { call, total: performance.now() - t0 };
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const samples = { ours: [], node: [] };
await once('ours');
await once('node');
for (let i = 0; i < rounds; i++) {
  for (const kind of i % 2 ? ['ours', 'node'] : ['node', 'ours']) samples[kind].push(await once(kind));
}
const row = (s) => ({ callMs: +median(s.map((x) => x.call)).toFixed(2), spawnToExitMs: +median(s.map((x) => x.total)).toFixed(2) });
const ours = row(samples.ours);
const node = row(samples.node);
console.log(
  JSON.stringify({
    platform: process.platform,
    rounds,
    spawnWithHandles: ours,
    childProcessSpawn: node,
    ratioCall: +(ours.callMs / node.callMs).toFixed(2),
    ratioSpawnToExit: +(ours.spawnToExitMs / node.spawnToExitMs).toFixed(2),
  }),
);
writer.close();
reader.close();
