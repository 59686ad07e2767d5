#!/usr/bin/env node
// System calls, read sizes, wakeups, page faults and context switches per unit of work, per
// process, from the kernel's own tracepoints (perf record): counts that the machine's load does
// not change, unlike wall-clock time. Each measure is the difference of two runs of different
// lengths, so that start-up and shutdown drop out.
//
//   node scripts/lab/count-perf.mjs --unit=MiB --short=64 --long=320 -- <command with {N}>
//
// {N} in the command is replaced by the run length (in units; e.g. a byte count as {N*MiB}, see
// below). Examples:
//   node scripts/lab/count-perf.mjs --unit=MiB --short=64 --long=320 -- node scripts/bench.mjs \
//     --run '{"case":"B1","peer":"ours","params":{"chunk":65536,"total":{N*MiB},"pipeSize":1048576}}'
//   node scripts/lab/count-perf.mjs --unit=MiB --short=64 --long=320 -- benchmarks/tmp/peers b1 65536 {N*MiB} 1048576
//
// Processes are named by the order they appear: the first is "main" (the process perf started),
// later ones "child1", "child2", ... . Needs perf with tracepoint access (root, or
// perf_event_paranoid <= 1).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const argv = process.argv.slice(2);
const sep = argv.indexOf('--');
const opts = Object.fromEntries(argv.slice(0, sep < 0 ? argv.length : sep).map((a) => a.replace(/^--/, '').split('=')));
const template = sep < 0 ? [] : argv.slice(sep + 1);
if (template.length === 0) throw new Error('usage: count-perf.mjs --unit=MiB --short=64 --long=320 -- <command with {N} or {N*MiB}>');
const unit = opts.unit ?? 'MiB';
const short = Number(opts.short ?? 64);
const long = Number(opts.long ?? 320);
const KiB = 1024;
const MiB = 1024 * KiB;

