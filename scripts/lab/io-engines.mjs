// I/O-engine candidates for message-mode named pipes (docs/decisions/windows-io-engine.md), run by
// scripts/lab/bench-mechanism.mjs --io.
// Raw koffi, nothing from src/. One process: a message-mode pipe (server end + client end, both
// overlapped). Two measures per engine:
//   ping-pong  each side waits for every message: the cost of one wait → JS completion (what B3 pays)
//   flood      the client writes `count` 100 B messages back to back, the server reads: mostly
//              operations that complete at once (what a busy B4 connection pays)
// Engines:
//   a-wait   event + RegisterWaitForSingleObject per pending op + shared koffi callback (the old engine)
//   b-skip   a-wait + SetFileCompletionNotificationModes(SKIP_SET_EVENT_ON_HANDLE): try first, wait only when pending
//   c-port   one completion port, skip-on-success, one .async GetQueuedCompletionStatusEx drain (batches of 64)
//   d-tpio   CreateThreadpoolIo + StartThreadpoolIo per op; completion callback hops to JS through koffi
// WINPIPE_MARK=1 creates named events "winpipe-mark-<engine>-begin/end" around each measure, so a
// WINEDEBUG=+server trace can be cut into per-engine request counts.
import koffi from 'koffi';

try {
  koffi.alias('HANDLE', 'void *');
} catch {}
const k = koffi.load('kernel32.dll');
const f = (p) => k.func(p);
const CreateNamedPipeW = f('HANDLE __stdcall CreateNamedPipeW(const char16_t *n, uint32_t om, uint32_t pm, uint32_t mi, uint32_t ob, uint32_t ib, uint32_t t, void *sa)');
const CreateFileW = f('HANDLE __stdcall CreateFileW(const char16_t *n, uint32_t a, uint32_t s, void *sa, uint32_t d, uint32_t fl, HANDLE t)');
const SetNamedPipeHandleState = f('bool __stdcall SetNamedPipeHandleState(HANDLE h, uint32_t *mode, void *a, void *b)');
const ReadFile = f('bool __stdcall ReadFile(HANDLE h, void *b, uint32_t n, void *got, void *ov)');
const WriteFile = f('bool __stdcall WriteFile(HANDLE h, void *b, uint32_t n, void *got, void *ov)');
const CloseHandle = f('bool __stdcall CloseHandle(HANDLE h)');
const GetLastError = f('uint32_t __stdcall GetLastError()');
const CreateEventW = f('HANDLE __stdcall CreateEventW(void *sa, bool manual, bool init, const char16_t *name)');
const GetOverlappedResult = f('bool __stdcall GetOverlappedResult(HANDLE h, void *ov, _Out_ uint32_t *n, bool wait)');
const RegisterWait = f('bool __stdcall RegisterWaitForSingleObject(_Out_ HANDLE *w, HANDLE h, void *cb, void *ctx, uint32_t ms, uint32_t fl)');
const UnregisterWaitEx = f('bool __stdcall UnregisterWaitEx(HANDLE w, HANDLE ev)');
const CreateIoCompletionPort = f('HANDLE __stdcall CreateIoCompletionPort(HANDLE h, HANDLE p, uintptr_t key, uint32_t n)');
const SetFileCompletionNotificationModes = f('bool __stdcall SetFileCompletionNotificationModes(HANDLE h, uint8_t fl)');
const GQCSEx = f('bool __stdcall GetQueuedCompletionStatusEx(HANDLE p, void *e, uint32_t n, void *removed, uint32_t ms, bool alert)');
const CreateThreadpoolIo = f('void * __stdcall CreateThreadpoolIo(HANDLE h, void *cb, void *ctx, void *env)');
const StartThreadpoolIo = f('void __stdcall StartThreadpoolIo(void *io)');
const CancelThreadpoolIo = f('void __stdcall CancelThreadpoolIo(void *io)');
const WaitCb = koffi.proto('void __stdcall WaitCbIo(void *ctx, uint8_t fired)');
const TpIoCb = koffi.proto('void __stdcall TpIoCb(void *inst, void *ctx, void *ov, uint32_t result, uintptr_t bytes, void *io)');

const PENDING = 997;
const MSG = 100;
let serial = 0;

function pair() {
  const name = `\\\\.\\pipe\\winpipe-io-engines-${process.pid}-${serial++}`;
  const s = CreateNamedPipeW(name, 0x3 | 0x4000_0000, 0x4 | 0x2 | 0x8, 1, 65536, 65536, 0, null);
  const c = CreateFileW(name, 0xc000_0000, 0, null, 3, 0x4000_0000, null);
  SetNamedPipeHandleState(c, [0x2], null, null);
  return [s, c];
}

