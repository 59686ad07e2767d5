// src/windows/overlapped.ts, the Windows completion engine.
// - The registered-wait fallback (the path byte-mode accepts take): its events are lent from a
//   pool, each with one persistent wait, so a signal that no pending operation caused (a
//   synchronous completion also sets the event) must not settle the next one.
// - The completion port: a completion in the port is taken within a bounded time, whatever state
//   earlier connections left the engine in (a poll streak, no ref'd operation), for ref'd and
//   unref'd connections alike.
// Windows only (vitest.config.ts runs this folder on win32 and under Wine).
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type PipeConnection } from '../../src/index.js';
import * as k from '../../src/windows/kernel32.js';
import { NativeBuffer } from '../../src/windows/native-buffer.js';
import { OverlappedSlot, overlappedPolls, overlappedStats, type Completion } from '../../src/windows/overlapped.js';
import { burst, closeTogether, echoPeers, roundTrips, summary, unref, work } from '../helpers/echo.js';
import { uniqueName, within } from '../helpers/index.js';

/** A connected named-pipe pair: an overlapped server end and a blocking client end. */
function pair(): { server: k.HANDLE; client: k.HANDLE } {
  const name = `\\\\.\\pipe\\${uniqueName('ov')}`;
  const server = k.CreateNamedPipeW(name, k.PIPE_ACCESS_DUPLEX | k.FILE_FLAG_OVERLAPPED, k.PIPE_TYPE_BYTE | k.PIPE_READMODE_BYTE | k.PIPE_WAIT, 1, 4096, 4096, 0, null);
  expect(server).not.toBe(k.INVALID_HANDLE_VALUE);
  const client = k.CreateFileW(name, k.GENERIC_READ | k.GENERIC_WRITE, 0, null, k.OPEN_EXISTING, 0, null);
  expect(client).not.toBe(k.INVALID_HANDLE_VALUE);
  return { server, client };
}

function write(handle: k.HANDLE, text: string): void {
  expect(k.WriteFile(handle, Buffer.from(text), text.length, [0], null)).toBe(true);
}

describe('wait fallback (port: false)', () => {
  it('a read that finished at once leaves its event set; the next, pending read still waits for its own data', async () => {
    const before = overlappedStats();
    const { server, client } = pair();
    const buf = new NativeBuffer(64);
    try {
      for (let round = 0; round < 3; round++) {
        // A slot per round: from the second on, the event comes from the pool, signalled.
        const slot = new OverlappedSlot(server, { port: false });
        write(client, 'now');
        const first = slot.issue('ReadFile', (ov) => k.ReadFile(server, buf.ptr, 64, null as never, ov));
        expect(first).toEqual({ error: 0, bytes: 3 });
        let settled = false;
        const pending = slot
          .start('ReadFile', (ov) => k.ReadFile(server, buf.ptr, 64, null as never, ov))
          .then((c) => {
            settled = true;
            return c;
          });
        // Long enough for the stray signal to reach the wait callback: it must not settle the read.
        await new Promise((r) => setTimeout(r, 100));
        expect(settled).toBe(false);
        expect(overlappedStats().pendingWaits).toBe(before.pendingWaits + 1);
        write(client, 'later');
        expect(await within(pending, 10_000, 'the pending read')).toEqual({ error: 0, bytes: 5 });
        expect(buf.read(5).toString()).toBe('later');
        slot.free();
      }
      expect(overlappedStats()).toEqual(before);
    } finally {
      buf.free();
      k.CloseHandle(client);
      k.CloseHandle(server);
    }
  });

  it('a cancelled pending read settles with ERROR_OPERATION_ABORTED, and its event serves the next slot', async () => {
    const before = overlappedStats();
    const { server, client } = pair();
    const buf = new NativeBuffer(64);
    try {
      const slot = new OverlappedSlot(server, { port: false });
      const pending = slot.start('ReadFile', (ov) => k.ReadFile(server, buf.ptr, 64, null as never, ov));
      slot.cancel();
      expect((await within(pending, 10_000, 'the cancelled read')).error).toBe(k.WIN32_ERRORS.ERROR_OPERATION_ABORTED);
      slot.free();
      const next = new OverlappedSlot(server, { port: false });
      const read = next.start('ReadFile', (ov) => k.ReadFile(server, buf.ptr, 64, null as never, ov));
      write(client, 'next');
      expect(await within(read, 10_000, 'the next slot read')).toEqual({ error: 0, bytes: 4 });
      next.free();
      expect(overlappedStats()).toEqual(before);
    } finally {
      buf.free();
      k.CloseHandle(client);
      k.CloseHandle(server);
    }
  });
});

