// Contract tests for connect's options (connectTimeout, wait, the deprecated timeout) and
// pipeExists (src/index.ts): the same file runs natively (POSIX: Unix sockets) and under Wine
// (Windows: CreateNamedPipeW / WaitNamedPipeW).
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, createServer, pipeExists, type PipeConnection, type PipeServer } from '../src/index.js';
import { uniqueName } from './helpers/index.js';

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
function serve(options: Parameters<typeof createServer>[0] = {}): PipeServer {
  const s = createServer(options);
  servers.push(s);
  return s;
}
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('connect: wait', () => {
  it('with wait, a client started before its server connects once the server listens', async () => {
    const name = uniqueName('wait-late');
    const server = serve();
    const accepted = once(server, 'connection') as Promise<[PipeConnection]>;
    const connecting = connect(name, { wait: true, connectTimeout: 15_000 });
    let settled = false;
    void connecting.then(
      () => (settled = true),
      () => (settled = true),
    );
    await sleep(300);
    expect(settled).toBe(false); // still polling: nobody serves yet
    await server.listen(name);
    const conn = track(await connecting);
    const [serverSide] = await accepted;
    track(serverSide);
    conn.write('hi');
    const [chunk] = (await once(serverSide, 'data')) as [Buffer];
    expect(chunk.toString()).toBe('hi');
  });

  it('without wait, a name nobody serves still rejects at once with ENOENT', async () => {
    await expect(connect(uniqueName('wait-no'), { connectTimeout: 10_000 })).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('with wait and nobody serving, connect rejects with ETIMEDOUT after connectTimeout', async () => {
    const started = Date.now();
    await expect(connect(uniqueName('wait-nobody'), { wait: true, connectTimeout: 300 })).rejects.toMatchObject({ code: 'ETIMEDOUT', syscall: 'connect' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });

  it('an abort while waiting rejects with AbortError; an already-aborted signal rejects before polling', async () => {
    const ac = new AbortController();
    const p = connect(uniqueName('wait-abort'), { wait: true, connectTimeout: 30_000, signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    await expect(p).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    await expect(connect(uniqueName('wait-abort2'), { wait: true, signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('bad wait / connectTimeout values throw synchronously with Node codes', () => {
    const name = uniqueName('wait-bad');
    expect(() => connect(name, { wait: 'yes' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => connect(name, { connectTimeout: -1 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => connect(name, { connectTimeout: 1.5 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  });
});

describe('connect: the deprecated timeout option', () => {
  it('still works as connectTimeout, warns once per process (WINPIPE_DEP_CONNECT_TIMEOUT), and connectTimeout wins', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      const name = uniqueName('dep-timeout');
      // connectTimeout wins: the alias' value is validated but not used.
      const t0 = Date.now();
      await expect(connect(name, { timeout: 10, connectTimeout: 300, wait: true })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
      const started = Date.now();
      await expect(connect(name, { timeout: 200, wait: true })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
      expect(Date.now() - started).toBeGreaterThanOrEqual(150);
      await sleep(20); // warnings are emitted on the next tick
      const ours = warnings.filter((w) => (w as { code?: string }).code === 'WINPIPE_DEP_CONNECT_TIMEOUT');
      expect(ours).toHaveLength(1);
      expect(ours[0]!.name).toBe('DeprecationWarning');
      // The alias is validated as connectTimeout is (these are the only other uses of it in the
      // suite: a test that does not assert the warning uses connectTimeout).
      expect(() => connect(name, { timeout: -1 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
      expect(() => connect(name, { timeout: 1.5 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
      expect(() => connect(name, { timeout: '10' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('pipeExists', () => {
  it('is false for a name nobody serves, true while a server listens, false after close', async () => {
    const name = uniqueName('exists');
    expect(await pipeExists(name)).toBe(false);
    const server = serve();
    await server.listen(name);
    expect(await pipeExists(name)).toBe(true);
    await server.close();
    expect(await pipeExists(name)).toBe(false);
  });

  it('does not connect: the server sees no connection, and with one instance a real client still gets it', async () => {
    const name = uniqueName('exists-noconn');
    const server = serve({ maxInstances: 1 });
    let connections = 0;
    server.on('connection', (c: PipeConnection) => {
      connections++;
      track(c);
    });
    await server.listen(name);
    for (let i = 0; i < 5; i++) expect(await pipeExists(name)).toBe(true);
    await sleep(200);
    expect(connections).toBe(0);
    // Had a probe taken the only instance, this would wait and time out.
    const conn = track(await connect(name, { connectTimeout: 2000 }));
    await sleep(100);
    expect(connections).toBe(1);
    // Every instance busy: the name still exists.
    expect(await pipeExists(name)).toBe(true);
    conn.destroy();
  });

  it('a bad name throws synchronously, as pipePath does', () => {
    expect(() => pipeExists('' as string)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => pipeExists(42 as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });
});
