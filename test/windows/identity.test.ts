// Windows: who the client is, read from its own token on the server's side at accept
// (ImpersonateNamedPipeClient + OpenThreadToken + RevertToSelf, src/windows/identity.ts).
// Wine 8 and 10: ImpersonateNamedPipeClient is a stub that impersonates the server itself, so
// here the tests can show WHEN the identity is read (before admit and 'connection', also for a
// client that is gone at once), not WHOSE it is. The assertions of whose it is run on real
// Windows only (the windows-latest workflow).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, createServer, type PeerIdentity, type PipeConnection, type PipeServer } from '../../src/index.js';
import * as k from '../../src/windows/kernel32.js';
import { currentUserSid } from '../../src/windows/security.js';
import { exited, fixturesDir, underWine, uniqueName, within } from '../helpers/index.js';

const servers: PipeServer[] = [];
const conns: PipeConnection[] = [];
const handles: bigint[] = [];
const cleanups: (() => void)[] = [];
afterEach(async () => {
  for (const c of conns.splice(0)) c.destroy();
  for (const h of handles.splice(0)) k.CloseHandle(h);
  for (const s of servers.splice(0)) await s.close();
  for (const f of cleanups.splice(0)) f();
});

/** A server whose admit records each peer (and admits); resolves with it and its first connection's peer. */
async function recording(name: string): Promise<{ server: PipeServer; admitted: PeerIdentity[]; connected: Promise<PeerIdentity> }> {
  const admitted: PeerIdentity[] = [];
  const server = createServer({
    admit: (peer) => {
      admitted.push({ ...peer });
      return true;
    },
  });
  servers.push(server);
  const connected = new Promise<PeerIdentity>((resolve) =>
    server.once('connection', (conn) => {
      conns.push(conn);
      conn.on('error', () => {});
      resolve(conn.peer);
    }),
  );
  await server.listen(name);
  return { server, admitted, connected };
}

function expectTokenFields(peer: PeerIdentity): void {
  expect(peer.sid).toMatch(/^S-1-/);
  expect(Array.isArray(peer.groupSids)).toBe(true);
  expect(typeof peer.elevated).toBe('boolean');
  expect(['untrusted', 'low', 'medium', 'high', 'system', 'protected']).toContain(peer.integrity);
  expect(typeof peer.appContainer).toBe('boolean');
  expect(peer.logonSession).toMatch(/^0x[0-9a-f]+$/);
}

describe('identity from the connection: read at accept, before admit and connection', () => {
  it("the token's fields are there when admit runs, and 'connection' sees the same identity", async () => {
    const name = uniqueName();
    const { admitted, connected } = await recording(name);
    const c = await connect(name);
    conns.push(c);
    const peer = await within(connected, 10_000, "'connection'");
    expect(admitted).toHaveLength(1);
    expectTokenFields(admitted[0]!);
    expect(peer).toEqual(admitted[0]);
    expect(peer.pid).toBe(process.pid);
  });

  it('every client of one user gets the same account name, also when the name comes from memory', async () => {
    const name = uniqueName();
    const { admitted } = await recording(name);
    for (let i = 0; i < 3; i++) conns.push(await connect(name));
    await within(
      (async () => {
        while (admitted.length < 3) await new Promise((r) => setTimeout(r, 10));
      })(),
      10_000,
      'three admits',
    );
    expect(admitted[0]!.user).toMatch(/\\/);
    expect(admitted.map((p) => p.user)).toEqual([admitted[0]!.user, admitted[0]!.user, admitted[0]!.user]);
    expect(admitted.map((p) => p.sid)).toEqual([admitted[0]!.sid, admitted[0]!.sid, admitted[0]!.sid]);
  });

  it('a client that exits at once still has its identity: it was read at accept, not from a process that may be gone', async () => {
    const name = uniqueName();
    const { admitted, connected } = await recording(name);
    const dir = mkdtempSync(join(tmpdir(), 'wpt-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const child = spawn(process.execPath, [join(fixturesDir, 'connect-write-exit.mjs'), `\\\\.\\pipe\\${name}`, '1', 'raw', join(dir, 'written')], { stdio: 'ignore' });
    const peer = await within(connected, 20_000, "'connection'");
    await within(exited(child), 20_000, 'the client to exit');
    expectTokenFields(peer);
    expect(peer.pid).toBe(child.pid);
    expect(admitted[0]).toEqual(peer);
  });
});

describe.skipIf(underWine)("identity from the connection: whose it is (real Windows only: Wine's ImpersonateNamedPipeClient impersonates the server itself)", () => {
  it('a winpipe client of this process: our user, not elevated unless we are, medium or higher, no AppContainer', async () => {
    const name = uniqueName();
    const { connected } = await recording(name);
    const c = await connect(name);
    conns.push(c);
    const peer = await within(connected, 10_000, "'connection'");
    expect(peer.sid).toBe(currentUserSid());
    expect(peer.user).toMatch(/\\/);
    expect(peer.groupSids).toContain('S-1-1-0');
    expect(peer.appContainer).toBe(false);
    expect(peer.packageSid).toBeUndefined();
    expect(['medium', 'high', 'system']).toContain(peer.integrity);
  });

  it("a Node net client in a child process: the child's user (ours), read from its token", async () => {
    const name = uniqueName();
    const { connected } = await recording(name);
    const child = spawn(process.execPath, [join(fixturesDir, 'net-connect.mjs'), `\\\\.\\pipe\\${name}`], { stdio: 'ignore' });
    const peer = await within(connected, 20_000, "'connection'");
    conns.splice(0).forEach((c) => c.end());
    await within(exited(child), 20_000, 'the child to exit');
    expect(peer.pid).toBe(child.pid);
    expect(peer.sid).toBe(currentUserSid());
    expectTokenFields(peer);
  });

  it('a client at anonymous impersonation level gives no token: the token fields are absent (no fallback to its process)', async () => {
    const name = uniqueName();
    const { connected } = await recording(name);
    // SECURITY_SQOS_PRESENT with SECURITY_ANONYMOUS (0), as go-winio's DialPipe opens a pipe.
    const h = k.CreateFileW(`\\\\.\\pipe\\${name}`, k.GENERIC_READ | k.GENERIC_WRITE, 0, null, k.OPEN_EXISTING, k.SECURITY_SQOS_PRESENT, null);
    expect(h).not.toBe(k.INVALID_HANDLE_VALUE);
    handles.push(h);
    const peer = await within(connected, 10_000, "'connection'");
    expect(peer.pid).toBe(process.pid);
    for (const field of ['sid', 'user', 'groupSids', 'elevated', 'integrity', 'appContainer', 'packageSid', 'logonSession']) expect(field in peer).toBe(false);
  });
});
