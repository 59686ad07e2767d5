#!/usr/bin/env node
// Wineserver requests per cycle, per process, by request type: the difference of two traced runs
// of different lengths, so that start-up and shutdown drop out.
//
//   WINPIPE_WINEDEBUG=+server node scripts/wine.mjs exec scripts/bench.mjs --run \
//     '{"case":"B6","peer":"ours","params":{"cycles":200,"parallel":4}}' >/dev/null; cp .wine/last-output.log short.log
//   (the same with 600 cycles into long.log)
//   node scripts/lab/count-procs.mjs short.log 200 long.log 600 [--top=30]
//
// Each request line ("0024: read( handle=... )"; replies "... ) = 0 {...}" are not counted) is
// given to the process of its thread: thread ids come from init_first_thread's reply (pid, tid)
// and from new_thread (the process handle it names: the caller's own, or a child's from
// new_process's reply). The processes are named by their command line: the first node.exe is
// "server" (the bench runner), a node.exe running child.mjs is "client", the rest (wine's own
// services) are "wine".
import fs from 'node:fs';
import readline from 'node:readline';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const top = Number(process.argv.find((a) => a.startsWith('--top='))?.slice(6) ?? 30);
const [fileA, nA, fileB, nB] = args;
if (!fileB) throw new Error('usage: count-procs.mjs short.log N long.log M');

async function count(file) {
  const pidOf = new Map(); // tid -> pid
  const handles = new Map(); // `${pid}:${handle}` -> child pid
  const pending = new Map(); // tid -> { req, process handle } of new_thread / new_process awaiting its reply
  const role = new Map(); // pid -> role
  let firstPid;
  const counts = {}; // role -> type -> n
  const unknown = {};
  const rl = readline.createInterface({ input: fs.createReadStream(file) });
  for await (const line of rl) {
    const m = /^([0-9a-f]{4}): ([a-z_]+)\((.*)$/.exec(line);
    if (!m) continue;
    const [, tid, req, rest] = m;
    const isReply = rest.startsWith(') = ');
    if (req === 'init_first_thread' && isReply) {
      const pid = /pid=([0-9a-f]+)/.exec(rest)?.[1];
      pidOf.set(tid, pid);
      firstPid ??= pid;
      if (pid === firstPid) role.set(pid, 'server');
      continue;
    }
    if (!isReply) {
      if (req === 'new_thread') pending.set(tid, { req, proc: /process=([0-9a-f]+)/.exec(rest)?.[1] });
      if (req === 'new_process') pending.set(tid, { req, cmd: /cmdline=L"((?:[^"\\]|\\.)*)"/.exec(rest)?.[1] ?? '' });
      const pid = pidOf.get(tid);
      const r = pid === undefined ? undefined : (role.get(pid) ?? 'wine');
      const into = r === undefined ? unknown : (counts[r] ??= {});
      into[req] = (into[req] ?? 0) + 1;
      continue;
    }
    const p = pending.get(tid);
    if (!p || p.req !== req) continue;
    pending.delete(tid);
    const me = pidOf.get(tid);
    if (req === 'new_process') {
      const pid = /pid=([0-9a-f]+)/.exec(rest)?.[1];
      const handle = /handle=([0-9a-f]+)/.exec(rest)?.[1];
      if (pid && handle) handles.set(`${me}:${handle}`, pid);
      if (pid && /node\.exe/i.test(p.cmd) && /child\.mjs/.test(p.cmd)) role.set(pid, 'client');
    } else {
      const newTid = /tid=([0-9a-f]+)/.exec(rest)?.[1];
      const owner = p.proc === 'ffffffff' ? me : handles.get(`${me}:${p.proc}`);
      if (newTid && owner) pidOf.set(newTid, owner);
    }
  }
  return { counts, unknown };
}

const a = await count(fileA);
const b = await count(fileB);
const d = Number(nB) - Number(nA);
for (const r of ['server', 'client', 'wine']) {
  const ca = a.counts[r] ?? {};
  const cb = b.counts[r] ?? {};
  const types = new Set([...Object.keys(ca), ...Object.keys(cb)]);
  const per = [...types].map((t) => [t, ((cb[t] ?? 0) - (ca[t] ?? 0)) / d]).filter(([, v]) => Math.abs(v) >= 0.005);
  per.sort((x, y) => y[1] - x[1]);
  const total = per.reduce((s, [, v]) => s + v, 0);
  console.log(`${r}: ${total.toFixed(2)} requests per cycle`);
  for (const [t, v] of per.slice(0, top)) console.log(`  ${t.padEnd(32)} ${v.toFixed(2)}`);
}
const ua = Object.values(a.unknown).reduce((s, v) => s + v, 0);
const ub = Object.values(b.unknown).reduce((s, v) => s + v, 0);
if (ua || ub) console.log(`(requests of threads of no known process: ${ua}, ${ub})`);
