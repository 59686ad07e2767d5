#!/usr/bin/env node
// Measures which Windows pipe mechanism should back createPipe(): it changes nothing in src/.
//
//   A  CreatePipe pair: both ends synchronous; the parent's read end goes through
//      uv_open_osfhandle -> fd -> net.Socket (libuv reads it with Windows thread-pool threads).
//   B  Named pair (what libuv's uv_pipe() and CPython's asyncio build): the parent's read end is the
//      server end of CreateNamedPipeW(FILE_FLAG_OVERLAPPED | PIPE_ACCESS_INBOUND |
//      FILE_FLAG_FIRST_PIPE_INSTANCE), read through libuv's IOCP; the child's write end is the
//      synchronous client end from CreateFileW(GENERIC_WRITE, OPEN_EXISTING).
//   C  Node's own spawn stdio 'pipe' (child.stdout), the baseline.
//
// The writer is always a child node process that fs.writeSync()s the payload to its fd 1 in 64 KiB
// chunks; the parent counts the bytes and checks the total. Runs are interleaved (order rotated).
// It also times creating + closing one pair (A and B), and checks whether CreateFileW after
// CreateNamedPipeW connects the pipe without ConnectNamedPipe.
//
//   node scripts/wine.mjs exec scripts/lab/bench-mechanism.mjs [--mib=256] [--runs=5] [--pairs=2000]
//   node scripts/wine.mjs exec scripts/lab/bench-mechanism.mjs --io [--runs=3] [--pingpongs=500] [--floods=4000] [--engines=a-wait,c-port]
//      the Windows I/O-engine candidates for message mode instead (scripts/lab/io-engines.mjs)
//   node scripts\lab\bench-mechanism.mjs ...              (on Windows)
//
// Node built-ins and koffi only. On anything but Windows it prints "Windows only" and exits 0.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';

if (process.platform !== 'win32') {
  console.log('bench-mechanism: Windows only (run it with: node scripts/wine.mjs exec scripts/lab/bench-mechanism.mjs)');
  process.exit(0);
}

const { default: koffi } = await import('koffi');

// --io: the I/O-engine candidates for message mode, scripts/lab/io-engines.mjs.
if (process.argv.includes('--io')) {
  const { runIoEngines } = await import('./io-engines.mjs');
  const num = (n, d) => Number(process.argv.find((a) => a.startsWith(`--${n}=`))?.split('=')[1] ?? d);
  const only = process.argv
    .find((a) => a.startsWith('--engines='))
    ?.split('=')[1]
    .split(',');
  const r = await runIoEngines({ runs: num('runs', 3), pingPongs: num('pingpongs', 500), floods: num('floods', 4000), only });
  process.stdout.write('engine   ping-pong µs/round trip   flood msg/s (100 B, one way)\n');
  for (const [k, v] of Object.entries(r)) {
    process.stdout.write(`${k.padEnd(8)} ${v.pingPongUs.toFixed(0).padStart(22)} ${v.floodPerSec.toFixed(0).padStart(26)}${v.error ? `  error: ${v.error}` : ''}\n`);
  }
  process.exit(0);
}

// ------------------------------------------------------------------ options

