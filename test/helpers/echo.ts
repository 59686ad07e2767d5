// Round trips against a winpipe echo server in another process (test/fixtures/echo-server.mjs):
// a burst that fills both directions, then timed ping-pongs. Shared by the Windows engine tests
// and the reliability scenario that bounds the longest round trip.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { afterEach } from 'vitest';
import type { PipeConnection } from '../../src/index.js';
import { exited, removeStaleSocket, spawnFixture, uniqueName, within } from './index.js';

export type Mode = 'byte' | 'message';

/** The bound on "settles at all": far above any round trip, so a stall shows as a measured time. */
const HANG = 30_000;

/**
 * Starts echo servers in child processes as the calling file's tests ask, and kills them after
 * each test. `start(mode)` resolves with the pipe name once the child listens.
 */
export function echoPeers(): (mode: Mode) => Promise<string> {
  const children: { child: ChildProcess; name: string }[] = [];
  afterEach(async () => {
    for (const { child, name } of children.splice(0)) {
      child.kill();
      await within(exited(child), HANG, 'the echo server exiting');
      removeStaleSocket(name);
    }
  });
  return async (mode) => {
    const name = uniqueName(`echo-${mode}`);
    const child = spawnFixture('echo-server.mjs', [name, mode], ['ignore', 'pipe', 'inherit']);
    children.push({ child, name });
    const listening = new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('listening\n')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`the echo server exited (${code}) before listening`)));
    });
    await within(listening, HANG, 'the echo server listening');
    return name;
  };
}

/** Distinct bytes per message, so a lost, repeated or reordered message shows in the comparison. */
function payload(index: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4) b.writeUInt32LE((index * 2654435761 + i) >>> 0, i);
  return b;
}

/**
 * Writes `count` messages of `size` bytes at once (none awaited: the writes queue and go pending
 * while the echoes come back, so operations of both directions complete together) and reads every
 * echo back. Resolves with what came back and how long it took.
 */
export async function burst(conn: PipeConnection, count: number, size: number): Promise<{ sent: Buffer; got: Buffer; ms: number }> {
  const sent = Buffer.concat(Array.from({ length: count }, (_, i) => payload(i, size)));
  const parts: Buffer[] = [];
  let bytes = 0;
  const t0 = performance.now();
  const read = (async () => {
    for await (const m of conn.messages()) {
      parts.push(m);
      bytes += m.length;
      if (bytes >= sent.length) return;
    }
  })();
  for (let i = 0; i < count; i++) conn.write(sent.subarray(i * size, (i + 1) * size));
  await within(read, HANG, `the echo of ${count} messages`);
  return { sent, got: Buffer.concat(parts), ms: performance.now() - t0 };
}

/**
 * Destroys every connection in one synchronous loop, so that the cancellations of their pending
 * reads complete together (on Windows: a batch of completions in the port), and waits until all
 * have closed.
 */
export async function closeTogether(conns: PipeConnection[]): Promise<void> {
  const done = Promise.all(conns.map((c) => (c.closed ? undefined : once(c, 'close'))));
  for (const c of conns) c.destroy();
  await within(done, HANG, 'the connections closing');
}

/** Keeps the JS thread busy for `ms` without yielding to the event loop: synchronous work. */
export function work(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * `count` ping-pongs of a 32-byte message, one at a time; resolves with each round trip in ms.
 * After each send the JS thread does `workMs` of synchronous work, as a client busy between
 * request and reply does: the reply is then already waiting when the event loop next looks.
 * Byte mode gathers the echo until all 32 bytes are back.
 *
 * The first round trip longer than `stopAboveMs` (the caller's bound) ends the run, recorded at
 * its time: a stall then fails the caller's bound with a measured number at once, instead of
 * running into the test's timeout. Its timer wakes the event loop, as any unrelated timer of a
 * real program would.
 */
export async function roundTrips(conn: PipeConnection, count: number, { workMs = 0, stopAboveMs }: { workMs?: number; stopAboveMs: number }): Promise<number[]> {
  const times: number[] = [];
  const it = conn.messages();
  for (let i = 0; i < count; i++) {
    const ping = payload(i, 32);
    const t0 = performance.now();
    conn.write(ping);
    if (workMs > 0) work(workMs);
    const parts: Buffer[] = [];
    let bytes = 0;
    while (bytes < ping.length) {
      const next = it.next();
      // Left pending if the run stops; the connection's close settles it.
      next.catch(() => {});
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), Math.max(1, stopAboveMs - (performance.now() - t0)))));
      const got = await Promise.race([next, late]).finally(() => clearTimeout(timer));
      if (got === 'late') {
        times.push(performance.now() - t0);
        return times;
      }
      if (got.done) throw new Error(`the echo server ended the connection at round trip ${i}`);
      parts.push(got.value);
      bytes += got.value.length;
    }
    const ms = performance.now() - t0;
    times.push(ms);
    const pong = Buffer.concat(parts);
    if (!pong.equals(ping)) throw new Error(`round trip ${i}: the echo differs from the ping`);
    if (ms > stopAboveMs) return times;
  }
  return times;
}

/** How many round trips completed, their median and the longest, for the figure lines. */
export function summary(times: number[]): { count: number; median: number; max: number; text: string } {
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
  const max = sorted.at(-1) ?? 0;
  return { count: times.length, median, max, text: `${times.length} round trips, median ${median.toFixed(2)} ms, longest ${max.toFixed(1)} ms` };
}

/**
 * `conn.unref()`: every connection has it at run time (a byte-mode one is a net.Socket), but the
 * PipeConnection type does not declare it.
 */
export function unref(conn: PipeConnection): void {
  (conn as PipeConnection & { unref(): unknown }).unref();
}
