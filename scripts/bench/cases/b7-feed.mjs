// B7: the other direction of B1. This process writes a stamped stream into a child's stdin (a
// Writable honouring write()'s return value), the child reads it to its end. Throughput in MiB/s
// as the child sees it (its first read to end of file); CPU per GiB is this process's, the writer's.
// The stream format is B1's (child.mjs): every 4096-byte block starts with u32le(block index) and
// u32le(0x50495057, 'WPIP'). The child is the same for every row (1 MiB readSync loops on fd 0), so
// the rows differ only in the parent's write path and the kernel object under it.
import { spawn } from 'node:child_process';
import { childScript, cpuSeconds, exited, fmtBytes, GiB, KiB, MiB, winpipe } from '../lib.mjs';

export const id = 'B7';

export function sizes(mode, { isWindows, quick }) {
  const s = mode === 'smoke' ? { total: 4 * MiB, chunks: [64 * KiB] } : { total: mode === 'quick' ? 128 * MiB : GiB, chunks: [64 * KiB, MiB, 16 * MiB] };
  if (isWindows && mode !== 'smoke') {
    s.total = (quick ? 32 : 128) * MiB;
    if (quick) s.chunks = [MiB];
  }
  return s;
}

export const sizesText = (s) => `B7 ${fmtBytes(s.total)} per run, createPipe() with no size (as most callers make it)`;

const BLOCK = 4096;
const MAGIC = 0x50495057;

function stamp(buf, off, n) {
  for (let b = 0; b < n; b += BLOCK) {
    buf.writeUInt32LE(((off + b) / BLOCK) >>> 0, b);
    buf.writeUInt32LE(MAGIC, b + 4);
  }
}

/**
 * Writes `total` stamped bytes in `chunk`-byte writes from two buffers, as a producer reading its
 * source into a few buffers would: a buffer is used again once its write has completed (its
 * callback), a refused write() waits for 'drain'. (A write that completes at once returns true
 * without 'drain'; the wait for a free buffer is what yields to the event loop then.)
 */
async function feed(stream, chunk, total) {
  const free = [Buffer.alloc(chunk, 'a'), Buffer.alloc(chunk, 'a')];
  let wake;
  const c0 = process.cpuUsage();
  for (let off = 0; off < total; off += chunk) {
    while (free.length === 0) await new Promise((resolve) => (wake = resolve));
    const n = Math.min(chunk, total - off);
    const buf = free.pop();
    stamp(buf, off, n);
    const ok = stream.write(n === chunk ? buf : buf.subarray(0, n), () => {
      free.push(buf);
      wake?.();
    });
    if (!ok) await new Promise((resolve) => stream.once('drain', resolve));
  }
  await new Promise((resolve, reject) => {
    stream.once('error', reject);
    stream.end(resolve);
  });
  return cpuSeconds(c0);
}

function spawnReader(stdin, total) {
  return spawn(process.execPath, [childScript, 'stdin-reader', String(total)], { stdio: [stdin, 'pipe', 'inherit'] });
}

async function childReport(child) {
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => (out += d));
  const code = await exited(child);
  await new Promise((resolve) => (child.stdout.readableEnded ? resolve() : child.stdout.once('end', resolve)));
  return { code, report: JSON.parse(out.trim().split('\n').at(-1) || '{}') };
}

function result(total, cpu, { code, report }) {
  const ok = code === 0 && report.bytes === total && report.bad === 0;
  return {
    ok,
    bytes: report.bytes,
    measuredBytes: report.bytes,
    seconds: report.seconds,
    cpuSeconds: cpu,
    ...(ok ? {} : { error: `child read ${report.bytes}/${total}, bad stamps ${report.bad}, exit ${code}` }),
  };
}

export const runners = {
  async ours({ chunk, total }) {
    const { createPipe } = await winpipe();
    const { reader, writer } = createPipe();
    const child = spawnReader(reader, total);
    reader.close();
    const report = childReport(child);
    const cpu = await feed(writer.createWriteStream(), chunk, total);
    return result(total, cpu, await report);
  },
  async 'ours-sync'({ chunk, total }) {
    const { createPipe } = await winpipe();
    const { reader, writer } = createPipe();
    const child = spawnReader(reader, total);
    reader.close();
    const report = childReport(child);
    const buf = Buffer.alloc(chunk, 'a');
    const c0 = process.cpuUsage();
    for (let off = 0; off < total; off += chunk) {
      const n = Math.min(chunk, total - off);
      stamp(buf, off, n);
      writer.writeSync(buf, 0, n);
    }
    const cpu = cpuSeconds(c0);
    writer.close();
    return result(total, cpu, await report);
  },
  async 'node-stdio'({ chunk, total }) {
    const child = spawnReader('pipe', total);
    const report = childReport(child);
    const cpu = await feed(child.stdin, chunk, total);
    return result(total, cpu, await report);
  },
};

export function define(s, { node }) {
  return s.chunks.map((chunk) => {
    const p = { chunk, total: s.total };
    return {
      title: `parent→child stream (a child's stdin), ${fmtBytes(p.total)} in ${fmtBytes(chunk)} writes`,
      param: `${fmtBytes(chunk)} chunks`,
      unit: 'MiB/s',
      better: 'higher',
      value: (r) => r.measuredBytes / MiB / r.seconds,
      cpuPerGiB: true,
      rows: [
        { peer: 'ours', label: 'winpipe createPipe + createWriteStream', role: 'ours', ...node('ours', p) },
        { peer: 'node-stdio', label: "Node spawn stdio: 'pipe' (child.stdin)", role: 'peer', ...node('node-stdio', p) },
        { peer: 'ours-sync', label: 'winpipe createPipe + writeSync loop', role: 'ours-info', ...node('ours-sync', p) },
      ],
    };
  });
}
