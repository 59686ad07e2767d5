// Contract tests for the default bound on concurrent connections: createServer's `maxConnections`
// and a winpipe/connection Listener's `maxPendingConnections`. Runs natively (a client beyond the
// bound is closed as soon as it is accepted, and counted) and under Wine (no instance is created
// beyond the bound: the client finds the pipe busy and waits). The descriptor-exhaustion case with
// a second real user is test/posix/server-max-connections.test.ts.
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { connect, createServer, type ConnectOptions, type CreateServerOptions, type PipeConnection, type PipeServer } from '../src/index.js';
import { Client, Listener, type ListenerOptions } from '../src/channel/index.js';
import { codeOf, isWindows, syncCode, uniqueName, within } from './helpers/index.js';

const BOUND = 20_000;
const modes = ['byte', 'message'] as const;

const servers: PipeServer[] = [];
const streams: Duplex[] = [];
const closables: { close(): void }[] = [];
afterEach(async () => {
  for (const s of streams.splice(0)) s.destroy();
  for (const s of servers.splice(0)) await s.close();
  for (const c of closables.splice(0)) c.close();
});

const dir = isWindows ? '' : mkdtempSync(join(tmpdir(), 'wp-mc-'));
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function track<T extends Duplex>(s: T): T {
  streams.push(s);
  s.on('error', () => {});
  return s;
}

async function serve(options: CreateServerOptions, onConn?: (c: PipeConnection) => void): Promise<{ server: PipeServer; name: string; handed: PipeConnection[] }> {
  const name = uniqueName('mc');
  const handed: PipeConnection[] = [];
  const server = createServer(options, (c) => {
    track(c);
    handed.push(c);
    // An echo, so that a client can tell that it is served.
    c.on('data', (d: Buffer) => c.write(d));
    onConn?.(c);
  });
  servers.push(server);
  await server.listen(name);
  return { server, name, handed };
}

/** Sends `text` and resolves with the first answer. */
async function echoed(conn: PipeConnection, text: string): Promise<string> {
  const answer = once(conn, 'data');
  conn.write(text);
  return ((await within(answer, BOUND, `the echo of ${text}`))[0] as Buffer).toString();
}

/** Resolves once `conn` reads end of stream or closes (a client the server closed). */
function closedByServer(conn: Duplex): Promise<void> {
  return new Promise((resolve) => {
    conn.once('end', () => resolve());
    conn.once('close', () => resolve());
    conn.resume();
  });
}

/** Polls `check` each 10 ms until it holds (a state the server reaches on its own event loop turn). */
async function until(check: () => boolean, what: string): Promise<void> {
  await within(
    (async () => {
      while (!check()) await new Promise((r) => setTimeout(r, 10));
    })(),
    BOUND,
    what,
  );
}