function opt(name, dflt) {
  const a = process.argv.find((s) => s.startsWith(`--${name}=`));
  const v = a ? Number(a.slice(name.length + 3)) : dflt;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name}: not a positive number`);
  return v;
}
const MIB = opt('mib', 256);
const RUNS = opt('runs', 5);
const PAIRS = opt('pairs', 2000);
const CHUNK = 64 * 1024;
const CHUNKS = (MIB * 1024 * 1024) / CHUNK;
if (!Number.isInteger(CHUNKS)) throw new Error('--mib must be a multiple of 1/16');
const TOTAL = CHUNKS * CHUNK;

// ------------------------------------------------------------------ FFI

try {
  koffi.alias('HANDLE', 'void *');
} catch {
  // already declared
}
const k32 = koffi.load('kernel32.dll');
const host = koffi.load(null); // node.exe itself: libuv's exports
const CreatePipe = k32.func('bool __stdcall CreatePipe(_Out_ HANDLE *r, _Out_ HANDLE *w, void *sa, uint32_t n)');
const CreateNamedPipeW = k32.func(
  'HANDLE __stdcall CreateNamedPipeW(const char16_t *name, uint32_t openMode, uint32_t pipeMode, uint32_t maxInst, uint32_t outBuf, uint32_t inBuf, uint32_t timeout, void *sa)',
);
const CreateFileW = k32.func('HANDLE __stdcall CreateFileW(const char16_t *name, uint32_t access, uint32_t share, void *sa, uint32_t disposition, uint32_t flags, HANDLE tmpl)');
const ConnectNamedPipe = k32.func('bool __stdcall ConnectNamedPipe(HANDLE h, void *ov)');
const CloseHandle = k32.func('bool __stdcall CloseHandle(HANDLE h)');
const GetLastError = k32.func('uint32_t __stdcall GetLastError()');
const GetCurrentProcessId = k32.func('uint32_t __stdcall GetCurrentProcessId()');
const GetNamedPipeInfo = k32.func('bool __stdcall GetNamedPipeInfo(HANDLE h, _Out_ uint32_t *flags, _Out_ uint32_t *outBuf, _Out_ uint32_t *inBuf, _Out_ uint32_t *maxInst)');
const uv_open_osfhandle = host.func('int uv_open_osfhandle(HANDLE h)');

let wineVersion = null;
try {
  wineVersion = koffi.load('ntdll.dll').func('const char *wine_get_version()')();
} catch {
  // real Windows
}

const INVALID_HANDLE_VALUE = 0xffff_ffff_ffff_ffffn;
const PIPE_ACCESS_INBOUND = 0x1;
const FILE_FLAG_OVERLAPPED = 0x4000_0000;
const FILE_FLAG_FIRST_PIPE_INSTANCE = 0x0008_0000;
const PIPE_TYPE_BYTE = 0;
const PIPE_READMODE_BYTE = 0;
const PIPE_WAIT = 0;
const PIPE_REJECT_REMOTE_CLIENTS = 0x8;
const GENERIC_WRITE = 0x4000_0000;
const OPEN_EXISTING = 3;
const ERROR_PIPE_CONNECTED = 535;
const PIPE_BUF = 65536; // what libuv's uv__create_pipe_pair asks for

const pid = GetCurrentProcessId();
let serial = 0;

/** A: CreatePipe, both ends non-inheritable (NULL SA), default buffer size as src/ uses. */
function anonPair() {
  const r = [0n];
  const w = [0n];
  if (!CreatePipe(r, w, null, 0)) throw new Error(`CreatePipe: error ${GetLastError()}`);
  return { read: r[0], write: w[0] };
}

/** B: overlapped inbound server end + synchronous write client end, no ConnectNamedPipe. */
function namedPair({ connect = false } = {}) {
  const name = `\\\\.\\pipe\\winpipe-bench-${pid}-${serial++}`;
  const server = CreateNamedPipeW(
    name,
    PIPE_ACCESS_INBOUND | FILE_FLAG_OVERLAPPED | FILE_FLAG_FIRST_PIPE_INSTANCE,
    PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS,
    1,
    PIPE_BUF,
    PIPE_BUF,
    0,
    null,
  );
  if (server === INVALID_HANDLE_VALUE) throw new Error(`CreateNamedPipeW: error ${GetLastError()}`);
  const client = CreateFileW(name, GENERIC_WRITE, 0, null, OPEN_EXISTING, 0, 0n);
  if (client === INVALID_HANDLE_VALUE) {
    const e = GetLastError();
    CloseHandle(server);
    throw new Error(`CreateFileW: error ${e}`);
  }
  let connectResult = null;
  if (connect) {
    // libuv's way (uv__create_pipe_pair): a NULL-OVERLAPPED ConnectNamedPipe that must not block.
    const ok = ConnectNamedPipe(server, null);
    connectResult = { ok, error: ok ? 0 : GetLastError() };
  }
  return { read: server, write: client, connectResult };
}

function wrap(h) {
  const fd = uv_open_osfhandle(h);
  if (fd < 0) {
    CloseHandle(h);
    throw new Error('uv_open_osfhandle failed');
  }
  return fd;
}

// ------------------------------------------------------------------ throughput

const CHILD = `
const fs = require('fs');
const n = Number(process.argv[process.argv.length - 1]);
const b = Buffer.alloc(${CHUNK}, 97);
for (let i = 0; i < n; i++) { let o = 0; while (o < b.length) o += fs.writeSync(1, b, o); }
`;

/** Spawns the writer with `stdout` as its slot 1 and reads `readable` to EOF. */
function runOnce(label, setup) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    let first = 0n;
    let bytes = 0;
    const { stdout, afterSpawn, readable: getReadable } = setup();
    const child = spawn(process.execPath, ['-e', CHILD, String(CHUNKS)], { stdio: ['ignore', stdout, 'inherit'], windowsHide: true });
    afterSpawn?.();
    const readable = getReadable(child);
    let ended = false;
    let exited = null;
    const finish = () => {
      if (!ended || !exited) return;
      const t1 = process.hrtime.bigint();
      if (exited.code !== 0) return reject(new Error(`${label}: child exit ${exited.code} ${exited.signal ?? ''}`));
      if (bytes !== TOTAL) return reject(new Error(`${label}: got ${bytes} bytes, expected ${TOTAL}`));
      resolve({ totalMs: Number(t1 - t0) / 1e6, streamMs: Number(t1 - first) / 1e6 });
    };
    readable.on('data', (c) => {
      if (bytes === 0) first = process.hrtime.bigint();
      bytes += c.length;
    });
    readable.on('end', () => {
      ended = true;
      finish();
    });
    readable.on('error', reject);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      finish();
    });
  });
}

const MECHS = {
  A: {
    name: 'A CreatePipe (sync) + net.Socket',
    setup() {
      const p = anonPair();
      const rfd = wrap(p.read);
      const wfd = wrap(p.write);
      return {
        stdout: wfd,
        afterSpawn: () => fs.closeSync(wfd),
        readable: () => new net.Socket({ fd: rfd, readable: true, writable: false }),
      };
    },
  },
  B: {
    name: 'B CreateNamedPipeW (overlapped) + net.Socket',
    setup() {
      const p = namedPair();
      const rfd = wrap(p.read);
      const wfd = wrap(p.write);
      return {
        stdout: wfd,
        afterSpawn: () => fs.closeSync(wfd),
        readable: () => new net.Socket({ fd: rfd, readable: true, writable: false }),
      };
    },
  },
  C: {
    name: "C spawn stdio 'pipe' (child.stdout)",
    setup() {
      return { stdout: 'pipe', readable: (child) => child.stdout };
    },
  },
};

// ------------------------------------------------------------------ create + close cost

function timePairs(make, close) {
  for (let i = 0; i < 50; i++) close(make()); // warm up (JIT, koffi stubs)
  const t = new Float64Array(PAIRS);
  for (let i = 0; i < PAIRS; i++) {
    const t0 = process.hrtime.bigint();
    close(make());
    t[i] = Number(process.hrtime.bigint() - t0) / 1e3;
  }
  return median(Array.from(t));
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

// ------------------------------------------------------------------ main

const out = (s = '') => process.stdout.write(`${s}\n`);
out(`bench-mechanism: node ${process.version}, ${wineVersion ? `Wine ${wineVersion}` : 'Windows'}, ${MIB} MiB x ${RUNS} runs each, ${PAIRS} pair creations`);

// 1. Semantics check: does CreateFileW after CreateNamedPipeW connect without ConnectNamedPipe?
{
  const p = namedPair({ connect: true });
  const info = [0];
  const ob = [0];
  const ib = [0];
  const mi = [0];
  GetNamedPipeInfo(p.read, info, ob, ib, mi);
  const c = p.connectResult;
  out(
    `check: CreateFileW after CreateNamedPipeW succeeded; ConnectNamedPipe(server, NULL) afterwards -> ` +
      `${c.ok ? 'TRUE' : `FALSE, error ${c.error}${c.error === ERROR_PIPE_CONNECTED ? ' (ERROR_PIPE_CONNECTED: already connected)' : ''}`}; ` +
      `server buffers out=${ob[0]} in=${ib[0]}`,
  );
  CloseHandle(p.write);
  CloseHandle(p.read);
  // FILE_FLAG_FIRST_PIPE_INSTANCE: a second server of the same name must fail with ERROR_ACCESS_DENIED (5).
  // Unlimited instances, so that the instance limit (ERROR_PIPE_BUSY, 231) cannot be the reason.
  const name = `\\\\.\\pipe\\winpipe-bench-${pid}-dup`;
  const mode = PIPE_ACCESS_INBOUND | FILE_FLAG_OVERLAPPED | FILE_FLAG_FIRST_PIPE_INSTANCE;
  const pm = PIPE_TYPE_BYTE | PIPE_REJECT_REMOTE_CLIENTS;
  const s1 = CreateNamedPipeW(name, mode, pm, 255, PIPE_BUF, PIPE_BUF, 0, null);
  const s2 = CreateNamedPipeW(name, mode, pm, 255, PIPE_BUF, PIPE_BUF, 0, null);
  const e2 = s2 === INVALID_HANDLE_VALUE ? GetLastError() : 0;
  out(`check: second CreateNamedPipeW of the same name -> ${s2 === INVALID_HANDLE_VALUE ? `fails, error ${e2}` : 'SUCCEEDS (FIRST_PIPE_INSTANCE not enforced)'}`);
  if (s2 !== INVALID_HANDLE_VALUE) CloseHandle(s2);
  if (s1 !== INVALID_HANDLE_VALUE) CloseHandle(s1);
}

// 2. Throughput, interleaved with the order rotated each round.
const keys = ['A', 'B', 'C'];
const results = { A: [], B: [], C: [] };
const tStart = Date.now();
for (let r = 0; r < RUNS; r++) {
  const order = keys.map((_, i) => keys[(i + r) % keys.length]);
  const line = [];
  for (const k of order) {
    const res = await runOnce(k, MECHS[k].setup);
    results[k].push(res);
    line.push(`${k} ${(MIB / (res.streamMs / 1000)).toFixed(0)} MiB/s (${(res.totalMs / 1000).toFixed(2)} s)`);
  }
  out(`run ${r + 1}/${RUNS}: ${line.join(', ')}`);
}

// 3. Pair create + close.
const closeRaw = (p) => {
  CloseHandle(p.read);
  CloseHandle(p.write);
};
const closeFds = (p) => {
  fs.closeSync(wrap(p.read));
  fs.closeSync(wrap(p.write));
};
const pairA = timePairs(anonPair, closeRaw);
const pairB = timePairs(() => namedPair(), closeRaw);
const pairAfd = timePairs(anonPair, closeFds);
const pairBfd = timePairs(() => namedPair(), closeFds);

// 4. Table.
const med = (k, f) => median(results[k].map(f));
const stream = (k) => MIB / (med(k, (x) => x.streamMs) / 1000);
const total = (k) => MIB / (med(k, (x) => x.totalMs) / 1000);
out();
out(`throughput (median of ${RUNS}; "stream" = first byte to EOF, "wall" = spawn to EOF + exit)`);
out('mechanism                                      stream MiB/s  vs C   wall MiB/s  vs C');
for (const k of keys) {
  out(
    `${MECHS[k].name.padEnd(46)} ${stream(k).toFixed(0).padStart(12)}  ${(stream(k) / stream('C')).toFixed(2).padStart(4)}` +
      `  ${total(k).toFixed(0).padStart(10)}  ${(total(k) / total('C')).toFixed(2).padStart(4)}`,
  );
}
out(`B / A: stream ${(stream('B') / stream('A')).toFixed(2)}x, wall ${(total('B') / total('A')).toFixed(2)}x`);
out();
out(`create + close one pair (median of ${PAIRS}, µs)       raw handles   via uv_open_osfhandle + fs.closeSync`);
out(`A CreatePipe                                      ${pairA.toFixed(1).padStart(11)}   ${pairAfd.toFixed(1).padStart(11)}`);
out(`B CreateNamedPipeW + CreateFileW                  ${pairB.toFixed(1).padStart(11)}   ${pairBfd.toFixed(1).padStart(11)}`);
out(`B / A: ${(pairB / pairA).toFixed(2)}x raw, ${(pairBfd / pairAfd).toFixed(2)}x with fds`);
out(`(throughput phase ${((Date.now() - tStart) / 1000).toFixed(0)} s)`);
