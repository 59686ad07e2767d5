// Contract tests for winpipe/connection (src/channel/): Pipe, Connection, Listener, Client and the
// authkey handshake between two winpipe ends. Runs natively (Unix sockets with CPython's length
// prefix) and under Wine (message-mode named pipes, no prefix). Python interop: test/peers/cpython.test.ts.
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Client, Connection, Listener, Pipe } from '../../src/channel/index.js';
import { createResponse, verifyResponse } from '../../src/channel/auth.js';
import { bundle } from '../helpers/bundle.js';
import { codeOf, collect, exited, fixturesDir, isWindows, seededBytes as seeded4, syncCode, uniqueName, within } from '../helpers/index.js';

/** Seeded bytes of any length (the shared helper wants a multiple of 4). */
function seededBytes(size: number, seed: number): Buffer {
  return Buffer.from(seeded4(Math.ceil(size / 4) * 4, seed).subarray(0, size));
}

const dir = isWindows ? '' : mkdtempSync(join(tmpdir(), 'wp-ch-'));
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A fresh channel address: a socket path on POSIX, `\\.\pipe\...` on Windows. */
function address(): string {
  return isWindows ? `\\\\.\\pipe\\${uniqueName('wp-ch')}` : join(dir, uniqueName('s').slice(-20));
}

const open: { close(): void }[] = [];
function track<T extends { close(): void }>(x: T): T {
  open.push(x);
  return x;
}
function pipe(...args: Parameters<typeof Pipe>): [Connection, Connection] {
  const [a, b] = Pipe(...args);
  return [track(a), track(b)];
}
afterEach(() => {
  for (const x of open.splice(0)) x.close();
});