// x86-64 / arm64 syscall numbers -> names, from the kernel headers when they are installed.
function syscallNames() {
  const names = new Map();
  for (const h of ['/usr/include/x86_64-linux-gnu/asm/unistd_64.h', '/usr/include/asm-generic/unistd.h']) {
    if (!fs.existsSync(h)) continue;
    for (const m of fs.readFileSync(h, 'utf8').matchAll(/#define __NR_(\w+)\s+(\d+)/g)) if (!names.has(Number(m[2]))) names.set(Number(m[2]), m[1]);
    break;
  }
  return names;
}
const NAMES = syscallNames();

const EVENTS = ['raw_syscalls:sys_enter', 'syscalls:sys_exit_read', 'syscalls:sys_exit_write', 'syscalls:sys_exit_epoll_wait', 'syscalls:sys_exit_epoll_pwait', 'page-faults', 'context-switches'];

function expand(n) {
  return template.map((a) =>
    a
      .replace(/\{N\*MiB\}/g, String(n * MiB))
      .replace(/\{N\*KiB\}/g, String(n * KiB))
      .replace(/\{N\}/g, String(n)),
  );
}

function record(n) {
  const data = path.join(os.tmpdir(), `count-perf-${process.pid}-${n}.data`);
  const cmd = expand(n);
  const r = spawnSync('perf', ['record', '-q', '-m', '64M', '-c', '1', '-o', data, ...EVENTS.flatMap((e) => ['-e', e]), '--', ...cmd], { encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`perf record failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const out = r.stdout.trim().split('\n').at(-1);
  // perf drops samples when its ring buffer overflows (and -q hides it): such a count is no count.
  const stats = spawnSync('perf', ['report', '-i', data, '--stats'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const lost = /LOST[^:]*events:\s*(\d+)/.exec(stats.stdout);
  if (lost && Number(lost[1]) > 0) throw new Error(`perf lost events in the run of ${n} ${unit}: ${lost[0]}`);
  const s = spawnSync('perf', ['script', '-i', data, '-F', 'pid,tid,event,trace'], { encoding: 'utf8', maxBuffer: 1 << 30 });
  fs.rmSync(data, { force: true });
  if (s.status !== 0) throw new Error(`perf script failed: ${s.stderr.slice(-2000)}`);
  return { counts: aggregate(s.stdout), out };
}

function aggregate(text) {
  const roles = new Map(); // pid -> role
  const per = {}; // role -> counters
  const get = (pid) => {
    if (!roles.has(pid)) roles.set(pid, roles.size === 0 ? 'main' : `child${roles.size}`);
    const role = roles.get(pid);
    return (per[role] ??= { syscalls: {}, total: 0, readBytes: 0, reads: 0, readsAgain: 0, writeBytes: 0, writes: 0, waits: 0, waitsEmpty: 0, faults: 0, switches: 0, threads: new Set() });
  };
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+)\/(\d+)\s+([\w:-]+):\s*(.*)$/.exec(line);
    if (!m) continue;
    const [, pid, tid, event, trace] = m;
    const c = get(pid);
    c.threads.add(tid);
    if (event === 'raw_syscalls:sys_enter') {
      const nr = Number(/NR (\d+)/.exec(trace)?.[1]);
      const name = NAMES.get(nr) ?? `nr${nr}`;
      c.syscalls[name] = (c.syscalls[name] ?? 0) + 1;
      c.total++;
    } else if (event === 'syscalls:sys_exit_read' || event === 'syscalls:sys_exit_write') {
      const ret = Number.parseInt(/0x([0-9a-f]+)/.exec(trace)?.[1] ?? '0', 16);
      const neg = ret > 2 ** 63 || ret > 0xffffffff00000000;
      const isRead = event.endsWith('read');
      if (neg) {
        if (isRead) c.readsAgain++;
      } else if (isRead) {
        c.reads++;
        c.readBytes += ret;
      } else {
        c.writes++;
        c.writeBytes += ret;
      }
    } else if (event.startsWith('syscalls:sys_exit_epoll')) {
      const ret = Number.parseInt(/0x([0-9a-f]+)/.exec(trace)?.[1] ?? '0', 16);
      c.waits++;
      if (ret === 0) c.waitsEmpty++;
    } else if (event === 'page-faults') c.faults++;
    else if (event === 'context-switches') c.switches++;
  }
  for (const c of Object.values(per)) c.threads = c.threads.size;
  return per;
}

const a = record(short);
const b = record(long);
const d = long - short;
const f = (x) => (Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2));
console.log(`per ${unit}, the difference of ${long} and ${short} ${unit}: ${template.join(' ')}`);
for (const role of Object.keys(b.counts)) {
  const x = a.counts[role];
  const y = b.counts[role];
  if (!x) continue;
  const per = (k) => (y[k] - x[k]) / d;
  const readAvg = (y.readBytes - x.readBytes) / Math.max(1, y.reads - x.reads);
  const writeAvg = (y.writeBytes - x.writeBytes) / Math.max(1, y.writes - x.writes);
  console.log(
    `${role.padEnd(7)} syscalls ${f(per('total'))}  read ${f(per('reads'))} (avg ${f(readAvg / KiB)} KiB, EAGAIN/err ${f(per('readsAgain'))})  write ${f(per('writes'))} (avg ${f(writeAvg / KiB)} KiB)  epoll waits ${f(per('waits'))} (empty ${f(per('waitsEmpty'))})  page faults ${f(per('faults'))}  context switches ${f(per('switches'))}`,
  );
  const names = new Set([...Object.keys(x.syscalls), ...Object.keys(y.syscalls)]);
  const top = [...names]
    .map((n) => [n, ((y.syscalls[n] ?? 0) - (x.syscalls[n] ?? 0)) / d])
    .filter(([, v]) => Math.abs(v) >= 0.01)
    .sort((p, q) => q[1] - p[1])
    .slice(0, 12)
    .map(([n, v]) => `${n} ${f(v)}`)
    .join(', ');
  console.log(`        by name: ${top}`);
}
if (opts.show) console.log(`last output line: ${b.out}`);
