// Windows only: what a plain `end()` does to a byte-mode connection (docs/half-close.md). It is
// libuv's shutdown: nothing reaches the peer, and 50 ms later libuv closes the whole pipe
// (src/win/pipe.c, eof_timer_cb), so an answer that comes later is lost. This is the behaviour
// `halfClose: 'zero-message'` exists for (test/options-half-close.test.ts shows the answer arriving).
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, createServer, type PipeConnection, type PipeServer } from '../../src/index.js';
import { isWindows, uniqueName, within } from '../helpers/index.js';

const BOUND = 20_000;
const servers: PipeServer[] = [];
const conns: PipeConnection[] = [];
afterEach(async () => {
  for (const c of conns.splice(0)) c.destroy();
  for (const s of servers.splice(0)) await s.close();
});

describe.skipIf(!isWindows)('plain end() on a Windows byte pipe', () => {
  it('closes the whole pipe: the client reads end of stream without the answer its server sends 500 ms later', async () => {
    const name = uniqueName('plain-end');
    const server = createServer({ mode: 'byte' });
    servers.push(server);
    const late = new Promise<unknown>((resolve) => {
      server.once('connection', (conn: PipeConnection) => {
        conns.push(conn);
        conn.on('error', () => {});
        conn.resume();
        void (async () => {
          await sleep(500);
          // The pipe is gone by now: the write fails (or goes nowhere).
          resolve(
            await conn.writeMessage(Buffer.from('answer')).then(
              () => 'written',
              (err: { code?: string }) => err.code,
            ),
          );
        })();
      });
    });
    await server.listen(name);
    const client = await connect(name);
    conns.push(client);
    client.on('error', () => {});
    const got: Buffer[] = [];
    client.on('data', (d: Buffer) => got.push(d));
    client.end('request');
    await within(new Promise((r) => client.once('close', r)), BOUND, "the client's close");
    expect(Buffer.concat(got).toString()).toBe('');
    expect(await within(late, BOUND, 'the late answer')).not.toBe('written');
  });
});
