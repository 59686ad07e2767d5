// B6's server alone, so that one process can be profiled (callgrind, strace -c): see run.sh.
// node server.mjs <ours|net> <cycles> <readyfile>: greets each connection with 1 byte, as B6 does.
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
const [impl, cyclesS, readyFile] = process.argv.slice(2);
const cycles = Number(cyclesS);
const dist = process.env.WINPIPE_BENCH_DIST ?? new URL('../../../dist', import.meta.url).pathname;
const G = Buffer.from([0x2a]);
let closed = 0,
  done;
const finished = new Promise((r) => (done = r));
function accepted(conn) {
  conn.on('error', () => {});
  conn.on('end', () => conn.end());
  conn.on('close', () => {
    if (++closed === cycles) done();
  });
  conn.resume();
  conn.write(G);
}
let server, name;
if (impl === 'ours') {
  const { createServer } = await import(pathToFileURL(path.join(dist, 'esm/index.js')).href);
  name = `np-b6-${process.pid}`;
  server = createServer({ mode: 'byte' }, accepted);
  await server.listen(name);
} else {
  name = `${process.env.TMPDIR ?? '/tmp'}/b6-net-${process.pid}.sock`;
  server = net.createServer(accepted);
  await new Promise((res) => server.listen({ path: name, backlog: 511 }, res));
}
fs.writeFileSync(readyFile, name);
const c0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
await finished;
const s = Number(process.hrtime.bigint() - t0) / 1e9;
const u = process.cpuUsage(c0);
await server.close();
process.stderr.write(
  `server ${impl} ${cycles}: ${(cycles / s).toFixed(0)} conn/s, cpu ${((u.user + u.system) / cycles).toFixed(0)} µs/conn (user ${(u.user / cycles).toFixed(0)} sys ${(u.system / cycles).toFixed(0)})\n`,
);
