#!/usr/bin/env node
// `npm run bench`: winpipe against the alternatives a user would pick instead, in one run on one
// machine (issue 5). Writes BENCHMARKS.md (the table and a short reading) and benchmarks/results.json.
//
//   node scripts/bench.mjs [--quick] [--smoke] [--runs=N] [--only=B1,B3] [--cpu-prof] [--out-root=DIR]
//   node scripts/bench.mjs --wine [...]      the same, with Windows node.exe under Wine
//                                            (scripts/wine.mjs exec); npm run bench:wine
//   node scripts/bench.mjs --report          rewrite BENCHMARKS.md's sections from benchmarks/*.json
//
//   --quick   small sizes, 3 runs: under 2 minutes; results go to benchmarks/tmp/ only
//   --smoke   tiny sizes, 1 run, nothing written: checks that every case runs and validates
//             (test/bench.test.ts)
//   --only    some cases; like --quick, its results go to benchmarks/tmp/ only
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
// Node built-ins only. The benchmarks import the built package (dist/), building it first when
// it is missing or older than src/.
import { spawn, spawnSync, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { messageFloorRow } from './bench/floor.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const childScript = path.join(here, 'bench', 'child.mjs');
const peersPy = path.join(here, 'bench', 'peers.py');
const peersC = path.join(here, 'bench', 'peers.c');
// WINPIPE_BENCH_DIST=<dir with esm/> points the benchmarks at another build, for A/B experiments.
const distDir = process.env.WINPIPE_BENCH_DIST ? path.resolve(process.env.WINPIPE_BENCH_DIST) : path.join(root, 'dist');
const distEntry = path.join(distDir, 'esm', 'index.js');
const RESULT = 'BENCH-RESULT ';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const isWindows = process.platform === 'win32';
const underWine = isWindows && process.env.WINPIPE_UNDER_WINE === '1';

// ====================================================================== options

const argv = process.argv.slice(2).filter((a) => a !== '--');
const flag = (name) => argv.includes(`--${name}`);
const value = (name) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

/**
 * Sizes per mode. Wine moves every byte through wineserver and starts node.exe slowly, so its full
 * run uses smaller counts (named in the report) to stay within ~15 minutes.
 */
function config() {
  const smoke = flag('smoke');
  const quick = flag('quick') || smoke;
  let c;
  if (smoke) {
    c = {
      mode: 'smoke',
      runs: 1,
      b1: { total: 4 * MiB, chunks: [64 * KiB], pipeSize: MiB },
      b2: { count: 2000, size: 64 },
      b3: { count: 200, warmup: 20, size: 100 },
      b4: { points: [[4, 100]], size: 100 },
      b5: { count: 500, cCount: 5000 },
      b6: { cycles: 40, parallel: 4 },
    };
  } else if (quick) {
    c = {
      mode: 'quick',
      runs: 3,
      b1: { total: 128 * MiB, chunks: [64 * KiB, MiB, 16 * MiB], pipeSize: MiB },
      b2: { count: 100_000, size: 64 },
      b3: { count: 2000, warmup: 200, size: 100 },
      b4: { points: [[8, 1000], [64, 250], [256, 60]], size: 100 },
      b5: { count: 10_000, cCount: 100_000 },
      b6: { cycles: 500, parallel: 4 },
    };
  } else {
    c = {
      mode: 'full',
      runs: 5,
      b1: { total: GiB, chunks: [64 * KiB, MiB, 16 * MiB], pipeSize: MiB },
      b2: { count: 1_000_000, size: 64 },
      b3: { count: 10_000, warmup: 1000, size: 100 },
      b4: { points: [[8, 10_000], [64, 10_000], [256, 1250]], size: 100 },
      b5: { count: 100_000, cCount: 300_000 },
      b6: { cycles: 5000, parallel: 4 },
    };
  }
  if (isWindows && !smoke) {
    // Calibrated under Wine 8 on 2 cores, where every pipe operation is a wineserver round trip
    // (B2 ~150 µs per write + read, B3 ~2 ms per round trip) and node.exe takes ~1.5 s to start.
    // Windows allows at most 255 instances of one pipe name, so the largest B4 point is 250.
    // --quick there keeps one B1 and one B4 point and 2 runs, to stay near 2 minutes.
    c.b1.total = (quick ? 32 : 128) * MiB;
    c.b2.count = quick ? 5000 : 20_000;
    c.b3.count = quick ? 500 : 2000;
    c.b3.warmup = 100;
    // [1, 4000]: one client, the shape of the C message-mode floor (scripts/bench/floor.mjs).
    c.b4.points = quick ? [[1, 2000], [64, 25]] : [[1, 4000], [8, 800], [64, 100], [250, 25]];
    c.b5.count = quick ? 500 : 2000;
    c.b6.cycles = quick ? 125 : 500;
    if (quick) {
      c.runs = 2;
      c.b1.chunks = [MiB];
    }
  }
  const runs = value('runs');
  if (runs) c.runs = Math.max(1, Number(runs));
  const only = value('only');
  c.only = only ? new Set(only.toUpperCase().split(',')) : undefined;
  return c;
}

// ====================================================================== small helpers

function log(msg) {
  process.stdout.write(`${msg}\n`);
}

let serial = 0;
function uniqueName() {
  return `winpipe-bench-${process.pid}-${serial++}-${randomBytes(4).toString('hex')}`;
}

/** A path for Node's own `net` server, of the same kind winpipe uses: a Unix socket or a Windows named pipe. */
function netPath(name) {
  return isWindows ? `\\\\.\\pipe\\${name}` : path.join(os.tmpdir(), `${name}.sock`);
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function cpuSeconds(start) {
  const u = process.cpuUsage(start);
  return (u.user + u.system) / 1e6;
}

function maxRssKiB() {
  return process.resourceUsage().maxRSS;
}

function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

async function winpipe() {
  return import(pathToFileURL(distEntry).href);
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

// ====================================================================== B1 stream format

const BLOCK = 4096;
const MAGIC = 0x50495057;

/**
 * Consumes a child's stamped stream from `stream`: counts the bytes, checks the stamp at the first
 * block boundary inside every chunk (a lost, repeated or reordered piece shifts every later stamp),
 * and times from the first chunk to the end (the first chunk is not counted, so child start-up is
 * outside the window).
 */
function consumeStamped(stream, child, total) {
  return new Promise((resolve, reject) => {
    let pos = 0;
    let first = 0;
    let bad = 0;
    let t0 = 0n;
    let c0;
    stream.on('data', (chunk) => {
      if (pos === 0) {
        t0 = process.hrtime.bigint();
        c0 = process.cpuUsage();
        first = chunk.length;
      }
      const a = Math.ceil(pos / BLOCK) * BLOCK;
      if (a + 8 <= pos + chunk.length) {
        const o = a - pos;
        if (chunk.readUInt32LE(o) !== (a / BLOCK) >>> 0 || chunk.readUInt32LE(o + 4) !== MAGIC) bad++;
      }
      pos += chunk.length;
    });
    stream.on('error', reject);
    stream.on('end', async () => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const cpu = c0 ? cpuSeconds(c0) : 0;
      const code = await exited(child);
      const ok = pos === total && bad === 0 && code === 0;
      resolve({
        ok,
        bytes: pos,
        measuredBytes: pos - first,
        seconds,
        cpuSeconds: cpu,
        ...(ok ? {} : { error: `bytes ${pos}/${total}, bad stamps ${bad}, writer exit ${code}` }),
      });
    });
  });
}

// ====================================================================== runners (one per process)

/** Each runner does one measured run and returns { ok, seconds, ... }. */
const runners = {
  // ---------------------------------------------------------------- B1
  async 'B1/ours'({ chunk, total, pipeSize }) {
    const { createPipe } = await winpipe();
    const { reader, writer } = createPipe({ size: pipeSize });
    const child = spawn(process.execPath, [childScript, 'writer', '1', String(chunk), String(total)], { stdio: ['ignore', writer, 'inherit'] });
    writer.close();
    return consumeStamped(reader.createReadStream(), child, total);
  },
  async 'B1/ours-sync'({ chunk, total, pipeSize }) {
    const { createPipe } = await winpipe();
    const { reader, writer } = createPipe({ size: pipeSize });
    const child = spawn(process.execPath, [childScript, 'writer', '1', String(chunk), String(total)], { stdio: ['ignore', writer, 'inherit'] });
    writer.close();
    const buf = Buffer.allocUnsafe(MiB);
    let pos = 0;
    let first = 0;
    let bad = 0;
    let t0 = 0n;
    let c0;
    for (;;) {
      const n = reader.readSync(buf);
      if (n === 0) break;
      if (pos === 0) {
        t0 = process.hrtime.bigint();
        c0 = process.cpuUsage();
        first = n;
      }
      const a = Math.ceil(pos / BLOCK) * BLOCK;
      if (a + 8 <= pos + n) {
        const o = a - pos;
        if (buf.readUInt32LE(o) !== (a / BLOCK) >>> 0 || buf.readUInt32LE(o + 4) !== MAGIC) bad++;
      }
      pos += n;
    }
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = cpuSeconds(c0);
    reader.close();
    const code = await exited(child);
    const ok = pos === total && bad === 0 && code === 0;
    return { ok, bytes: pos, measuredBytes: pos - first, seconds, cpuSeconds: cpu, ...(ok ? {} : { error: `bytes ${pos}/${total}, bad stamps ${bad}, writer exit ${code}` }) };
  },
  async 'B1/node-stdio'({ chunk, total }) {
    const child = spawn(process.execPath, [childScript, 'writer', '1', String(chunk), String(total)], { stdio: ['ignore', 'pipe', 'inherit'] });
    return consumeStamped(child.stdout, child, total);
  },

  // ---------------------------------------------------------------- B2
  async 'B2/ours'({ count, size }) {
    const { createPipe } = await winpipe();
    const { reader, writer } = createPipe();
    return syncLoop(count, size, (b) => writer.writeSync(b), (b, o, n) => reader.readSync(b, o, n), () => {
      reader.close();
      writer.close();
    });
  },
  async 'B2/fs'({ count, size }) {
    // The same kind of pipe (createPipe's), through Node's own fs on its fds.
    const { createPipe } = await winpipe();
    const { reader, writer } = createPipe();
    const rfd = reader.fd;
    const wfd = writer.fd;
    return syncLoop(count, size, (b) => fs.writeSync(wfd, b), (b, o, n) => fs.readSync(rfd, b, o, n), () => {
      reader.close();
      writer.close();
    });
  },

  // ---------------------------------------------------------------- B3
  async 'B3/ours-message'({ count, warmup, size }) {
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
    const code = await exited(child);
    return withChildCheck(result, code);
  },
  async 'B3/connection'({ count, warmup, size }) {
    // winpipe/connection's Pipe(), the multiprocessing.Pipe() twin: one end goes to the child as fd 3.
    const { Pipe } = await import(pathToFileURL(path.join(distDir, 'esm', 'channel', 'index.js')).href);
    const [ours, theirs] = Pipe();
    const child = spawn(process.execPath, [childScript, 'echo-connection'], { stdio: ['ignore', 'inherit', 'inherit', theirs] });
    theirs.close();
    const result = await pingPong(count, warmup, size, async (m) => {
      await ours.sendBytes(m);
      return ours.recvBytes();
    });
    ours.close();
    const code = await exited(child);
    return withChildCheck(result, code);
  },
  async 'B3/node-ipc'({ count, warmup, size }) {
    const child = fork(childScript, ['echo-ipc'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let next;
    child.on('message', (m) => next(m));
    const filler = 'p'.repeat(size - 10);
    const result = await pingPong(
      count,
      warmup,
      size,
      (m) => {
        const p = new Promise((resolve) => (next = resolve));
        // The message a Node user sends: a string of the same size, carrying the sequence number.
        child.send(`${String(m.readUInt32LE(0)).padStart(10, '0')}${filler}`);
        return p.then((s) => {
          const back = Buffer.alloc(size);
          back.writeUInt32LE(Number(s.slice(0, 10)), 0);
          return s.length === size ? back : Buffer.alloc(0);
        });
      },
    );
    child.disconnect();
    const code = await exited(child);
    return withChildCheck(result, code);
  },
  async 'B3/node-net'({ count, warmup, size }) {
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
    const code = await exited(child);
    return withChildCheck(result, code);
  },

  // ---------------------------------------------------------------- B4
  async 'B4/ours'({ clients, msgs, size }) {
    const { createServer } = await winpipe();
    const name = uniqueName();
    const stats = fanInStats(clients, msgs);
    const server = createServer({ mode: 'message' }, (conn) => {
      const c = stats.conn();
      conn.on('data', (m) => c.message(m, 0, m.length === size));
      conn.on('end', () => {
        c.end();
        conn.end();
      });
      conn.on('error', (err) => stats.fail(err));
    });
    server.on('error', (err) => stats.fail(err));
    await server.listen(name);
    const result = await fanIn(stats, clients, msgs, size, 'ours', name);
    await server.close();
    return result;
  },
  async 'B4/node-net'({ clients, msgs, size }) {
    const p = netPath(uniqueName());
    const stats = fanInStats(clients, msgs);
    const server = net.createServer({ allowHalfOpen: true }, (socket) => {
      const c = stats.conn();
      // The framing a net user writes by hand: u32be length, then the message.
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
    });
    await new Promise((resolve, reject) => server.listen({ path: p, backlog: 511 }, resolve).once('error', reject));
    const result = await fanIn(stats, clients, msgs, size, 'net', p);
    server.close();
    return result;
  },

  // ---------------------------------------------------------------- B5
  async 'B5/ours'({ count }) {
    const { createPipe } = await winpipe();
    return pairLoop(count, () => {
      const { reader, writer } = createPipe();
      const fd = Math.max(reader.fd, writer.fd);
      reader.close();
      writer.close();
      return fd;
    });
  },
  async 'B5/raw-ffi'({ count }) {
    if (isWindows) {
      const k = await import(pathToFileURL(path.join(distDir, 'esm', 'windows', 'kernel32.js')).href);
      const r = [0n];
      const w = [0n];
      return pairLoop(count, () => {
        if (!k.CreatePipe(r, w, null, 0)) throw new Error(`CreatePipe: ${k.GetLastError()}`);
        k.CloseHandle(r[0]);
        k.CloseHandle(w[0]);
        return 0;
      });
    }
    const libc = await import(pathToFileURL(path.join(distDir, 'esm', 'posix', 'libc.js')).href);
    const fds = new Int32Array(2);
    return pairLoop(count, () => {
      if ((process.platform === 'linux' ? libc.pipe2(fds, libc.O_CLOEXEC) : libc.pipe(fds)) !== 0) throw new Error(`pipe2: errno ${libc.errno()}`);
      libc.close(fds[0]);
      libc.close(fds[1]);
      return Math.max(fds[0], fds[1]);
    });
  },

  // ---------------------------------------------------------------- B6
  async 'B6/ours'({ cycles, parallel }) {
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
  async 'B6/node-net'({ cycles, parallel }) {
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

/** B2: count x (write size bytes, read them back), checking the sequence number in each. */
function syncLoop(count, size, write, read, close) {
  const out = Buffer.alloc(size, 'm');
  const into = Buffer.alloc(size);
  let bad = 0;
  const one = (i) => {
    out.writeUInt32LE(i >>> 0, 0);
    if (write(out) !== size) bad++;
    let got = 0;
    while (got < size) {
      const n = read(into, got, size - got);
      if (n === 0) throw new Error('unexpected end of file');
      got += n;
    }
    if (into.readUInt32LE(0) !== i >>> 0) bad++;
  };
  const warm = Math.min(10_000, count);
  for (let i = 0; i < warm; i++) one(i);
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  for (let i = 0; i < count; i++) one(i);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = cpuSeconds(c0);
  close();
  return { ok: bad === 0, count, seconds, cpuSeconds: cpu, ...(bad ? { error: `${bad} bad round trips` } : {}) };
}

/** B3: warmup + count round trips of a size-byte message carrying its sequence number. */
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

/** B4 bookkeeping: per-connection sequence checks and the totals that end a run. */
function fanInStats(clients, msgs) {
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

/** B4: fork the client processes, wait until every client is connected, then time the fan-in. */
async function fanIn(stats, clients, msgs, size, impl, name) {
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
  const ready = children.map(
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
  );
  await Promise.all(ready);
  // Every client has connected; wait until the server has them all too, so only messages are timed.
  if (stats.connections < clients) await new Promise((resolve) => (stats.onConnection = () => stats.connections >= clients && resolve()));
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  for (const child of children) child.send('go');
  try {
    await untilDone(stats.finished, () => `messages ${stats.total}/${clients * msgs}, connections ended ${stats.ended}/${clients}`);
  } catch (err) {
    for (const child of children) child.kill();
    return { ok: false, error: err.message };
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = cpuSeconds(c0);
  const codes = await Promise.all(children.map(exited));
  const perConnOk = stats.counts.length === clients && stats.counts.every((n) => n === msgs);
  const ok = stats.bad === 0 && stats.total === clients * msgs && stats.ids.size === clients && perConnOk && codes.every((c) => c === 0) && errors.length === 0;
  return {
    ok,
    count: stats.total,
    bytes: stats.total * size,
    seconds,
    cpuSeconds: cpu,
    ...(ok ? {} : { error: `messages ${stats.total}/${clients * msgs}, bad ${stats.bad}, clients ${stats.ids.size}/${clients}, exits ${codes.join(',')} ${errors.join('; ')}` }),
  };
}

/**
 * Resolves with `finished`, or rejects once `state()` has not changed for 20 s: a run that stops
 * making progress fails with where it stopped instead of waiting for the job's time limit.
 */
function untilDone(finished, state) {
  return new Promise((resolve, reject) => {
    let last = state();
    let since = Date.now();
    const timer = setInterval(() => {
      const now = state();
      if (now !== last) {
        last = now;
        since = Date.now();
      } else if (Date.now() - since > 20_000) {
        clearInterval(timer);
        reject(new Error(`stalled for 20 s at: ${now}`));
      }
    }, 500);
    finished.then(
      (v) => {
        clearInterval(timer);
        resolve(v);
      },
      (err) => {
        clearInterval(timer);
        reject(err);
      },
    );
  });
}

const GREETING = Buffer.from([0x2a]);

/** B6 bookkeeping: every accepted connection is greeted with one byte and must close. */
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

/** B6: one client process runs `cycles` cycles (connect, read the greeting, destroy), `parallel` at a time. */
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

/** B5: count x (create a pair, close both). `make` returns the highest fd it saw: it must stay small. */
function pairLoop(count, make) {
  const warm = Math.min(1000, count);
  for (let i = 0; i < warm; i++) make();
  let maxFd = 0;
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  for (let i = 0; i < count; i++) maxFd = Math.max(maxFd, make());
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = cpuSeconds(c0);
  // Closed ends give their fds back: a leak would walk the fd numbers up with the count.
  const ok = maxFd < 1000;
  return { ok, count, seconds, cpuSeconds: cpu, maxFd, ...(ok ? {} : { error: `fd numbers reached ${maxFd}: ends are not being closed` }) };
}

/** Runner mode: one measurement in this process, its result as the last line of stdout. */
async function runOne(spec) {
  const fn = runners[`${spec.case}/${spec.peer}`];
  let result;
  try {
    result = await fn(spec.params);
  } catch (err) {
    result = { ok: false, error: String(err?.stack ?? err) };
  }
  result.maxRssKiB = maxRssKiB();
  process.stdout.write(`${RESULT}${JSON.stringify(result)}\n`);
  // Anything left (a server, a socket) must not keep the runner alive.
  process.exit(0);
}

// ====================================================================== the cases

/**
 * One case at one parameter: the implementations, each with how to run it and its role: 'ours'
 * rows are compared with every 'peer' (with its target) and 'info' row (context, no target);
 * 'ours-info' rows (another way to use winpipe) only show their numbers.
 */
function cases(cfg, env) {
  const list = [];
  const py = env.python;
  const cbin = env.cPeers;
  const na = (reason) => ({ status: 'n/a', reason });
  const pyRow = (id, args) => (py.ok ? { cmd: py.cmd, args: [peersPy, ...args] } : na(py.reason));
  const cRow = (args) => (cbin.ok ? { cmd: cbin.path, args } : na(cbin.reason));
  const node = (c, peer, params) => ({ node: { case: c, peer, params } });

  for (const chunk of cfg.b1.chunks) {
    const p = { chunk, total: cfg.b1.total, pipeSize: cfg.b1.pipeSize };
    list.push({
      id: 'B1',
      title: `child→parent stream, ${fmtBytes(p.total)} in ${fmtBytes(chunk)} writes`,
      param: `${fmtBytes(chunk)} chunks`,
      unit: 'MiB/s',
      better: 'higher',
      value: (r) => r.measuredBytes / MiB / r.seconds,
      cpuPerGiB: true,
      rows: [
        { peer: 'ours', label: 'winpipe createPipe + createReadStream', role: 'ours', ...node('B1', 'ours', p) },
        { peer: 'node-stdio', label: "Node spawn stdio: 'pipe'", role: 'peer', target: { op: '>=', ratio: 1.0 }, ...node('B1', 'node-stdio', p) },
        {
          peer: 'python',
          label: 'Python os.pipe + readinto (1 MiB reads)',
          role: 'peer',
          ...pyRow('B1', ['b1', process.execPath, childScript, String(chunk), String(p.total), String(p.pipeSize)]),
        },
        {
          peer: 'c',
          label: 'C pipe2 + fork, read/write loop (1 MiB reads)',
          role: 'peer',
          ...(process.platform === 'linux' ? { target: { op: '>=', ratio: 0.8 } } : {}),
          ...cRow(['b1', String(chunk), String(p.total), String(p.pipeSize)]),
        },
        { peer: 'ours-sync', label: 'winpipe createPipe + readSync loop (1 MiB reads)', role: 'ours-info', ...node('B1', 'ours-sync', p) },
      ],
    });
  }

  {
    const p = { count: cfg.b2.count, size: cfg.b2.size };
    list.push({
      id: 'B2',
      title: `sync small writes, ${p.size} B × ${fmtCount(p.count)} (write then read back, one pipe)`,
      param: `${p.size} B × ${fmtCount(p.count)}`,
      unit: 'µs/op',
      better: 'lower',
      value: (r) => (r.seconds / r.count) * 1e6,
      rows: [
        { peer: 'ours', label: 'winpipe writer.writeSync / reader.readSync', role: 'ours', ...node('B2', 'ours', p) },
        { peer: 'fs', label: 'fs.writeSync / fs.readSync on the same pipe', role: 'peer', target: { op: '<=', ratio: 1.5 }, ...node('B2', 'fs', p) },
        { peer: 'python', label: 'Python os.write / os.read', role: 'info', ...pyRow('B2', ['b2', String(p.count), String(p.size)]) },
        { peer: 'c', label: 'C write / read', role: 'info', ...cRow(['b2', String(p.count), String(p.size)]) },
      ],
    });
  }

  {
    const p = { count: cfg.b3.count, warmup: cfg.b3.warmup, size: cfg.b3.size };
    list.push({
      id: 'B3',
      title: `ping-pong round trip, ${p.size} B messages, two processes, ${fmtCount(p.count)} round trips`,
      param: `${p.size} B`,
      unit: 'µs/round trip',
      better: 'lower',
      value: (r) => (r.seconds / r.count) * 1e6,
      rows: [
        { peer: 'ours', label: 'winpipe named pipe, message mode (write / data)', role: 'ours', ...node('B3', 'ours-message', p) },
        {
          peer: 'connection',
          label: 'winpipe/connection Pipe (sendBytes / recvBytes)',
          role: 'ours',
          ...(env.connection ? node('B3', 'connection', p) : { status: 'pending', reason: 'winpipe/connection is not on this branch yet' }),
        },
        { peer: 'node-ipc', label: 'Node IPC (fork + process.send)', role: 'peer', target: { op: '<=', ratio: 0.5 }, ...node('B3', 'node-ipc', p) },
        { peer: 'node-net', label: `Node net (${isWindows ? 'named pipe' : 'Unix socket'})`, role: 'peer', ...node('B3', 'node-net', p) },
        {
          peer: 'python',
          label: 'Python multiprocessing.Pipe',
          role: 'peer',
          target: { op: '<=', ratio: 1.0 },
          ...pyRow('B3', ['b3', String(p.count), String(p.size), String(p.warmup)]),
        },
      ],
    });
  }

  for (const [clients, msgs] of cfg.b4.points) {
    const p = { clients, msgs, size: cfg.b4.size };
    list.push({
      id: 'B4',
      title: `fan-in: ${clients} clients × ${fmtCount(p.msgs)} messages of ${p.size} B to one server`,
      param: `${clients} clients`,
      unit: 'msg/s',
      better: 'higher',
      value: (r) => r.count / r.seconds,
      cpuPerGiB: true,
      rows: [
        { peer: 'ours', label: 'winpipe server, message mode', role: 'ours', ...node('B4', 'ours', p) },
        { peer: 'node-net', label: 'Node net.Server + u32 length framing', role: 'peer', target: { op: '>=', ratio: 1.0 }, ...node('B4', 'node-net', p) },
        ...(isWindows ? [messageFloorRow(clients * msgs, p.size)] : []),
      ],
    });
  }

  {
    const p = { count: cfg.b5.count };
    list.push({
      id: 'B5',
      title: `create and close a pipe pair, ${fmtCount(p.count)} times`,
      param: 'pair',
      unit: 'µs/pair',
      better: 'lower',
      value: (r) => (r.seconds / r.count) * 1e6,
      rows: [
        { peer: 'ours', label: 'winpipe createPipe + close × 2', role: 'ours', ...node('B5', 'ours', p) },
        { peer: 'c', label: 'C pipe2 + close × 2', role: 'peer', target: { op: 'report' }, ...cRow(['b5', String(cfg.b5.cCount)]) },
        { peer: 'raw-ffi', label: isWindows ? 'winpipe/win32 CreatePipe + CloseHandle × 2 (koffi)' : 'winpipe/posix pipe2 + close × 2 (koffi)', role: 'info', ...node('B5', 'raw-ffi', p) },
        { peer: 'python', label: 'Python os.pipe + os.close × 2', role: 'info', ...pyRow('B5', ['b5', String(p.count)]) },
      ],
    });
  }

  {
    const p = { cycles: cfg.b6.cycles, parallel: cfg.b6.parallel };
    list.push({
      id: 'B6',
      title: `accept rate: ${fmtCount(p.cycles)} cycles of connect, 1-byte greeting, close; ${p.parallel} at a time`,
      param: `${p.parallel} parallel`,
      unit: 'conn/s',
      better: 'higher',
      value: (r) => r.count / r.seconds,
      rows: [
        { peer: 'ours', label: 'winpipe server (byte mode) + connect', role: 'ours', ...node('B6', 'ours', p) },
        { peer: 'node-net', label: 'Node net.Server + net.connect', role: 'peer', target: { op: '>=', ratio: 1.0 }, ...node('B6', 'node-net', p) },
      ],
    });
  }
  return cfg.only ? list.filter((c) => cfg.only.has(c.id)) : list;
}

function fmtBytes(n) {
  if (n >= GiB && n % GiB === 0) return `${n / GiB} GiB`;
  if (n >= MiB && n % MiB === 0) return `${n / MiB} MiB`;
  if (n >= KiB && n % KiB === 0) return `${n / KiB} KiB`;
  return `${n} B`;
}

function fmtCount(n) {
  if (n >= 1e6 && n % 1e5 === 0) return `${n / 1e6}M`;
  if (n >= 1e3 && n % 100 === 0) return `${n / 1e3}k`;
  return String(n);
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
  const prof = flag('cpu-prof') ? ['--cpu-prof', `--cpu-prof-dir=${path.join(value('out-root') ?? root, 'benchmarks', 'tmp', 'prof', `${row.node?.case}-${row.node?.peer}-${serial++}`)}`] : [];
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
      const line = row.node ? lines.reverse().find((l) => l.startsWith(RESULT))?.slice(RESULT.length) : lines.at(-1);
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
  for (const c of list) {
    const live = c.rows.filter((r) => !r.status);
    for (const r of c.rows) r.runs = [];
    log(`${c.id} ${c.title}`);
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

function summarize(c) {
  for (const row of c.rows) {
    if (row.status) continue;
    const good = row.runs.filter((r) => r.ok);
    const values = good.map((r) => c.value(r));
    row.failedRuns = row.runs.length - good.length;
    row.errors = [...new Set(row.runs.filter((r) => !r.ok).map((r) => String(r.error).split('\n')[0]))];
    if (good.length === 0) {
      row.status = 'failed';
      row.reason = `every run failed its check: ${row.errors[0] ?? ''}`;
      continue;
    }
    row.status = row.failedRuns ? 'partial' : 'ok';
    row.median = median(values);
    row.min = Math.min(...values);
    row.max = Math.max(...values);
    row.values = values;
    const rss = good.map((r) => r.maxRssKiB).filter((x) => typeof x === 'number');
    if (rss.length) row.rssMiB = median(rss) / 1024;
    if (c.cpuPerGiB) {
      const cpu = good.map((r) => r.cpuSeconds / ((r.measuredBytes ?? r.bytes) / GiB));
      row.cpuPerGiB = median(cpu);
    }
  }
  // Every 'ours' row against every 'peer' and 'info' row ('ours-info' rows only show their numbers).
  c.ratios = [];
  for (const ours of c.rows.filter((r) => r.role === 'ours')) {
    for (const row of c.rows.filter((r) => r.role === 'peer' || r.role === 'info')) {
      const ratio = ours.median !== undefined && row.median !== undefined ? ours.median / row.median : undefined;
      let met;
      if (row.target && row.target.op !== 'report' && ratio !== undefined) met = row.target.op === '>=' ? ratio >= row.target.ratio : ratio <= row.target.ratio;
      const blocked = [ours, row].find((r) => r.status === 'n/a' || r.status === 'pending' || r.status === 'failed');
      c.ratios.push({
        ours: ours.peer,
        oursLabel: ours.label,
        peer: row.peer,
        label: row.label,
        role: row.role,
        ratio,
        target: row.target,
        met,
        status: blocked ? blocked.status : 'ok',
        reason: blocked?.reason,
      });
    }
  }
}

function fmtNum(v) {
  if (typeof v !== 'number' || Number.isNaN(v)) return '—';
  if (v >= 10_000) return Math.round(v).toLocaleString('en-US');
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

function targetText(t) {
  if (!t) return '—';
  if (t.op === 'report') return 'report µs/pair';
  return `${t.op === '>=' ? '≥' : '≤'} ${t.ratio.toFixed(1)}×`;
}

// ====================================================================== report

function label(env) {
  if (underWine) return { key: 'wine', title: `Wine (Windows node.exe ${process.version} under ${env.wine ?? 'Wine'})`, file: 'results-wine.json' };
  if (isWindows) return { key: 'windows', title: `Windows (node ${process.version})`, file: 'results-windows.json' };
  return { key: 'native', title: `Native (${os.type()} ${os.release()}, node ${process.version})`, file: 'results.json' };
}

/** The BENCHMARKS.md section for one run, from its JSON results (see jsonResults). */
function markdown(r) {
  const cfg = r.config;
  const lines = [];
  lines.push(`## ${r.label}`, '');
  lines.push(
    `Run ${r.date.slice(0, 16).replace('T', ' ')} UTC, \`${r.mode}\` mode, ${r.runs} runs per row, ${r.cpus} CPUs (${r.cpuModel ?? '?'}), ` +
      `${(r.seconds / 60).toFixed(1)} min. Load average at the start: ${r.loadavgAtStart}. Python: ${r.python}. C: ${r.c}.`,
    '',
  );
  lines.push('| case | ours | peer | ours (median) | peer (median) | unit | ratio ours/peer | better | target | met? |');
  lines.push('|---|---|---|---:|---:|---|---:|---|---|---|');
  const shown = (row) => (row.median !== undefined && row.median !== null ? fmtNum(row.median) : row.status);
  const why = (reason) => String(reason ?? '').replace(/^n\/a \((.*)\)$/, '$1').replace(/^n\/a /, '');
  const note = (row) => (row.status === 'n/a' || row.status === 'pending' ? ` (${row.status}: ${why(row.reason)})` : '');
  for (const c of r.cases) {
    for (const x of c.ratios) {
      const ours = c.rows.find((row) => row.peer === x.ours);
      const peer = c.rows.find((row) => row.peer === x.peer);
      const ratio = typeof x.ratio === 'number' ? `${x.ratio.toFixed(2)}×` : '—';
      let met = '—';
      if (x.status !== 'ok') met = x.status;
      else if (x.target?.op === 'report') met = 'reported';
      else if (typeof x.met === 'boolean') met = x.met ? 'yes' : '**no**';
      else if (x.role === 'info') met = 'info';
      lines.push(`| ${c.id} ${c.param} | ${ours.label}${note(ours)} | ${peer.label}${note(peer)} | ${shown(ours)} | ${shown(peer)} | ${c.unit} | ${ratio} | ${c.better} | ${targetText(x.target)} | ${met} |`);
    }
    for (const row of c.rows.filter((row) => row.role === 'ours-info')) {
      lines.push(`| ${c.id} ${c.param} | ${row.label} | — | ${shown(row)} | — | ${c.unit} | — | ${c.better} | — | info |`);
    }
  }
  lines.push('', '<details><summary>Every row: median, spread, peak RSS, CPU</summary>', '');
  lines.push('| case | implementation | median | min – max | unit | runs ok | peak RSS (MiB) | CPU s/GiB |');
  lines.push('|---|---|---:|---:|---|---:|---:|---:|');
  for (const c of r.cases) {
    for (const row of c.rows) {
      if (row.status === 'n/a' || row.status === 'pending') {
        lines.push(`| ${c.id} ${c.param} | ${row.label} | ${row.status} | | | | | |`);
        continue;
      }
      const okRuns = row.runs.filter((x) => x.ok).length;
      const num = (v, d) => (typeof v === 'number' ? v.toFixed(d) : '—');
      lines.push(
        `| ${c.id} ${c.param} | ${row.label} | ${fmtNum(row.median)} | ${fmtNum(row.min)} – ${fmtNum(row.max)} | ${c.unit} | ${okRuns}/${row.runs.length} | ${num(row.peakRssMiB, 1)} | ${num(row.cpuSecondsPerGiB, 2)} |`,
      );
    }
  }
  lines.push('', '</details>', '');
  const missed = [];
  for (const c of r.cases) for (const x of c.ratios) if (x.met === false) missed.push(`${c.id} ${c.param}: ${x.ours} vs ${x.peer} ${x.ratio.toFixed(2)}× (target ${targetText(x.target)})`);
  const failed = [];
  for (const c of r.cases) {
    for (const row of c.rows) {
      const bad = (row.runs ?? []).filter((x) => !x.ok);
      if (bad.length) failed.push(`${c.id} ${c.param} ${row.label}: ${bad.length}/${row.runs.length} runs (${[...new Set(bad.map((x) => String(x.error).split('\n')[0]))].join('; ')})`);
    }
  }
  lines.push(`Targets missed in this run: ${missed.length ? missed.join('; ') : 'none'}.`, '');
  if (failed.length) lines.push(`Runs that failed their data check or stalled (not counted): ${failed.join('; ')}.`, '');
  const sizes = [
    `B1 ${fmtBytes(cfg.b1.total)} per run, pipe size ${fmtBytes(cfg.b1.pipeSize)} (createPipe's \`size\`; the C and Python peers set the same with F_SETPIPE_SZ)`,
    `B2 ${fmtCount(cfg.b2.count)} × ${cfg.b2.size} B`,
    `B3 ${fmtCount(cfg.b3.count)} round trips after ${fmtCount(cfg.b3.warmup)} warm-up`,
    `B4 ${cfg.b4.points.map(([n, m]) => `${n} clients × ${fmtCount(m)}`).join(', ')} messages of ${cfg.b4.size} B, the clients in 2 processes`,
    `B5 ${fmtCount(cfg.b5.count)} pairs (C: ${fmtCount(cfg.b5.cCount)})`,
    `B6 ${fmtCount(cfg.b6.cycles)} cycles`,
  ];
  lines.push(`Sizes: ${sizes.join('; ')}.`, '');
  return lines.join('\n');
}

const HEADER = `# Benchmarks

Generated by \`npm run bench\` (native) and \`npm run bench:wine\` (the Windows path, Windows
node.exe under Wine); see \`scripts/bench.mjs\` for the method. Each section below is rewritten by
its own run; the reading at the end is written by hand. Raw numbers: \`benchmarks/results.json\`,
\`benchmarks/results-wine.json\`.

Ratios are ours/peer. For throughput (B1, B4, B6) higher is better; for time (B2, B3, B5) lower
is better. Every run checks its data first (byte counts and stamps, sequence numbers, message and
connection counts); a run that fails its check is not counted.
`;

function writeReport(outRoot, key, text) {
  const file = path.join(outRoot, 'BENCHMARKS.md');
  let md = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : `${HEADER}\n<!-- bench:native:start -->\n<!-- bench:native:end -->\n\n<!-- bench:wine:start -->\n<!-- bench:wine:end -->\n`;
  const start = `<!-- bench:${key}:start -->`;
  const end = `<!-- bench:${key}:end -->`;
  const block = `${start}\n${text}\n${end}`;
  if (md.includes(start) && md.includes(end)) md = md.slice(0, md.indexOf(start)) + block + md.slice(md.indexOf(end) + end.length);
  else md = `${md.trimEnd()}\n\n${block}\n`;
  fs.writeFileSync(file, md);
  return file;
}

function jsonResults(cfg, list, env, seconds) {
  return {
    key: label(env).key,
    label: label(env).title,
    date: new Date().toISOString(),
    mode: cfg.mode,
    runs: cfg.runs,
    seconds,
    platform: process.platform,
    arch: process.arch,
    node: process.version,
    wine: env.wine,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model?.trim(),
    loadavgAtStart: env.loadavg,
    python: env.python.ok ? env.python.version : env.python.reason,
    c: env.cPeers.ok ? 'cc -O2' : env.cPeers.reason,
    config: { ...cfg, only: cfg.only ? [...cfg.only] : undefined },
    cases: list.map((c) => ({
      id: c.id,
      title: c.title,
      param: c.param,
      unit: c.unit,
      better: c.better,
      rows: c.rows.map((r) => ({
        peer: r.peer,
        label: r.label,
        role: r.role,
        status: r.status,
        reason: r.reason,
        median: r.median,
        min: r.min,
        max: r.max,
        values: r.values,
        peakRssMiB: r.rssMiB,
        cpuSecondsPerGiB: r.cpuPerGiB,
        runs: r.runs,
      })),
      ratios: c.ratios,
    })),
  };
}

function printTable(list) {
  log('');
  for (const c of list) {
    for (const x of c.ratios) {
      const ours = c.rows.find((r) => r.peer === x.ours);
      const peer = c.rows.find((r) => r.peer === x.peer);
      const verdict = x.status !== 'ok' ? x.status : x.met === undefined ? (x.role === 'info' ? 'info' : '') : x.met ? 'met' : 'MISSED';
      log(
        `${`${c.id} ${c.param}`.padEnd(18)} ${x.ours.padEnd(12)} ${fmtNum(ours.median).padStart(9)}  vs ${x.peer.padEnd(11)} ${fmtNum(peer.median).padStart(9)} ${c.unit.padEnd(13)} ratio ${x.ratio !== undefined ? x.ratio.toFixed(2).padStart(5) : '    —'}  (${c.better} better, target ${targetText(x.target)}) ${verdict}`,
      );
    }
  }
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
    loadavg: value('host-load') ?? (isWindows ? 'n/a' : os.loadavg().map((x) => x.toFixed(2)).join(' ')),
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
    if (cfg.mode === 'full' && !cfg.only) {
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
  const pass = argv.filter((a) => a !== '--wine' && !a.startsWith('--out-root=') && !a.startsWith('--host-load='));
  const load = `--host-load=${os.loadavg().map((x) => x.toFixed(2)).join(' ')} (Linux host)`;
  const r = spawnSync(process.execPath, [path.join(here, 'wine.mjs'), 'exec', path.join('scripts', 'bench.mjs'), `--out-root=${toWinePath(root)}`, load, ...pass], {
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
