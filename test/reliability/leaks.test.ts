// Leaks: many create / transfer / close cycles and many failed connects leave nothing
// behind.
// - Linux: the number of open descriptors (/proc/self/fd) does not grow.
// - Windows: the process's handle count does not grow (GetProcessHandleCount; under Wine, which
//   answers 0 there, the handle values GetHandleInformation accepts: test/helpers processHandleCount).
// - Everywhere: Node's active pipe handles do not grow; on Windows no registered wait or keep-alive
//   ref is left (src/windows/overlapped.ts overlappedStats()), and no koffi callback is registered
//   per operation (one shared callback serves the whole process).
//
// Sizes: 1000 cycles and 200 failed connects by default; 10,000 cycles and 1000 failed connects
// under WINPIPE_STRESS=1. Each cycle is an anonymous pipe (sync or async transfer) plus a named-pipe
// connection (byte or message mode) with one round trip; every 20th cycle also a server
// listen/close with its accepts pending.
import koffi from 'koffi';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { connect, createPipe, createServer, isPipeError, type PipeConnection, type PipeServer } from '../../src/index.js';
import { activePipeResources, activeResources, budget, figure, isWindows, openFdCount, overlappedCounts, processHandleCount, settle, sized, uniqueName, within } from './helpers.js';

const CYCLES = sized(1000, 10_000);
const FAILED_CONNECTS = sized(200, 1000);
/**
 * Windows: the process handle count moves by a few on its own (thread-pool threads and their
 * handles come and go). A leak of one handle per cycle would show as +CYCLES; this slack is far below.
 */
const WINDOWS_HANDLE_SLACK = 32;

interface Snapshot {
  fds: number | undefined;
  handles: number | undefined;
  pipes: number;
  waits: { pendingWaits: number; keepAliveRefs: number } | undefined;
  resources: Record<string, number>;
}

async function snapshot(): Promise<Snapshot> {
  await settle(10);
  return { fds: openFdCount(), handles: await processHandleCount(), pipes: activePipeResources(), waits: await overlappedCounts(), resources: activeResources() };
}

let before: Snapshot;
let after: Snapshot;
let registered = 0;
const failedCodes = new Map<string, number>();

async function roundTrip(conn: PipeConnection, peer: PipeConnection): Promise<void> {
  const got = new Promise<Buffer>((resolve) => peer.once('data', resolve));
  conn.write(Buffer.from('x'));
  await got;
}

/** One create / transfer / close cycle. */
async function cycle(i: number, name: string, server: PipeServer, mode: 'byte' | 'message'): Promise<void> {
  const { reader, writer } = createPipe();
  if (i % 2) {
    writer.writeSync(Buffer.from('sync'));
    reader.readSync(Buffer.alloc(4));
  } else {
    await writer.write(Buffer.from('async'));
    await reader.read();
  }
  reader.close();
  writer.close();

  const accepted = new Promise<PipeConnection>((resolve) => server.once('connection', resolve));
  const c = await within(connect(name, { mode, connectTimeout: 30_000 }), 20_000, `cycle ${i}: connect`);
  const s = await within(accepted, 20_000, `cycle ${i}: accept`);
  c.on('error', () => {});
  s.on('error', () => {});
  await within(roundTrip(c, s), 20_000, `cycle ${i}: round trip`);
  const closed = Promise.all([new Promise((r) => c.once('close', r)), new Promise((r) => s.once('close', r))]);
  // Consume the rest, as any reader would: a paused stream never reaches 'end', and so never 'close'.
  c.resume();
  if (i % 3) c.destroy();
  else c.end();
  s.destroy();
  await within(closed, 20_000, `cycle ${i}: both ends closing (${i % 3 ? 'destroy' : 'end'})`);

  if (i % 20 === 0) {
    const idle = createServer({ mode });
    await idle.listen(uniqueName('wp-rel-leak'));
    await idle.close();
  }
}

async function run(count: number): Promise<void> {
  for (const mode of ['byte', 'message'] as const) {
    const name = uniqueName('wp-rel-leak');
    const server = createServer({ mode });
    await server.listen(name);
    try {
      for (let i = 0; i < count / 2; i++) await cycle(i, name, server, mode);
    } finally {
      await server.close();
    }
  }
  for (let i = 0; i < Math.max(1, Math.round((count / CYCLES) * FAILED_CONNECTS)); i++) {
    try {
      (await connect(uniqueName('wp-rel-absent'), { connectTimeout: 0 })).destroy();
      failedCodes.set('connected?!', (failedCodes.get('connected?!') ?? 0) + 1);
    } catch (err) {
      const code = isPipeError(err) ? err.code : `untyped ${String(err)}`;
      failedCodes.set(code, (failedCodes.get(code) ?? 0) + 1);
    }
  }
}

describe('no leaks after many cycles', () => {
  beforeAll(
    async () => {
      // Warm up: the first uses open things that stay (libuv's loop internals, the one shared koffi
      // callback, lazily bound FFI functions).
      await within(run(40), 120_000, 'the warm-up');
      failedCodes.clear();
      before = await snapshot();
      const spy = vi.spyOn(koffi, 'register');
      try {
        await within(run(CYCLES), budget(600_000, 3_000_000), `${CYCLES} cycles`);
      } finally {
        registered = spy.mock.calls.length;
        spy.mockRestore();
      }
      after = await snapshot();
      figure(
        '13 leaks',
        `${CYCLES} cycles and ${FAILED_CONNECTS} failed connects (${JSON.stringify(Object.fromEntries(failedCodes))}): ` +
          `fds ${before.fds ?? 'n/a'} -> ${after.fds ?? 'n/a'}, handles ${before.handles ?? 'n/a'} -> ${after.handles ?? 'n/a'}, ` +
          `active pipe handles ${before.pipes} -> ${after.pipes}, waits ${JSON.stringify(before.waits ?? 'n/a')} -> ${JSON.stringify(after.waits ?? 'n/a')}, ` +
          `koffi.register calls during the cycles: ${registered}`,
      );
    },
    budget(900_000, 3_600_000),
  );

  afterAll(() => {
    vi.restoreAllMocks();
  });

  it('every failed connect was a PipeError ENOENT', () => {
    expect(Object.fromEntries(failedCodes)).toEqual({ ENOENT: FAILED_CONNECTS });
  });

  it.runIf(process.platform === 'linux')('Linux: /proc/self/fd does not grow', () => {
    expect(after.fds).toBeLessThanOrEqual(before.fds!);
  });

  describe.runIf(isWindows)('Windows', () => {
    it('the handle count does not grow (GetProcessHandleCount; under Wine, which answers 0 there, the handle values GetHandleInformation accepts)', () => {
      expect(after.handles! - before.handles!).toBeLessThanOrEqual(WINDOWS_HANDLE_SLACK);
    });
  });

  it("Node's active pipe handles do not grow", () => {
    expect(after.pipes, JSON.stringify({ before: before.resources, after: after.resources })).toBeLessThanOrEqual(before.pipes);
  });

  it.runIf(isWindows)('Windows: no registered wait or keep-alive ref is left (overlappedStats)', () => {
    expect(after.waits).toEqual({ pendingWaits: 0, keepAliveRefs: 0 });
  });

  it('no koffi callback is registered per operation (one shared callback for the process)', () => {
    expect(registered).toBe(0);
  });
});