describe('createServer maxConnections', () => {
  it('has a fixed default of 512, whatever the descriptor limit', async () => {
    const { server } = await serve({});
    expect(server.connectionStats()).toEqual({ current: 0, max: 512, dropped: 0, refused: 0, reachedMax: 0 });
  });

  const bad: [string, unknown, string][] = [
    ['0', 0, 'ERR_OUT_OF_RANGE'],
    ['-1', -1, 'ERR_OUT_OF_RANGE'],
    ['1.5', 1.5, 'ERR_OUT_OF_RANGE'],
    ['2^31', 2 ** 31, 'ERR_OUT_OF_RANGE'],
    ['NaN', NaN, 'ERR_OUT_OF_RANGE'],
    ['Infinity', Infinity, 'ERR_OUT_OF_RANGE'],
    ["'8'", '8', 'ERR_INVALID_ARG_TYPE'],
  ];
  it.each(bad)('createServer rejects maxConnections %s synchronously, before any system call', (_, value, code) => {
    // createServer itself makes no system call; nothing is listening afterwards either.
    expect(syncCode(() => createServer({ maxConnections: value as number }))).toBe(code);
  });

  it.each(modes)(
    '%s mode, maxConnections 2: the third client is turned away (POSIX: closed at once, counted, a drop event; Windows: the pipe is busy) while the two are served; once one leaves, the next client is served',
    async (mode) => {
      const { server, name, handed } = await serve({ mode, maxConnections: 2 });
      let drops = 0;
      server.on('drop', () => drops++);
      const opts: ConnectOptions = { mode };
      const a = track(await connect(name, opts));
      const b = track(await connect(name, opts));
      expect(await echoed(a, 'a')).toBe('a');
      expect(await echoed(b, 'b')).toBe('b');
      expect(server.connectionStats()).toEqual({ current: 2, max: 2, dropped: 0, refused: 0, reachedMax: 1 });

      if (isWindows) {
        // No instance waits at the bound: the client finds the pipe busy until its connectTimeout.
        expect(await codeOf(connect(name, { ...opts, connectTimeout: 300 }).then((c) => track(c)))).toBe('ETIMEDOUT');
        expect(server.connectionStats()).toEqual({ current: 2, max: 2, dropped: 0, refused: 0, reachedMax: 1 });
      } else {
        // The kernel completes the connect; the server closes it as soon as it accepts it.
        const third = track(await connect(name, opts));
        await within(closedByServer(third), BOUND, 'the third client to be closed');
        await until(() => drops === 1, "the 'drop' event");
        expect(server.connectionStats()).toEqual({ current: 2, max: 2, dropped: 1, refused: 0, reachedMax: 1 });
      }
      expect(handed).toHaveLength(2);
      // The two existing clients are still served.
      expect(await echoed(a, 'a2')).toBe('a2');
      expect(await echoed(b, 'b2')).toBe('b2');

      // One leaves: then a client is served. Windows: one that was already waiting for the pipe.
      let next: Promise<PipeConnection>;
      if (isWindows) {
        next = connect(name, { ...opts, connectTimeout: BOUND }).then((c) => track(c));
        a.destroy();
      } else {
        a.destroy();
        await until(() => server.connectionStats().current === 1, 'the server to see the first client leave');
        next = connect(name, opts).then((c) => track(c));
      }
      const c = await within(next, BOUND, 'the next client to connect');
      expect(await echoed(c, 'c')).toBe('c');
      expect(handed).toHaveLength(3);
      expect(server.connectionStats()).toMatchObject({ current: 2, max: 2, dropped: isWindows ? 0 : 1, reachedMax: 2 });
      expect(drops).toBe(isWindows ? 0 : 1);
    },
  );
});

/** A fresh channel address: a socket path on POSIX, `\\.\pipe\...` on Windows. */
function channelAddress(): string {
  return isWindows ? `\\\\.\\pipe\\${uniqueName('wp-mc')}` : join(dir, uniqueName('l').slice(-20));
}

function listen(options: ListenerOptions): { listener: Listener; address: string } {
  const address = channelAddress();
  const listener = new Listener(address, options);
  closables.push(listener);
  return { listener, address };
}

