// connect's `serverSession`: the client's side of the access rules. What a client can know of the
// server from the pipe itself, without trusting a pid that may be reused: the owner
// (`trustedServerOwners`, tested elsewhere) and, on Windows, the server's session
// (GetNamedPipeServerSessionId), checked before connect resolves. POSIX has no sessions.
import { afterEach, describe, expect, it } from 'vitest';
import { connect, createServer, type PipeConnection, type PipeServer } from '../src/index.js';
import { isWindows, uniqueName } from './helpers/index.js';

const servers: PipeServer[] = [];
const conns: PipeConnection[] = [];
afterEach(async () => {
  for (const c of conns.splice(0)) c.destroy();
  for (const s of servers.splice(0)) await s.close();
});

/** A listening server of `name` that counts its connections. */
async function serve(name: string): Promise<{ server: PipeServer; accepted: () => number }> {
  let n = 0;
  const server = createServer((conn) => {
    n++;
    conn.on('error', () => {});
    conn.resume();
  });
  servers.push(server);
  await server.listen(name);
  return { server, accepted: () => n };
}

describe('connect({ serverSession }): bad values are refused before any system call', () => {
  for (const bad of [-1, 1.5, 2 ** 32, Number.NaN]) {
    it(`${bad} is ERR_OUT_OF_RANGE`, () => {
      expect(() => connect(uniqueName('wp-sess-bad'), { serverSession: bad })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    });
  }
  for (const bad of ['mine', true, {}]) {
    it(`${JSON.stringify(bad)} is ERR_INVALID_ARG_TYPE`, () => {
      expect(() => connect(uniqueName('wp-sess-bad'), { serverSession: bad as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    });
  }
});

describe.runIf(isWindows)('Windows: the server must run in the session asked for', () => {
  it("'same' reaches a server of this session; the connection's peer says that session", async () => {
    const name = uniqueName('wp-sess-same');
    await serve(name);
    const conn = await connect(name, { serverSession: 'same', connectTimeout: 10_000 });
    conns.push(conn);
    expect(typeof conn.peer.sessionId).toBe('number');
    const again = await connect(name, { serverSession: conn.peer.sessionId!, connectTimeout: 10_000 });
    conns.push(again);
    expect(again.peer.sessionId).toBe(conn.peer.sessionId);
  });

  it('another session is EACCES, and the handle is closed (the server sees its client leave)', async () => {
    const name = uniqueName('wp-sess-other');
    const { server } = await serve(name);
    const probe = await connect(name, { connectTimeout: 10_000 });
    conns.push(probe);
    const mine = probe.peer.sessionId!;
    const err = await connect(name, { serverSession: mine + 1, connectTimeout: 10_000 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EACCES', syscall: 'connect' });
    // The refused client's instance was freed: the server still takes new clients, and holds
    // only the probe and the one below.
    const ok = await connect(name, { serverSession: mine, connectTimeout: 10_000 });
    conns.push(ok);
    await new Promise((r) => setTimeout(r, 100));
    expect(server.connectionStats().current).toBeLessThanOrEqual(2);
  });
});

describe.runIf(!isWindows)('POSIX: no sessions', () => {
  it('any serverSession rejects with ENOTSUP, before connecting (the server sees nobody)', async () => {
    const name = uniqueName('wp-sess-posix');
    const { accepted } = await serve(name);
    for (const serverSession of ['same', 0] as const) {
      await expect(connect(name, { serverSession })).rejects.toMatchObject({ code: 'ENOTSUP', syscall: 'connect' });
    }
    await new Promise((r) => setTimeout(r, 50));
    expect(accepted()).toBe(0);
  });
});
