// B6: accept rate. One client process connects, reads a 1-byte greeting and closes, `parallel`
// at a time. Connections per second.
import { fork } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import { childScript, cpuSeconds, distModule, exited, fmtCount, netPath, uniqueName, untilDone, winpipe } from '../lib.mjs';

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

/** Node's own net.Server listening at `p` (Node's default backlog), its connections counted in `stats`. */
async function listenNet(p, stats) {
  const server = net.createServer((socket) => stats.accepted(socket));
  server.on('error', (err) => stats.fail(err));
  await new Promise((resolve, reject) => server.listen({ path: p, backlog: 511 }, resolve).once('error', reject));
  return server;
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
    const server = await listenNet(p, stats);
    const result = await acceptCycles(stats, cycles, parallel, 'net', p);
    server.close();
    return result;
  },
};

/**
 * The two halves apart, to say which side the time goes to: winpipe's server with Node's clients
 * (net.connect to its socket path), and Node's server at winpipe's socket path with winpipe's
 * connect (which checks the directory and the server's uid as it does against its own server).
 * POSIX only: on Windows net's clients and server are a different engine, not one half of ours.
 */
const halves = {
  async 'ours-server'({ cycles, parallel }) {
    const { createServer, pipePath } = await winpipe();
    const name = uniqueName();
    const stats = cycleStats(cycles);
    const server = createServer({ mode: 'byte' }, (conn) => stats.accepted(conn));
    server.on('error', (err) => stats.fail(err));
    await server.listen(name);
    const result = await acceptCycles(stats, cycles, parallel, 'net', pipePath(name));
    await server.close();
    return result;
  },
  /**
   * The floor for these defaults: Node's server and clients, each side making the security checks
   * winpipe makes with them, through the same functions of the built package, and nothing else of
   * winpipe's. Server: `SO_PEERCRED` and `SO_PEERGROUPS` and the uid rule of `security:
   * 'current-user'` (posix/trust.js peerCredentials, mayAccept against the effective uid read once,
   * as winpipe's server reads it when it listens); client: see child.mjs checkedConnector. Ours
   * against this row is what winpipe costs beyond its checks.
   */
  async 'net-checked'({ cycles, parallel }) {
    const { pipePath } = await winpipe();
    const { mayAccept, peerCredentials } = await distModule('esm/posix/trust.js');
    const { socketFd } = await distModule('esm/posix/socket.js');
    const name = uniqueName();
    const p = pipePath(name);
    mkdirSync(path.dirname(p), { recursive: true, mode: 0o700 });
    const stats = cycleStats(cycles);
    const self = process.geteuid();
    const server = await listenNet(p, {
      ...stats,
      accepted(socket) {
        if (!mayAccept(peerCredentials(socketFd(socket), true), 'current-user', self)) {
          socket.destroy();
          stats.fail(new Error('net-checked: the client was refused'));
          return;
        }
        stats.accepted(socket);
      },
    });
    const result = await acceptCycles(stats, cycles, parallel, 'net-checked', name);
    server.close();
    return result;
  },
  async 'ours-client'({ cycles, parallel }) {
    const { pipePath } = await winpipe();
    const name = uniqueName();
    const p = pipePath(name);
    // The private directory as winpipe makes it (mode 0700, ours); it usually exists already.
    mkdirSync(path.dirname(p), { recursive: true, mode: 0o700 });
    const stats = cycleStats(cycles);
    const server = await listenNet(p, stats);
    const result = await acceptCycles(stats, cycles, parallel, 'ours', name);
    server.close();
    return result;
  },
};
if (process.platform !== 'win32') Object.assign(runners, halves);

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
        ...(process.platform === 'win32'
          ? []
          : [
              {
                peer: 'net-checked',
                label: "Node net.Server + net.connect, each making winpipe's security checks (client 3 system calls, server 2): the floor for these defaults",
                role: 'info',
                ...node('net-checked', p),
              },
              { peer: 'ours-server', label: 'winpipe server (byte mode) + net.connect: the server half alone', role: 'ours-info', ...node('ours-server', p) },
              { peer: 'ours-client', label: "Node net.Server at winpipe's socket path + winpipe connect: the client half alone", role: 'ours-info', ...node('ours-client', p) },
            ]),
      ],
    },
  ];
}
