// Access presets, admission and identity across two real users (POSIX): this process (root in CI)
// serves, and test/fixtures/attacker.mjs connects as `wptattacker` (test/helpers/users.ts). Each
// test gets its own TMPDIR (1777, as /tmp) with XDG_RUNTIME_DIR unset.
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connect, createServer, type CreateServerOptions, type PipeConnection, type PipeServer } from '../../src/index.js';
import { uniqueName } from '../helpers/index.js';
import { asSecondUser, unstageAttacker } from '../helpers/cross-user.js';
import { isRoot, secondUser } from '../helpers/users.js';

const servers: PipeServer[] = [];
const cleanups: (() => void)[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  for (const f of cleanups.splice(0).reverse()) f();
});
afterAll(() => unstageAttacker());

function privateTmp(): void {
  const dir = mkdtempSync('/tmp/wpt-');
  chmodSync(dir, 0o1777);
  const saved = { TMPDIR: process.env.TMPDIR, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR };
  process.env.TMPDIR = dir;
  delete process.env.XDG_RUNTIME_DIR;
  cleanups.push(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    rmSync(dir, { recursive: true, force: true });
  });
}

async function serve(options: CreateServerOptions, onConn: (c: PipeConnection) => void = (c) => c.end('ours')): Promise<PipeServer> {
  const server = createServer(options, (c) => {
    c.on('error', () => {});
    onConn(c);
  });
  servers.push(server);
  await server.listen(uniqueName('t'));
  return server;
}

/** What the second user's client reads: `end:<data>` or `error:<code>`. */
async function secondUserConnects(path: string): Promise<string> {
  const run = asSecondUser(['connect', path]);
  try {
    return await run.line('end:', 'error:');
  } finally {
    run.child.kill('SIGKILL');
  }
}

describe.runIf(isRoot)('presets across two real users (skipped when not root: useradd and spawning as another uid need root)', () => {
  beforeEach(() => privateTmp());

  it('{ uid } lets that user in, and the peer is theirs', async () => {
    const peers: PipeConnection['peer'][] = [];
    const server = await serve({ security: { allow: [{ uid: secondUser().uid }] } }, (c) => {
      peers.push(c.peer);
      c.end('ours');
    });
    expect(await secondUserConnects(server.address()!)).toBe('end:ours');
    expect(peers).toHaveLength(1);
    expect(peers[0]!.uid).toBe(secondUser().uid);
  });

  it('a { uid } that is not theirs: the socket is reachable, but they are closed before the application sees them', async () => {
    let seen = 0;
    const server = await serve({ security: { allow: [{ uid: secondUser().uid + 1 }] } }, (c) => {
      seen++;
      c.end('ours');
    });
    expect(await secondUserConnects(server.address()!)).toBe('end:');
    expect(seen).toBe(0);
  });

  it("{ gid } lets a member in (their primary group); SO_PEERGROUPS gives the peer's groups on Linux", async () => {
    const peers: PipeConnection['peer'][] = [];
    const server = await serve({ security: { allow: [{ gid: secondUser().gid }] } }, (c) => {
      peers.push(c.peer);
      c.end('ours');
    });
    expect(await secondUserConnects(server.address()!)).toBe('end:ours');
    expect(peers[0]!.gid).toBe(secondUser().gid);
    if (process.platform === 'linux') expect(Array.isArray(peers[0]!.groups)).toBe(true);
  });

  it("{ allow: ['everyone'] } lets any local user in", async () => {
    const server = await serve({ security: { allow: ['everyone'] } });
    expect(await secondUserConnects(server.address()!)).toBe('end:ours');
  });

  it("admit refuses the other user's client by uid before 'connection'", async () => {
    const asked: PipeConnection['peer'][] = [];
    let seen = 0;
    const server = await serve(
      {
        security: 'everyone',
        admit: (peer) => {
          asked.push(peer);
          return peer.uid === process.getuid!();
        },
      },
      (c) => {
        seen++;
        c.end('ours');
      },
    );
    expect(await secondUserConnects(server.address()!)).toBe('end:');
    expect(asked).toHaveLength(1);
    expect(asked[0]!.uid).toBe(secondUser().uid);
    expect(seen).toBe(0);
    expect(server.connectionStats().refused).toBe(1);
  });

  it('admit by group: a check on the primary group admits the other user, one on a group they are not in refuses', async () => {
    for (const [gid, want] of [
      [secondUser().gid, 'end:ours'],
      [secondUser().gid + 1, 'end:'],
    ] as const) {
      const server = await serve({ security: 'everyone', admit: (peer) => peer.gid === gid || (peer.groups ?? []).includes(gid) });
      expect(await secondUserConnects(server.address()!)).toBe(want);
    }
  });
});

describe.runIf(process.platform === 'linux')('SO_PEERGROUPS (Linux)', () => {
  it("a server connection's peer.groups are the client's supplementary groups, as /proc/self/status lists them (the client is this process)", async () => {
    privateTmp();
    const line = /^Groups:(.*)$/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]!.trim();
    const ours = line === '' ? [] : line.split(/\s+/).map(Number);
    const peers: PipeConnection['peer'][] = [];
    const server = await serve({}, (c) => {
      peers.push(c.peer);
      c.end('ours');
    });
    const conn = await connect(server.address()!);
    conn.resume();
    await new Promise((resolve) => conn.once('close', resolve));
    expect(peers).toHaveLength(1);
    expect(peers[0]!.groups).toEqual(ours);
  });
});
