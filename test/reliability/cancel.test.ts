// Close during a pending read, write or accept. Every pending operation settles (no
// promise is left hanging), nothing crashes, and on Windows no registered wait or keep-alive ref
// outlives it. This is the FFI callback-after-close race of src/windows/overlapped.ts: the
// completion of a cancelled ConnectNamedPipe / ReadFile / WriteFile still arrives through the koffi
// callback after close, and must find its OVERLAPPED and buffer alive.
// An AbortSignal on a pending read, write, connect or accept rejects with AbortError;
// an already-aborted signal rejects before any system call.
//
// Sizes: 1000 close-during-I/O iterations per variant by default, 10,000 under WINPIPE_STRESS=1.
// Each iteration closes at a seeded-random moment: at once, after a microtask, after a macrotask,
// or just as data arrives from the peer (the completion and the cancel race).
import { spawn, type ChildProcess } from 'node:child_process';
import { on, once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, createServer, isPipeError, type PipeConnection } from '../../src/index.js';
import { trackedPipes } from '../helpers/index.js';
import { BOUND, budget, figure, isWindows, namedPipes, nextConnection, overlappedCounts, prng, rejection, settle, sized, uniqueName, within } from './helpers.js';

const pipe = trackedPipes();
const { serve, client, track, trackServer } = namedPipes();

const ITERATIONS = sized(1000, 10_000);
/** Iterations run this many at a time, so that closes also race each other. */
const BATCH = 8;
const TIMEOUT = budget(240_000, 2_400_000);

type Moment = 'sync' | 'microtask' | 'macrotask' | 'racing-data';
const MOMENTS: Moment[] = ['sync', 'microtask', 'macrotask', 'racing-data'];

/** Waits for `moment`; for 'racing-data' calls `feed` first (data on its way as we close). */
async function at(moment: Moment, feed: () => void): Promise<void> {
  if (moment === 'sync') return;
  if (moment === 'microtask') return Promise.resolve();
  if (moment === 'macrotask') return new Promise((resolve) => setImmediate(resolve));
  feed();
}

/** Runs `iteration(i, moment)` ITERATIONS times, BATCH at a time; tallies how each op settled. */
async function churn(iteration: (i: number, moment: Moment) => Promise<string[]>): Promise<Map<string, number>> {
  const rnd = prng(0xc105e);
  const outcomes = new Map<string, number>();
  for (let i = 0; i < ITERATIONS; i += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, ITERATIONS - i) }, (_, j) => iteration(i + j, MOMENTS[Math.floor(rnd() * MOMENTS.length)]!));
    for (const result of await within(Promise.all(batch), BOUND, `iterations ${i}..${i + BATCH - 1}`)) {
      for (const o of result) outcomes.set(o, (outcomes.get(o) ?? 0) + 1);
    }
  }
  return outcomes;
}

/** How a pending operation settled: 'resolved' or its error code. Must settle within BOUND. */
function outcome(p: Promise<unknown>): Promise<string> {
  return within(
    p.then(
      () => 'resolved',
      // A PipeError (or an AbortError) by its code; anything else is flagged as untyped.
      (err: unknown) => (isPipeError(err) || (err as Error)?.name === 'AbortError' ? String((err as { code: unknown }).code) : `untyped ${(err as { code?: string })?.code ?? String(err)}`),
    ),
    BOUND,
    'a pending operation after close',
  );
}

/** Every outcome must be success or one of `allowed` (no untyped errors). */
function expectOnly(outcomes: Map<string, number>, allowed: string[]): void {
  for (const code of outcomes.keys()) expect(['resolved', ...allowed]).toContain(code);
}

async function expectNoWaitsLeft(): Promise<void> {
  await settle();
  const counts = await overlappedCounts();
  if (counts) expect(counts).toEqual({ pendingWaits: 0, keepAliveRefs: 0 });
}

