// B1: a child writes a stamped stream into a pipe, this process reads it. Throughput in MiB/s.
// The stream format (shared with child.mjs, peers.c and peers.py): every 4096-byte block starts
// with u32le(block index) and u32le(0x50495057, 'WPIP').
import { spawn } from 'node:child_process';
import { childScript, cpuSeconds, exited, fmtBytes, GiB, KiB, MiB, winpipe } from '../lib.mjs';

export const id = 'B1';

export function sizes(mode, { isWindows, quick }) {
  const s = mode === 'smoke' ? { total: 4 * MiB, chunks: [64 * KiB], pipeSize: MiB } : { total: mode === 'quick' ? 128 * MiB : GiB, chunks: [64 * KiB, MiB, 16 * MiB], pipeSize: MiB };
  if (isWindows && mode !== 'smoke') {
    // Under Wine every byte goes through wineserver.
    s.total = (quick ? 32 : 128) * MiB;
    if (quick) s.chunks = [MiB];
  }
  return s;
}

export const sizesText = (s) => `B1 ${fmtBytes(s.total)} per run, pipe size ${fmtBytes(s.pipeSize)} (createPipe's \`size\`; the C and Python peers set the same with F_SETPIPE_SZ)`;

const BLOCK = 4096;
const MAGIC = 0x50495057;

/** The stamp check at the first block boundary inside a chunk (a lost, repeated or reordered piece shifts every later stamp). */
function badStamp(buf, pos, n) {
  const a = Math.ceil(pos / BLOCK) * BLOCK;
  if (a + 8 > pos + n) return false;
  const o = a - pos;
  return buf.readUInt32LE(o) !== (a / BLOCK) >>> 0 || buf.readUInt32LE(o + 4) !== MAGIC;
}

function result(pos, first, total, bad, code, seconds, cpu) {
  const ok = pos === total && bad === 0 && code === 0;
  return { ok, bytes: pos, measuredBytes: pos - first, seconds, cpuSeconds: cpu, ...(ok ? {} : { error: `bytes ${pos}/${total}, bad stamps ${bad}, writer exit ${code}` }) };
}

/**
 * Consumes a child's stamped stream: counts the bytes, checks the stamps, and times from the first
 * chunk to the end (the first chunk is not counted, so child start-up is outside the window).
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
      if (badStamp(chunk, pos, chunk.length)) bad++;
      pos += chunk.length;
    });
    stream.on('error', reject);
    stream.on('end', async () => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const cpu = c0 ? cpuSeconds(c0) : 0;
      resolve(result(pos, first, total, bad, await exited(child), seconds, cpu));
    });
  });
}

function spawnWriter(chunk, total, stdout) {
  return spawn(process.execPath, [childScript, 'writer', '1', String(chunk), String(total)], { stdio: ['ignore', stdout, 'inherit'] });
}

export const runners = {
  async ours({ chunk, total, pipeSize }) {
    const { createPipe } = await winpipe();
    const { reader, writer } = createPipe({ size: pipeSize });
    const child = spawnWriter(chunk, total, writer);
    writer.close();
    return consumeStamped(reader.createReadStream(), child, total);
  },
  async 'ours-sync'({ chunk, total, pipeSize }) {
    const { createPipe } = await winpipe();
    const { reader, writer } = createPipe({ size: pipeSize });
    const child = spawnWriter(chunk, total, writer);
    writer.close();
    // 64 bytes past the allocation's start: a 1 MiB Buffer is a glibc mmap whose data sits 16 bytes
    // past a page boundary, where a pipe read runs 2-3x slower on AMD Zen 3 (4 KiB aliasing in the
    // kernel's copy); the stream's own buffers are skewed the same way (src/end-socket.ts).
    const buf = Buffer.allocUnsafeSlow(MiB + 64).subarray(64);
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
      if (badStamp(buf, pos, n)) bad++;
      pos += n;
    }
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = cpuSeconds(c0);
    reader.close();
    return result(pos, first, total, bad, await exited(child), seconds, cpu);
  },
  async 'node-stdio'({ chunk, total }) {
    const child = spawnWriter(chunk, total, 'pipe');
    return consumeStamped(child.stdout, child, total);
  },
};

export function define(s, { node, pyRow, cRow }) {
  return s.chunks.map((chunk) => {
    const p = { chunk, total: s.total, pipeSize: s.pipeSize };
    return {
      title: `child→parent stream, ${fmtBytes(p.total)} in ${fmtBytes(chunk)} writes`,
      param: `${fmtBytes(chunk)} chunks`,
      unit: 'MiB/s',
      better: 'higher',
      value: (r) => r.measuredBytes / MiB / r.seconds,
      cpuPerGiB: true,
      rows: [
        { peer: 'ours', label: 'winpipe createPipe + createReadStream', role: 'ours', ...node('ours', p) },
        { peer: 'node-stdio', label: "Node spawn stdio: 'pipe'", role: 'peer', target: { op: '>=', ratio: 1.0 }, ...node('node-stdio', p) },
        {
          peer: 'python',
          label: 'Python os.pipe + readinto (1 MiB reads)',
          role: 'peer',
          ...pyRow(['b1', process.execPath, childScript, String(chunk), String(p.total), String(p.pipeSize)]),
        },
        {
          peer: 'c',
          label: 'C pipe2 + fork, read/write loop (1 MiB reads)',
          role: 'peer',
          ...(process.platform === 'linux' ? { target: { op: '>=', ratio: 0.8 } } : {}),
          ...cRow(['b1', String(chunk), String(p.total), String(p.pipeSize)]),
        },
        {
          // The kernel's side of the stdio row: libuv makes Node's stdio: 'pipe' a socketpair on
          // POSIX, and createPipe is a pipe2 pair by contract. This row against the C pipe2 row
          // shows what the kind of pipe alone costs, with no Node in the way.
          peer: 'c-socketpair',
          label: "C socketpair + fork, read/write loop (1 MiB reads): the kernel object of Node's stdio: 'pipe'",
          role: 'info',
          ...cRow(['b1s', String(chunk), String(p.total)]),
        },
        { peer: 'ours-sync', label: 'winpipe createPipe + readSync loop (1 MiB reads)', role: 'ours-info', ...node('ours-sync', p) },
      ],
    };
  });
}
