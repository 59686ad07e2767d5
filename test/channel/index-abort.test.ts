// Contract tests for AbortSignal on the channel API's waiting calls (src/channel/): accept,
// Client, recv and recvBytes. Runs natively and under Wine.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Client, Listener, Pipe, type Connection } from '../../src/channel/index.js';
import { isWindows, uniqueName } from '../helpers/index.js';

const dir = isWindows ? '' : mkdtempSync(join(tmpdir(), 'wp-cha-'));
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});
function address(): string {
  return isWindows ? `\\\\.\\pipe\\${uniqueName('wp-cha')}` : join(dir, uniqueName('s').slice(-20));
}
const open: { close(): void }[] = [];
function track<T extends { close(): void }>(x: T): T {
  open.push(x);
  return x;
}
afterEach(() => {
  for (const x of open.splice(0)) x.close();
});

describe.each([undefined, 'secret'])('Listener.accept with a signal (authkey %s)', (authkey) => {
  it('an abort rejects the pending accept with AbortError; a client arriving later is kept for the next accept', async () => {
    const listener = track(new Listener(address(), authkey === undefined ? {} : { authkey }));
    const ac = new AbortController();
    const pending = listener.accept({ signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await expect(pending).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    const [server, client] = await Promise.all([listener.accept(), Client(listener.address, authkey === undefined ? {} : { authkey })]);
    track(server);
    track(client);
    await client.send({ n: 1 });
    expect(await server.recv()).toEqual({ n: 1 });
  });

  it('an already-aborted signal rejects at once; a bad signal throws ERR_INVALID_ARG_TYPE', async () => {
    const listener = track(new Listener(address(), authkey === undefined ? {} : { authkey }));
    await expect(listener.accept({ signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
    expect(() => listener.accept({ signal: 'x' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });
});

describe('Client with a signal', () => {
  it('an already-aborted signal rejects before connecting; a bad one throws synchronously', async () => {
    const listener = track(new Listener(address()));
    await expect(Client(listener.address, { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    expect(() => Client(listener.address, { signal: {} as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });

  it('an abort during the handshake rejects with AbortError and the connection is closed (the listener sees it leave)', async () => {
    // The listener has a key but nobody accepts, so the client's handshake waits for its challenge.
    const listener = track(new Listener(address(), { authkey: 'k', handshakeTimeout: 0 }));
    const ac = new AbortController();
    const p = Client(listener.address, { authkey: 'k', signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    // The aborted client left mid-handshake: the accept that takes it fails (it never
    // authenticates) instead of handing out a connection nobody holds.
    const err = await listener.accept().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as { code?: string } | undefined)?.code).toMatch(/^(ERR_CHANNEL_CLOSED|ERR_AUTHENTICATION|EPIPE|ECONNRESET|ERR_PIPE_CLOSED)$/);
    // A new client still authenticates and talks.
    const [server, client] = await Promise.all([listener.accept(), Client(listener.address, { authkey: 'k' })]);
    track(server);
    track(client);
    await client.sendBytes(Buffer.from('ok'));
    expect((await server.recvBytes()).toString()).toBe('ok');
  });
});

describe('recv / recvBytes with a signal', () => {
  it('an abort rejects the pending receive with AbortError and consumes nothing', async () => {
    const [a, b] = Pipe().map(track) as [Connection, Connection];
    const ac = new AbortController();
    const pending = b.recvBytes(undefined, { signal: ac.signal });
    ac.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    const ac2 = new AbortController();
    const pending2 = b.recv({ signal: ac2.signal });
    ac2.abort();
    await expect(pending2).rejects.toMatchObject({ name: 'AbortError' });
    await a.send('after');
    expect(await b.recv({ signal: AbortSignal.timeout(20_000) })).toBe('after');
  });

  it('an already-aborted signal rejects at once even with a message waiting; bad options throw synchronously', async () => {
    const [a, b] = Pipe().map(track) as [Connection, Connection];
    await a.sendBytes(Buffer.from('kept'));
    await expect(b.recvBytes(undefined, { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
    expect(() => b.recvBytes(undefined, { signal: 1 as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => b.recv('x' as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect((await b.recvBytes()).toString()).toBe('kept');
  });
});
