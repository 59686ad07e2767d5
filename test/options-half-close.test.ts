// Contract tests for `halfClose: 'zero-message'` (docs/half-close.md), natively (POSIX: Unix
// sockets; byte mode is shutdown(SHUT_WR), message mode a zero-length frame) and under Wine
// (Windows: go-winio's zero-byte WriteFile, in byte mode too, on our own overlapped transport).
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, createServer, type PipeConnection, type PipeServer } from '../src/index.js';
import { seededBytes, uniqueName, within } from './helpers/index.js';

/** Bound for "settles, does not hang" checks: generous on purpose, never a speed claim. */
const BOUND = 20_000;
const modes = ['byte', 'message'] as const;

const servers: PipeServer[] = [];
const conns: Duplex[] = [];
afterEach(async () => {
  for (const c of conns.splice(0)) c.destroy();
  for (const s of servers.splice(0)) await s.close();
});

function track<T extends Duplex>(c: T): T {
  conns.push(c);
  c.on('error', () => {});
  return c;
}

/** Everything `conn` delivers until its end of stream, as one Buffer (every message, in order). */
async function readToEnd(conn: PipeConnection): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of conn.messages()) parts.push(chunk);
  return Buffer.concat(parts);
}

/** A server whose first connection is handed out through the returned promise. */
async function serve(name: string, options: Parameters<typeof createServer>[0]): Promise<{ server: PipeServer; accepted: Promise<PipeConnection> }> {
  const server = createServer(options);
  servers.push(server);
  const accepted = once(server, 'connection').then(([c]) => track(c as PipeConnection));
  await server.listen(name);
  return { server, accepted };
}

describe('halfClose option validation', () => {
  it.each([true, 'zero', 'shutdown', 0, null])('connect and createServer refuse halfClose %j synchronously (ERR_INVALID_ARG_VALUE)', (value) => {
    let thrown: unknown;
    try {
      void connect(uniqueName('hc-bad'), { halfClose: value as never });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(TypeError);
    expect((thrown as { code?: string }).code).toBe('ERR_INVALID_ARG_VALUE');
    expect(() => createServer({ halfClose: value as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });

  it('takes zero-message and undefined', async () => {
    const a = createServer({ halfClose: 'zero-message' });
    const b = createServer({ halfClose: undefined });
    await a.close();
    await b.close();
  });
});

describe.each(modes)("halfClose: 'zero-message' (%s mode)", (mode) => {
  it('docker exec: the client writes and half-closes, the server answers 500 ms later, the client reads the whole answer', async () => {
    const name = uniqueName(`hc-docker-${mode}`);
    const { accepted } = await serve(name, { mode, halfClose: 'zero-message' });
    const client = track(await connect(name, { mode, halfClose: 'zero-message' }));
    const request = seededBytes(100_000, 1);
    const answer = seededBytes(300_000, 2);
    const server = await accepted;
    const serverClosed = once(server, 'close');

    const serverSide = (async () => {
      const got = await readToEnd(server);
      // Longer than libuv's 50 ms shutdown timer, after which a plain end() would have lost it.
      await sleep(500);
      // Message mode: a message at most 64 KiB each; byte mode: any split.
      for (let off = 0; off < answer.length; off += 60_000) await server.writeMessage(answer.subarray(off, off + 60_000));
      server.end();
      return got;
    })();

    const clientClosed = once(client, 'close');
    for (let off = 0; off < request.length; off += 50_000) await client.writeMessage(request.subarray(off, off + 50_000));
    client.end();
    const reply = await within(readToEnd(client), BOUND, 'the whole answer');
    expect((await serverSide).equals(request)).toBe(true);
    expect(reply.length).toBe(answer.length);
    expect(reply.equals(answer)).toBe(true);
    // Both directions ended: the connections close by themselves.
    await within(clientClosed, BOUND, "the client's close");
    await within(serverClosed, BOUND, "the server's close");
  });

  it("a peer's half-close reads as end of stream while the peer keeps its connection open and still reads", async () => {
    const name = uniqueName(`hc-eof-${mode}`);
    const { accepted } = await serve(name, { mode, halfClose: 'zero-message' });
    const client = track(await connect(name, { mode, halfClose: 'zero-message' }));
    const server = await accepted;
    let clientClosed = false;
    client.once('close', () => (clientClosed = true));
    await client.writeMessage(Buffer.from('one'));
    client.end();
    const got = await within(readToEnd(server), BOUND, 'end of stream on the server');
    expect(got.toString()).toBe('one');
    expect(clientClosed).toBe(false);
    // Our side is still writable after the peer's end (half-open), and the peer still reads.
    expect(server.writable).toBe(true);
    const clientGot = readToEnd(client);
    await server.writeMessage(Buffer.from('two'));
    server.end();
    expect((await within(clientGot, BOUND, 'the reply')).toString()).toBe('two');
  });
});

describe('zero-byte messages (message mode)', () => {
  it("with halfClose a peer's zero-byte message is end of stream; what follows it is not read", async () => {
    const name = uniqueName('hc-zero-eof');
    const { accepted } = await serve(name, { mode: 'message', halfClose: 'zero-message' });
    // The writer has no halfClose: its empty message is just an empty message on its side.
    const client = track(await connect(name, { mode: 'message' }));
    const server = await accepted;
    await client.writeMessage(Buffer.from('a'));
    await client.writeMessage(Buffer.alloc(0));
    await client.writeMessage(Buffer.from('b'));
    const got: string[] = [];
    for await (const m of server.messages()) got.push(m.toString());
    expect(got).toEqual(['a']);
    expect(server.writable).toBe(true);
  });

  it("without halfClose an empty message is a message (CPython's rule), and a halfClose peer's end() arrives as one", async () => {
    const name = uniqueName('hc-zero-msg');
    const { accepted } = await serve(name, { mode: 'message' });
    const client = track(await connect(name, { mode: 'message', halfClose: 'zero-message' }));
    const server = await accepted;
    await client.writeMessage(Buffer.from('a'));
    client.end();
    const it = server.messages();
    expect((await within(it.next(), BOUND, 'first message')).value?.toString()).toBe('a');
    const second = await within(it.next(), BOUND, 'the empty message');
    expect(second.done).toBe(false);
    expect(second.value?.length).toBe(0);
    // The halfClose client is still open and reading: it gets our reply.
    await server.writeMessage(Buffer.from('reply'));
    const reply = await within(client.messages().next(), BOUND, 'the reply');
    expect(reply.value?.toString()).toBe('reply');
    await it.return?.();
  });
});
