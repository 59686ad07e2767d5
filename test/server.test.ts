// Contract tests for named pipes (createServer / connect, src/options.ts and src/names.ts): the same file runs natively
// (POSIX: Unix domain sockets) and under Wine (Windows: CreateNamedPipeW). Only the public API is
// used here; platform-only behaviour lives in test/posix/server.test.ts and test/windows/server.test.ts.
import { EventEmitter, once } from 'node:events';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import { dirname } from 'node:path';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, createServer, isPipeError, pipePath, type ConnectOptions, type CreateServerOptions, type PipeConnection, type PipeServer } from '../src/index.js';
import { collect, exited, isWindows, seededBytes, spawnFixture, uniqueName, within } from './helpers/index.js';

/** Bound for "settles, does not hang" checks: generous on purpose, never a speed claim. */
const BOUND = 20_000;
const modes = ['byte', 'message'] as const;
type Mode = (typeof modes)[number];

const servers: PipeServer[] = [];
const conns: Duplex[] = [];
const netServers: net.Server[] = [];
afterEach(async () => {
  for (const c of conns.splice(0)) c.destroy();
  for (const s of servers.splice(0)) await s.close();
  for (const s of netServers.splice(0)) await new Promise((resolve) => s.close(resolve));
});

function track<T extends Duplex>(c: T): T {
  conns.push(c);
  // Tests look at errors through their own checks; a late EPIPE after a test ends is not a failure.
  c.on('error', () => {});
  return c;
}

/** A tracked server listening on a fresh name; its connections are tracked too. */
async function serve(options?: CreateServerOptions, listener?: (c: PipeConnection) => void, name = uniqueName()): Promise<{ server: PipeServer; name: string }> {
  const server = createServer(options, (c) => {
    track(c);
    listener?.(c);
  });
  servers.push(server);
  await server.listen(name);
  return { server, name };
}

async function client(name: string, options?: ConnectOptions): Promise<PipeConnection> {
  return track(await connect(name, options));
}

function nextConnection(server: PipeServer): Promise<PipeConnection> {
  return once(server, 'connection').then(([c]) => c as PipeConnection);
}

/** The error `fn` throws synchronously (a returned promise is a failure of the contract). */
function thrown(fn: () => unknown): { code?: string } & Error {
  let result: unknown;
  try {
    result = fn();
  } catch (err) {
    return err as { code?: string } & Error;
  }
  if (result instanceof Promise) result.catch(() => {});
  throw new Error(`did not throw synchronously (returned ${String(result)})`);
}

/** Reads exactly `n` bytes from a byte stream. */
function readBytes(stream: Duplex, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let got = 0;
    const done = (): void => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.pause();
    };
    const onData = (chunk: Buffer): void => {
      parts.push(chunk);
      got += chunk.length;
      if (got >= n) {
        done();
        resolve(Buffer.concat(parts));
      }
    };
    const onEnd = (): void => {
      done();
      reject(new Error(`end of stream after ${got} of ${n} bytes`));
    };
    const onError = (err: unknown): void => {
      done();
      reject(err);
    };
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', onError);
    stream.resume();
  });
}

/** Everything until end of stream, by 'data' events. */
function readToEnd(stream: Duplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => parts.push(chunk));
    stream.once('end', () => resolve(Buffer.concat(parts)));
    stream.once('error', reject);
  });
}