describe('Pipe', () => {
  it('carries structured-clone values both ways with send / recv', async () => {
    const [a, b] = pipe();
    const value = { s: 'héllo', n: 1.5, big: 2n ** 70n, m: new Map([[1, 'one']]), d: new Date(0), bytes: new Uint8Array([1, 2, 3]), nested: [null, undefined, true] };
    await a.send(value);
    expect(await b.recv()).toEqual(value);
    await b.send('back');
    expect(await a.recv()).toBe('back');
  });

  it('keeps message boundaries: 0 B, 1 B, 64 KiB and 16 MiB arrive as sent', async () => {
    const [a, b] = pipe();
    const sizes = [0, 1, 0, 64 * 1024, 16 * 1024 * 1024, 3];
    const sent = sizes.map((n, i) => seededBytes(n, i + 1));
    // Sends and receives run together: a 16 MiB message is more than the OS buffers.
    const [, got] = await Promise.all([Promise.all(sent.map((m) => a.sendBytes(m))), Promise.all(sizes.map(() => b.recvBytes()))]);
    expect(got.map((m) => m.length)).toEqual(sizes);
    for (let i = 0; i < sizes.length; i++) expect(got[i]!.equals(sent[i]!)).toBe(true);
  });

  it('serves concurrent recvBytes calls in call order', async () => {
    const [a, b] = pipe();
    const pending = [b.recvBytes(), b.recvBytes(), b.recvBytes()];
    for (const s of ['one', 'two', 'three']) await a.sendBytes(Buffer.from(s));
    expect((await Promise.all(pending)).map(String)).toEqual(['one', 'two', 'three']);
  });

  it('sendBytes(buf, offset, size) sends that slice, as Python does', async () => {
    const [a, b] = pipe();
    await a.sendBytes(Buffer.from('0123456789'), 2, 5);
    await a.sendBytes(new Uint16Array([0x4142, 0x4344]), 2);
    expect((await b.recvBytes()).toString()).toBe('23456');
    expect(await b.recvBytes()).toEqual(Buffer.from(new Uint16Array([0x4344]).buffer));
  });

  it('rejects bad arguments synchronously with Node-style codes', () => {
    const [a] = pipe();
    expect(syncCode(() => a.sendBytes('text' as never))).toBe('ERR_INVALID_ARG_TYPE');
    expect(syncCode(() => a.sendBytes(Buffer.alloc(4), 5))).toBe('ERR_OUT_OF_RANGE');
    expect(syncCode(() => a.sendBytes(Buffer.alloc(4), 1, 4))).toBe('ERR_OUT_OF_RANGE');
    expect(syncCode(() => a.recvBytes(-1))).toBe('ERR_OUT_OF_RANGE');
    expect(syncCode(() => a.recvBytes(1.5))).toBe('ERR_OUT_OF_RANGE');
    expect(syncCode(() => a.poll(-1))).toBe('ERR_OUT_OF_RANGE');
    expect(syncCode(() => a.poll(Number.NaN))).toBe('ERR_OUT_OF_RANGE');
    expect(syncCode(() => a.poll('1' as never))).toBe('ERR_INVALID_ARG_TYPE');
    expect(syncCode(() => a.send(() => 1))).toBe('ERR_INVALID_ARG_VALUE');
    expect(syncCode(() => Pipe({ duplex: 1 as never }))).toBe('ERR_INVALID_ARG_TYPE');
    expect(syncCode(() => Pipe({ maxMessageSize: 0 }))).toBe('ERR_OUT_OF_RANGE');
    expect(syncCode(() => Pipe(null as never))).toBe('ERR_INVALID_ARG_TYPE');
    expect(syncCode(() => Connection.fromFd(-1))).toBe('ERR_OUT_OF_RANGE');
  });

  it('duplex: false gives a receive-only first end and a send-only second end', async () => {
    const [r, w] = pipe({ duplex: false });
    expect([r.readable, r.writable, w.readable, w.writable]).toEqual([true, false, false, true]);
    await w.sendBytes(Buffer.from('one way'));
    expect((await r.recvBytes()).toString()).toBe('one way');
    expect(await codeOf(r.sendBytes(Buffer.from('x')))).toBe('EBADF');
    expect(await codeOf(w.recvBytes())).toBe('EBADF');
    expect(await codeOf(w.poll())).toBe('EBADF');
    w.close();
    expect(await codeOf(r.recvBytes())).toBe('ERR_CHANNEL_CLOSED');
  });

  it('after the peer closes, queued messages come first, then ERR_CHANNEL_CLOSED every time', async () => {
    const [a, b] = pipe();
    await a.sendBytes(Buffer.from('last words'));
    await a.sendBytes(Buffer.alloc(0));
    a.close();
    expect((await b.recvBytes()).toString()).toBe('last words');
    expect((await b.recvBytes()).length).toBe(0);
    expect(await codeOf(b.recvBytes())).toBe('ERR_CHANNEL_CLOSED');
    expect(await codeOf(b.recv())).toBe('ERR_CHANNEL_CLOSED');
    expect(await b.poll()).toBe(true);
  });

  it('a pending recv rejects with ERR_CHANNEL_CLOSED when the peer closes', async () => {
    const [a, b] = pipe();
    const pending = b.recvBytes();
    await b.poll(20);
    a.close();
    expect(await within(codeOf(pending), 10_000, 'recv after the peer closed')).toBe('ERR_CHANNEL_CLOSED');
  });

  it('close(): pending recv and poll reject with ERR_PIPE_CLOSED, later calls too; idempotent', async () => {
    const [a] = pipe();
    const recv = a.recvBytes();
    const poll = a.poll(60_000);
    expect(a.closed).toBe(false);
    a.close();
    a.close();
    expect(a.closed).toBe(true);
    expect(a.fd).toBe(-1);
    expect(await codeOf(recv)).toBe('ERR_PIPE_CLOSED');
    expect(await codeOf(poll)).toBe('ERR_PIPE_CLOSED');
    expect(await codeOf(a.recvBytes())).toBe('ERR_PIPE_CLOSED');
    expect(await codeOf(a.sendBytes(Buffer.from('x')))).toBe('ERR_PIPE_CLOSED');
    expect(await codeOf(a.poll())).toBe('ERR_PIPE_CLOSED');
  });

  it('close() right after an un-awaited sendBytes still delivers the message', async () => {
    const [a, b] = pipe();
    const big = seededBytes(4 * 1024 * 1024, 7);
    const sent = a.sendBytes(big);
    a.close();
    const got = await b.recvBytes();
    expect(got.equals(big)).toBe(true);
    await sent;
    expect(await codeOf(b.recvBytes())).toBe('ERR_CHANNEL_CLOSED');
  });

  it('a `using` block closes the connection', async () => {
    const [a, b] = pipe();
    {
      using inner = a;
      await inner.sendBytes(Buffer.from('x'));
    }
    expect(a.closed).toBe(true);
    await b.recvBytes();
    expect(await codeOf(b.recvBytes())).toBe('ERR_CHANNEL_CLOSED');
  });

  it('poll(): no timeout answers at once; a timeout waits for a message; polling does not consume', async () => {
    const [a, b] = pipe();
    expect(await b.poll()).toBe(false);
    expect(await b.poll(0)).toBe(false);
    expect(await b.poll(30)).toBe(false);
    const waiting = b.poll(60_000);
    await a.sendBytes(Buffer.from('ready'));
    expect(await within(waiting, 30_000, 'poll with a timeout')).toBe(true);
    expect(await b.poll()).toBe(true);
    expect(await b.poll(Infinity)).toBe(true);
    expect((await b.recvBytes()).toString()).toBe('ready');
    expect(await b.poll()).toBe(false);
  });

  it('recvBytes(maxLength): a longer message rejects with ERR_MESSAGE_TOO_LARGE and stays queued', async () => {
    const [a, b] = pipe();
    await a.sendBytes(Buffer.alloc(100, 1));
    expect(await codeOf(b.recvBytes(99))).toBe('ERR_MESSAGE_TOO_LARGE');
    expect((await b.recvBytes(100)).length).toBe(100);
  });

  it('a message above maxMessageSize fails the receiving end with ERR_MESSAGE_TOO_LARGE', async () => {
    const [a, b] = pipe({ maxMessageSize: 1024 });
    void a.sendBytes(Buffer.alloc(4096)).catch(() => {});
    expect(await within(codeOf(b.recvBytes()), 30_000, 'recv of an oversized message')).toBe('ERR_MESSAGE_TOO_LARGE');
  });

  it('one end goes to a Node child, which opens it with Connection.fromFd', async () => {
    const [mine, theirs] = pipe();
    const child = spawn(process.execPath, [join(fixturesDir, 'channel-child.mjs'), await bundle('channel/index.ts'), '3'], {
      stdio: ['ignore', 'pipe', 'inherit', theirs.fd],
      windowsHide: true,
    });
    theirs.close();
    const out = collect(child.stdout);
    const messages = [Buffer.alloc(0), Buffer.from('ping'), seededBytes(1024 * 1024, 3)];
    for (const m of messages) {
      await mine.sendBytes(m);
      expect((await within(mine.recvBytes(), 30_000, 'echo from the child')).equals(m)).toBe(true);
    }
    mine.close();
    expect(await within(exited(child), 30_000, 'child exit')).toBe(0);
    expect((await out).trim()).toBe(`bye ${messages.length}`);
  });

  it('Connection.fromFd refuses a descriptor that is not a pipe or socket (EINVAL) or not open (EBADF)', () => {
    const file = join(isWindows ? tmpdir() : dir, `${uniqueName('f')}.txt`);
    writeFileSync(file, 'x');
    const fd = openSync(file, 'r');
    try {
      expect(syncCode(() => Connection.fromFd(fd))).toBe('EINVAL');
    } finally {
      closeSync(fd);
      rmSync(file, { force: true });
    }
    expect(syncCode(() => Connection.fromFd(4000))).toBe('EBADF');
  });
});

