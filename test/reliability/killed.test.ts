// A peer killed mid-transfer (SIGKILL on POSIX, TerminateProcess on Windows, both
// through child.kill('SIGKILL')). The survivor sees end of stream or a reset (no hang: the bound is
// generous, it is not a speed claim), and a server keeps serving its other clients.
//
// Sizes: one kill per variant by default; 5 per variant under WINPIPE_STRESS=1.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, isPipeError, pipePath, type PipeConnection } from '../../src/index.js';
import { fixturesDir, trackedPipes } from '../helpers/index.js';
import { BOUND, MiB, budget, figure, isWindows, namedPipes, rejection, sized, uniqueName, within } from './helpers.js';

const pipe = trackedPipes();
const { serve, client, track } = namedPipes();
const ROUNDS = sized(1, 5);
/** The survivor must notice within this; generous on purpose (Wine, loaded CI machines). */
const NOTICE = 10_000;

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

/** Spawns a fixture; `gone` resolves once it has exited (listened for from the start: the exit can
 * come before the survivor notices the broken pipe). */
function child(script: string, args: string[], stdio: Parameters<typeof spawn>[2]['stdio']): ChildProcess & { gone: Promise<unknown> } {
  const c = spawn(process.execPath, [join(fixturesDir, script), ...args], { stdio, windowsHide: true });
  children.push(c);
  return Object.assign(c, { gone: once(c, 'exit') });
}

/** Resolves once `stream` has delivered at least `n` bytes (or messages' bytes). */
function received(conn: PipeConnection, n: number): { reached: Promise<void>; total(): number; end: Promise<string> } {
  let total = 0;
  // Assigned at once: a Promise runs its executor synchronously.
  let reach!: () => void;
  const reached = new Promise<void>((resolve) => (reach = resolve));
  const end = (async () => {
    try {
      for await (const m of conn.messages()) {
        total += m.length;
        if (total >= n) reach();
      }
      return 'end';
    } catch (err) {
      return isPipeError(err) ? err.code : `untyped ${String(err)}`;
    }
  })();
  return { reached, total: () => total, end };
}

describe('a peer killed mid-transfer', () => {
  it.each(['byte', 'message'] as const)(
    `%s mode: a client killed while sending; the server sees end of stream or a reset, and keeps serving others (${ROUNDS}×)`,
    { timeout: budget(120_000, 300_000) },
    async (mode) => {
      const { server, name } = await serve({ mode }, (conn) => {
        // Everyone but the doomed child gets an echo.
        if (conn.clientProcessId !== doomed?.pid) conn.on('data', (d: Buffer) => conn.write(d));
      });
      let doomed: (ChildProcess & { gone: Promise<unknown> }) | undefined;
      const outcomes: string[] = [];
      const noticed: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        // A client in this process that stays connected through the kill.
        const bystander = await client(name, { mode });
        const framing = mode === 'message' && !isWindows ? 'frame' : 'raw';
        doomed = child('stream-client.mjs', [server.address()!, framing], ['ignore', 'pipe', 'inherit']);
        // The child's connection, told apart by its pid (the bystander's may be delivered later).
        const pid = doomed.pid;
        const accepted = new Promise<PipeConnection>((resolve) => {
          const onConnection = (c: PipeConnection): void => {
            if (c.clientProcessId !== pid) return;
            server.off('connection', onConnection);
            resolve(c);
          };
          server.on('connection', onConnection);
        });
        const conn = await within(accepted, BOUND, 'the streaming child connecting');
        const watch = received(conn, MiB);
        await within(watch.reached, BOUND, 'the first MiB from the child');
        const killedAt = Date.now();
        doomed.kill('SIGKILL');
        const outcome = await within(watch.end, NOTICE, 'the server noticing the killed client');
        noticed.push(Date.now() - killedAt);
        outcomes.push(outcome);
        expect(['end', 'ECONNRESET', 'EPIPE']).toContain(outcome);
        await within(doomed.gone, BOUND, 'the killed child exiting');
        // The server still serves: the bystander and a brand-new client both get their echo.
        const fresh = await client(name, { mode });
        for (const c of [bystander, fresh]) {
          const answer = once(c, 'data');
          c.write(Buffer.from('still served'));
          expect(String((await within(answer, BOUND, 'an echo after the kill'))[0])).toBe('still served');
        }
        bystander.destroy();
        fresh.destroy();
      }
      figure(
        '11 killed peer',
        `${mode} mode, killed client: ${ROUNDS} kills, the server saw ${JSON.stringify(outcomes)} (${noticed.join(', ')} ms after the kill) and served 2 other clients after each`,
      );
    },
  );

  it(`byte mode: a server process killed while sending; the client sees end of stream or a reset (${ROUNDS}×)`, { timeout: budget(120_000, 300_000) }, async () => {
    const outcomes: string[] = [];
    const noticed: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const name = uniqueName('wp-rel-killed');
      const path = pipePath(name);
      // POSIX: the fixture is a plain Node server; it needs the private directory winpipe would make.
      if (!isWindows) mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      const doomed = child('stream-server.mjs', [path], ['ignore', 'pipe', 'inherit']);
      try {
        await within(once(doomed.stdout!, 'data'), BOUND, 'the server child listening');
        const c = track(await connect(name));
        const watch = received(c, MiB);
        await within(watch.reached, BOUND, 'the first MiB from the server child');
        const killedAt = Date.now();
        doomed.kill('SIGKILL');
        const outcome = await within(watch.end, NOTICE, 'the client noticing the killed server');
        noticed.push(Date.now() - killedAt);
        outcomes.push(outcome);
        expect(['end', 'ECONNRESET', 'EPIPE']).toContain(outcome);
        await within(doomed.gone, BOUND, 'the killed server exiting');
      } finally {
        // POSIX: a killed server leaves its socket file behind (it had no chance to unlink it).
        if (!isWindows) rmSync(path, { force: true });
      }
    }
    figure('killed peer', `killed server: ${ROUNDS} kills, the client saw ${JSON.stringify(outcomes)} (${noticed.join(', ')} ms after the kill)`);
  });

  it(`anonymous pipe: a child writing our pipe is killed: read() reaches EOF; a child reading it is killed: a pending write() rejects with EPIPE (${ROUNDS}×)`, {
    timeout: budget(120_000, 300_000),
  }, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const a = pipe();
      const writerChild = child('write-forever.mjs', [], ['ignore', a.writer, 'inherit']);
      a.writer.close();
      let got = 0;
      while (got < MiB) got += (await within(a.reader.read(), BOUND, 'data from the writing child')).length;
      writerChild.kill('SIGKILL');
      await within(
        (async () => {
          while ((await a.reader.read()).length > 0);
        })(),
        NOTICE,
        'EOF after the writer was killed',
      );

      const b = pipe();
      const readerChild = child('hold.mjs', ['60000'], [b.reader, 'ignore', 'inherit']);
      b.reader.close();
      // Nobody reads: this write stays pending once the pipe is full.
      const pending = b.writer.write(Buffer.alloc(8 * MiB, 1));
      await new Promise((resolve) => setTimeout(resolve, 50));
      readerChild.kill('SIGKILL');
      const err = await within(rejection(pending), NOTICE, 'the pending write after the reader was killed');
      expect(isPipeError(err)).toBe(true);
      expect(err.code).toBe('EPIPE');
    }
    figure('killed peer', `anonymous pipe: ${ROUNDS} killed writers (EOF) and ${ROUNDS} killed readers (EPIPE)`);
  });
});
