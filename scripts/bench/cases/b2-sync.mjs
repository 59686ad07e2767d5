// B2: synchronous small writes, each read back from the same pipe. Time per write + read, µs.
import fs from 'node:fs';
import { cpuSeconds, fmtCount, winpipe } from '../lib.mjs';

export const id = 'B2';

export function sizes(mode, { isWindows, quick }) {
  const count = mode === 'smoke' ? 2000 : mode === 'quick' ? 100_000 : 1_000_000;
  // Under Wine a write + read is ~150 µs (two wineserver round trips).
  return { count: isWindows && mode !== 'smoke' ? (quick ? 5000 : 20_000) : count, size: 64 };
}

export const sizesText = (s) => `B2 ${fmtCount(s.count)} × ${s.size} B`;

/** count x (write size bytes, read them back), checking the sequence number in each. */
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

export const runners = {
  async ours({ count, size }) {
    const { createPipe } = await winpipe();
    const { reader, writer } = createPipe();
    return syncLoop(
      count,
      size,
      (b) => writer.writeSync(b),
      (b, o, n) => reader.readSync(b, o, n),
      () => {
        reader.close();
        writer.close();
      },
    );
  },
  async fs({ count, size }) {
    // The same kind of pipe (createPipe's), through Node's own fs on its fds.
    const { createPipe } = await winpipe();
    const { reader, writer } = createPipe();
    const rfd = reader.fd;
    const wfd = writer.fd;
    return syncLoop(
      count,
      size,
      (b) => fs.writeSync(wfd, b),
      (b, o, n) => fs.readSync(rfd, b, o, n),
      () => {
        reader.close();
        writer.close();
      },
    );
  },
};

export function define(p, { node, pyRow, cRow }) {
  return [
    {
      title: `sync small writes, ${p.size} B × ${fmtCount(p.count)} (write then read back, one pipe)`,
      param: `${p.size} B × ${fmtCount(p.count)}`,
      unit: 'µs/op',
      better: 'lower',
      value: (r) => (r.seconds / r.count) * 1e6,
      rows: [
        { peer: 'ours', label: 'winpipe writer.writeSync / reader.readSync', role: 'ours', ...node('ours', p) },
        { peer: 'fs', label: 'fs.writeSync / fs.readSync on the same pipe', role: 'peer', target: { op: '<=', ratio: 1.5 }, ...node('fs', p) },
        { peer: 'python', label: 'Python os.write / os.read', role: 'info', ...pyRow(['b2', String(p.count), String(p.size)]) },
        { peer: 'c', label: 'C write / read', role: 'info', ...cRow(['b2', String(p.count), String(p.size)]) },
      ],
    },
  ];
}
