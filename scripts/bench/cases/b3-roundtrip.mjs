// B3: ping-pong round trips of a small message with a child process. Time per round trip, µs.
import { fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { childScript, cpuSeconds, distModule, exited, fmtCount, isWindows, netPath, uniqueName, winpipe } from '../lib.mjs';

export const id = 'B3';

export function sizes(mode, { isWindows, quick }) {
  const s = mode === 'smoke' ? { count: 200, warmup: 20 } : mode === 'quick' ? { count: 2000, warmup: 200 } : { count: 10_000, warmup: 1000 };
  // Under Wine a round trip is ~2 ms.
  if (isWindows && mode !== 'smoke') Object.assign(s, { count: quick ? 500 : 2000, warmup: 100 });
  return { ...s, size: 100 };
}

export const sizesText = (s) => `B3 ${fmtCount(s.count)} round trips after ${fmtCount(s.warmup)} warm-up`;

/** warmup + count round trips of a size-byte message carrying its sequence number. */
async function pingPong(count, warmup, size, roundTrip) {
  let bad = 0;
  let t0 = process.hrtime.bigint();
  let c0 = process.cpuUsage();
  for (let i = 0; i < warmup + count; i++) {
    if (i === warmup) {
      t0 = process.hrtime.bigint();
      c0 = process.cpuUsage();
    }
    const m = Buffer.allocUnsafe(size);
    m.writeUInt32LE(i, 0);
    m.fill(0x70, 4);
    const back = await roundTrip(m);
    if (back.length !== size || back.readUInt32LE(0) !== i) bad++;
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { ok: bad === 0, count, seconds, cpuSeconds: cpuSeconds(c0), ...(bad ? { error: `${bad} bad echoes` } : {}) };
}

function withChildCheck(result, code) {
  if (code === 0) return result;
  return { ...result, ok: false, error: `${result.error ? `${result.error}; ` : ''}echo child exited with ${code}` };
}

export const runners = {
  async 'ours-message'({ count, warmup, size }) {
    const { createServer } = await winpipe();
    const name = uniqueName();
    const server = createServer({ mode: 'message' });
    const accepted = once(server, 'connection');
    await server.listen(name);
    const child = spawn(process.execPath, [childScript, 'echo-ours', name, 'message'], { stdio: ['ignore', 'inherit', 'inherit'] });
    const [conn] = await accepted;
    await server.close();
    let next;
    conn.on('data', (m) => next(m));
    const result = await pingPong(count, warmup, size, (m) => {
      const p = new Promise((resolve) => (next = resolve));
      conn.write(m);
      return p;
    });
    conn.end();
    return withChildCheck(result, await exited(child));
  },
  async connection({ count, warmup, size }) {
    // winpipe/connection's Pipe(), the multiprocessing.Pipe() twin: one end goes to the child as fd 3.
    const { Pipe } = await distModule('esm/channel/index.js');
    const [ours, theirs] = Pipe();
    const child = spawn(process.execPath, [childScript, 'echo-connection'], { stdio: ['ignore', 'inherit', 'inherit', theirs] });
    theirs.close();
    const result = await pingPong(count, warmup, size, async (m) => {
      await ours.sendBytes(m);
      return ours.recvBytes();
    });
    ours.close();
    return withChildCheck(result, await exited(child));
  },
  async 'node-ipc'({ count, warmup, size }) {
    const child = fork(childScript, ['echo-ipc'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let next;
    child.on('message', (m) => next(m));
    const filler = 'p'.repeat(size - 10);
    const result = await pingPong(count, warmup, size, (m) => {
      const p = new Promise((resolve) => (next = resolve));
      // The message a Node user sends: a string of the same size, carrying the sequence number.
      child.send(`${String(m.readUInt32LE(0)).padStart(10, '0')}${filler}`);
      return p.then((s) => {
        const back = Buffer.alloc(size);
        back.writeUInt32LE(Number(s.slice(0, 10)), 0);
        return s.length === size ? back : Buffer.alloc(0);
      });
    });
    child.disconnect();
    return withChildCheck(result, await exited(child));
  },
  async 'node-net'({ count, warmup, size }) {
    const p = netPath(uniqueName());
    const server = net.createServer({ allowHalfOpen: true });
    const accepted = once(server, 'connection');
    await new Promise((resolve, reject) => server.listen(p, resolve).once('error', reject));
    const child = spawn(process.execPath, [childScript, 'echo-net', p], { stdio: ['ignore', 'inherit', 'inherit'] });
    const [socket] = await accepted;
    server.close();
    // A byte stream: a reply is complete once `size` bytes are back.
    let parts = [];
    let have = 0;
    let next;
    socket.on('data', (d) => {
      parts.push(d);
      have += d.length;
      if (have >= size) {
        const all = parts.length === 1 ? parts[0] : Buffer.concat(parts, have);
        parts = [];
        have = 0;
        next(all);
      }
    });
    const result = await pingPong(count, warmup, size, (m) => {
      const pr = new Promise((resolve) => (next = resolve));
      socket.write(m);
      return pr;
    });
    socket.end();
    return withChildCheck(result, await exited(child));
  },
};

export function define(p, { node, pyRow, env }) {
  return [
    {
      title: `ping-pong round trip, ${p.size} B messages, two processes, ${fmtCount(p.count)} round trips`,
      param: `${p.size} B`,
      unit: 'µs/round trip',
      better: 'lower',
      value: (r) => (r.seconds / r.count) * 1e6,
      rows: [
        { peer: 'ours', label: 'winpipe named pipe, message mode (write / data)', role: 'ours', ...node('ours-message', p) },
        {
          peer: 'connection',
          label: 'winpipe/connection Pipe (sendBytes / recvBytes)',
          role: 'ours',
          ...(env.connection ? node('connection', p) : { status: 'pending', reason: 'winpipe/connection is not on this branch yet' }),
        },
        { peer: 'node-ipc', label: 'Node IPC (fork + process.send)', role: 'peer', target: { op: '<=', ratio: 0.5 }, ...node('node-ipc', p) },
        { peer: 'node-net', label: `Node net (${isWindows ? 'named pipe' : 'Unix socket'})`, role: 'peer', target: { op: '<=', ratio: 1.0 }, ...node('node-net', p) },
        {
          // Reported, not a target: Python blocks in recv(), which an event loop cannot.
          peer: 'python',
          label: 'Python multiprocessing.Pipe (blocking recv)',
          role: 'info',
          ...pyRow(['b3', String(p.count), String(p.size), String(p.warmup)]),
        },
      ],
    },
  ];
}