/** The next `count` messages from `messages()`. */
async function takeMessages(conn: PipeConnection, count: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  const it = conn.messages();
  while (out.length < count) {
    const r = await it.next();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}

/** Server side of an echo, in either mode; ends its side when the client has ended. */
function echo(conn: PipeConnection): void {
  if (conn.mode === 'message') {
    void (async () => {
      for await (const m of conn.messages()) await conn.writeMessage(m);
      conn.end();
    })().catch(() => {});
  } else {
    conn.on('data', (chunk: Buffer) => conn.write(chunk));
    conn.on('end', () => conn.end());
  }
}

/** One request/answer through an echo server. */
async function roundTrip(conn: PipeConnection, payload = 'p'): Promise<string> {
  if (conn.mode === 'message') {
    const [answer] = await Promise.all([takeMessages(conn, 1), conn.writeMessage(Buffer.from(payload))]);
    return answer[0]?.toString() ?? '<end>';
  }
  const answer = readBytes(conn, Buffer.byteLength(payload));
  conn.write(payload);
  return (await answer).toString();
}

// --- options -------------------------------------------------------------------------------------

describe('options', () => {
  it('defaults: byte mode, duplex, the address is pipePath(name), events and iteration exist', async () => {
    const name = uniqueName();
    const server = createServer(echo);
    servers.push(server);
    expect(server).toBeInstanceOf(EventEmitter);
    expect(typeof server[Symbol.asyncIterator]).toBe('function');
    expect(server.listening).toBe(false);
    expect(server.address()).toBe(null);
    const listening = once(server, 'listening');
    const accepted = nextConnection(server);
    await server.listen(name);
    await listening;
    expect(server.listening).toBe(true);
    expect(server.address()).toBe(pipePath(name));

    const c = await client(name);
    const s = track(await accepted);
    for (const conn of [c, s]) {
      expect(conn.mode).toBe('byte');
      expect(conn.path).toBe(pipePath(name));
      expect(conn.readable).toBe(true);
      expect(conn.writable).toBe(true);
    }
    expect(await roundTrip(c, 'defaults')).toBe('defaults');
  });

  const accepted: [string, CreateServerOptions, ConnectOptions?][] = [
    ["mode: 'byte'", { mode: 'byte' }],
    ["mode: 'message'", { mode: 'message' }, { mode: 'message' }],
    ["access: 'duplex'", { access: 'duplex' }, { access: 'duplex' }],
    ['maxInstances: 1', { maxInstances: 1 }],
    ['maxInstances: 254', { maxInstances: 254 }],
    ["maxInstances: 'unlimited'", { maxInstances: 'unlimited' }],
    ['pendingInstances: 1', { pendingInstances: 1 }],
    ['maxInstances: 2, pendingInstances: 2', { maxInstances: 2, pendingInstances: 2 }],
    ['inBufferSize: 0, outBufferSize: 0', { inBufferSize: 0, outBufferSize: 0 }],
    ['inBufferSize / outBufferSize: 1 MiB', { inBufferSize: 1 << 20, outBufferSize: 1 << 20 }],
    ["security: 'current-user'", { security: 'current-user' }],
    ["security: 'everyone'", { security: 'everyone' }],
    ['rejectRemoteClients: true', { rejectRemoteClients: true }],
    ['rejectRemoteClients: false', { rejectRemoteClients: false }],
    ['firstInstance: true', { firstInstance: true }],
    ['firstInstance: false', { firstInstance: false }],
    ['maxMessageSize: 1 (message mode, both sides)', { mode: 'message', maxMessageSize: 1 }, { mode: 'message', maxMessageSize: 1 }],
    ['connect connectTimeout: 0 and allowRemote: true on a local name', {}, { connectTimeout: 0, allowRemote: true }],
    ['maxInstances: 1, maxPendingClients: 0', { maxInstances: 1, maxPendingClients: 0 }],
    ['connect allowServerUids: [0, 1001]', {}, { allowServerUids: [0, 1001] }],
  ];
  it.each(accepted)('accepts %s, and a client can talk to it', async (_, options, connectOptions) => {
    const { name } = await serve(options, echo);
    const c = await client(name, connectOptions);
    expect(await roundTrip(c)).toBe('p');
  });

  it('security: { sddl } is Windows-only: a PipeError ERR_UNSUPPORTED_PLATFORM elsewhere, thrown by createServer', async () => {
    const options: CreateServerOptions = { security: { sddl: 'D:P(A;;GA;;;WD)' } };
    if (isWindows) {
      const { name } = await serve(options, echo);
      expect(await roundTrip(await client(name))).toBe('p');
      return;
    }
    const err = thrown(() => createServer(options));
    expect(isPipeError(err)).toBe(true);
    expect(err.code).toBe('ERR_UNSUPPORTED_PLATFORM');
  });

  const badServer: [string, unknown, typeof TypeError | typeof RangeError, string][] = [
    ['options null', null, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ['options a string', 'message', TypeError, 'ERR_INVALID_ARG_TYPE'],
    ["mode 'stream'", { mode: 'stream' }, TypeError, 'ERR_INVALID_ARG_VALUE'],
    ["access 'read' (a client value)", { access: 'read' }, TypeError, 'ERR_INVALID_ARG_VALUE'],
    ['maxInstances 0', { maxInstances: 0 }, RangeError, 'ERR_OUT_OF_RANGE'],
    ['maxInstances 255', { maxInstances: 255 }, RangeError, 'ERR_OUT_OF_RANGE'],
    ['maxInstances 1.5', { maxInstances: 1.5 }, RangeError, 'ERR_OUT_OF_RANGE'],
    ["maxInstances '4'", { maxInstances: '4' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ['pendingInstances 0', { pendingInstances: 0 }, RangeError, 'ERR_OUT_OF_RANGE'],
    ['pendingInstances above maxInstances', { maxInstances: 2, pendingInstances: 3 }, RangeError, 'ERR_OUT_OF_RANGE'],
    ['inBufferSize -1', { inBufferSize: -1 }, RangeError, 'ERR_OUT_OF_RANGE'],
    ['outBufferSize 2 GiB', { outBufferSize: 2 ** 31 }, RangeError, 'ERR_OUT_OF_RANGE'],
    ["security 'nobody'", { security: 'nobody' }, TypeError, 'ERR_INVALID_ARG_VALUE'],
    ['security { sddl: 1 }', { security: { sddl: 1 } }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ["security { sddl: '' }", { security: { sddl: '' } }, TypeError, 'ERR_INVALID_ARG_VALUE'],
    ["rejectRemoteClients 'yes'", { rejectRemoteClients: 'yes' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ['firstInstance 1', { firstInstance: 1 }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ['maxMessageSize 0', { maxMessageSize: 0 }, RangeError, 'ERR_OUT_OF_RANGE'],
    ['readAheadBytes 0', { readAheadBytes: 0 }, RangeError, 'ERR_OUT_OF_RANGE'],
    ["readAheadBytes '1M'", { readAheadBytes: '1M' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ['maxPendingClients -1', { maxPendingClients: -1 }, RangeError, 'ERR_OUT_OF_RANGE'],
    ['maxPendingClients 65537', { maxPendingClients: 65537 }, RangeError, 'ERR_OUT_OF_RANGE'],
    ["maxPendingClients '8'", { maxPendingClients: '8' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ["allowHalfOpen 'yes'", { allowHalfOpen: 'yes' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ];
  it.each(badServer)('createServer rejects %s synchronously', (_, options, type, code) => {
    const err = thrown(() => createServer(options as CreateServerOptions));
    expect(err).toBeInstanceOf(type);
    expect(err.code).toBe(code);
  });

  it('createServer rejects a connection listener that is not a function', () => {
    const err = thrown(() => createServer({}, 'listener' as never));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.code).toBe('ERR_INVALID_ARG_TYPE');
  });

  const badConnect: [string, unknown, typeof TypeError | typeof RangeError, string][] = [
    ['options null', null, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ['connectTimeout -1', { connectTimeout: -1 }, RangeError, 'ERR_OUT_OF_RANGE'],
    ['connectTimeout 1.5', { connectTimeout: 1.5 }, RangeError, 'ERR_OUT_OF_RANGE'],
    ["connectTimeout '10'", { connectTimeout: '10' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ['signal not an AbortSignal', { signal: {} }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ["mode 'stream'", { mode: 'stream' }, TypeError, 'ERR_INVALID_ARG_VALUE'],
    ["access 'inbound' (a server value)", { access: 'inbound' }, TypeError, 'ERR_INVALID_ARG_VALUE'],
    ['maxMessageSize 0', { maxMessageSize: 0 }, RangeError, 'ERR_OUT_OF_RANGE'],
    ['readAheadBytes 1.5', { readAheadBytes: 1.5 }, RangeError, 'ERR_OUT_OF_RANGE'],
    ["allowRemote 'no'", { allowRemote: 'no' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ['allowServerUids 1001 (not an array)', { allowServerUids: 1001 }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ['allowServerUids [-1]', { allowServerUids: [-1] }, RangeError, 'ERR_OUT_OF_RANGE'],
    ["allowServerUids ['1001']", { allowServerUids: ['1001'] }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ['allowHalfOpen 1', { allowHalfOpen: 1 }, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ];
  it.each(badConnect)('connect rejects %s synchronously, before any system call', (_, options, type, code) => {
    // The name is served by nobody: any system call would give ENOENT instead.
    const err = thrown(() => connect(uniqueName(), options as ConnectOptions));
    expect(err).toBeInstanceOf(type);
    expect(err.code).toBe(code);
  });
});

// --- names ---------------------------------------------------------------------------------------

describe('names', () => {
  const bad: [string, unknown, string][] = [
    ['an empty name', '', 'ERR_INVALID_ARG_VALUE'],
    ['a name with NUL', 'a\0b', 'ERR_INVALID_ARG_VALUE'],
    ['a 300-character name (over sun_path, and over 256 characters on Windows)', 'n'.repeat(300), 'ERR_INVALID_ARG_VALUE'],
    ['a number', 42, 'ERR_INVALID_ARG_TYPE'],
    ['undefined', undefined, 'ERR_INVALID_ARG_TYPE'],
  ];
  it.each(bad)('pipePath, listen and connect throw a TypeError for %s, synchronously', async (_, name, code) => {
    const server = createServer();
    servers.push(server);
    for (const call of [() => pipePath(name as string), () => server.listen(name as string), () => connect(name as string)]) {
      const err = thrown(call);
      expect(err).toBeInstanceOf(TypeError);
      expect(err.code).toBe(code);
    }
    // Nothing happened: the same server can still listen on a good name.
    expect(server.listening).toBe(false);
    await server.listen(uniqueName());
    expect(server.listening).toBe(true);
  });
});

// --- lifecycle -----------------------------------------------------------------------------------

describe('server lifecycle', () => {
  it.each(modes)('%s mode: a reader that stops at its last expected message still sees its connection close once the client leaves and the server ends', async (mode) => {
    const { server, name } = await serve({ mode });
    const closed: string[] = [];
    server.on('connection', (conn: PipeConnection) => {
      void (async () => {
        for await (const m of conn.messages()) {
          const text = m.toString();
          // 'close' is what frees the connection's slot (maxInstances) and, on Windows, its instance.
          conn.once('close', () => closed.push(text));
          conn.end('bye');
          return; // stop reading: the client's leaving is never read by this loop
        }
      })().catch(() => {});
    });
    for (const text of ['first', 'second']) {
      const c = await client(name, { mode });
      await c.writeMessage(Buffer.from(text));
      const answer = (await within(takeMessages(c, 10), BOUND, `${text} client reading to the end`)).map(String).join('');
      expect(answer).toBe('bye');
      c.end();
      await within(
        new Promise<void>((resolve) => {
          const check = (): void => (closed.includes(text) ? resolve() : void setTimeout(check, 10));
          check();
        }),
        BOUND,
        `the server side of the ${text} connection closing`,
      );
    }
    expect(closed).toEqual(['first', 'second']);
  });

  it('message mode: a message left unread when the client leaves is kept; the connection closes after it is read', async () => {
    const { server, name } = await serve({ mode: 'message' });
    const accepted = nextConnection(server);
    const c = await client(name, { mode: 'message' });
    const s = await accepted;
    await c.writeMessage(Buffer.from('one'));
    await c.writeMessage(Buffer.from('two'));
    const first = await takeMessages(s, 1);
    s.end();
    await within(takeMessages(c, 10), BOUND, 'the client reading to the end');
    const clientClosed = once(c, 'close');
    c.end();
    await within(clientClosed, BOUND, 'the client closing');
    // Give the server's end of stream time to arrive; the message must still be there after it.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const serverClosed = once(s, 'close');
    const rest = await within(takeMessages(s, 10), BOUND, 'the rest');
    expect([...first, ...rest].map(String)).toEqual(['one', 'two']);
    await within(serverClosed, BOUND, 'the server side closing after the last read');
  });

  it("emits 'listening' and 'close'; close() is idempotent and leaves live connections working", async () => {
    const { server, name } = await serve(undefined, echo);
    const events: string[] = [];
    server.on('close', () => events.push('close'));
    const c = await client(name);
    expect(await roundTrip(c, 'before')).toBe('before');
    await Promise.all([server.close(), server.close()]);
    await server.close();
    expect(events).toEqual(['close']);
    expect(server.listening).toBe(false);
    expect(await roundTrip(c, 'after close')).toBe('after close');
  });

  it('after close (and its last connection), the name is free: connect gives ENOENT and a new server can take it', async () => {
    const { server, name } = await serve(undefined, echo);
    const accepted = nextConnection(server);
    const c = await client(name);
    const s = await accepted;
    expect(await roundTrip(c)).toBe('p');
    // Both ends gone first: on Windows a live instance keeps the name in existence.
    const closed = Promise.all([once(c, 'close'), once(s, 'close')]);
    c.end();
    await within(closed, BOUND, 'both ends of the connection closing');
    await server.close();
    const err = await within(
      connect(name).then(
        () => null,
        (e: unknown) => e,
      ),
      BOUND,
      'connect after close',
    );
    expect(isPipeError(err)).toBe(true);
    expect((err as { code: string }).code).toBe('ENOENT');
    const { server: again } = await serve(undefined, echo, name);
    expect(again.address()).toBe(pipePath(name));
    expect(await roundTrip(await client(name), 'again')).toBe('again');
  });

  it('close() before listen() resolves, and await using closes a server', async () => {
    const idle = createServer();
    await idle.close();
    expect(idle.listening).toBe(false);
    const name = uniqueName();
    {
      const server = createServer(echo);
      await server.listen(name);
      await server[Symbol.asyncDispose]();
      expect(server.listening).toBe(false);
    }
    // The name is free again.
    const { server } = await serve(undefined, undefined, name);
    expect(server.listening).toBe(true);
  });

  it('listen() a second time rejects with ERR_SERVER_ALREADY_LISTEN (a rejection, not a throw)', async () => {
    const { server } = await serve();
    const second = server.listen(uniqueName());
    expect(second).toBeInstanceOf(Promise);
    await expect(second).rejects.toMatchObject({ code: 'ERR_SERVER_ALREADY_LISTEN' });
    expect(server.listening).toBe(true);
  });

  it('ref() and unref() return the server', async () => {
    const { server } = await serve();
    expect(server.unref()).toBe(server);
    expect(server.ref()).toBe(server);
  });

  it('listen on a name that is already served rejects with EADDRINUSE; the first server keeps working', async () => {
    const { name } = await serve(undefined, echo);
    const second = createServer();
    servers.push(second);
    const err = await second.listen(name).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isPipeError(err)).toBe(true);
    expect((err as { code: string }).code).toBe('EADDRINUSE');
    expect(second.listening).toBe(false);
    expect(await roundTrip(await client(name), 'first')).toBe('first');
  });

  it('for await over the server yields each connection', async () => {
    const { server, name } = await serve();
    const got = (async () => {
      for await (const conn of server) return conn;
      return undefined;
    })();
    const c = await client(name);
    const s = await within(got, BOUND, 'a connection from the iteration');
    expect(s?.mode).toBe('byte');
    s!.write('via iteration');
    expect((await readBytes(c, 13)).toString()).toBe('via iteration');
    // Leaving the loop does not close the server.
    expect(server.listening).toBe(true);
  });

  it('close() while an accept is pending ends the for-await loop and a pending next()', async () => {
    const { server } = await serve();
    const seen: PipeConnection[] = [];
    const loop = (async () => {
      for await (const conn of server) seen.push(conn);
    })();
    const it = server[Symbol.asyncIterator]();
    const pending = it.next();
    await new Promise((resolve) => setImmediate(resolve));
    await server.close();
    await within(loop, BOUND, 'for await over a closed server');
    expect(await within(pending, BOUND, 'a pending next() on a closed server')).toEqual({ done: true, value: undefined });
    expect(seen).toEqual([]);
    // A new iteration of a closed server ends at once.
    expect(await server[Symbol.asyncIterator]().next()).toMatchObject({ done: true });
  });

  it.each(modes)('%s mode, maxInstances: 1 serves one client at a time; the next is served once the first leaves', async (mode) => {
    let live = 0;
    let most = 0;
    const order: string[] = [];
    const { name } = await serve({ mode, maxInstances: 1 }, (conn) => {
      live++;
      most = Math.max(most, live);
      conn.once('close', () => live--);
      conn.on('data', (chunk: Buffer) => {
        order.push(chunk.toString());
        conn.write(chunk);
      });
      conn.on('end', () => conn.end());
    });
    const first = await client(name, { mode });
    expect(await roundTrip(first, 'A')).toBe('A');
    // Windows: this waits for a free instance. POSIX: it connects, and the server holds it.
    const second = connect(name, { mode, connectTimeout: 30_000 });
    setTimeout(() => first.destroy(), 100);
    const c2 = track(await within(second, BOUND, 'the second client connecting'));
    expect(await within(roundTrip(c2, 'B'), BOUND, 'the second client served')).toBe('B');
    expect(order).toEqual(['A', 'B']);
    expect(most).toBe(1);
  });
});

// --- connect -------------------------------------------------------------------------------------

describe('connect', () => {
  it('a name nobody serves rejects promptly with ENOENT, not after the timeout', async () => {
    const name = uniqueName();
    const err = await within(
      connect(name, { connectTimeout: 60_000 }).then(
        () => null,
        (e: unknown) => e,
      ),
      BOUND,
      'connect to an absent name',
    );
    expect(isPipeError(err)).toBe(true);
    expect(err).toMatchObject({ code: 'ENOENT', path: pipePath(name) });
    expect(typeof (err as { syscall: unknown }).syscall).toBe('string');
  });

  it('an already-aborted signal rejects with AbortError before any system call', async () => {
    const reason = new Error('stop');
    const err = await connect(uniqueName(), { signal: AbortSignal.abort(reason) }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    expect((err as { cause?: unknown }).cause).toBe(reason);
  });

  it('a signal that fires after the connection is made does not affect it', async () => {
    const { name } = await serve(undefined, echo);
    const ac = new AbortController();
    const c = await client(name, { signal: ac.signal });
    ac.abort();
    expect(await roundTrip(c, 'unaffected')).toBe('unaffected');
  });

  it('clientProcessId and serverProcessId are this process for an in-process pair, in both modes', async () => {
    for (const mode of modes) {
      const { server, name } = await serve({ mode });
      const accepted = nextConnection(server);
      const c = await client(name, { mode });
      const s = await accepted;
      expect(s.clientProcessId).toBe(process.pid);
      expect(c.serverProcessId).toBe(process.pid);
    }
  });

  it("clientProcessId is the pid of a child process that connects with Node's own net.connect", async () => {
    const seen: [number | undefined, number][] = [];
    const { server } = await serve(undefined, (conn) => {
      conn.once('data', (chunk: Buffer) => {
        seen.push([conn.clientProcessId, Number(chunk.toString())]);
        conn.end('bye');
      });
      conn.on('end', () => conn.end());
    });
    const child = spawnFixture('net-connect.mjs', [server.address()!], ['ignore', 'pipe', 'inherit']);
    const out = collect(child.stdout);
    expect(await within(exited(child), BOUND, 'the net.connect child')).toBe(0);
    expect(await out).toBe('bye');
    expect(seen).toEqual([[child.pid, child.pid]]);
  });
});

// --- interop -------------------------------------------------------------------------------------

describe('interop with Node net', () => {
  it("a byte-mode server accepts Node's own net.connect(server.address())", async () => {
    const { server } = await serve(undefined, echo);
    const socket = track(net.connect(server.address()!));
    await within(once(socket, 'connect'), BOUND, 'net.connect');
    const answer = readBytes(socket, 5);
    socket.write('hello');
    expect((await answer).toString()).toBe('hello');
  });

  it('connect() reaches a Node net.Server listening on pipePath(name)', async () => {
    const name = uniqueName();
    const path = pipePath(name);
    // POSIX: pipePath only names the private directory; a winpipe server would create it.
    if (!isWindows) mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const nodeServer = net.createServer((socket) => {
      socket.on('error', () => {});
      socket.pipe(socket);
    });
    netServers.push(nodeServer);
    await new Promise<void>((resolve, reject) => {
      nodeServer.once('error', reject);
      nodeServer.listen(path, resolve);
    });
    const c = await client(name);
    expect(c.path).toBe(path);
    expect(c.serverProcessId).toBe(process.pid);
    expect(await roundTrip(c, 'node server')).toBe('node server');
  });
});

// --- data ----------------------------------------------------------------------------------------

describe('byte mode', () => {
  it('echoes 1 MiB intact; writeMessage resolves once written', async () => {
    const { name } = await serve(undefined, echo);
    const c = await client(name);
    const data = seededBytes(1 << 20, 1);
    const answer = readBytes(c, data.length);
    await c.writeMessage(data);
    expect((await within(answer, BOUND, '1 MiB echo')).equals(data)).toBe(true);
  });

  it('end(): the server reads everything the client wrote, then end of stream', async () => {
    const { server, name } = await serve();
    const accepted = nextConnection(server);
    const c = await client(name);
    const s = await accepted;
    const all = readToEnd(s);
    const data = seededBytes(256 * 1024, 2);
    c.write(data.subarray(0, 1000));
    c.end(data.subarray(1000));
    expect((await within(all, BOUND, 'reading to end of stream')).equals(data)).toBe(true);
  });

  it("a connection's errors are PipeErrors: writing to a client that left emits EPIPE or ECONNRESET", async () => {
    const { server, name } = await serve();
    const accepted = nextConnection(server);
    const c = await client(name);
    const s = await accepted;
    c.destroy();
    const err = await within(
      new Promise<unknown>((resolve) => {
        s.on('error', resolve);
        const pump = (): void => {
          if (!s.destroyed) s.write(Buffer.alloc(64 * 1024), () => setImmediate(pump));
        };
        pump();
      }),
      BOUND,
      'a write error after the client left',
    );
    expect(isPipeError(err)).toBe(true);
    expect(['EPIPE', 'ECONNRESET']).toContain((err as { code: string }).code);
  });
});

describe('message mode', () => {
  it('keeps boundaries both ways, with a 0-byte and a 1 MiB message; messages() yields the empty ones', async () => {
    const atServer: Buffer[] = [];
    const { name } = await serve({ mode: 'message' }, (conn) => {
      void (async () => {
        for await (const m of conn.messages()) {
          atServer.push(m);
          await conn.writeMessage(m);
        }
        conn.end();
      })().catch(() => {});
    });
    const c = await client(name, { mode: 'message' });
    const big = seededBytes(1 << 20, 3);
    const sent = [Buffer.from('first'), Buffer.alloc(0), big, Buffer.from('x'), Buffer.alloc(0), Buffer.from('last')];
    // Read while writing: the echo of 1 MiB must drain for the later messages to go through.
    const answers = takeMessages(c, sent.length);
    for (const m of sent) await c.writeMessage(m);
    const got = await within(answers, BOUND, 'the echoed messages');
    expect(got.map((m) => m.length)).toEqual(sent.map((m) => m.length));
    got.forEach((m, i) => expect(m.equals(sent[i]!)).toBe(true));
    expect(atServer.map((m) => m.length)).toEqual(sent.map((m) => m.length));
  });

  it("each write() is one message; 'data' emits the non-empty ones, one per event", async () => {
    const { server, name } = await serve({ mode: 'message' });
    const accepted = nextConnection(server);
    const c = await client(name, { mode: 'message' });
    const s = await accepted;
    const got: string[] = [];
    s.on('data', (m: Buffer) => got.push(m.toString()));
    const ended = once(s, 'end');
    c.write(Buffer.from('ab'));
    c.write(Buffer.from('cd'));
    await c.writeMessage(Buffer.alloc(0));
    c.write('ef');
    await c.writeMessage(new Uint8Array(0));
    await c.writeMessage(new Uint8Array([0x67]));
    c.end();
    await within(ended, BOUND, "the server's end of stream");
    expect(got).toEqual(['ab', 'cd', 'ef', 'g']);
  });

  it('writes queued back to back (sent in batches) stay one message each, in order: empty, small and large ones mixed', async () => {
    const { server, name } = await serve({ mode: 'message' });
    const accepted = nextConnection(server);
    const c = await client(name, { mode: 'message' });
    const s = await accepted;
    // 3000 writes without waiting: the stream hands most of them to the transport together.
    const sent: Buffer[] = [];
    for (let i = 0; i < 3000; i++) {
      const size = i % 500 === 7 ? 70_000 + i : i % 13 === 0 ? 0 : 1 + (i % 300);
      // Each message filled with its own byte and stamped with its index: a shifted boundary shows.
      const m = Buffer.alloc(size, i & 0xff);
      if (size >= 4) m.writeUInt32LE(i, 0);
      sent.push(m);
    }
    const got: Buffer[] = [];
    const done = (async () => {
      for await (const m of s.messages()) got.push(m);
    })();
    for (const m of sent) c.write(m);
    c.end();
    await within(done, BOUND, 'every message at the server');
    expect(got.map((m) => m.length)).toEqual(sent.map((m) => m.length));
    expect(got.every((m, i) => m.equals(sent[i]!))).toBe(true);
  });

  it('end(): the server reads every message, then messages() ends', async () => {
    const { server, name } = await serve({ mode: 'message' });
    const accepted = nextConnection(server);
    const c = await client(name, { mode: 'message' });
    const s = await accepted;
    for (const m of ['one', '', 'three']) c.write(Buffer.from(m));
    c.end();
    const got: string[] = [];
    await within(
      (async () => {
        for await (const m of s.messages()) got.push(m.toString());
      })(),
      BOUND,
      'messages() to end of stream',
    );
    expect(got).toEqual(['one', '', 'three']);
  });

  it('a message above maxMessageSize fails with ERR_MESSAGE_TOO_LARGE; one at the limit passes (server side)', async () => {
    const { server, name } = await serve({ mode: 'message', maxMessageSize: 1024 });
    const accepted = nextConnection(server);
    const c = await client(name, { mode: 'message' });
    const s = await accepted;
    const it = s.messages();
    await c.writeMessage(Buffer.alloc(1024, 1));
    expect((await within(it.next(), BOUND, 'the message at the limit')).value?.length).toBe(1024);
    c.writeMessage(Buffer.alloc(1025, 2)).catch(() => {});
    const err = await within(
      it.next().then(
        () => null,
        (e: unknown) => e,
      ),
      BOUND,
      'the message over the limit',
    );
    expect(isPipeError(err)).toBe(true);
    expect((err as { code: string }).code).toBe('ERR_MESSAGE_TOO_LARGE');
  });

  it('read-ahead is bounded in bytes (readAheadBytes, default 1 MiB): a peer flooding unread messages is held back', async () => {
    const { server, name } = await serve({ mode: 'message' });
    const accepted = nextConnection(server);
    const c = await client(name, { mode: 'message' });
    const s = await accepted;
    const SIZE = 1024 * 1024;
    const N = 24;
    const sent = Array.from({ length: N }, (_, i) => seededBytes(SIZE, i + 1));
    let done = 0;
    const writes = sent.map((m) => c.writeMessage(m).then(() => void done++));
    // Nobody reads on the server: wait until the sender stops getting anywhere (a second without
    // progress), then count what the server took off it.
    let last = -1;
    for (let quiet = 0; quiet < 5; ) {
      await new Promise((r) => setTimeout(r, 200));
      if (done === last) quiet++;
      else [quiet, last] = [0, done];
    }
    // 1 MiB of whole messages waits unread, one more may be on its way in, and the OS buffers hold
    // less than another: the server holds about 2 MiB, not 16 messages (16 MiB) as it did.
    expect(done).toBeLessThanOrEqual(4);
    // Nothing is lost: reading now gets every message, in order.
    const it = s.messages();
    for (let i = 0; i < N; i++) {
      const r = await within(it.next(), BOUND, `message ${i}`);
      expect(r.value?.equals(sent[i]!)).toBe(true);
    }
    await within(Promise.all(writes), BOUND, 'every write');
  });

  it('readAheadBytes applies on the client side too, and a small bound still delivers messages larger than it', async () => {
    const { server, name } = await serve({ mode: 'message' });
    const accepted = nextConnection(server);
    const c = await client(name, { mode: 'message', readAheadBytes: 1 });
    const s = await accepted;
    const SIZE = 256 * 1024;
    const sent = Array.from({ length: 16 }, (_, i) => seededBytes(SIZE, i + 7));
    let done = 0;
    const writes = sent.map((m) => s.writeMessage(m).then(() => void done++));
    let last = -1;
    for (let quiet = 0; quiet < 5; ) {
      await new Promise((r) => setTimeout(r, 200));
      if (done === last) quiet++;
      else [quiet, last] = [0, done];
    }
    // One whole message read ahead, one on its way, the OS buffers: far from all 16.
    expect(done).toBeLessThanOrEqual(6);
    const got: Buffer[] = [];
    c.on('data', (m: Buffer) => got.push(m));
    await within(Promise.all(writes), BOUND, 'every write');
    await within(
      (async () => {
        while (got.length < sent.length) await new Promise((r) => setTimeout(r, 20));
      })(),
      BOUND,
      'every message',
    );
    expect(got.every((m, i) => m.equals(sent[i]!))).toBe(true);
  });

  it('maxMessageSize applies on the client side too', async () => {
    const { server, name } = await serve({ mode: 'message' });
    const accepted = nextConnection(server);
    const c = await client(name, { mode: 'message', maxMessageSize: 16 });
    const s = await accepted;
    const it = c.messages();
    await s.writeMessage(Buffer.alloc(16));
    expect((await within(it.next(), BOUND, 'the message at the limit')).value?.length).toBe(16);
    s.writeMessage(Buffer.alloc(17)).catch(() => {});
    const err = await within(
      it.next().then(
        () => null,
        (e: unknown) => e,
      ),
      BOUND,
      'the message over the limit',
    );
    expect((err as { code: string }).code).toBe('ERR_MESSAGE_TOO_LARGE');
  });

  it('200 clients × 50 messages to one server: nothing lost, duplicated or reordered per client', async () => {
    const CLIENTS = 200;
    const MESSAGES = 50;
    const atServer = new Map<number, number[]>();
    const { name } = await serve({ mode: 'message' }, (conn) => {
      void (async () => {
        for await (const m of conn.messages()) {
          const [who, seq] = m.toString().split(':').map(Number) as [number, number];
          let list = atServer.get(who);
          if (!list) atServer.set(who, (list = []));
          list.push(seq);
          await conn.writeMessage(m);
        }
        conn.end();
      })().catch(() => {});
    });
    await within(
      Promise.all(
        Array.from({ length: CLIENTS }, async (_, who) => {
          const c = await client(name, { mode: 'message', connectTimeout: 60_000 });
          const answers = takeMessages(c, MESSAGES);
          for (let seq = 0; seq < MESSAGES; seq++) await c.writeMessage(Buffer.from(`${who}:${seq}`));
          const got = (await answers).map((m) => m.toString());
          expect(got).toEqual(Array.from({ length: MESSAGES }, (_, seq) => `${who}:${seq}`));
          c.end();
        }),
      ),
      120_000,
      '200 clients × 50 messages',
    );
    expect(atServer.size).toBe(CLIENTS);
    const expected = Array.from({ length: MESSAGES }, (_, seq) => seq);
    for (const list of atServer.values()) expect(list).toEqual(expected);
  });
});

describe.each(modes)('%s mode: close and disconnect', (mode: Mode) => {
  it('destroying a connection settles a read pending on it, and the peer sees end of stream', async () => {
    const { server, name } = await serve({ mode });
    const accepted = nextConnection(server);
    const c = await client(name, { mode });
    const s = await accepted;
    const serverRead = s.messages().next();
    const clientRead = c.messages().next();
    s.destroy();
    await within(
      serverRead.then(
        () => 'resolved',
        () => 'rejected',
      ),
      BOUND,
      'a read pending on a destroyed connection',
    );
    expect(await within(clientRead, BOUND, "the peer's pending read")).toMatchObject({ done: true });
  });

  it("when the client leaves, the server side sees 'end', then 'close' once it ends its side", async () => {
    const { server, name } = await serve({ mode });
    const accepted = nextConnection(server);
    const c = await client(name, { mode });
    const s = await accepted;
    const ended = once(s, 'end');
    const closed = once(s, 'close');
    s.resume();
    c.destroy();
    await within(ended, BOUND, "the server's 'end'");
    s.end();
    await within(closed, BOUND, "the server's 'close'");
  });

  it("when the server side leaves, the client sees 'end', then 'close' once it ends its side", async () => {
    const { server, name } = await serve({ mode });
    const accepted = nextConnection(server);
    const c = await client(name, { mode });
    const s = await accepted;
    const ended = once(c, 'end');
    const closed = once(c, 'close');
    c.resume();
    s.destroy();
    await within(ended, BOUND, "the client's 'end'");
    c.end();
    await within(closed, BOUND, "the client's 'close'");
  });

  it("access 'inbound': clients only write (client access 'write'); the server side is not writable", async () => {
    const { server, name } = await serve({ mode, access: 'inbound' });
    const accepted = nextConnection(server);
    const c = await client(name, { mode, access: 'write' });
    const s = await accepted;
    expect(s.writable).toBe(false);
    const got = mode === 'message' ? takeMessages(s, 1).then((m) => m[0]!) : readBytes(s, 2);
    c.write(Buffer.from('up'));
    expect((await within(got, BOUND, 'the inbound data')).toString()).toBe('up');
  });

  it("access 'outbound': clients only read (client access 'read'); the client side is not writable", async () => {
    const { server, name } = await serve({ mode, access: 'outbound' });
    const accepted = nextConnection(server);
    const c = await client(name, { mode, access: 'read' });
    const s = await accepted;
    expect(c.writable).toBe(false);
    const got = mode === 'message' ? takeMessages(c, 1).then((m) => m[0]!) : readBytes(c, 4);
    s.write(Buffer.from('down'));
    expect((await within(got, BOUND, 'the outbound data')).toString()).toBe('down');
  });
});

describe.each(modes)('%s mode: allowHalfOpen', (mode: Mode) => {
  it("default false, as net: when the client leaves, the server side emits 'end' and then 'close' without calling end()", async () => {
    const { server, name } = await serve({ mode });
    const accepted = nextConnection(server);
    const c = await client(name, { mode });
    const s = await accepted;
    const ended = once(s, 'end');
    const closed = once(s, 'close');
    s.resume();
    c.end();
    await within(ended, BOUND, "the server's 'end'");
    await within(closed, BOUND, "the server's 'close', with no end() of ours");
    expect(s.writable).toBe(false);
  });

  it("default false on the client too: when the server ends, the client emits 'close' without calling end()", async () => {
    const { server, name } = await serve({ mode });
    const accepted = nextConnection(server);
    const c = await client(name, { mode });
    const s = await accepted;
    const closed = once(c, 'close');
    c.resume();
    s.end();
    await within(closed, BOUND, "the client's 'close', with no end() of its own");
  });

  // Windows named pipes have no half-close: a plain end() flushes and closes the handle, so no reply
  // can follow it (docs: docs/named-pipes.md "End of stream and half-close"; halfClose: 'zero-message' is the way).
  it.skipIf(isWindows)('true: after the client ends, the server is still writable and its reply reaches the client; close follows its own end() (not Windows: pipes have no half-close)', async () => {
    const { server, name } = await serve({ mode, allowHalfOpen: true });
    const accepted = nextConnection(server);
    const c = await client(name, { mode, allowHalfOpen: true });
    const s = await accepted;
    let closedEarly = false;
    s.once('close', () => (closedEarly = true));
    s.resume();
    const ended = once(s, 'end');
    c.end();
    await within(ended, BOUND, "the server's 'end'");
    // A turn later: a non-half-open stream would have ended its side by now.
    await new Promise((r) => setImmediate(r));
    expect(closedEarly).toBe(false);
    expect(s.writable).toBe(true);
    const reply = mode === 'message' ? takeMessages(c, 1).then((m) => m[0]!) : readToEnd(c);
    const closed = once(s, 'close');
    s.end(Buffer.from('late reply'));
    expect((await within(reply, BOUND, 'the reply after the client ended')).toString()).toBe('late reply');
    await within(closed, BOUND, "the server's 'close' after its own end()");
  });
});

describe.each(modes)('%s mode: peer identity', (mode: Mode) => {
  it('server side peer is the client, client side peer is the server: this process, with its user', async () => {
    const { server, name } = await serve({ mode });
    const accepted = nextConnection(server);
    const c = await client(name, { mode });
    const s = await accepted;
    for (const peer of [s.peer, c.peer]) {
      expect(peer.pid).toBe(process.pid);
      if (isWindows) {
        expect(peer.sid).toMatch(/^S-1-\d+(-\d+)+$/);
        expect(typeof peer.user).toBe('string');
        expect(peer.user!.length).toBeGreaterThan(0);
        expect(Number.isInteger(peer.sessionId)).toBe(true);
        expect(peer.uid).toBeUndefined();
      } else {
        expect(peer.uid).toBe(process.geteuid!());
        expect(peer.gid).toBe(process.getegid!());
        expect(peer.sid).toBeUndefined();
      }
    }
    // Both ends ran as the same user in the same session.
    expect(c.peer.sid).toBe(s.peer.sid);
    expect(c.peer.sessionId).toBe(s.peer.sessionId);
    // The same facts as the older fields, from the same call.
    expect(s.peer.pid).toBe(s.clientProcessId);
    expect(c.peer.pid).toBe(c.serverProcessId);
    if (!isWindows) expect([c.peer.uid, c.peer.gid]).toEqual([c.peerUid, c.peerGid]);
  });
});

describe('peer identity of another process', () => {
  it("a child connecting with Node's net.connect: the server's peer is the child (its pid), with our user", async () => {
    const peers: PipeConnection['peer'][] = [];
    const { server } = await serve(undefined, (conn) => {
      peers.push(conn.peer);
      conn.once('data', () => conn.end('bye'));
    });
    const child = spawnFixture('net-connect.mjs', [server.address()!], ['ignore', 'pipe', 'inherit']);
    const out = collect(child.stdout);
    expect(await within(exited(child), BOUND, 'the net.connect child')).toBe(0);
    expect(await out).toBe('bye');
    expect(peers).toHaveLength(1);
    expect(peers[0]!.pid).toBe(child.pid);
    if (isWindows) expect(peers[0]!.sid).toMatch(/^S-1-/);
    else expect(peers[0]!.uid).toBe(process.geteuid!());
  });
});
