// B5: create and close an anonymous pipe pair, many times. Time per pair, µs.
import { distModule, fmtCount, isWindows, winpipe } from '../lib.mjs';

export const id = 'B5';

export function sizes(mode, { isWindows, quick }) {
  const s = mode === 'smoke' ? { count: 500, cCount: 5000 } : mode === 'quick' ? { count: 10_000, cCount: 100_000 } : { count: 100_000, cCount: 300_000 };
  if (isWindows && mode !== 'smoke') s.count = quick ? 500 : 2000;
  return s;
}

export const sizesText = (s) => `B5 ${fmtCount(s.count)} pairs (C: ${fmtCount(s.cCount)})`;

/** count x (create a pair, close both). `make` returns the highest fd it saw: it must stay small. */
function pairLoop(count, make) {
  const warm = Math.min(1000, count);
  for (let i = 0; i < warm; i++) make();
  let maxFd = 0;
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  for (let i = 0; i < count; i++) maxFd = Math.max(maxFd, make());
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const u = process.cpuUsage(c0);
  // Closed ends give their fds back: a leak would walk the fd numbers up with the count.
  const ok = maxFd < 1000;
  return { ok, count, seconds, cpuSeconds: (u.user + u.system) / 1e6, maxFd, ...(ok ? {} : { error: `fd numbers reached ${maxFd}: ends are not being closed` }) };
}

export const runners = {
  async ours({ count }) {
    const { createPipe } = await winpipe();
    return pairLoop(count, () => {
      const { reader, writer } = createPipe();
      const fd = Math.max(reader.fd, writer.fd);
      reader.close();
      writer.close();
      return fd;
    });
  },
  async 'raw-ffi'({ count }) {
    if (isWindows) {
      const k = await distModule('esm/windows/kernel32.js');
      const r = [0n];
      const w = [0n];
      return pairLoop(count, () => {
        if (!k.CreatePipe(r, w, null, 0)) throw new Error(`CreatePipe: ${k.GetLastError()}`);
        k.CloseHandle(r[0]);
        k.CloseHandle(w[0]);
        return 0;
      });
    }
    const libc = await distModule('esm/posix/libc.js');
    const fds = new Int32Array(2);
    return pairLoop(count, () => {
      if ((process.platform === 'linux' ? libc.pipe2(fds, libc.O_CLOEXEC) : libc.pipe(fds)) !== 0) throw new Error(`pipe2: errno ${libc.errno()}`);
      libc.close(fds[0]);
      libc.close(fds[1]);
      return Math.max(fds[0], fds[1]);
    });
  },
};

export function define(s, { node, pyRow, cRow }) {
  const p = { count: s.count };
  return [
    {
      title: `create and close a pipe pair, ${fmtCount(p.count)} times`,
      param: 'pair',
      unit: 'µs/pair',
      better: 'lower',
      value: (r) => (r.seconds / r.count) * 1e6,
      rows: [
        { peer: 'ours', label: 'winpipe createPipe + close × 2', role: 'ours', ...node('ours', p) },
        { peer: 'c', label: 'C pipe2 + close × 2', role: 'peer', target: { op: '<=', ratio: 2.0 }, ...cRow(['b5', String(s.cCount)]) },
        { peer: 'raw-ffi', label: isWindows ? 'winpipe/win32 CreatePipe + CloseHandle × 2 (koffi)' : 'winpipe/posix pipe2 + close × 2 (koffi)', role: 'info', ...node('raw-ffi', p) },
        { peer: 'python', label: 'Python os.pipe + os.close × 2', role: 'info', ...pyRow(['b5', String(p.count)]) },
      ],
    },
  ];
}
