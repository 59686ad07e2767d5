// B6's client alone (the cycles of child.mjs): node client.mjs <ours|net> <name> <cycles> <parallel>
import path from 'node:path';
import { once } from 'node:events';
import { pathToFileURL } from 'node:url';
const [impl, name, totalS, parS] = process.argv.slice(2);
const total = Number(totalS),
  parallel = Number(parS);
const dist = process.env.WINPIPE_BENCH_DIST ?? new URL('../../../dist', import.meta.url).pathname;
const { connectRetry, netConnect } = await import('../../bench/clients.mjs');
const lib = impl === 'ours' ? await import(pathToFileURL(path.join(dist, 'esm/index.js')).href) : undefined;
let started = 0;
const one = async () => {
  const conn = impl === 'ours' ? await connectRetry(() => lib.connect(name, { connectTimeout: 10_000 })) : await connectRetry(() => netConnect(name));
  await once(conn, 'data');
  const gone = once(conn, 'close');
  conn.destroy();
  await gone;
};
const lane = async () => {
  while (started < total) {
    started++;
    await one();
  }
};
const c0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
await Promise.all(Array.from({ length: parallel }, lane));
const s = Number(process.hrtime.bigint() - t0) / 1e9;
const u = process.cpuUsage(c0);
process.stderr.write(`client ${impl} ${total}: ${(total / s).toFixed(0)} conn/s, cpu ${((u.user + u.system) / total).toFixed(0)} µs/conn\n`);