/** One op slot per (handle, direction) for every engine: { ov, start(issue) -> Promise<{error, bytes}> }. */
function makeEngine(kind) {
  const byId = new Map();
  let nextId = 1;
  let cb;
  let port;
  let entries;
  let view;
  let draining = false;
  const inFlight = new Map();
  if (kind === 'a-wait' || kind === 'b-skip') {
    cb = koffi.register((ctx) => {
      const s = byId.get(Number(ctx));
      byId.delete(Number(ctx));
      UnregisterWaitEx(s.wait, null);
      s.done();
    }, koffi.pointer(WaitCb));
  } else if (kind === 'c-port') {
    port = CreateIoCompletionPort(0xffff_ffff_ffff_ffffn, null, 0, 1);
    entries = koffi.alloc('uint8_t', 64 * 32 + 8);
    view = new DataView(koffi.view(entries, 64 * 32 + 8));
  }
  const arm = () => {
    if (draining || inFlight.size === 0) return;
    draining = true;
    GQCSEx.async(port, entries, 64, entries + 2048n, 1000, false, (_err, ok) => {
      draining = false;
      const n = ok ? view.getUint32(2048, true) : 0;
      for (let i = 0; i < n; i++) {
        const ov = Number(view.getBigUint64(i * 32 + 8, true));
        const s = inFlight.get(ov);
        inFlight.delete(ov);
        s?.done();
      }
      arm();
    });
  };
  let tpcb;
  if (kind === 'd-tpio') {
    tpcb = koffi.register((_inst, ctx, ov, result, bytes) => {
      // koffi 3 pointers are BigInt; ctx names the handle, ov the slot on it.
      const r = byId.get(Number(ctx) * 2);
      const s = r?.ovNum === Number(ov) ? r : byId.get(Number(ctx) * 2 + 1);
      s.tp = { error: result, bytes: Number(bytes) };
      s.done();
    }, koffi.pointer(TpIoCb));
  }
  const handles = new Map();
  let nextHid = 1;
  return {
    kind,
    /** A closed handle's value is reused by the next pair: its association must not outlive it. */
    forget(h) {
      handles.delete(h);
    },
    slot(h, dir) {
      const ov = koffi.alloc('uint8_t', 32);
      const s = { h, ov, ovNum: Number(ov), resolve: null, wait: 0n, event: 0n };
      if (!handles.has(h)) {
        const hid = nextHid++;
        handles.set(h, { hid });
        if (kind === 'b-skip') SetFileCompletionNotificationModes(h, 0x2);
        if (kind === 'c-port') {
          CreateIoCompletionPort(h, port, 0, 0);
          SetFileCompletionNotificationModes(h, 0x3);
        }
        if (kind === 'd-tpio') {
          SetFileCompletionNotificationModes(h, 0x3);
          handles.get(h).io = CreateThreadpoolIo(h, tpcb, BigInt(hid), null);
          if (!handles.get(h).io) throw new Error(`CreateThreadpoolIo: ${GetLastError()}`);
        }
      }
      const hs = handles.get(h);
      if (kind === 'd-tpio') byId.set(hs.hid * 2 + (dir === 'r' ? 0 : 1), s);
      if (kind === 'a-wait' || kind === 'b-skip') s.event = CreateEventW(null, false, false, null);
      const ovView = new DataView(koffi.view(ov, 32));
      s.done = () => {
        let c;
        if (s.tp) c = s.tp;
        else {
          const n = [0];
          const ok = GetOverlappedResult(h, ov, n, false);
          c = { error: ok ? 0 : GetLastError(), bytes: n[0] };
        }
        s.tp = undefined;
        const r = s.resolve;
        s.resolve = null;
        r(c);
      };
      s.start = (issue) => {
        for (let i = 0; i < 24; i += 8) ovView.setBigUint64(i, 0n, true);
        ovView.setBigUint64(24, s.event, true);
        if (kind === 'd-tpio') StartThreadpoolIo(hs.io);
        const ok = issue(ov);
        const e = ok ? 0 : GetLastError();
        if (e !== PENDING) {
          if (kind === 'd-tpio') CancelThreadpoolIo(hs.io);
          const n = [0];
          if (ok || e === 234) GetOverlappedResult(h, ov, n, false);
          return Promise.resolve({ error: e, bytes: n[0] });
        }
        return new Promise((resolve) => {
          s.resolve = resolve;
          if (kind === 'a-wait' || kind === 'b-skip') {
            const id = nextId++;
            byId.set(id, s);
            const w = [0n];
            RegisterWait(w, s.event, cb, BigInt(id), 0xffff_ffff, 0x8 | 0x4);
            s.wait = w[0];
          } else if (kind === 'c-port') {
            inFlight.set(s.ovNum, s);
            arm();
          }
        });
      };
      return s;
    },
  };
}

