// Fan-in: many clients × numbered messages into one server, 64 clients at a time;
// nothing is lost, duplicated or reordered per client.
// Connect churn: connect/close cycles against a live server; every connect succeeds,
// and there is no ENOENT window between one instance being taken and the next one waiting.
//
// Round trips: an echo server in another process, so that this process has only the
// client's I/O pending. A burst on 4 connections at once (16 KiB messages), closed together, then
// ping-pongs on a new connection, ref'd and unref'd: every byte comes back, and the longest round
// trip stays under 250 ms. A completion nobody takes waits for an unrelated timer: seconds.
//
// Sizes: fan-in 200 clients × 100 messages by default, 1000 × 100 under WINPIPE_STRESS=1.
// Churn: 1000 cycles per variant by default, 10,000 under stress.
// Round trips: a burst of 100 messages per connection and 300 round trips by default, 1000 and
// 3000 under stress.
import { describe, expect, it } from 'vitest';
import { connect, isPipeError, type PipeConnection } from '../../src/index.js';
import { burst, closeTogether, echoPeers, roundTrips, summary, unref } from '../helpers/echo.js';
import { BOUND, MiB, budget, figure, namedPipes, sized, within } from './helpers.js';

const { serve, track } = namedPipes();
const echoPeer = echoPeers();

const CLIENTS = sized(200, 1000);
const MESSAGES = 100;
const AT_ONCE = 64;
const CYCLES = sized(1000, 10_000);

/** Runs `task(i)` for i in [0, count), at most `width` at a time. */
async function pool(count: number, width: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, count) }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

/** The complete answer the server sends once it has read the client's end of stream. */
async function answerOf(conn: PipeConnection): Promise<string> {
  const parts: Buffer[] = [];
  for await (const m of conn.messages()) parts.push(m);
  return Buffer.concat(parts).toString();
}

describe.each(['message', 'byte'] as const)('fan-in, %s mode', (mode) => {
  it(`${CLIENTS} clients × ${MESSAGES} numbered messages, ${AT_ONCE} at a time: nothing lost, duplicated or reordered per client`, { timeout: budget(300_000, 2_400_000) }, async () => {
    // Per client id: the sequence numbers in the order the server read them.
    const seen = new Map<number, number[]>();
    let stray = 0;
    const record = (text: string): void => {
      const [who, seq] = text.split(':').map(Number) as [number, number];
      if (!Number.isInteger(who) || !Number.isInteger(seq)) {
        stray++;
        return;
      }
      let list = seen.get(who);
      if (!list) seen.set(who, (list = []));
      list.push(seq);
    };
    // The client's last message is 'done'; the server then answers with its count and ends.
    // (Not the client's end(): Windows pipes have no half-close, so the answer could not come back.)
    const { name } = await serve({ mode }, (conn) => {
      void (async () => {
        let count = 0;
        // Read on after 'done' until the client leaves: a connection nobody reads never sees its
        // peer go, and on Windows it holds one of the name's 254 instances until then (the
        // 1000-client stress run ran out of them under Wine when this loop stopped at 'done').
        const take = (text: string): boolean => {
          if (text === 'done') {
            conn.end(`ok ${count}`);
            return true;
          }
          record(text);
          count++;
          return false;
        };
        if (mode === 'message') {
          for await (const m of conn.messages()) take(m.toString());
        } else {
          // Byte mode has no boundaries: the client sends lines, and a line may span chunks.
          let rest = '';
          for await (const chunk of conn.messages()) {
            const lines = (rest + chunk.toString()).split('\n');
            rest = lines.pop()!;
            for (const line of lines) take(line);
          }
        }
      })().catch(() => {});
    });

    const answers: string[] = [];
    await within(
      pool(CLIENTS, AT_ONCE, async (who) => {
        const c = track(await connect(name, { mode, connectTimeout: 60_000 }));
        const answer = answerOf(c);
        for (let seq = 0; seq < MESSAGES; seq++) {
          const text = `${who}:${seq}`;
          if (mode === 'message') await c.writeMessage(Buffer.from(text));
          else c.write(`${text}\n`);
        }
        if (mode === 'message') await c.writeMessage(Buffer.from('done'));
        else c.write('done\n');
        answers[who] = await answer;
        c.end();
      }),
      budget(240_000, 1_800_000),
      `${CLIENTS} clients × ${MESSAGES} messages`,
    );

    expect(stray).toBe(0);
    expect(seen.size).toBe(CLIENTS);
    const inOrder = Array.from({ length: MESSAGES }, (_, seq) => seq);
    let wrong = 0;
    for (const list of seen.values()) if (list.length !== MESSAGES || list.some((seq, i) => seq !== inOrder[i])) wrong++;
    expect(wrong).toBe(0);
    // Every client heard that the server read all of its messages.
    expect(answers.filter((a) => a === `ok ${MESSAGES}`).length).toBe(CLIENTS);
    figure('fan-in', `${mode} mode: ${CLIENTS} clients served, ${CLIENTS * MESSAGES} messages checked in order per client`);
  });
});