const children: ChildProcess[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('close during pending I/O settles every operation', () => {
  it(`anonymous pipe: close() during a pending read(), ${ITERATIONS} times`, { timeout: TIMEOUT }, async () => {
    const outcomes = await churn(async (_i, moment) => {
      const { reader, writer } = pipe();
      const pending = reader.read();
      await at(moment, () => writer.writeSync(Buffer.from('racing')));
      reader.close();
      writer.close();
      return [await outcome(pending)];
    });
    expectOnly(outcomes, ['ERR_PIPE_CLOSED']);
    figure('close during I/O', `anonymous read: ${ITERATIONS} cycles, outcomes ${JSON.stringify(Object.fromEntries(outcomes))}`);
  });

  it(`anonymous pipe: close() during a pending write() to a full pipe, ${ITERATIONS} times`, { timeout: TIMEOUT }, async () => {
    const big = Buffer.alloc(256 * 1024, 7);
    const outcomes = await churn(async (_i, moment) => {
      const { reader, writer } = pipe();
      const pending = writer.write(big);
      await at(moment, () => void reader.read().catch(() => {}));
      writer.close();
      reader.close();
      return [await outcome(pending)];
    });
    expectOnly(outcomes, ['ERR_PIPE_CLOSED', 'EPIPE']);
    figure('close during I/O', `anonymous write: ${ITERATIONS} cycles, outcomes ${JSON.stringify(Object.fromEntries(outcomes))}`);
  });

  it(`server.close() during pending accepts (ConnectNamedPipe on Windows), ${sized(200, 2000)} servers, some with a client connecting as it closes`, { timeout: TIMEOUT }, async () => {
    const servers = sized(200, 2000);
    const rnd = prng(0xacce97);
    const outcomes = new Map<string, number>();
    const count = (o: string): void => void outcomes.set(o, (outcomes.get(o) ?? 0) + 1);
    for (let i = 0; i < servers; i++) {
      const name = uniqueName('wp-rel-accept');
      const server = trackServer(createServer({ pendingInstances: 1 + (i % 4) }, (c) => track(c)));
      await server.listen(name);
      const iteration = server[Symbol.asyncIterator]().next();
      const moment = MOMENTS[Math.floor(rnd() * MOMENTS.length)]!;
      let connecting: Promise<PipeConnection> | undefined;
      await at(moment, () => {
        connecting = connect(name, { connectTimeout: 1000 });
      });
      const closed = server.close();
      count(`close ${await outcome(closed)}`);
      const next = await within(iteration, BOUND, 'a pending next() on the closed server');
      count(next.done ? 'iteration done' : 'iteration got a connection');
      if (connecting) {
        const r = await outcome(connecting.then((c) => track(c)));
        count(`racing connect ${r}`);
      }
    }
    expect(outcomes.get('close resolved')).toBe(servers);
    // A racing client may get through (and is then a live connection), find the name gone, or
    // (POSIX) be reset because the listening socket closed with it in the backlog.
    for (const o of outcomes.keys()) {
      expect(['close resolved', 'iteration done', 'iteration got a connection', 'racing connect resolved', 'racing connect ENOENT', 'racing connect ECONNRESET']).toContain(o);
    }
    await expectNoWaitsLeft();
    figure('close during I/O', `accept: ${servers} servers closed with accepts pending, outcomes ${JSON.stringify(Object.fromEntries(outcomes))}`);
  });

  describe.each(['message', 'byte'] as const)('%s mode', (mode) => {
    it(`destroy() during a pending read and a pending write on both ends, ${ITERATIONS} connections`, { timeout: TIMEOUT }, async () => {
      // Server-side connections in the order they are delivered. One iteration at a time connects
      // and accepts, so that each takes its own client's server end: taken crosswise, one pipe
      // could get end() on both ends and no destroy(), and with 4 MiB pending that nobody reads
      // a graceful end waits for ever, on any stream (seen under Wine 10: iterations 360..367).
      // Everything after the pairing runs BATCH at a time, so the closes still race each other.
      const delivered: PipeConnection[] = [];
      const waiting: ((c: PipeConnection) => void)[] = [];
      const { name } = await serve({ mode, maxInstances: 'unlimited' }, (conn) => {
        const w = waiting.shift();
        if (w) w(conn);
        else delivered.push(conn);
      });
      const accept = (): Promise<PipeConnection> => {
        const ready = delivered.shift();
        return ready ? Promise.resolve(ready) : new Promise((resolve) => waiting.push(resolve));
      };
      // Bigger than any pipe buffer: the write stays pending while nobody reads.
      const big = Buffer.alloc(4 * 1024 * 1024, 1);
      let pairing: Promise<unknown> = Promise.resolve();
      const pair = (): Promise<[PipeConnection, PipeConnection]> => {
        const next = pairing.then(async (): Promise<[PipeConnection, PipeConnection]> => {
          const c = track(await connect(name, { mode, connectTimeout: 30_000 }));
          return [c, await within(accept(), BOUND, 'the accept')];
        });
        pairing = next.catch(() => {});
        return next;
      };
      const outcomes = await churn(async (i, moment) => {
        const [c, s] = await pair();
        // Each pending operation is watched from the moment it starts.
        const pending = [outcome(c.messages().next()), outcome(s.messages().next()), outcome(c.writeMessage(big))];
        await at(moment, () => s.write(Buffer.from('racing')));
        const [first, second] = i % 2 ? [c, s] : [s, c];
        first.destroy();
        if (i % 3) second.destroy();
        else second.end();
        return Promise.all(pending);
      });
      figure('close during I/O', `${mode} mode read+write: ${ITERATIONS} connections, outcomes ${JSON.stringify(Object.fromEntries(outcomes))}`);
      expectOnly(outcomes, ['ERR_PIPE_CLOSED', 'EPIPE', 'ECONNRESET', 'ECANCELED']);
      await expectNoWaitsLeftWhileListening();
    });
  });
});

describe('AbortSignal', () => {
  it('anonymous pipe: aborting a pending read() or write() rejects with AbortError; the data stays', async () => {
    const { reader, writer } = pipe();
    const ac = new AbortController();
    const read = reader.read(16, { signal: ac.signal });
    ac.abort();
    expect(await within(rejection(read), BOUND, 'the aborted read')).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    writer.writeSync(Buffer.from('kept'));
    expect((await reader.read()).toString()).toBe('kept');

    const full = pipe();
    const wac = new AbortController();
    const write = full.writer.write(Buffer.alloc(4 * 1024 * 1024), { signal: wac.signal });
    setTimeout(() => wac.abort(), 10);
    expect(await within(rejection(write), BOUND, 'the aborted write')).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
  });

  it('an already-aborted signal rejects before any system call: nothing is read, written or connected', async () => {
    const signal = AbortSignal.abort();
    const { reader, writer } = pipe();
    writer.writeSync(Buffer.from('unread'));
    expect(await rejection(reader.read(16, { signal }))).toMatchObject({ name: 'AbortError' });
    expect(await rejection(writer.write(Buffer.from('unwritten'), { signal }))).toMatchObject({ name: 'AbortError' });
    writer.close();
    // Exactly what was there before: the aborted read took nothing, the aborted write added nothing.
    const buf = Buffer.alloc(64);
    expect(buf.subarray(0, reader.readSync(buf)).toString()).toBe('unread');
    expect(reader.readSync(buf)).toBe(0);

    // connect: on a name nobody serves, any system call would give ENOENT.
    expect(await rejection(connect(uniqueName(), { signal }))).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    // On a served name, the server never sees a connection.
    let accepted = 0;
    const { name } = await serve(undefined, () => accepted++);
    expect(await rejection(connect(name, { signal }))).toMatchObject({ name: 'AbortError' });
    const c = await client(name);
    await within(
      (async () => {
        while (accepted < 1) await new Promise((resolve) => setTimeout(resolve, 5));
      })(),
      BOUND,
      'the one real connection',
    );
    expect(accepted).toBe(1);
    c.destroy();
  });

  it.runIf(isWindows)('Windows: aborting a connect that waits on a busy pipe (maxInstances: 1) rejects with AbortError', async () => {
    const { name } = await serve({ maxInstances: 1 });
    await client(name);
    const ac = new AbortController();
    const pending = connect(name, { connectTimeout: 60_000, signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    expect(await within(rejection(pending), BOUND, 'the aborted connect')).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
  });

  it.runIf(process.platform === 'linux')('Linux: aborting a connect that waits on a full listen backlog (EAGAIN) rejects with AbortError', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wp-'));
    dirs.push(dir);
    const path = join(dir, 'busy.sock');
    const script = `
      const net = require('net'), fs = require('fs');
      net.createServer().listen({ path: ${JSON.stringify(path)}, backlog: 1 }, () => {
        console.log('ready');
        fs.readSync(0, Buffer.alloc(1));
      });`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
    children.push(child);
    await within(once(child.stdout!, 'data'), BOUND, 'the blocked server starting');
    for (let i = 0; i < 64; i++) {
      const s = track(net.connect(path));
      const r = await new Promise<string>((resolve) => {
        s.once('connect', () => resolve('connected'));
        s.once('error', (e: { code?: string }) => resolve(e.code ?? 'error'));
      });
      if (r === 'EAGAIN') break;
    }
    const ac = new AbortController();
    const pending = connect(path, { connectTimeout: 60_000, signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    expect(await within(rejection(pending), BOUND, 'the aborted connect')).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
  });

  it("accept: there is no signal option; Node's events.on(server, 'connection', { signal }) aborts a pending accept, and the server keeps serving", async () => {
    const { server, name } = await serve();
    const ac = new AbortController();
    const iterator = on(server, 'connection', { signal: ac.signal });
    const pending = iterator.next();
    setTimeout(() => ac.abort(), 10);
    expect(await within(rejection(pending), BOUND, 'the aborted accept')).toMatchObject({ name: 'AbortError' });
    const accepted = nextConnection(server);
    await client(name);
    await within(accepted, BOUND, 'an accept after the abort');
    await expectNoWaitsLeftWhileListening();
  });
});

/** While a server listens on Windows, only its pending accepts have waits: none were leaked by the abort. */
async function expectNoWaitsLeftWhileListening(): Promise<void> {
  await settle();
  const counts = await overlappedCounts();
  if (counts) {
    // The default pendingInstances is 4: four accepts wait, each with one wait and one ref.
    expect(counts.pendingWaits).toBeLessThanOrEqual(4);
    expect(counts.keepAliveRefs).toBeLessThanOrEqual(4);
  }
}