describe('Listener maxPendingConnections', () => {
  it('has a default of 512', () => {
    const { listener } = listen({});
    expect(listener.connectionStats()).toEqual({ current: 0, max: 512, dropped: 0, refused: 0, reachedMax: 0 });
  });

  const bad: [string, unknown, string][] = [
    ['0', 0, 'ERR_OUT_OF_RANGE'],
    ['1.5', 1.5, 'ERR_OUT_OF_RANGE'],
    ['2^31', 2 ** 31, 'ERR_OUT_OF_RANGE'],
    ["'8'", '8', 'ERR_INVALID_ARG_TYPE'],
  ];
  it.each(bad)('new Listener rejects maxPendingConnections %s before binding anything', (_, value, code) => {
    const address = channelAddress();
    expect(syncCode(() => new Listener(address, { maxPendingConnections: value as number }))).toBe(code);
    // Nothing was bound: the address is free for a Listener of its own.
    closables.push(new Listener(address));
  });

  it('with an authkey, clients that never finish the handshake hold at most maxPendingConnections: beyond it a client is turned away (POSIX: closed at once, counted; Windows: the pipe is busy); once they time out, an honest client gets through', async () => {
    const { listener, address } = listen({ authkey: 'key', maxPendingConnections: 2, handshakeTimeout: 1500 });
    // A pending accept() takes clients into their handshake.
    const first = listener.accept();
    first.catch(() => {});
    // Two clients that connect and say nothing.
    for (let i = 0; i < 2; i++) track(await connect(address, { mode: 'message' }));
    await until(() => listener.connectionStats().current === 2, 'two clients in their handshake');
    if (isWindows) {
      expect(await codeOf(connect(address, { mode: 'message', connectTimeout: 300 }).then((c) => track(c)))).toBe('ETIMEDOUT');
    } else {
      const third = track(await connect(address, { mode: 'message' }));
      await within(closedByServer(third), BOUND, 'the third client to be closed');
    }
    expect(listener.connectionStats()).toEqual({ current: 2, max: 2, dropped: isWindows ? 0 : 1, refused: 0, reachedMax: 1 });

    // The silent clients time out (the oldest accept() learns it), and their slots are free again.
    expect(await within(codeOf(first), BOUND, 'the first accept')).toBe('ETIMEDOUT');
    await until(() => listener.connectionStats().current === 0, 'the silent clients to be dropped');
    const client = Client(address, { authkey: 'key' });
    const served = await within(listener.accept(), BOUND, 'accept of an honest client');
    closables.push(served);
    const mine = await within(client, BOUND, 'the honest client');
    closables.push(mine);
    await mine.sendBytes(Buffer.from('hello'));
    expect((await served.recvBytes()).toString()).toBe('hello');
    expect(listener.connectionStats()).toMatchObject({ current: 0, max: 2 });
  });

  it('without an authkey, clients nobody accepts yet are bounded too: beyond maxPendingConnections a client is turned away (POSIX: closed; Windows: it waits and is taken once accept() makes room)', async () => {
    const { listener, address } = listen({ maxPendingConnections: 2 });
    const clients = [await within(Client(address), BOUND, 'client 1'), await within(Client(address), BOUND, 'client 2')];
    for (const c of clients) closables.push(c);
    await until(() => listener.connectionStats().current === 2, 'two clients queued');
    let third: Promise<unknown>;
    if (isWindows) {
      // Client retries a busy pipe (for up to 20 s, as Python's): it is still waiting.
      const waiting = Client(address);
      third = waiting;
      let settled = false;
      void waiting.then(
        (c) => {
          settled = true;
          closables.push(c);
        },
        () => (settled = true),
      );
      await new Promise((r) => setTimeout(r, 300));
      expect(settled).toBe(false);
    } else {
      const c = await within(Client(address), BOUND, 'client 3');
      closables.push(c);
      // The Listener closed it as soon as it was accepted.
      expect(await within(codeOf(c.recvBytes()), BOUND, 'a read of the third client')).toBe('ERR_CHANNEL_CLOSED');
      third = Promise.resolve();
    }
    expect(listener.connectionStats()).toEqual({ current: 2, max: 2, dropped: isWindows ? 0 : 1, refused: 0, reachedMax: 1 });
    // accept() takes the two queued clients, in order, and they talk.
    for (const c of clients) {
      const served = await within(listener.accept(), BOUND, 'accept');
      closables.push(served);
      await c.sendBytes(Buffer.from('x'));
      expect((await served.recvBytes()).toString()).toBe('x');
    }
    if (isWindows) {
      await within(third, BOUND, 'the waiting client to get through');
      closables.push(await within(listener.accept(), BOUND, 'accept of the third client'));
    }
  });
});