describe('Listener and Client', () => {
  async function pair(addr: string, listenerKey?: string | Buffer, clientKey?: string | Buffer): Promise<[Connection, Connection, Listener]> {
    const listener = track(new Listener(addr, listenerKey === undefined ? {} : { authkey: listenerKey }));
    const [s, c] = await Promise.all([listener.accept(), Client(addr, clientKey === undefined ? {} : { authkey: clientKey })]);
    return [track(s), track(c), listener];
  }

  it('connect, authenticate with a shared key and exchange messages both ways', async () => {
    const addr = address();
    const [server, client, listener] = await pair(addr, 'secret', Buffer.from('secret'));
    expect(listener.address).toBe(addr);
    await client.sendBytes(Buffer.from('hello'));
    expect((await server.recvBytes()).toString()).toBe('hello');
    const big = seededBytes(16 * 1024 * 1024, 9);
    const [, got] = await Promise.all([server.sendBytes(big), client.recvBytes()]);
    expect(got.equals(big)).toBe(true);
    await client.send({ ok: true });
    expect(await server.recv()).toEqual({ ok: true });
  });

  it('without an authkey there is no handshake', async () => {
    const [server, client] = await pair(address());
    await server.sendBytes(Buffer.alloc(0));
    expect((await client.recvBytes()).length).toBe(0);
  });

  it('a wrong key fails with ERR_AUTHENTICATION on both sides, and the listener goes on', async () => {
    const addr = address();
    const listener = track(new Listener(addr, { authkey: 'right' }));
    const [accepted, connected] = await Promise.all([codeOf(listener.accept()), codeOf(Client(addr, { authkey: 'wrong' }))]);
    expect(accepted).toBe('ERR_AUTHENTICATION');
    expect(connected).toBe('ERR_AUTHENTICATION');
    const [s, c] = await Promise.all([listener.accept(), Client(addr, { authkey: 'right' })]);
    track(s);
    track(c);
    await c.sendBytes(Buffer.from('after'));
    expect((await s.recvBytes()).toString()).toBe('after');
  });

  it('a handshake message above 256 bytes is refused before it is read (ERR_AUTHENTICATION)', async () => {
    const addr = address();
    const listener = track(new Listener(addr, { authkey: 'k' }));
    const accepting = codeOf(listener.accept());
    const raw = track(await Client(addr));
    const challenge = await raw.recvBytes();
    expect(challenge.subarray(0, 11).toString()).toBe('#CHALLENGE#');
    await raw.sendBytes(Buffer.alloc(300));
    expect(await accepting).toBe('ERR_AUTHENTICATION');
  });

  it("a client that connects and says nothing does not hold up another client's accept()", async () => {
    const addr = address();
    const listener = track(new Listener(addr, { authkey: 'k' }));
    const accepting = listener.accept();
    // No authkey: this client never answers the challenge.
    const silent = track(await Client(addr));
    const honest = track(await within(Client(addr, { authkey: 'k' }), 5000, 'the honest client'));
    const server = track(await within(accepting, 5000, 'accept() of the honest client'));
    await honest.sendBytes(Buffer.from('me'));
    expect((await server.recvBytes()).toString()).toBe('me');
    expect(silent.closed).toBe(false);
  });

  it('a client that says nothing is dropped after handshakeTimeout: accept() rejects with ETIMEDOUT', async () => {
    const addr = address();
    const listener = track(new Listener(addr, { authkey: 'k', handshakeTimeout: 200 }));
    const accepting = codeOf(listener.accept());
    const silent = track(await Client(addr));
    expect(await within(accepting, 10_000, 'the handshake timeout')).toBe('ETIMEDOUT');
    // It got the challenge, then the end of the channel.
    expect((await silent.recvBytes()).subarray(0, 11).toString()).toBe('#CHALLENGE#');
    expect(await within(codeOf(silent.recvBytes()), 10_000, 'the end of the channel')).toBe('ERR_CHANNEL_CLOSED');
    // The listener goes on.
    const [s, c] = await Promise.all([listener.accept(), Client(addr, { authkey: 'k' })]);
    track(s);
    track(c);
  });

  it('handshakeTimeout is validated before anything is bound', () => {
    const addr = address();
    expect(syncCode(() => new Listener(addr, { authkey: 'k', handshakeTimeout: -1 }))).toBe('ERR_OUT_OF_RANGE');
    expect(syncCode(() => new Listener(addr, { handshakeTimeout: 'soon' as never }))).toBe('ERR_INVALID_ARG_TYPE');
    if (!isWindows) expect(existsSync(addr)).toBe(false);
  });

  it('an oversize first message before authentication is refused without being read', async () => {
    const addr = address();
    const listener = track(new Listener(addr, { authkey: 'k' }));
    const accepting = listener.accept().then(
      () => undefined,
      (e: unknown) => e as { code?: string; cause?: { code?: string } },
    );
    const raw = track(await Client(addr));
    await raw.recvBytes();
    // 32 MiB is far more than any pipe or socket buffer: if the listener read it, the send would
    // complete. Refused from its size, the connection is dropped under the unread message.
    const sending = codeOf(raw.sendBytes(Buffer.alloc(32 * 1024 * 1024, 1)));
    const err = await within(accepting, 30_000, 'the refusal');
    expect(err?.code).toBe('ERR_AUTHENTICATION');
    expect(err?.cause?.code).toBe('ERR_MESSAGE_TOO_LARGE');
    // The refused client sees the end of the channel.
    expect(await within(codeOf(raw.recvBytes()), 30_000, 'the end of the channel')).toBe('ERR_CHANNEL_CLOSED');
    // Windows: a message-mode write completes only once read, so this proves it was not. (POSIX
    // checks the length prefix before reading the body; there Node reports a write cut off by the
    // peer's reset as done, so the send's outcome says nothing.)
    const sent = await within(sending, 30_000, 'the send');
    if (isWindows) expect(sent).toBe('EPIPE');
  });

  it('several clients connect before accept(); each accept() gets one', async () => {
    const addr = address();
    const listener = track(new Listener(addr));
    const clients = await Promise.all([1, 2, 3].map(() => Client(addr).then(track)));
    const servers = await Promise.all(clients.map(() => listener.accept().then(track)));
    await Promise.all(clients.map((c, i) => c.sendBytes(Buffer.from(`client ${i}`))));
    const got = (await Promise.all(servers.map((s) => s.recvBytes()))).map(String).sort();
    expect(got).toEqual(['client 0', 'client 1', 'client 2']);
  });

  it('Client to an address nobody listens on rejects with ENOENT', async () => {
    expect(await codeOf(Client(address()))).toBe('ENOENT');
  });

  it('a Listener on an address in use throws EADDRINUSE', () => {
    const addr = address();
    track(new Listener(addr));
    expect(syncCode(() => new Listener(addr))).toBe('EADDRINUSE');
  });

  it('close(): pending and later accept() reject with ERR_PIPE_CLOSED, and the address goes away', async () => {
    const addr = address();
    const listener = new Listener(addr);
    const pending = listener.accept();
    listener.close();
    listener.close();
    expect(await codeOf(pending)).toBe('ERR_PIPE_CLOSED');
    expect(await codeOf(listener.accept())).toBe('ERR_PIPE_CLOSED');
    if (!isWindows) expect(existsSync(addr)).toBe(false);
    expect(await codeOf(Client(addr))).toBe('ENOENT');
  });

  it('Listener() without an address picks a fresh one', async () => {
    const listener = track(new Listener());
    expect(listener.address).toMatch(isWindows ? /^\\\\\.\\pipe\\/ : /listener-/);
    const [s, c] = await Promise.all([listener.accept(), Client(listener.address)]);
    track(s);
    track(c);
    await s.sendBytes(Buffer.from('fresh'));
    expect((await c.recvBytes()).toString()).toBe('fresh');
  });

  it.skipIf(isWindows)('POSIX: a relative address is relative to the cwd, as in Python', async () => {
    const rel = relative(process.cwd(), address());
    expect(rel.startsWith('/')).toBe(false);
    const [s, c, listener] = await pair(rel, 'k', 'k');
    expect(listener.address).toBe(rel);
    await c.sendBytes(Buffer.from('rel'));
    expect((await s.recvBytes()).toString()).toBe('rel');
  });

  it.skipIf(process.platform !== 'linux')(
    'Linux: a Client reaches a Listener at an abstract address (\\0name, bound and connected at its exact length) (skipped off Linux: the abstract namespace is Linux-only)',
    async () => {
      const addr = `\0${uniqueName('wp-ch-abs')}`;
      const [s, c, listener] = await pair(addr, 'k', 'k');
      expect(listener.address).toBe(addr);
      await c.sendBytes(Buffer.from('abstract'));
      expect((await s.recvBytes()).toString()).toBe('abstract');
      await s.sendBytes(Buffer.from('back'));
      expect((await c.recvBytes()).toString()).toBe('back');
    },
  );

  it('rejects bad addresses and options before any system call', () => {
    expect(syncCode(() => new Listener(42 as never))).toBe('ERR_INVALID_ARG_TYPE');
    expect(syncCode(() => Client(42 as never))).toBe('ERR_INVALID_ARG_TYPE');
    expect(syncCode(() => new Listener(address(), { authkey: 42 as never }))).toBe('ERR_INVALID_ARG_TYPE');
    expect(syncCode(() => new Listener(address(), { backlog: -1 }))).toBe('ERR_OUT_OF_RANGE');
    if (isWindows) {
      expect(syncCode(() => new Listener('C:\\temp\\x.sock'))).toBe('ERR_INVALID_ARG_VALUE');
      expect(syncCode(() => new Listener('\\\\server\\pipe\\x'))).toBe('ERR_INVALID_ARG_VALUE');
    } else {
      expect(syncCode(() => new Listener('\\\\.\\pipe\\x'))).toBe('ERR_INVALID_ARG_VALUE');
      expect(syncCode(() => new Listener(`/tmp/${'x'.repeat(120)}`))).toBe('ERR_INVALID_ARG_VALUE');
      expect(syncCode(() => Client('/tmp/a\0b'))).toBe('ERR_INVALID_ARG_VALUE');
    }
  });
});

