// Contract tests for PipeServer.listen's forms (src/server.ts): listen(name, cb) and
// listen({ path | name, signal }), as net.Server's. Runs natively and under Wine.
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, createServer, pipePath, type PipeServer } from '../src/index.js';
import { uniqueName } from './helpers/index.js';

const servers: PipeServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});
function serve(): PipeServer {
  const s = createServer((c) => c.on('error', () => {}).end());
  servers.push(s);
  return s;
}

describe('listen(name, callback)', () => {
  it('calls the callback once listening, with the server as this; clients can connect by then', async () => {
    const server = serve();
    const name = uniqueName('listen-cb');
    const called = new Promise<unknown>((resolve) => {
      void server.listen(name, function (this: unknown) {
        resolve(this);
      });
    });
    expect(await called).toBe(server);
    expect(server.listening).toBe(true);
    const conn = await connect(name);
    conn.on('error', () => {});
    conn.destroy();
  });

  it("with a callback, a failure is emitted as 'error' (and the promise still rejects); the callback is not called", async () => {
    const name = uniqueName('listen-cb-fail');
    const first = serve();
    await first.listen(name);
    const second = serve();
    let called = false;
    const errored = once(second, 'error') as Promise<[NodeJS.ErrnoException]>;
    const p = second.listen(name, () => (called = true));
    await expect(p).rejects.toMatchObject({ code: 'EADDRINUSE' });
    const [err] = await errored;
    expect(err.code).toBe('EADDRINUSE');
    expect(called).toBe(false);
  });

  it('a callback that is not a function throws ERR_INVALID_ARG_TYPE before listening', () => {
    const server = serve();
    expect(() => server.listen(uniqueName('listen-badcb'), 42 as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(server.listening).toBe(false);
  });
});

describe('listen({ path | name, signal })', () => {
  it('listen({ path }) and listen({ name }) serve what listen(name) would', async () => {
    const a = serve();
    const nameA = uniqueName('listen-path');
    await a.listen({ path: nameA });
    expect(a.address()).toBe(pipePath(nameA));
    const b = serve();
    const nameB = uniqueName('listen-name');
    await b.listen({ name: nameB });
    expect(b.address()).toBe(pipePath(nameB));
    const conn = await connect(nameB);
    conn.on('error', () => {});
    conn.destroy();
  });

  it('aborting the signal closes the server, as net does: close is emitted and the name is free', async () => {
    const server = serve();
    const name = uniqueName('listen-abort');
    const ac = new AbortController();
    await server.listen({ name, signal: ac.signal });
    const closed = once(server, 'close');
    ac.abort();
    await closed;
    expect(server.listening).toBe(false);
    await expect(connect(name)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('an already-aborted signal rejects with AbortError and serves nothing', async () => {
    const server = serve();
    const name = uniqueName('listen-aborted');
    await expect(server.listen({ name, signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    expect(server.listening).toBe(false);
    await expect(connect(name)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('bad options throw synchronously with Node codes', () => {
    const server = serve();
    expect(() => server.listen({} as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => server.listen({ path: 'a', name: 'b' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => server.listen({ name: 'x', signal: 'no' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => server.listen(42 as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(server.listening).toBe(false);
  });
});
