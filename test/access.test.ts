// Access presets (`security: { allow, integrity }`), admission (`admit`), identity read at accept,
// and rendezvous names: the contract on both paths. The cross-user halves are in
// test/posix/trust-access.test.ts (two real users) and test/windows/identity.test.ts.
import { lstatSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, createServer, pipePath, type CreateServerOptions, type PeerIdentity, type PipeConnection, type PipeServer } from '../src/index.js';
import { presetSddl, validateAccessPolicy, type AccessPolicy } from '../src/access.js';
import { Client, Listener } from '../src/channel/index.js';
import { isWindows, underWine, uniqueName, within } from './helpers/index.js';

const servers: PipeServer[] = [];
const conns: PipeConnection[] = [];
const cleanups: (() => void)[] = [];
afterEach(async () => {
  for (const c of conns.splice(0)) c.destroy();
  for (const s of servers.splice(0)) await s.close();
  for (const f of cleanups.splice(0)) f();
});

/** A client of `name`, destroyed after the test. */
async function client(name: string): Promise<PipeConnection> {
  const c = await connect(name, { connectTimeout: 10_000 });
  c.on('error', () => {});
  conns.push(c);
  // Watched from the start: a refusal may come before the test asks.
  void ending(c);
  return c;
}

const endings = new WeakMap<PipeConnection, Promise<string>>();

/** How a client's reading ends: `end:<what it read>` or `error:<code>`. (A 'data' listener: it reads.) */
function ending(c: PipeConnection): Promise<string> {
  const known = endings.get(c);
  if (known) return known;
  const p = new Promise<string>((resolve) => {
    let read = '';
    c.on('data', (d: Buffer) => (read += d.toString()));
    c.once('end', () => resolve(`end:${read}`));
    c.once('error', (err: NodeJS.ErrnoException) => resolve(`error:${err.code}`));
  });
  endings.set(c, p);
  return p;
}

/** The process warnings with `code` emitted from now until the test's cleanup. */
function warningsWith(code: string): Error[] {
  const seen: Error[] = [];
  const onWarning = (w: Error & { code?: string }): void => {
    if (w.code === code) seen.push(w);
  };
  process.on('warning', onWarning);
  cleanups.push(() => process.off('warning', onWarning));
  return seen;
}

async function listen(options: CreateServerOptions, name = uniqueName()): Promise<PipeServer> {
  const server = createServer(options);
  servers.push(server);
  await server.listen(name);
  return server;
}

const ME = 'S-1-5-21-1-2-3-1001';
const DENY_NETWORK = '(D;;GA;;;NU)';
const RW = '0x12019b';

