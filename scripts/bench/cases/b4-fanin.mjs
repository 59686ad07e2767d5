// B4: fan-in. Many clients each send small messages to one server. Throughput in messages/s.
// Three variants: message mode with the clients in 2 other processes (the main case), the same
// with every client in the server's own process, and byte mode (u32 framing, like net).
import { fork } from 'node:child_process';
import net from 'node:net';
import { openClients } from '../clients.mjs';
import { messageFloorRow } from '../floor.mjs';
import { childScript, cpuSeconds, exited, fmtCount, isWindows, netPath, uniqueName, untilDone, winpipe } from '../lib.mjs';

export const id = 'B4';

export function sizes(mode, { isWindows, quick }) {
  let points =
    mode === 'smoke'
      ? [[4, 100]]
      : mode === 'quick'
        ? [
            [8, 1000],
            [64, 250],
            [256, 60],
          ]
        : [
            [8, 10_000],
            [64, 10_000],
            [256, 1250],
          ];
  // Windows allows at most 255 instances of one pipe name, so the largest point there is 250.
  // [1, n]: one client, the shape of the C message-mode floor (scripts/bench/floor.mjs).
  if (isWindows && mode !== 'smoke')
    points = quick
      ? [
          [1, 2000],
          [64, 25],
        ]
      : [
          [1, 4000],
          [8, 800],
          [64, 100],
          [250, 25],
        ];
  // The one-process and byte-mode variants run at one point: the middle one.
  const variant = points[Math.min(1, points.length - 1)];
  // The C floor's own message count: one fixed count for every point (it is one row per run,
  // scripts/bench/floor.mjs), long enough (~1 s under Wine) that each of its trials is not a blip.
  const floorCount = mode === 'smoke' ? 500 : quick ? 10_000 : 20_000;
  return { points, variant, size: 100, floorCount };
}

export const sizesText = (s) =>
  `B4 ${s.points.map(([n, m]) => `${n} clients × ${fmtCount(m)}`).join(', ')} messages of ${s.size} B, the clients in 2 processes` +
  (s.variant ? `; one-process and byte-mode variants at ${s.variant[0]} clients × ${fmtCount(s.variant[1])}` : '') +
  (s.floorCount ? `; on Windows the C floor, one row per run, ${fmtCount(s.floorCount)} messages in 5 timed trials (median trial)` : '');

/** Per-connection sequence checks and the totals that end a run. */
function fanInStats(clients) {
  let done;
  let failed;
  const finished = new Promise((resolve, reject) => {
    done = resolve;
    failed = reject;
  });
  const s = {
    total: 0,
    ended: 0,
    bad: 0,
    ids: new Set(),
    counts: [],
    connections: 0,
    onConnection: undefined,
    finished,
    fail: (err) => failed(err),
    conn() {
      s.connections++;
      s.onConnection?.();
      let id = -1;
      let seq = 0;
      return {
        message(buf, o, sizeOk) {
          const cid = buf.readUInt32LE(o);
          if (id < 0) {
            id = cid;
            s.ids.add(cid);
          } else if (cid !== id) s.bad++;
          if (!sizeOk || buf.readUInt32LE(o + 4) !== seq) s.bad++;
          seq++;
          s.total++;
        },
        end() {
          s.counts.push(seq);
          if (++s.ended === clients) done();
        },
      };
    },
  };
  return s;
}

/** The server side of a byte stream with u32be length framing, as a net user writes it by hand. */
function framedServerSide(stats, size) {
  return (socket) => {
    const c = stats.conn();
    let pending;
    socket.on('data', (d) => {
      let buf = pending ? Buffer.concat([pending, d]) : d;
      let o = 0;
      while (buf.length - o >= 4) {
        const len = buf.readUInt32BE(o);
        if (buf.length - o - 4 < len) break;
        c.message(buf, o + 4, len === size);
        o += 4 + len;
      }
      pending = o < buf.length ? buf.subarray(o) : undefined;
      buf = undefined;
    });
    socket.on('end', () => {
      if (pending) stats.fail(new Error('a partial message at end of stream'));
      c.end();
      socket.end();
    });
    socket.on('error', (err) => stats.fail(err));
  };
}

function messageServerSide(stats, size) {
  return (conn) => {
    const c = stats.conn();
    conn.on('data', (m) => c.message(m, 0, m.length === size));
    conn.on('end', () => {
      c.end();
      conn.end();
    });
    conn.on('error', (err) => stats.fail(err));
  };
}

