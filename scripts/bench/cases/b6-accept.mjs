// B6: accept rate. One client process connects, reads a 1-byte greeting and closes, `parallel`
// at a time. Connections per second.
import { fork } from 'node:child_process';
import net from 'node:net';
import { childScript, cpuSeconds, exited, fmtCount, netPath, uniqueName, untilDone, winpipe } from '../lib.mjs';

export const id = 'B6';

export function sizes(mode, { isWindows, quick }) {
  const cycles = mode === 'smoke' ? 40 : mode === 'quick' ? 500 : 5000;
  return { cycles: isWindows && mode !== 'smoke' ? (quick ? 125 : 500) : cycles, parallel: 4 };
}

export const sizesText = (s) => `B6 ${fmtCount(s.cycles)} cycles`;

const GREETING = Buffer.from([0x2a]);

/** Every accepted connection is greeted with one byte and must close. */
function cycleStats(cycles) {
  let done;
  let failed;
  const s = {
    count: 0,
    closed: 0,
    finished: new Promise((resolve, reject) => {
      done = resolve;
      failed = reject;
    }),
    fail: (err) => failed(err),
    accepted(conn) {
      s.count++;
      conn.on('error', () => {}); // a client that closes at once may reset: the cycle still counts
      // winpipe's POSIX connections are half-open (allowHalfOpen), as a named pipe is: end our side too.
      conn.on('end', () => conn.end());
      conn.on('close', () => {
        if (++s.closed === cycles) done();
      });
      conn.resume();
      conn.write(GREETING);
    },
  };
  return s;
}

async function acceptCycles(stats, cycles, parallel, impl, name) {
  const child = fork(childScript, ['cycles', impl, name, String(cycles), String(parallel)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let clientDone = 0;
  const errors = [];
  await new Promise((resolve, reject) => {
    child.on('message', (m) => {
      if (m === 'ready') resolve();
      else if (m?.done !== undefined) clientDone = m.done;
      else if (m?.error) {
        errors.push(m.error);
        reject(new Error(m.error));
        stats.fail(new Error(m.error));
      }
    });
    child.once('exit', (code) => reject(new Error(`client process exited with ${code} before it was ready`)));
  });
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  child.send('go');
  try {
    await untilDone(stats.finished, () => `accepted ${stats.count}, closed ${stats.closed}, client cycles ${clientDone}/${cycles}`);
  } catch (err) {
    child.kill();
    return { ok: false, error: err.message };
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = cpuSeconds(c0);
  const code = await exited(child);
  const ok = stats.count === cycles && stats.closed === cycles && clientDone === cycles && code === 0 && errors.length === 0;
  return {
    ok,
    count: stats.closed,
    seconds,
    cpuSeconds: cpu,
    ...(ok ? {} : { error: `accepted ${stats.count}, closed ${stats.closed}, client cycles ${clientDone}/${cycles}, client exit ${code} ${errors.join('; ')}` }),
  };
}

export const runners = {
  async ours({ cycles, parallel }) {
    const { createServer } = await winpipe();
    const name = uniqueName();
    const stats = cycleStats(cycles);
    const server = createServer({ mode: 'byte' }, (conn) => stats.accepted(conn));
    server.on('error', (err) => stats.fail(err));
    await server.listen(name);
    const result = await acceptCycles(stats, cycles, parallel, 'ours', name);
    await server.close();
    return result;
  },
  async 'node-net'({ cycles, parallel }) {
    const p = netPath(uniqueName());
    const stats = cycleStats(cycles);
    const server = net.createServer((socket) => stats.accepted(socket));
    server.on('error', (err) => stats.fail(err));
    await new Promise((resolve, reject) => server.listen({ path: p, backlog: 511 }, resolve).once('error', reject));
    const result = await acceptCycles(stats, cycles, parallel, 'net', p);
    server.close();
    return result;
  },
};

export function define(p, { node }) {
  return [
    {
      title: `accept rate: ${fmtCount(p.cycles)} cycles of connect, 1-byte greeting, close; ${p.parallel} at a time`,
      param: `${p.parallel} parallel`,
      unit: 'conn/s',
      better: 'higher',
      value: (r) => r.count / r.seconds,
      rows: [
        { peer: 'ours', label: 'winpipe server (byte mode) + connect', role: 'ours', ...node('ours', p) },
        { peer: 'node-net', label: 'Node net.Server + net.connect', role: 'peer', target: { op: '>=', ratio: 1.0 }, ...node('node-net', p) },
      ],
    },
  ];
}