describe('access presets: the SDDL each one builds (the builder is pure: checked on every platform)', () => {
  const cases: [string, AccessPolicy, string][] = [
    ['same user only', { allow: ['current-user'] }, `D:P${DENY_NETWORK}(A;;GA;;;${ME})`],
    ['service to desktop: interactive users', { allow: ['interactive'] }, `D:P${DENY_NETWORK}(A;;GA;;;${ME})(A;;${RW};;;IU)`],
    ['authenticated users', { allow: ['authenticated'] }, `D:P${DENY_NETWORK}(A;;GA;;;${ME})(A;;${RW};;;AU)`],
    ['administrators', { allow: ['administrators'] }, `D:P${DENY_NETWORK}(A;;GA;;;${ME})(A;;${RW};;;BA)`],
    ['SYSTEM and services', { allow: ['system', 'services'] }, `D:P${DENY_NETWORK}(A;;GA;;;${ME})(A;;${RW};;;SY)(A;;${RW};;;SU)`],
    ['every local user, never the network', { allow: ['everyone'] }, `D:P${DENY_NETWORK}(A;;GA;;;${ME})(A;;${RW};;;WD)`],
    ['sandboxed: all app packages at low integrity', { allow: ['current-user', 'all-app-packages'], integrity: 'low' }, `D:P${DENY_NETWORK}(A;;GA;;;${ME})(A;;${RW};;;AC)S:(ML;;NW;;;LW)`],
    ['one package SID', { allow: [{ sid: 's-1-15-2-1-2-3-4-5-6-7' }], integrity: 'low' }, `D:P${DENY_NETWORK}(A;;GA;;;${ME})(A;;${RW};;;S-1-15-2-1-2-3-4-5-6-7)S:(ML;;NW;;;LW)`],
    ['elevated to unelevated: a medium label', { allow: ['current-user'], integrity: 'medium' }, `D:P${DENY_NETWORK}(A;;GA;;;${ME})S:(ML;;NW;;;ME)`],
    ['a high label', { allow: ['current-user'], integrity: 'high' }, `D:P${DENY_NETWORK}(A;;GA;;;${ME})S:(ML;;NW;;;HI)`],
    ['a system label', { allow: ['system'], integrity: 'system' }, `D:P${DENY_NETWORK}(A;;GA;;;${ME})(A;;${RW};;;SY)S:(ML;;NW;;;SI)`],
    ['our own SID and a repeat are listed once', { allow: [{ sid: ME }, 'interactive', 'interactive'] }, `D:P${DENY_NETWORK}(A;;GA;;;${ME})(A;;${RW};;;IU)`],
  ];
  it.each(cases)('%s', (_what, policy, sddl) => {
    validateAccessPolicy(policy, 'security', 'win32');
    expect(presetSddl(policy, ME)).toBe(sddl);
  });

  it('an { account } gets the SID it was looked up as, in order', () => {
    const policy: AccessPolicy = { allow: [{ account: 'PC\\ann' }, 'interactive', { account: 'Users' }] };
    validateAccessPolicy(policy, 'security', 'win32');
    expect(presetSddl(policy, ME, ['S-1-5-21-9-9-9-1002', 'S-1-5-32-545'])).toBe(`D:P${DENY_NETWORK}(A;;GA;;;${ME})(A;;${RW};;;S-1-5-21-9-9-9-1002)(A;;${RW};;;IU)(A;;${RW};;;S-1-5-32-545)`);
  });
});

describe('access presets: bad input is refused before any system call', () => {
  const bad: [string, unknown, string][] = [
    ['not an object', 'interactive-users', 'ERR_INVALID_ARG_VALUE'],
    ['allow missing (and no sddl)', { integrity: 'low' }, 'ERR_INVALID_ARG_TYPE'],
    ['allow not an array', { allow: 'interactive' }, 'ERR_INVALID_ARG_TYPE'],
    ['allow empty', { allow: [] }, 'ERR_INVALID_ARG_VALUE'],
    ['an unknown party', { allow: ['friends'] }, 'ERR_INVALID_ARG_VALUE'],
    ['a malformed SID', { allow: [{ sid: 'S-1-x' }] }, 'ERR_INVALID_ARG_VALUE'],
    ['two keys in one entry', { allow: [{ sid: 'S-1-5-18', uid: 0 }] }, 'ERR_INVALID_ARG_VALUE'],
    ['an unknown integrity', { allow: ['current-user'], integrity: 'very-high' }, 'ERR_INVALID_ARG_VALUE'],
    ['an unknown field', { allow: ['current-user'], remote: true }, 'ERR_INVALID_ARG_VALUE'],
    ['a negative uid', { allow: [{ uid: -1 }] }, 'ERR_INVALID_ARG_VALUE'],
  ];
  it.each(bad)('%s: createServer throws %s', (_what, security, code) => {
    expect(() => createServer({ security: security as AccessPolicy })).toThrow(expect.objectContaining({ code }));
  });

  const windowsOnly: AccessPolicy[] = [
    { allow: ['interactive'] },
    { allow: ['authenticated'] },
    { allow: ['administrators'] },
    { allow: ['services'] },
    { allow: ['all-app-packages'] },
    { allow: [{ sid: 'S-1-5-18' }] },
    { allow: [{ account: 'ann' }] },
    { allow: ['current-user'], integrity: 'low' },
  ];
  it.each(windowsOnly)('POSIX: %j has no meaning there: ENOTSUP', (policy) => {
    expect(() => validateAccessPolicy(policy, 'security', 'linux')).toThrow(expect.objectContaining({ code: 'ENOTSUP' }));
    expect(() => validateAccessPolicy(policy, 'security', 'win32')).not.toThrow();
    if (!isWindows) expect(() => createServer({ security: policy })).toThrow(expect.objectContaining({ code: 'ENOTSUP' }));
  });

  it.each([{ allow: [{ uid: 1000 }] }, { allow: [{ gid: 100 }] }] as AccessPolicy[])('Windows: %j has no meaning there: ENOTSUP', (policy) => {
    expect(() => validateAccessPolicy(policy, 'security', 'win32')).toThrow(expect.objectContaining({ code: 'ENOTSUP' }));
    expect(() => validateAccessPolicy(policy, 'security', 'linux')).not.toThrow();
    if (isWindows) expect(() => createServer({ security: policy })).toThrow(expect.objectContaining({ code: 'ENOTSUP' }));
  });
});