/** The clients' half: forked into 2 processes, or (`local`) in this one. Resolves { go, wait }. */
async function startClients(stats, clients, msgs, size, impl, name, local) {
  if (local) {
    const lib = impl === 'net' ? undefined : await winpipe();
    const send = await openClients(lib, impl, name, clients, msgs, size, 0, (err) => stats.fail(err));
    let sent;
    return {
      go: () => (sent = send()),
      wait: async () => {
        await sent;
        return [0];
      },
      kill: () => {},
      errors: [],
    };
  }
  const procs = Math.min(2, clients);
  const children = [];
  let firstId = 0;
  for (let i = 0; i < procs; i++) {
    const n = Math.floor(clients / procs) + (i < clients % procs ? 1 : 0);
    const child = fork(childScript, ['clients', impl, name, String(n), String(msgs), String(size), String(firstId)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    firstId += n;
    children.push(child);
  }
  const errors = [];
  await Promise.all(
    children.map(
      (child) =>
        new Promise((resolve, reject) => {
          child.on('message', (m) => {
            if (m === 'ready') resolve();
            else if (m?.error) {
              errors.push(m.error);
              reject(new Error(m.error));
              stats.fail(new Error(m.error));
            }
          });
          child.once('exit', (code) => reject(new Error(`client process exited with ${code} before it was ready`)));
        }),
    ),
  );
  return {
    go: () => children.forEach((child) => child.send('go')),
    wait: () => Promise.all(children.map(exited)),
    kill: () => children.forEach((child) => child.kill()),
    errors,
  };
}

/** Sets the clients up, waits until the server has them all, then times the fan-in. */
async function fanIn(stats, { clients, msgs, size, local }, impl, name) {
  const c = await startClients(stats, clients, msgs, size, impl, name, local);
  // Every client has connected; wait until the server has them all too, so only messages are timed.
  if (stats.connections < clients) await new Promise((resolve) => (stats.onConnection = () => stats.connections >= clients && resolve()));
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  c.go();
  try {
    await untilDone(stats.finished, () => `messages ${stats.total}/${clients * msgs}, connections ended ${stats.ended}/${clients}`);
  } catch (err) {
    c.kill();
    return { ok: false, error: err.message };
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = cpuSeconds(c0);
  const codes = await c.wait();
  const perConnOk = stats.counts.length === clients && stats.counts.every((n) => n === msgs);
  const ok = stats.bad === 0 && stats.total === clients * msgs && stats.ids.size === clients && perConnOk && codes.every((x) => x === 0) && c.errors.length === 0;
  return {
    ok,
    count: stats.total,
    bytes: stats.total * size,
    seconds,
    cpuSeconds: cpu,
    ...(ok ? {} : { error: `messages ${stats.total}/${clients * msgs}, bad ${stats.bad}, clients ${stats.ids.size}/${clients}, exits ${codes.join(',')} ${c.errors.join('; ')}` }),
  };
}

async function ours(p, mode) {
  const { createServer } = await winpipe();
  const name = uniqueName();
  const stats = fanInStats(p.clients);
  const server = createServer({ mode }, mode === 'message' ? messageServerSide(stats, p.size) : framedServerSide(stats, p.size));
  server.on('error', (err) => stats.fail(err));
  await server.listen(name);
  const result = await fanIn(stats, p, mode === 'message' ? 'ours' : 'ours-byte', name);
  await server.close();
  return result;
}

export const runners = {
  ours: (p) => ours(p, 'message'),
  'ours-byte': (p) => ours(p, 'byte'),
  async 'node-net'(p) {
    const path = netPath(uniqueName());
    const stats = fanInStats(p.clients);
    const server = net.createServer({ allowHalfOpen: true }, framedServerSide(stats, p.size));
    await new Promise((resolve, reject) => server.listen({ path, backlog: 511 }, resolve).once('error', reject));
    const result = await fanIn(stats, p, 'net', path);
    server.close();
    return result;
  },
};

export function define(s, { node }) {
  const entry = (param, title, p, ours, extra = []) => ({
    title,
    param,
    unit: 'msg/s',
    better: 'higher',
    value: (r) => r.count / r.seconds,
    cpuPerGiB: true,
    rows: [
      { peer: ours.peer, label: ours.label, role: 'ours', ...node(ours.peer, p) },
      { peer: 'node-net', label: 'Node net.Server + u32 length framing', role: 'peer', target: { op: '>=', ratio: ours.target }, ...node('node-net', p) },
      ...extra,
    ],
  });
  const list = s.points.map(([clients, msgs]) =>
    entry(
      `${clients} clients`,
      `fan-in: ${clients} clients × ${fmtCount(msgs)} messages of ${s.size} B to one server`,
      { clients, msgs, size: s.size },
      {
        peer: 'ours',
        label: 'winpipe server, message mode',
        target: 1.0,
      },
      isWindows ? [messageFloorRow(s.floorCount, s.size)] : [],
    ),
  );
  const [clients, msgs] = s.variant;
  list.push(
    entry(
      `${clients} clients, one process`,
      `fan-in, clients and server in one process: ${clients} clients × ${fmtCount(msgs)} messages of ${s.size} B`,
      { clients, msgs, size: s.size, local: true },
      {
        peer: 'ours',
        label: 'winpipe server + connect, message mode, one process',
        target: 1.0,
      },
    ),
  );
  list.push(
    entry(
      `${clients} clients, byte mode`,
      `fan-in, byte mode + u32 framing on both: ${clients} clients × ${fmtCount(msgs)} messages of ${s.size} B`,
      { clients, msgs, size: s.size },
      {
        peer: 'ours-byte',
        label: 'winpipe server, byte mode + u32 length framing',
        // A byte-mode connection is a net.Socket: this guards against overhead of ours around it.
        target: 0.95,
      },
    ),
  );
  return list;
}