const keep = setInterval(() => {}, 1 << 30);

function mark(name) {
  if (process.env.WINPIPE_MARK) CloseHandle(CreateEventW(null, false, false, `winpipe-mark-${name}`));
}

async function pingPong(engine, count) {
  const [s, c] = pair();
  const sr = engine.slot(s, 'r');
  const sw = engine.slot(s, 'w');
  const cr = engine.slot(c, 'r');
  const cw = engine.slot(c, 'w');
  const bufs = [s, c].map(() => ({ r: koffi.alloc('uint8_t', 65536), w: koffi.alloc('uint8_t', MSG) }));
  const [bs, bc] = bufs;
  // The server echoes; the client sends and waits. Reads are posted first, so each one waits.
  const serverLoop = (async () => {
    for (let i = 0; i < count; i++) {
      const r = await sr.start((ov) => ReadFile(s, bs.r, 65536, null, ov));
      if (r.error || r.bytes !== MSG) throw new Error(`server read ${r.error}`);
      await sw.start((ov) => WriteFile(s, bs.w, MSG, null, ov));
    }
  })();
  process.stderr.write(`pp ${engine.kind}\n`);
  mark(`${engine.kind}-pp-begin`);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    const rp = cr.start((ov) => ReadFile(c, bc.r, 65536, null, ov));
    await cw.start((ov) => WriteFile(c, bc.w, MSG, null, ov));
    const r = await rp;
    if (r.error || r.bytes !== MSG) throw new Error(`client read ${r.error}`);
  }
  const us = Number(process.hrtime.bigint() - t0) / 1e3 / count;
  mark(`${engine.kind}-pp-end`);
  await serverLoop;
  CloseHandle(c);
  CloseHandle(s);
  engine.forget(c);
  engine.forget(s);
  return us;
}

async function flood(engine, count) {
  const [s, c] = pair();
  const sr = engine.slot(s, 'r');
  const cw = engine.slot(c, 'w');
  const rb = koffi.alloc('uint8_t', 65536);
  const wb = koffi.alloc('uint8_t', MSG);
  process.stderr.write(`flood ${engine.kind}\n`);
  mark(`${engine.kind}-flood-begin`);
  const t0 = process.hrtime.bigint();
  const reader = (async () => {
    for (let i = 0; i < count; i++) {
      const r = await sr.start((ov) => ReadFile(s, rb, 65536, null, ov));
      if (r.error || r.bytes !== MSG) throw new Error(`flood read ${r.error} ${r.bytes}`);
    }
  })();
  for (let i = 0; i < count; i++) {
    const w = await cw.start((ov) => WriteFile(c, wb, MSG, null, ov));
    if (w.error) throw new Error(`flood write ${w.error}`);
  }
  await reader;
  const rate = count / (Number(process.hrtime.bigint() - t0) / 1e9);
  mark(`${engine.kind}-flood-end`);
  CloseHandle(c);
  CloseHandle(s);
  engine.forget(c);
  engine.forget(s);
  return rate;
}

/** Runs every engine `runs` times, interleaved; returns { engine: { pingPongUs, floodPerSec } } medians. */
export async function runIoEngines({ runs = 3, pingPongs = 500, floods = 4000, only } = {}) {
  const kinds = ['a-wait', 'b-skip', 'c-port', 'd-tpio'].filter((x) => !only || only.includes(x));
  const engines = Object.fromEntries(kinds.map((x) => [x, makeEngine(x)]));
  const res = Object.fromEntries(kinds.map((x) => [x, { pp: [], fl: [] }]));
  for (let r = 0; r < runs; r++) {
    for (let i = 0; i < kinds.length; i++) {
      const x = kinds[(i + r) % kinds.length];
      try {
        res[x].pp.push(await pingPong(engines[x], pingPongs));
        res[x].fl.push(await flood(engines[x], floods));
      } catch (err) {
        res[x].error = String(err);
      }
    }
  }
  clearInterval(keep);
  const med = (xs) => (xs.length ? [...xs].sort((a, b) => a - b)[xs.length >> 1] : NaN);
  return Object.fromEntries(kinds.map((x) => [x, { pingPongUs: med(res[x].pp), floodPerSec: med(res[x].fl), error: res[x].error }]));
}