describe.runIf(isWindows)('access presets on Windows: the descriptor read back from the pipe, label included', () => {
  it.each([
    [{ allow: ['current-user'] }, []],
    [{ allow: ['interactive', 'services'] }, ['IU', 'SU']],
    [{ allow: ['everyone'] }, ['WD']],
    [{ allow: ['current-user', 'all-app-packages'], integrity: 'low' }, ['AC']],
  ] as [AccessPolicy, string[]][])('%j', async (policy, groups) => {
    const server = await listen({ security: policy });
    const sd = server.securityDescriptor();
    const dacl = sd.slice(sd.indexOf('D:'), sd.includes('S:') ? sd.indexOf('S:') : undefined);
    expect(dacl.startsWith('D:P')).toBe(true);
    // The network is refused by the descriptor itself, ahead of every allow entry.
    expect(dacl).toMatch(/^D:P(AI)?\(D;;(GA|FA|0x1f01ff);;;(NU|S-1-5-2)\)/);
    for (const g of groups) expect(dacl).toMatch(new RegExp(`\\(A;;0x12019b;;;${g}\\)`));
    expect(dacl).not.toContain(';AN)');
    if (policy.integrity === undefined) expect(sd).not.toMatch(/ML;/);
  });

  it.skipIf(underWine)("integrity: 'low' reads back as the pipe's mandatory label (Wine 8 and 10 keep no mandatory label on a pipe: it reads back no S: part)", async () => {
    const server = await listen({ security: { allow: ['current-user', 'all-app-packages'], integrity: 'low' } });
    expect(server.securityDescriptor()).toMatch(/S:(\w*)\(ML;;NW;;;LW\)/);
  });

  it('an { account } is looked up: BUILTIN\\Users becomes S-1-5-32-545 (BU)', async () => {
    const server = await listen({ security: { allow: [{ account: 'BUILTIN\\Users' }] } });
    expect(server.securityDescriptor()).toMatch(/\(A;;0x12019b;;;(BU|S-1-5-32-545)\)/);
  });

  it('an unknown { account } rejects listen with ENOENT', async () => {
    const server = createServer({ security: { allow: [{ account: `nobody-${uniqueName()}` }] } });
    await expect(server.listen(uniqueName())).rejects.toMatchObject({ code: 'ENOENT', syscall: 'LookupAccountNameW' });
  });
});

describe.runIf(!isWindows)('access presets on POSIX: the directory, the mode', () => {
  it("{ allow: ['current-user'] } is the private directory and a 0600 socket", async () => {
    const server = await listen({ security: { allow: ['current-user'] } });
    const path = server.address()!;
    expect(lstatSync(path).mode & 0o777).toBe(0o600);
    expect(lstatSync(dirname(path)).mode & 0o777).toBe(0o700);
  });

  it.each([{ allow: ['everyone'] }, { allow: [{ uid: 4242 }] }, { allow: [{ gid: 4242 }] }] as AccessPolicy[])('%j is our public directory (0711) and a 0666 socket', async (security) => {
    const server = await listen({ security });
    const path = server.address()!;
    expect(lstatSync(path).mode & 0o777).toBe(0o666);
    expect(lstatSync(dirname(path)).mode & 0o777).toBe(0o711);
    expect(lstatSync(dirname(path)).uid).toBe(process.getuid!());
  });

  it('securityDescriptor() is Windows-only: ENOTSUP', async () => {
    const server = await listen({});
    expect(() => server.securityDescriptor()).toThrow(expect.objectContaining({ code: 'ENOTSUP' }));
  });
});