describe('connect churn', () => {
  const variants = [
    ['byte mode, default pendingInstances', { mode: 'byte' as const }, 1],
    // One instance waiting at a time: the tightest case for a gap between instances.
    ['byte mode, pendingInstances: 1', { mode: 'byte' as const, pendingInstances: 1 }, 1],
    ['message mode, 8 clients churning at once', { mode: 'message' as const }, 8],
  ] as const;

  it.each(variants)(`${CYCLES} connect/close cycles, %s: every connect succeeds, never ENOENT`, { timeout: budget(300_000, 2_400_000) }, async (label, options, width) => {
    let accepted = 0;
    const { name } = await serve(options, (conn) => {
      accepted++;
      conn.resume();
      conn.on('end', () => conn.end());
    });
    const failures = new Map<string, number>();
    let ok = 0;
    await within(
      pool(CYCLES, width, async () => {
        try {
          // A timeout only covers "every instance busy"; a missing name would fail at once with ENOENT.
          const c = await connect(name, { mode: options.mode, connectTimeout: 30_000 });
          c.on('error', () => {});
          c.destroy();
          ok++;
        } catch (err) {
          const code = isPipeError(err) ? err.code : String(err);
          failures.set(code, (failures.get(code) ?? 0) + 1);
        }
      }),
      budget(240_000, 1_800_000),
      `${CYCLES} connect/close cycles`,
    );
    expect(Object.fromEntries(failures)).toEqual({});
    expect(ok).toBe(CYCLES);
    // The server saw every one of them (a connection can arrive just after its client's connect resolved).
    await within(
      (async () => {
        while (accepted < CYCLES) await new Promise((resolve) => setTimeout(resolve, 10));
      })(),
      BOUND,
      'the server accepting every cycle',
    );
    expect(accepted).toBe(CYCLES);
    figure('churn', `${label}: ${CYCLES} cycles, ${ok} connects succeeded, ${accepted} accepted, 0 failures`);
  });
});

describe.each(['message', 'byte'] as const)('round trips with a peer in another process, %s mode', (mode) => {
  const BURST_CONNECTIONS = 4;
  const BURST = sized(100, 1000);
  const SIZE = 16 * 1024;
  const ROUND_TRIPS = sized(300, 3000);
  /** A generous bound that a stall (seconds) cannot meet; not a speed claim. */
  const LONGEST_MS = 250;
  /** Synchronous work after each send: the reply is already waiting when the event loop next looks. */
  const WORK_MS = 5;

  it.each(['ref', 'unref'] as const)(
    `a burst on ${BURST_CONNECTIONS} connections at once, closed together, then ${ROUND_TRIPS} round trips on a new %s'd connection: every byte back, the longest round trip under ${LONGEST_MS} ms`,
    async (refed) => {
      // The unref'd case: the process lives on this timer, which never fires during the test, so
      // it wakes nothing.
      const keeper = setInterval(() => {}, 3_600_000);
      try {
        const name = await echoPeer(mode);
        const first: PipeConnection[] = [];
        for (let i = 0; i < BURST_CONNECTIONS; i++) first.push(track(await connect(name, { mode })));
        const t0 = performance.now();
        const bursts = await Promise.all(first.map((c) => burst(c, BURST, SIZE)));
        const seconds = (performance.now() - t0) / 1000;
        const intact = bursts.filter(({ sent, got }) => got.equals(sent)).length;
        expect(intact).toBe(BURST_CONNECTIONS);
        await closeTogether(first);

        const conn = track(await connect(name, { mode }));
        if (refed === 'unref') unref(conn);
        const times = summary(await roundTrips(conn, ROUND_TRIPS, { workMs: WORK_MS, stopAboveMs: LONGEST_MS }));
        const echoed = (BURST_CONNECTIONS * BURST * SIZE) / MiB;
        figure('round trips', `${mode} mode, ${refed}'d: burst ${echoed} MiB echoed intact in ${seconds.toFixed(2)} s (${(echoed / seconds).toFixed(1)} MiB/s each way); ${times.text}`);
        expect(times.max).toBeLessThan(LONGEST_MS);
        expect(times.count).toBe(ROUND_TRIPS);
        await closeTogether([conn]);
      } finally {
        clearInterval(keeper);
      }
    },
    budget(120_000, 600_000),
  );
});