describe('authkey handshake forms', () => {
  const key = Buffer.from('shared');
  const hmac = (alg: string, data: Buffer): Buffer => createHmac(alg, key).update(data).digest();

  it('answers a legacy 20-byte challenge with the raw 16-byte HMAC-MD5 (Python <= 3.11)', () => {
    const challenge = Buffer.alloc(20, 5);
    expect(createResponse(key, challenge)).toEqual(hmac('md5', challenge));
  });

  it('answers a {sha256} challenge with {sha256} + HMAC-SHA256 of the whole challenge (Python >= 3.12)', () => {
    const challenge = Buffer.concat([Buffer.from('{sha256}'), Buffer.alloc(40, 6)]);
    expect(createResponse(key, challenge)).toEqual(Buffer.concat([Buffer.from('{sha256}'), hmac('sha256', challenge)]));
  });

  it('as challenger accepts both a legacy raw-MD5 and a {sha256} answer, and refuses wrong ones', () => {
    const challenge = Buffer.concat([Buffer.from('{sha256}'), Buffer.alloc(40, 7)]);
    expect(() => verifyResponse(key, challenge, hmac('md5', challenge))).not.toThrow();
    expect(() => verifyResponse(key, challenge, Buffer.concat([Buffer.from('{sha256}'), hmac('sha256', challenge)]))).not.toThrow();
    const wrong = Buffer.concat([Buffer.from('{sha256}'), createHmac('sha256', 'other').update(challenge).digest()]);
    expect(syncCode(() => verifyResponse(key, challenge, wrong))).toBe('ERR_AUTHENTICATION');
    expect(syncCode(() => verifyResponse(key, challenge, Buffer.from('{sha1}0123456789abcdef0123')))).toBe('ERR_AUTHENTICATION');
    expect(syncCode(() => verifyResponse(key, challenge, Buffer.alloc(17)))).toBe('ERR_AUTHENTICATION');
  });
});