describe('admit: a check of each client before the application sees it', () => {
  const REFUSED = /^(end:|error:ECONNRESET|error:EPIPE)$/;

  it("admit() false: the client is disconnected (end of stream or ECONNRESET), never reaches 'connection', and is counted and reported", async () => {
    const name = uniqueName();
    const asked: PeerIdentity[] = [];
    const server = createServer({
      admit: (peer) => {
        asked.push(peer);
        return false;
      },
    });
    servers.push(server);
    let connections = 0;
    server.on('connection', () => connections++);
    const refused = new Promise<unknown[]>((resolve) => server.once('refused', (...args) => resolve(args)));
    await server.listen(name);
    const c = await client(name);
    expect(await within(ending(c), 10_000, "the refused client's end")).toMatch(REFUSED);
    const [peer, reason, error] = await within(refused, 10_000, "'refused'");
    expect(reason).toBe('denied');
    expect(error).toBeUndefined();
    expect(peer).toBe(asked[0]);
    expect(asked).toHaveLength(1);
    expect(asked[0]!.pid).toBe(process.pid);
    expect(connections).toBe(0);
    expect(server.connectionStats()).toMatchObject({ current: 0, refused: 1 });
  });

  it(`refused by who it is: ${isWindows ? "the SID (under Wine the client's SID is the server's own)" : 'the uid'}; the same check with the right one admits`, async () => {
    const me = isWindows ? (await import('../src/windows/security.js')).currentUserSid() : process.getuid!();
    const key = isWindows ? 'sid' : 'uid';
    for (const [want, admitted] of [
      [me, true],
      [isWindows ? 'S-1-5-21-1-2-3-4242' : 4242, false],
    ] as const) {
      const name = uniqueName();
      const server = createServer({ admit: (peer) => peer[key] === want }, (conn) => conn.end('hello'));
      servers.push(server);
      await server.listen(name);
      const c = await client(name);
      const end = await within(ending(c), 10_000, "the client's end");
      if (admitted) expect(end).toBe('end:hello');
      else expect(end).toMatch(REFUSED);
      expect(server.connectionStats().refused).toBe(admitted ? 0 : 1);
    }
  });

  it('a slow admit does not hold up another client; a client being checked counts toward the bound', async () => {
    const name = uniqueName();
    let release!: (ok: boolean) => void;
    let calls = 0;
    const server = createServer({
      admitTimeout: 30_000,
      admit: () => (++calls === 1 ? new Promise<boolean>((resolve) => (release = resolve)) : true),
    });
    servers.push(server);
    const accepted: PipeConnection[] = [];
    server.on('connection', (conn) => {
      conns.push(conn);
      accepted.push(conn);
      conn.write(`you are #${accepted.length}`);
    });
    await server.listen(name);
    const slow = await client(name);
    await within(
      (async () => {
        while (calls < 1) await new Promise((r) => setTimeout(r, 5));
      })(),
      10_000,
      'the first check to start',
    );
    expect(server.connectionStats().current).toBe(1);
    const fast = await client(name);
    const [first] = await within(new Promise<Buffer[]>((resolve) => fast.once('data', (d: Buffer) => resolve([d]))), 10_000, 'the second client served while the first is checked');
    expect(first!.toString()).toBe('you are #1');
    expect(calls).toBe(2);
    release(true);
    const [second] = await within(new Promise<Buffer[]>((resolve) => slow.once('data', (d: Buffer) => resolve([d]))), 10_000, 'the first client served once admitted');
    expect(second!.toString()).toBe('you are #2');
    expect(server.connectionStats()).toMatchObject({ current: 2, refused: 0 });
  });

  it('no answer within admitTimeout refuses (reason timeout)', async () => {
    const name = uniqueName();
    const server = createServer({ admitTimeout: 200, admit: () => new Promise<boolean>(() => {}) });
    servers.push(server);
    const refused = new Promise<unknown>((resolve) => server.once('refused', (_peer, reason) => resolve(reason)));
    await server.listen(name);
    const c = await client(name);
    expect(await within(ending(c), 10_000, "the client's end")).toMatch(REFUSED);
    expect(await refused).toBe('timeout');
    expect(server.connectionStats().refused).toBe(1);
  });

  it('a throwing (or rejecting) admit refuses the client and is reported as a process warning WINPIPE_ADMIT_FAILED', async () => {
    const warnings = warningsWith('WINPIPE_ADMIT_FAILED');
    for (const admit of [
      () => {
        throw new Error('bug in the check');
      },
      () => Promise.reject(new Error('bug in the check')),
    ]) {
      const name = uniqueName();
      const server = createServer({ admit });
      servers.push(server);
      const refused = new Promise<unknown[]>((resolve) => server.once('refused', (...args) => resolve(args)));
      await server.listen(name);
      const c = await client(name);
      expect(await within(ending(c), 10_000, "the client's end")).toMatch(REFUSED);
      const [, reason, error] = await refused;
      expect(reason).toBe('error');
      expect((error as Error).message).toBe('bug in the check');
    }
    await new Promise((r) => setImmediate(r));
    expect(warnings).toHaveLength(2);
    expect(warnings[0]!.cause).toBeInstanceOf(Error);
  });

  it("absent fields are absent, never faked: a check that needs the other platform's field refuses", async () => {
    const name = uniqueName();
    const seen: PeerIdentity[] = [];
    const server = createServer({
      admit: (peer) => {
        seen.push(peer);
        return isWindows ? peer.uid !== undefined : peer.sid !== undefined;
      },
    });
    servers.push(server);
    await server.listen(name);
    const c = await client(name);
    expect(await within(ending(c), 10_000, "the client's end")).toMatch(REFUSED);
    const peer = seen[0]!;
    if (isWindows) {
      expect('uid' in peer).toBe(false);
      expect('gid' in peer).toBe(false);
    } else {
      expect('sid' in peer).toBe(false);
      expect('user' in peer).toBe(false);
      expect(typeof peer.uid).toBe('number');
    }
  });

  it('close() during a check disconnects the client being checked', async () => {
    const name = uniqueName();
    let started!: () => void;
    const checking = new Promise<void>((resolve) => (started = resolve));
    const server = createServer({
      admit: () => {
        started();
        return new Promise<boolean>(() => {});
      },
    });
    servers.push(server);
    await server.listen(name);
    const c = await client(name);
    const end = ending(c);
    await within(checking, 10_000, 'the check to start');
    await server.close();
    expect(await within(end, 10_000, "the client's end")).toMatch(REFUSED);
  });

  it('bad admit options throw at createServer', () => {
    expect(() => createServer({ admit: true as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => createServer({ admit: () => true, admitTimeout: 0 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  });
});

describe('rendezvous names', () => {
  /** A LOCALAPPDATA of the test's own (Windows), so the run leaves nothing in the profile. */
  function privateAppData(): string {
    const dir = mkdtempSync(join(tmpdir(), 'wpt-appdata-'));
    const saved = process.env.LOCALAPPDATA;
    process.env.LOCALAPPDATA = dir;
    cleanups.push(() => {
      if (saved === undefined) delete process.env.LOCALAPPDATA;
      else process.env.LOCALAPPDATA = saved;
      rmSync(dir, { recursive: true, force: true });
    });
    return dir;
  }

  async function echoServer(name: string, greeting: string): Promise<PipeServer> {
    const server = createServer((conn) => conn.end(greeting));
    servers.push(server);
    await server.listen({ name, rendezvous: true });
    return server;
  }

  it('two logical names of the same user each reach their own server; close() unpublishes the name', async () => {
    if (isWindows) privateAppData();
    const a = uniqueName('rv');
    const b = uniqueName('rv');
    const sa = await echoServer(a, 'server a');
    await echoServer(b, 'server b');
    if (isWindows) expect(sa.address()).toMatch(/^\\\\\.\\pipe\\winpipe-rv-[0-9a-f]{32}$/);
    else expect(sa.address()).toBe(pipePath(a));
    expect(await ending(await connect(a, { rendezvous: true }))).toBe('end:server a');
    expect(await ending(await connect(b, { rendezvous: true }))).toBe('end:server b');
    await sa.close();
    await expect(connect(a, { rendezvous: true, connectTimeout: 1000 })).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it.runIf(isWindows)('Windows: a squatter holding the plain pipe name does not stop the real server, and its clients reach ours', async () => {
    privateAppData();
    const name = uniqueName('rv');
    const squatter = createServer((conn) => conn.end('squatter'));
    servers.push(squatter);
    await squatter.listen(name);
    const server = await echoServer(name, 'ours');
    expect(server.address()).not.toBe(squatter.address());
    expect(await ending(await connect(name, { rendezvous: true }))).toBe('end:ours');
  });

  /** The published file's DACL, as SDDL, for `name` served by `server`. */
  async function publishedDacl(name: string, server: PipeServer): Promise<string> {
    const rv = await import('../src/windows/rendezvous.js');
    const { readSecurity } = await import('../src/windows/security.js');
    expect(readFileSync(rv.rendezvousFile(name), 'utf8').trim()).toBe(server.address());
    const sd = rv.rendezvousFileSecurity(name, (h) => readSecurity(h, 1 /* SE_FILE_OBJECT */));
    return sd.slice(sd.indexOf('D:'));
  }

  it.runIf(isWindows)('Windows: the published file holds the pipe path, and its DACL names only our user and SYSTEM', async () => {
    privateAppData();
    const name = uniqueName('rv');
    const server = await echoServer(name, 'ours');
    const { currentUserSid } = await import('../src/windows/security.js');
    const dacl = await publishedDacl(name, server);
    const aces = dacl.match(/\([^)]*\)/g) ?? [];
    expect(aces.length).toBeGreaterThan(0);
    for (const ace of aces) expect(ace).toMatch(new RegExp(`^\\(A;[^;]*;[^;]*;;;(${currentUserSid()}|SY)\\)$`));
    expect(aces.some((a) => a.endsWith(`;;;${currentUserSid()})`))).toBe(true);
  });

  it.runIf(isWindows && !underWine)(
    "Windows: the published file's DACL is protected (D:P), so nothing the profile grants is inherited (real Windows only: Wine 8 and 10 do not keep the protected flag on a file's DACL)",
    async () => {
      privateAppData();
      const name = uniqueName('rv');
      const server = await echoServer(name, 'ours');
      expect(await publishedDacl(name, server)).toMatch(/^D:P/);
    },
  );

  it('bad rendezvous input is refused before any system call', () => {
    expect(() => createServer().listen({ name: 'x', rendezvous: 'yes' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => connect('x', { rendezvous: 1 as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    if (isWindows) {
      expect(() => createServer().listen({ name: 'a\\b', rendezvous: true })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
      expect(() => connect('..', { rendezvous: true })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    }
  });
});

describe('admit on a winpipe/connection Listener: before accept() and before the authkey handshake', () => {
  it('no challenge is sent while the check runs; a refused client never reaches accept(); an admitted one does, with its identity', async () => {
    const seen: PeerIdentity[] = [];
    const answers: ((ok: boolean) => void)[] = [];
    const listener = new Listener(undefined, {
      authkey: 'secret',
      admitTimeout: 30_000,
      admit: (peer) => {
        seen.push(peer);
        return new Promise<boolean>((resolve) => answers.push(resolve));
      },
    });
    cleanups.push(() => listener.close());
    const accepted = listener.accept();
    let acceptedEarly = false;
    void accepted.then(
      () => (acceptedEarly = answers.length < 2),
      () => {},
    );
    // While the check runs the Listener says nothing: the client's own handshake bound expires.
    const first = await Client(listener.address, { authkey: 'secret', handshakeTimeout: 500 }).then(
      (c) => {
        c.close();
        return 'connected';
      },
      (err: { code?: string }) => err.code,
    );
    expect(first).toBe('ETIMEDOUT');
    expect(seen).toHaveLength(1);
    expect(seen[0]!.pid).toBe(process.pid);
    expect(listener.connectionStats().current).toBe(1);
    answers[0]!(false);
    await within(
      (async () => {
        while (listener.connectionStats().refused < 1) await new Promise((r) => setTimeout(r, 5));
      })(),
      10_000,
      'the refusal to be counted',
    );
    expect(listener.connectionStats().current).toBe(0);
    // Admitted: the pending accept() resolves with it, after the handshake.
    const second = Client(listener.address, { authkey: 'secret' });
    await within(
      (async () => {
        while (answers.length < 2) await new Promise((r) => setTimeout(r, 5));
      })(),
      10_000,
      'the second check to start',
    );
    answers[1]!(true);
    const c = await within(second, 10_000, 'the admitted client');
    const s = await within(accepted, 10_000, 'accept()');
    expect(acceptedEarly).toBe(false);
    await c.sendBytes(Buffer.from('hi'));
    expect((await s.recvBytes()).toString()).toBe('hi');
    c.close();
    s.close();
    expect(listener.connectionStats().refused).toBe(1);
  });

  it('bad admit options throw in the constructor', () => {
    expect(() => new Listener(undefined, { admit: 1 as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => new Listener(undefined, { admit: () => true, admitTimeout: -1 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  });
});