describe('completion port: a completion is taken within a bounded time, whatever state earlier connections left', () => {
  const echoPeer = echoPeers();
  /** Far below the seconds a completion left in the port waits for an unrelated timer. */
  const LONGEST_MS = 250;
  const ROUND_TRIPS = 300;
  /** Synchronous work after each send: the reply is in the port before the engine looks again. */
  const WORK_MS = 5;
  const CONNECTIONS = 4;
  // A failed bound leaves its connections open: closed here, so that the next test's counts start
  // from nothing in flight.
  const opened: PipeConnection[] = [];
  afterEach(async () => {
    await closeTogether(opened.splice(0));
  });

  /** `count` message-mode connections to the echo server at `name`, with a no-op 'error' listener. */
  async function open(name: string, count: number): Promise<PipeConnection[]> {
    const conns: PipeConnection[] = [];
    for (let i = 0; i < count; i++) {
      const c = await connect(name, { mode: 'message' });
      c.on('error', () => {});
      conns.push(c);
      opened.push(c);
    }
    return conns;
  }

  /**
   * The echo server runs in another process, so this one has only the client's operations
   * pending, as a real client does. First a burst on several connections at once, closed together:
   * their completions come in batches, which puts the engine in its polling mode, and the last
   * batch leaves nothing in flight. Then ping-pongs on fresh connections.
   */
  async function afterABurst(name: string): Promise<void> {
    const first = await open(name, CONNECTIONS);
    const polls = overlappedPolls();
    const bursts = await Promise.all(first.map((c) => burst(c, 100, 16 * 1024)));
    for (const { sent, got } of bursts) expect(got.equals(sent)).toBe(true);
    await closeTogether(first);
    // The state under test: the engine polled during the burst and its close.
    expect(overlappedPolls()).toBeGreaterThan(polls);
  }

  it(`after a burst on earlier connections, closed together: the longest of ${ROUND_TRIPS} round trips on a new connection is under ${LONGEST_MS} ms`, async () => {
    const before = overlappedStats();
    const name = await echoPeer('message');
    await afterABurst(name);
    const [conn] = await open(name, 1);
    const times = summary(await roundTrips(conn!, ROUND_TRIPS, { workMs: WORK_MS, stopAboveMs: LONGEST_MS }));
    console.log(`overlapped, ref'd: ${times.text}`);
    expect(times.max).toBeLessThan(LONGEST_MS);
    expect(times.count).toBe(ROUND_TRIPS);
    await closeTogether([conn!]);
    expect(overlappedStats()).toEqual(before);
  });

  it(`the same on an unref'd connection while something else keeps the process alive: the longest of ${ROUND_TRIPS} round trips is under ${LONGEST_MS} ms`, async () => {
    // Keeps the process alive without waking its event loop: it never fires during the test.
    const keeper = setInterval(() => {}, 3_600_000);
    try {
      const before = overlappedStats();
      const name = await echoPeer('message');
      await afterABurst(name);
      const [conn] = await open(name, 1);
      unref(conn!);
      const times = summary(await roundTrips(conn!, ROUND_TRIPS, { workMs: WORK_MS, stopAboveMs: LONGEST_MS }));
      console.log(`overlapped, unref'd: ${times.text}`);
      expect(times.max).toBeLessThan(LONGEST_MS);
      expect(times.count).toBe(ROUND_TRIPS);
      await closeTogether([conn!]);
      expect(overlappedStats()).toEqual(before);
    } finally {
      clearInterval(keeper);
    }
  });

  it(`${CONNECTIONS} unref'd connections in ping-pong at once (their completions come in batches, so the engine polls): the longest round trip is under ${LONGEST_MS} ms`, async () => {
    const keeper = setInterval(() => {}, 3_600_000);
    try {
      const before = overlappedStats();
      const name = await echoPeer('message');
      const conns = await open(name, CONNECTIONS);
      for (const c of conns) unref(c);
      const polls = overlappedPolls();
      const all = await Promise.all(conns.map((c) => roundTrips(c, ROUND_TRIPS / CONNECTIONS, { workMs: WORK_MS, stopAboveMs: LONGEST_MS })));
      const times = summary(all.flat());
      console.log(`overlapped, ${CONNECTIONS} unref'd at once: ${times.text}, ${overlappedPolls() - polls} polls`);
      expect(times.max).toBeLessThan(LONGEST_MS);
      expect(times.count).toBe(ROUND_TRIPS);
      // The state under test: with no ref'd operation pending, the engine polled.
      expect(overlappedPolls()).toBeGreaterThan(polls);
      await closeTogether(conns);
      expect(overlappedStats()).toEqual(before);
    } finally {
      clearInterval(keeper);
    }
  });
});

describe('completion port: polling ends with the work', () => {
  /** A connected pair whose server end is served through the port. */
  function portPair(): { server: k.HANDLE; client: k.HANDLE; slot: OverlappedSlot; buf: NativeBuffer } {
    const { server, client } = pair();
    return { server, client, slot: new OverlappedSlot(server), buf: new NativeBuffer(64) };
  }
  const read = (p: ReturnType<typeof portPair>): Promise<Completion> => p.slot.start('ReadFile', (ov) => k.ReadFile(p.server, p.buf.ptr, 64, null as never, ov));
  const nap = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

  it('after a batch that leaves nothing in flight, a single completion is served by the drain, with no look scheduled on the JS thread', async () => {
    const before = overlappedStats();
    const pairs = Array.from({ length: 4 }, portPair);
    try {
      // Four reads completed together: a batch, so the engine polls. None is issued again, so its
      // polling ends with nothing in flight.
      const batch = pairs.map(read);
      for (const p of pairs) write(p.client, 'batch');
      work(50);
      const polled = overlappedPolls();
      await within(Promise.all(batch), 10_000, 'the batch of reads');
      await nap(50);
      expect(overlappedPolls()).toBeGreaterThan(polled);
      // One read stays pending (an idle connection); another completes alone, long after the drain
      // was armed for it. That completion is the drain's: no look at the port is scheduled for it.
      const [one, idle] = pairs as [ReturnType<typeof portPair>, ReturnType<typeof portPair>];
      const waiting = read(idle);
      const single = read(one);
      await nap(50);
      const polls = overlappedPolls();
      write(one.client, 'alone');
      expect(await within(single, 10_000, 'the single read')).toEqual({ error: 0, bytes: 5 });
      await nap(50);
      expect(overlappedPolls() - polls).toBe(0);
      write(idle.client, 'end');
      expect(await within(waiting, 10_000, 'the idle read')).toEqual({ error: 0, bytes: 3 });
    } finally {
      for (const p of pairs) {
        p.slot.free();
        p.buf.free();
        k.CloseHandle(p.client);
        k.CloseHandle(p.server);
      }
    }
    expect(overlappedStats()).toEqual(before);
  });
});
