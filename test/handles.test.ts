// Handle channels (src/handles.ts): an end sent to another process is read and written there; the
// sender's end stays its own; an end sent and never taken is closed; bad input gets a typed error
// before any system call; what arrives malformed is closed (POSIX); nothing leaks.
import { closeSync, openSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connectHandleChannel, createHandleServer, createPipe, HandleChannel, PipeReader, PipeWriter, type HandleServer } from '../src/index.js';
import { trySend } from '../src/posix/handles.js';
import { WindowsHandleCore, openPeerProcess } from '../src/windows/handles.js';
import * as k32 from '../src/windows/kernel32.js';
import { connect, createServer, type MessagePipeConnection } from '../src/index.js';
import { socketFd } from '../src/posix/socket.js';
import { bundle } from './helpers/bundle.js';
import { codeOf, collect, exited, fixturesDir, isWindows, processHandleCount, readAll, spawnFixture, syncCode, trackedPipes, uniqueName, within } from './helpers/index.js';

const pipe = trackedPipes();
const servers: HandleServer[] = [];
const channels: HandleChannel[] = [];

afterEach(async () => {
  for (const c of channels.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.close();
});

/** A listening handle server; its channels are handed to `onChannel` and closed after the test. */
async function serve(onChannel: (c: HandleChannel) => void = () => {}): Promise<{ name: string; server: HandleServer }> {
  const name = uniqueName('wp-handles');
  const server = createHandleServer((c) => {
    channels.push(c);
    onChannel(c);
  });
  servers.push(server);
  await server.listen(name);
  return { name, server };
}

/** A connected pair in this process: [server side, client side]. */
async function pair(): Promise<[HandleChannel, HandleChannel]> {
  let accepted!: (c: HandleChannel) => void;
  const got = new Promise<HandleChannel>((resolve) => (accepted = resolve));
  const { name } = await serve((c) => accepted(c));
  const client = await connectHandleChannel(name);
  channels.push(client);
  return [await within(got, 10_000, 'accept'), client];
}

/** Linux: how many descriptors this process has open. */
function fdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

describe('an end sent to another process is read and written there', () => {
  it('the server sends a reader and a writer; the child reads one and writes the other', async () => {
    const bundled = await bundle('index.ts');
    const toChild = pipe();
    const fromChild = pipe();
    let child!: ReturnType<typeof spawnFixture>;
    const sent = new Promise<void>((resolve, reject) => {
      void serve((c) => {
        (async () => {
          await c.sendEnd(toChild.reader);
          await c.sendEnd(fromChild.writer);
          // The child has its own copies: ours go, so each side sees the other's end of file.
          toChild.reader.close();
          fromChild.writer.close();
        })().then(resolve, reject);
      }).then(({ name }) => {
        child = spawnFixture('handle-channel-child.mjs', [bundled, name, 'echo'], ['ignore', 'ignore', 'pipe']);
      }, reject);
    });
    await within(sent, 30_000, 'sending the ends');
    await toChild.writer.write('ping');
    toChild.writer.close();
    const [data, err] = await within(Promise.all([readAll(fromChild.reader), collect(child.stderr)]), 60_000, 'the child');
    expect(await exited(child), err).toBe(0);
    expect(data.toString()).toBe('got:ping');
  });

  it('the child sends a writer; the server writes through it and the child reads it', async () => {
    const bundled = await bundle('index.ts');
    const received = new Promise<PipeReader | PipeWriter | null>((resolve, reject) => {
      void serve((c) => void c.receiveEnd().then(resolve, reject)).then(({ name }) => {
        child = spawnFixture('handle-channel-child.mjs', [bundled, name, 'send'], ['ignore', 'pipe', 'pipe']);
        out = collect(child.stdout);
        err = collect(child.stderr);
      }, reject);
    });
    let child!: ReturnType<typeof spawnFixture>;
    let out!: Promise<string>;
    let err!: Promise<string>;
    const end = await within(received, 30_000, 'receiving the end');
    expect(end).toBeInstanceOf(PipeWriter);
    expect(end!.inheritable).toBe(false);
    await (end as PipeWriter).write('hello from the server');
    end!.close();
    expect(await within(exited(child), 60_000, 'the child'), await err).toBe(0);
    expect(await out).toBe('hello from the server');
  });
});

describe('sending and receiving in one process', () => {
  it('a reader arrives as a reader, a writer as a writer, in order; the sender keeps its own', async () => {
    const [server, client] = await pair();
    const p = pipe();
    // Not awaited before the receives: on Windows a send resolves once the peer has taken the end.
    const sent = Promise.all([client.sendEnd(p.writer), client.sendEnd(p.reader)]);
    const w = await server.receiveEnd();
    const r = await server.receiveEnd();
    await within(sent, 10_000, 'the sends');
    expect(p.writer.closed).toBe(false);
    expect(p.reader.closed).toBe(false);
    expect(w).toBeInstanceOf(PipeWriter);
    expect(r).toBeInstanceOf(PipeReader);
    expect(w!.inheritable).toBe(false);
    expect(r!.inheritable).toBe(false);
    // One reader at a time: both read the one pipe, and a reading stream may read ahead.
    await p.writer.write('into the original');
    expect((await (r as PipeReader).read()).toString()).toBe('into the original');
    r!.close();
    await (w as PipeWriter).write('through the copy');
    expect((await p.reader.read()).toString()).toBe('through the copy');
    w!.close();
  });

  it('receiveEnd resolves null once the peer closed; a pending one rejects ERR_PIPE_CLOSED on close()', async () => {
    const [server, client] = await pair();
    const pending = server.receiveEnd();
    client.close();
    expect(await within(pending, 10_000, 'the receive')).toBeNull();
    const [server2] = await pair();
    const waiting = server2.receiveEnd();
    server2.close();
    expect(await codeOf(waiting)).toBe('ERR_PIPE_CLOSED');
    server2.close(); // idempotent
    expect(server2.closed).toBe(true);
  });

  it('an aborted receive rejects with AbortError and takes nothing: the next receive gets the end', async () => {
    const [server, client] = await pair();
    const ac = new AbortController();
    const aborted = server.receiveEnd({ signal: ac.signal });
    ac.abort();
    expect(await codeOf(aborted)).toBe('ABORT_ERR');
    const p = pipe();
    const sent = client.sendEnd(p.writer);
    const w = await within(server.receiveEnd(), 10_000, 'the receive');
    await sent;
    expect(w).toBeInstanceOf(PipeWriter);
    w!.close();
  });

  it('an end sent and never received is closed when the receiver closes the channel', async () => {
    const [server, client] = await pair();
    const p = pipe();
    const sent = client.sendEnd(p.writer);
    const sentCode = codeOf(sent);
    // POSIX: in the socket once sendmsg returned; Windows: announced, waiting for `taken`.
    if (!isWindows) await sent;
    else await new Promise((r) => setTimeout(r, 200));
    p.writer.close();
    server.close();
    // The only writer left was the duplicate in flight: once it is closed the reader sees end of file.
    expect((await within(p.reader.read(), 10_000, 'end of file')).length).toBe(0);
    expect(await sentCode).toBe(isWindows ? 'EPIPE' : 'resolved');
  });

  it('a send to a peer that is gone fails and leaves the end open and usable', async () => {
    const [server, client] = await pair();
    server.close();
    const p = pipe();
    // The peer's close is seen by the first send that touches the socket (POSIX) or the pipe (Windows).
    let code: unknown;
    for (let i = 0; i < 50 && code === undefined; i++) {
      code = await client.sendEnd(p.writer).then(
        () => new Promise((r) => setTimeout(() => r(undefined), 20)),
        (err: { code?: unknown }) => err.code,
      );
    }
    expect(['EPIPE', 'ECONNRESET']).toContain(code);
    expect(p.writer.closed).toBe(false);
    p.writer.writeSync('still ours');
    const buf = Buffer.alloc(10);
    expect(p.reader.readSync(buf)).toBe(10);
  });
});

describe('bad input gets a typed error before any system call', () => {
  it('sendEnd, receiveEnd, createHandleServer, connectHandleChannel', async () => {
    const [, client] = await pair();
    const p = pipe();
    expect(syncCode(() => client.sendEnd(3 as never))).toBe('ERR_INVALID_ARG_TYPE');
    expect(syncCode(() => client.sendEnd({ fd: 3 } as never))).toBe('ERR_INVALID_ARG_TYPE');
    expect(syncCode(() => client.sendEnd(p.writer, 'x' as never))).toBe('ERR_INVALID_ARG_TYPE');
    expect(syncCode(() => client.sendEnd(p.writer, { signal: 'x' } as never))).toBe('ERR_INVALID_ARG_TYPE');
    expect(syncCode(() => client.receiveEnd({ signal: 1 } as never))).toBe('ERR_INVALID_ARG_TYPE');
    const closed = createPipe();
    closed.reader.close();
    closed.writer.close();
    expect(syncCode(() => client.sendEnd(closed.writer))).toBe('ERR_PIPE_CLOSED');
    expect(syncCode(() => createHandleServer('x' as never))).toBe('ERR_INVALID_ARG_TYPE');
    expect(syncCode(() => connectHandleChannel(uniqueName(), { mode: 'byte' } as never))).toBe('ERR_INVALID_ARG_TYPE');
    expect(syncCode(() => connectHandleChannel(42 as never))).toBe('ERR_INVALID_ARG_TYPE');
    client.close();
    expect(syncCode(() => client.sendEnd(p.writer))).toBe('ERR_PIPE_CLOSED');
    expect(await codeOf(client.receiveEnd())).toBe('ERR_PIPE_CLOSED');
  });
});

describe.runIf(!isWindows)('POSIX: what arrives malformed is closed, and fails that receive', () => {
  it.runIf(process.platform === 'linux')('two or three descriptors with one end (three: MSG_CTRUNC): EPROTO, all closed; a file: EINVAL, closed; the channel goes on', async () => {
    let accepted!: (c: HandleChannel) => void;
    const got = new Promise<HandleChannel>((resolve) => (accepted = resolve));
    const { name } = await serve((c) => accepted(c));
    // A plain connection as the sender: its socket is written here with sendmsg, as a foreign peer would.
    const raw = await connect(name);
    const server = await within(got, 10_000, 'accept');
    try {
      const sock = socketFd(raw)!;
      const a = pipe();
      const before = fdCount();
      // Two fit the room kept for one (CMSG_SPACE pads to 8 bytes); three do not: MSG_CTRUNC.
      for (const fds of [
        [a.reader.fd, a.writer.fd],
        [a.reader.fd, a.writer.fd, a.reader.fd],
      ]) {
        expect(trySend(sock, fds, 0x72)).toBe(true);
        expect(await codeOf(within(server.receiveEnd(), 10_000, 'the receive'))).toBe('EPROTO');
        expect(fdCount()).toBe(before);
      }
      const file = openSync(join(fixturesDir, 'handle-channel-child.mjs'), 'r');
      try {
        expect(trySend(sock, [file], 0x72)).toBe(true);
        expect(await codeOf(within(server.receiveEnd(), 10_000, 'the receive'))).toBe('EINVAL');
        expect(fdCount()).toBe(before + 1);
      } finally {
        closeSync(file);
      }
      expect(trySend(sock, [a.writer.fd], 0x77)).toBe(true);
      const w = await within(server.receiveEnd(), 10_000, 'the receive');
      expect(w).toBeInstanceOf(PipeWriter);
      w!.close();
    } finally {
      raw.destroy();
    }
  });
});

describe('nothing leaks', () => {
  /** Linux: open descriptors; Windows: the process's handles (under Wine counted with GetHandleInformation: test/helpers). */
  async function count(): Promise<number> {
    await new Promise((r) => setTimeout(r, 50));
    return isWindows ? processHandleCount()! : fdCount();
  }
  // Windows: the handle count moves by a few on its own (thread-pool threads); a leak here is +100 or more.
  const slack = isWindows ? 32 : 0;
  const runs = isWindows || process.platform === 'linux';
  const why = runs ? '' : ' (Linux and Windows only: counts /proc/self/fd or the process handles)';

  it.runIf(runs)(`100 ends sent, received and closed, and 100 sent and never received, leave the open handle count as it was${why}`, async () => {
    // One round first: the first channel loads libraries and makes process-wide buffers.
    const [s0, c0] = await pair();
    s0.close();
    c0.close();
    const before = await count();
    for (const take of [true, false]) {
      const [server, client] = await pair();
      const sends: Promise<void>[] = [];
      for (let i = 0; i < 50; i++) {
        const p = createPipe();
        sends.push(client.sendEnd(p.writer), client.sendEnd(p.reader));
        if (!isWindows) await Promise.all(sends.slice(-2));
        if (take) {
          (await server.receiveEnd())!.close();
          (await server.receiveEnd())!.close();
          await Promise.all(sends.slice(-2));
        }
        p.reader.close();
        p.writer.close();
      }
      if (!take && isWindows) await new Promise((r) => setTimeout(r, 200));
      server.close();
      const results = await Promise.allSettled(sends);
      if (!take && isWindows) expect(results.every((r) => r.status === 'rejected' && (r.reason as { code?: unknown }).code === 'EPIPE')).toBe(true);
      client.close();
      for (const srv of servers.splice(0)) await srv.close();
      channels.length = 0;
    }
    expect(await count()).toBeLessThanOrEqual(before + slack);
  });
});

describe.runIf(isWindows)('Windows: the peer process', () => {
  it('without PROCESS_DUP_HANDLE on the peer process, sendEnd rejects EACCES and the end stays open', async () => {
    const name = uniqueName('wp-handles-acc');
    let accepted!: (c: MessagePipeConnection) => void;
    const got = new Promise<MessagePipeConnection>((resolve) => (accepted = resolve));
    const server = createServer({ mode: 'message' }, (c) => accepted(c));
    await server.listen(name);
    try {
      const conn = await connect(name, { mode: 'message' });
      const peer = await got;
      // Opened as a target without the right to duplicate into it.
      const channel = new HandleChannel(new WindowsHandleCore(conn, process.pid, openPeerProcess(process.pid, k32.PROCESS_QUERY_LIMITED_INFORMATION)));
      channels.push(channel);
      const p = pipe();
      expect(await codeOf(channel.sendEnd(p.writer))).toBe('EACCES');
      expect(p.writer.closed).toBe(false);
      p.writer.writeSync('x');
      peer.destroy();
    } finally {
      await server.close();
    }
  });

  it('a peer whose pid is not known is no target: sendEnd rejects ESRCH', async () => {
    const name = uniqueName('wp-handles-pid');
    let accepted!: (c: MessagePipeConnection) => void;
    const got = new Promise<MessagePipeConnection>((resolve) => (accepted = resolve));
    const server = createServer({ mode: 'message' }, (c) => accepted(c));
    await server.listen(name);
    try {
      const conn = await connect(name, { mode: 'message' });
      const peer = await got;
      const channel = new HandleChannel(new WindowsHandleCore(conn, undefined, openPeerProcess(undefined)));
      channels.push(channel);
      const p = pipe();
      expect(await codeOf(channel.sendEnd(p.writer))).toBe('ESRCH');
      peer.destroy();
    } finally {
      await server.close();
    }
  });
});
