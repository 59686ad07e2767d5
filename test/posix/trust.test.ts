// Who may be at the other end of a Unix socket, which directories winpipe serves from and connects
// through, and how many clients a server holds.
// The rule under test lives in src/posix/trust.ts, called by createServer / connect and by the
// winpipe/connection Listener / Client.
//
// Cross-user cases run as two real users: this process (root in CI) is the victim, and the
// attacker is test/fixtures/attacker.mjs spawned with the uid / gid of `wptattacker` (made with
// useradd once, reused after). Each test gets its own TMPDIR (1777, as /tmp) with XDG_RUNTIME_DIR
// unset, so the fallback directories live there and nothing of the real /tmp is touched.
// vitest.config.ts runs this folder on Linux and macOS only.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connect, createServer, type ConnectOptions, type CreateServerOptions, type PipeConnection, type PipeServer } from '../../src/index.js';
import { Client, Listener, type Connection } from '../../src/channel/index.js';
import { bundle } from '../helpers/bundle.js';
import { exited, fixturesDir, uniqueName, within } from '../helpers/index.js';
import { secondUser } from '../helpers/users.js';
import { asSecondUser, unstageAttacker } from '../helpers/cross-user.js';

const BOUND = 20_000;
const modes = ['byte', 'message'] as const;
const isRoot = process.getuid?.() === 0;
const me = process.getuid!();

const servers: PipeServer[] = [];
const streams: Duplex[] = [];
const children: ChildProcess[] = [];
const cleanups: (() => void)[] = [];
afterEach(async () => {
  for (const s of streams.splice(0)) s.destroy();
  for (const s of servers.splice(0)) await s.close();
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const f of cleanups.splice(0).reverse()) f();
});

function track<T extends Duplex>(s: T): T {
  streams.push(s);
  s.on('error', () => {});
  return s;
}

async function serve(options: CreateServerOptions | undefined, name: string, listener?: (c: PipeConnection) => void): Promise<PipeServer> {
  const server = createServer(options, (c) => {
    track(c);
    listener?.(c);
  });
  servers.push(server);
  await server.listen(name);
  return server;
}

/** The code a connect rejects with; a connection that was made (the bug) is closed and reported. */
async function refused(p: Promise<PipeConnection | Connection>): Promise<unknown> {
  return p.then(
    (c) => {
      if ('destroy' in c) c.destroy();
      else c.close();
      return 'connected';
    },
    (err: { code?: unknown }) => err.code,
  );
}

/** A private TMPDIR for the test, world-writable and sticky like /tmp, with XDG_RUNTIME_DIR unset. */
function privateTmp(): string {
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
  return dir;
}

// --- the second user --------------------------------------------------------------------------

interface Attacker {
  uid: number;
  lines: string[];
  /** Resolves with the first line (seen so far or later) that starts with one of `prefixes`. */
  line(...prefixes: string[]): Promise<string>;
}

// afterAll, not process 'exit': a vitest worker is ended without that event, and the directory stayed.
afterAll(unstageAttacker);

/** Runs test/fixtures/attacker.mjs as the second user (killed after the test). */
function attacker(args: string[]): Attacker {
  const run = asSecondUser(args, BOUND);
  children.push(run.child);
  return { uid: secondUser().uid, lines: run.lines, line: run.line };
}

/** Everything a connection says until its end, as a string. */
async function readAll(c: Duplex): Promise<string> {
  let out = '';
  for await (const chunk of c) out += chunk;
  return out;
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

/** A node child: its stdout lines, and a wait for the first line matching `test`. */
function lined(child: ChildProcess, what: string): { lines: string[]; stdout: () => string; stderr: () => string; first: (test: (l: string) => boolean) => Promise<string> } {
  children.push(child);
  const lines: string[] = [];
  let all = '';
  let err = '';
  let rest = '';
  const waiters: (() => void)[] = [];
  const wake = (): void => {
    for (const w of waiters.splice(0)) w();
  };
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    all += chunk;
    rest += chunk;
    const parts = rest.split('\n');
    rest = parts.pop()!;
    lines.push(...parts);
    wake();
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
    wake();
  });
  child.once('exit', () => setImmediate(wake));
  const first = (test: (l: string) => boolean): Promise<string> =>
    within(
      new Promise<string>((resolve, reject) => {
        const look = (): void => {
          const found = lines.find(test);
          if (found !== undefined) return resolve(found);
          if (child.exitCode !== null || child.signalCode !== null) return reject(new Error(`${what} exited (${child.exitCode}) first; stdout: ${lines.join(' | ')}; stderr: ${err}`));
          waiters.push(look);
        };
        look();
      }),
      BOUND,
      `${what} to print the line awaited (stdout: ${lines.join(' | ')})`,
    );
  return { lines, stdout: () => all, stderr: () => err, first };
}

/** test/fixtures/serve-umask.mjs: a winpipe server in a child started under `umask`; its address. */
async function serveUnderUmask(umask: number, name: string, security: 'current-user' | 'everyone'): Promise<string> {
  const child = spawn(process.execPath, [join(fixturesDir, 'serve-umask.mjs'), await bundle('index.ts'), umask.toString(8), name, security], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await lined(child, 'the umask server').first(() => true);
  expect(line).not.toMatch(/^error:/);
  return line;
}

describe.runIf(isRoot)('cross-user (two real users; skipped when not root: useradd and spawning as another uid need root)', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = privateTmp();
  });

  it('XDG_RUNTIME_DIR unset, the private directory made first by another user: connect(name) rejects EACCES and never reaches their server; by path too, unless allowServerUids names them', async () => {
    const name = uniqueName('t');
    const squatted = join(tmp, `winpipe-${me}`);
    const path = join(squatted, `${name}.sock`);
    const atk = attacker(['serve', path, squatted, '700']);
    await atk.line('listening');

    expect(await refused(connect(name, { connectTimeout: 1000 }))).toBe('EACCES');
    // Its full path is in the same squatted directory: refused the same way.
    expect(await refused(connect(path, { connectTimeout: 1000 }))).toBe('EACCES');
    // Naming the uid is the one way in (its directory is then trusted too), and proves that the
    // two refusals above never connected: this is the squatter's first connection.
    const c = track(await connect(path, { allowServerUids: [atk.uid] }));
    c.write('proof');
    await atk.line('got:');
    expect(atk.lines.filter((l) => l.startsWith('got:'))).toEqual(['got:proof']);
    expect(atk.lines.filter((l) => l === 'conn')).toHaveLength(1);
    // The uid the check read is on the connection.
    expect(c.peerUid).toBe(atk.uid);
    // And in `peer`, the documented one: the server's identity seen by the client.
    expect(c.peer.uid).toBe(atk.uid);
    expect(c.peer.pid).toBe(c.serverProcessId);
  });

  it('our server is down: connect(name) does not fall back to the shared directory where another user serves the name (ENOENT), nor through our public directory if they made it (EACCES)', async () => {
    const name = uniqueName('t');
    const shared = join(tmp, 'winpipe-shared');
    const atk = attacker(['serve', join(shared, `${name}.sock`), shared, '1777']);
    await atk.line('listening');
    expect(await refused(connect(name, { connectTimeout: 1000 }))).toBe('ENOENT');

    const pub = join(tmp, `winpipe-${me}.public`);
    const atk2 = attacker(['serve', join(pub, `${name}.sock`), pub, '755']);
    await atk2.line('listening');
    expect(await refused(connect(name, { connectTimeout: 1000 }))).toBe('EACCES');
    expect(atk.lines).not.toContain('conn');
    expect(atk2.lines).not.toContain('conn');
  });

  it("security 'everyone' is served from a directory of ours that others cannot write, even if another user made the old shared directory first: they connect, but cannot rename the socket away", async () => {
    // The attack: the other user owns the directory that used to be shared (docs/security.md, 'everyone').
    expect(await attacker(['mkdir', join(tmp, 'winpipe-shared'), '1777']).line('ok', 'error:')).toBe('ok');
    const name = uniqueName('t');
    const peers: PipeConnection['peer'][] = [];
    const server = await serve({ security: 'everyone' }, name, (c) => {
      peers.push(c.peer);
      c.end('ours');
    });
    const path = server.address()!;
    const dir = lstatSync(dirname(path));
    expect(dir.isDirectory()).toBe(true);
    expect(dir.uid).toBe(me);
    expect(dir.mode & 0o022).toBe(0);
    expect(lstatSync(path).mode & 0o777).toBe(0o666);

    expect(await attacker(['connect', path]).line('end:', 'error:')).toBe('end:ours');
    // The server's `peer` is the other user's client: their uid, not ours.
    expect(peers).toHaveLength(1);
    expect(peers[0]!.uid).toBe(secondUser().uid);
    expect(peers[0]!.uid).not.toBe(me);
    expect(typeof peers[0]!.pid).toBe('number');
    expect(await attacker(['rename', path, `${path}.moved`]).line('ok', 'error:')).toBe('error:EACCES');
    expect(lstatSync(path).isSocket()).toBe(true);
  });

  it("security 'everyone' refuses a public directory another user made first: listen rejects EACCES", async () => {
    const pub = join(tmp, `winpipe-${me}.public`);
    expect(await attacker(['mkdir', pub, '777']).line('ok', 'error:')).toBe('ok');
    const server = createServer({ security: 'everyone' });
    servers.push(server);
    expect(await refused(server.listen(uniqueName('t')) as never)).toBe('EACCES');
    expect(server.listening).toBe(false);
  });

  it.each(modes)("%s mode: a 'current-user' server at an absolute path closes another user's client before 'connection', even when the socket file is reachable", async (mode) => {
    const dir = mkdtempSync(join(tmp, 'abs-'));
    chmodSync(dir, 0o755);
    const path = join(dir, 's.sock');
    const handed: PipeConnection[] = [];
    await serve({ mode }, path, (c) => handed.push(c));
    // What the old bind-to-chmod window (or a careless chmod afterwards) leaves open.
    chmodSync(path, 0o666);
    const atk = attacker(['connect', path, 'hello']);
    expect(await atk.line('end:', 'error:')).toMatch(/^(end:|error:ECONNRESET|error:EPIPE)$/);
    expect(atk.lines).toContain('connected');
    expect(handed).toHaveLength(0);
    // Our own client is still served, and is the first connection handed out.
    const accepted = once(servers[0]!, 'connection');
    const ours = track(await connect(path, { mode }));
    await within(accepted, BOUND, 'our own connection');
    expect(handed).toHaveLength(1);
    // Both sides carry the peer's uid and gid, read in the same call as the pid.
    expect([handed[0]!.peerUid, handed[0]!.peerGid, handed[0]!.clientProcessId]).toEqual([me, process.getgid!(), process.pid]);
    expect([ours.peerUid, ours.peerGid, ours.serverProcessId]).toEqual([me, process.getgid!(), process.pid]);
  });

  it("a winpipe/connection Listener closes another user's client before accept() sees it, even when the socket file is reachable", async () => {
    const dir = mkdtempSync(join(tmp, 'lst-'));
    chmodSync(dir, 0o755);
    const address = join(dir, 'l.sock');
    const listener = new Listener(address);
    cleanups.push(() => listener.close());
    // What a careless chmod (or, for a Linux abstract name, the lack of any file permission) leaves open.
    chmodSync(address, 0o666);
    const accepting = listener.accept();
    accepting.catch(() => {});
    const atk = attacker(['connect', address, 'hello']);
    expect(await atk.line('end:', 'error:')).toMatch(/^(end:|error:ECONNRESET|error:EPIPE)$/);
    expect(atk.lines).toContain('connected');
    const [server, client] = await Promise.all([within(accepting, BOUND, 'accept'), Client(address)]);
    cleanups.push(
      () => server.close(),
      () => client.close(),
    );
    await client.sendBytes(Buffer.from('ours'));
    expect((await server.recvBytes()).toString()).toBe('ours');
  });

  it('winpipe/connection: a Client refuses a Listener of another user with EACCES unless allowServerUids names its uid', async () => {
    const dir = join(tmp, 'atk');
    const address = join(dir, 'l.sock');
    const atk = attacker(['serve', address, dir, '755']);
    await atk.line('listening');
    expect(await refused(Client(address))).toBe('EACCES');
    const allowed = await Client(address, { allowServerUids: [atk.uid] });
    cleanups.push(() => allowed.close());
    await allowed.sendBytes(Buffer.from('proof'));
    await atk.line('got:');
    // The refused Client connected, read the uid and left before sending a byte.
    expect(atk.lines.filter((l) => l === 'conn')).toHaveLength(2);
    expect(atk.lines.filter((l) => l.startsWith('got:'))).toHaveLength(1);
  });

  it('a server of another user at an absolute path: connect rejects EACCES before sending a byte, unless allowServerUids names its uid', async () => {
    const dir = join(tmp, 'atk');
    const path = join(dir, 's.sock');
    const atk = attacker(['serve', path, dir, '755']);
    await atk.line('listening');
    for (const mode of modes) expect(await refused(connect(path, { mode, connectTimeout: 1000 }))).toBe('EACCES');
    const c = track(await connect(path, { allowServerUids: [atk.uid] }));
    c.write('proof');
    await atk.line('got:');
    expect(atk.lines.filter((l) => l.startsWith('got:'))).toEqual(['got:proof']);
    expect(atk.lines.filter((l) => l === 'conn')).toHaveLength(3);
  });

  it("a security 'everyone' server started under umask 077 serves another user: its public directory is 0711 and its socket 0666, whatever the umask", async () => {
    const name = uniqueName('t');
    const path = await serveUnderUmask(0o077, name, 'everyone');
    expect(path).toBe(join(tmp, `winpipe-${me}.public`, `${name}.sock`));
    // The other user reaches it by its full path, as docs/named-pipes.md tells them to.
    expect(await attacker(['connect', path]).line('end:', 'error:')).toBe('end:ours');
    const dir = lstatSync(dirname(path));
    expect([dir.isDirectory(), dir.uid, dir.mode & 0o7777]).toEqual([true, me, 0o711]);
    expect(lstatSync(path).mode & 0o7777).toBe(0o666);
  });

  it('a public directory of ours left 0700 (made under umask 077 before) is opened to 0711 by the next listen, and another user gets through', async () => {
    const pub = join(tmp, `winpipe-${me}.public`);
    mkdirSync(pub, { mode: 0o700 });
    chmodSync(pub, 0o700);
    const name = uniqueName('t');
    const server = await serve({ security: 'everyone' }, name, (c) => c.end('ours'));
    expect(await attacker(['connect', server.address()!]).line('end:', 'error:')).toBe('end:ours');
    expect(lstatSync(pub).mode & 0o7777).toBe(0o711);
  });

  it.each(['unset', 'set'] as const)(
    'XDG_RUNTIME_DIR %s, our public directory made first by another user: connect(name, { wait: true }) passes over it (one WINPIPE_UNTRUSTED_CANDIDATE warning) and reaches our own server that comes up 500 ms later; without wait it is EACCES at once; listen there is still refused',
    async (xdg) => {
      if (xdg === 'set') {
        const runtime = mkdtempSync(join(tmp, 'rt-'));
        process.env.XDG_RUNTIME_DIR = runtime; // privateTmp's cleanup restores it
      }
      const warnings = warningsWith('WINPIPE_UNTRUSTED_CANDIDATE');
      const name = uniqueName('t');
      const pub = join(tmp, `winpipe-${me}.public`);
      const atk = attacker(['serve', join(pub, `${name}.sock`), pub, '755']);
      await atk.line('listening');

      // Without wait: today's refusal, at once.
      expect(await refused(connect(name, { connectTimeout: 1000 }))).toBe('EACCES');
      expect(warnings).toHaveLength(0);

      let settled = false;
      const connecting = connect(name, { wait: true, connectTimeout: 15_000 });
      void connecting.then(
        (c) => void track(c),
        () => {},
      );
      void connecting.finally(() => (settled = true)).catch(() => {});
      await sleep(500);
      expect(settled).toBe(false);
      const server = await serve(undefined, name, (c) => c.end('ours'));
      const c = track(await within(connecting, BOUND, 'the waiting connect'));
      expect(c.path).toBe(server.address());
      expect(c.peer.uid).toBe(me);
      expect(await readAll(c)).toBe('ours');
      expect(atk.lines).not.toContain('conn');
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.name).toBe('Warning');

      // The squatted directory is still never served from.
      const everyone = createServer({ security: 'everyone' });
      servers.push(everyone);
      expect(await refused(everyone.listen(uniqueName('t')) as never)).toBe('EACCES');
    },
  );

  it("with wait and no server of ours, a squatted public directory ends the wait with ETIMEDOUT after connectTimeout (cause: the directory's EACCES), never EACCES at once; warned once per process", async () => {
    const warnings = warningsWith('WINPIPE_UNTRUSTED_CANDIDATE');
    const name = uniqueName('t');
    const pub = join(tmp, `winpipe-${me}.public`);
    const atk = attacker(['serve', join(pub, `${name}.sock`), pub, '755']);
    await atk.line('listening');
    for (let i = 0; i < 2; i++) {
      const started = Date.now();
      const err = (await connect(name, { wait: true, connectTimeout: 700 }).then(
        (c) => {
          c.destroy();
          return 'connected';
        },
        (e: unknown) => e,
      )) as { code?: string; cause?: { code?: string; path?: string } };
      expect(err.code).toBe('ETIMEDOUT');
      expect(Date.now() - started).toBeGreaterThanOrEqual(600);
      expect(err.cause?.code).toBe('EACCES');
      expect(err.cause?.path).toBe(pub);
    }
    expect(warnings).toHaveLength(1);
    expect(atk.lines).not.toContain('conn');
  });

  it('winpipe relay -p with our public directory squatted keeps polling and relays once our own server is up (without -p: exit 1, EACCES)', async () => {
    const cli = fileURLToPath(await bundle('cli/main.ts'));
    const name = uniqueName('t');
    const pub = join(tmp, `winpipe-${me}.public`);
    const atk = attacker(['serve', join(pub, `${name}.sock`), pub, '755']);
    await atk.line('listening');

    const once = spawn(process.execPath, [cli, 'relay', name], { stdio: ['ignore', 'pipe', 'pipe'] });
    const onceOut = lined(once, 'relay');
    expect(await within(exited(once), BOUND, 'relay without -p')).toBe(1);
    await new Promise((r) => (once.stderr!.closed ? r(null) : once.stderr!.once('close', r)));
    expect(onceOut.stderr()).toMatch(/^EACCES: /);

    const relay = spawn(process.execPath, [cli, 'relay', '-p', '-v', name], { stdio: ['pipe', 'pipe', 'pipe'] });
    relay.stdin!.end();
    const out = lined(relay, 'relay -p');
    const code = exited(relay);
    await within(
      new Promise<void>((resolve, reject) => {
        const look = (): void => {
          if (out.stderr().includes('polling')) return resolve();
          if (relay.exitCode !== null) return reject(new Error(`relay -p exited (${relay.exitCode}); stderr: ${out.stderr()}`));
          setTimeout(look, 20);
        };
        look();
      }),
      BOUND,
      'relay -p to say it polls',
    );
    await sleep(500);
    expect(relay.exitCode).toBe(null);
    await serve(undefined, name, (c) => c.end('late'));
    expect(await within(code, BOUND, 'relay -p exit')).toBe(0);
    // 'exit' can come before the last stdio data.
    await new Promise((r) => (relay.stdout!.closed ? r(null) : relay.stdout!.once('close', r)));
    await new Promise((r) => (relay.stderr!.closed ? r(null) : relay.stderr!.once('close', r)));
    expect(out.stdout()).toBe('late');
    expect(out.stderr()).toContain('WINPIPE_UNTRUSTED_CANDIDATE');
    expect(atk.lines).not.toContain('conn');
  });
});

describe.runIf(isRoot)('a server serves the user it listened as (skipped when not root: seteuid needs root)', () => {
  it('a createServer server and a Listener that listened as one effective uid accept that uid after the process switched back to root', async () => {
    // The uid need not exist: seteuid takes any number from root. Its directory is new.
    const euid = 40_000 + ((process.pid + 7) % 20_000);
    const dir = join('/tmp', `winpipe-${euid}`);
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const child = spawn(process.execPath, [join(fixturesDir, 'seteuid-server.mjs'), await bundle('index.ts'), await bundle('channel/index.ts'), String(euid), uniqueName('listen-euid')], {
      // Without XDG_RUNTIME_DIR the directory is named after the effective uid, and made by it.
      env: { ...process.env, XDG_RUNTIME_DIR: '' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    const code = await within(exited(child), BOUND, 'seteuid-server exit');
    // Each server compares a client with the uid it listened as, not with the one in effect when
    // the client arrives (root's): the client is handed out and reads the server's reply.
    expect(out.trim().split('\n')).toEqual([`accepted:${euid}`, 'round-trip:ours', 'listener-round-trip:ours']);
    expect(code).toBe(0);
  });
});

describe('socket files: bound in a private staging directory, linked into place, removed by winpipe', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = privateTmp();
  });

  it('listen leaves only the socket (0600 whatever the umask, no staging directory), refuses a path that exists, and close removes the socket', async () => {
    const dir = mkdtempSync(join(tmp, 'abs-'));
    const path = join(dir, 's.sock');
    const old = process.umask(0);
    try {
      const server = await serve(undefined, path);
      expect(readdirSync(dir)).toEqual(['s.sock']);
      expect(lstatSync(path).mode & 0o777).toBe(0o600);
      // Linking never replaces what is there (a rename would): a second server is refused.
      const second = createServer();
      servers.push(second);
      expect(await refused(second.listen(path) as never)).toBe('EADDRINUSE');
      expect(readdirSync(dir)).toEqual(['s.sock']);
      await server.close();
    } finally {
      process.umask(old);
    }
    // libuv was handed an fd and knows no path: winpipe's close removed the linked socket.
    expect(readdirSync(dir)).toEqual([]);
    // By name too: the private directory holds nothing else.
    const name = uniqueName('t');
    const server = await serve(undefined, name);
    expect(readdirSync(dirname(server.address()!))).toEqual([`${name}.sock`]);
    await server.close();
    expect(readdirSync(dirname(server.address()!))).toEqual([]);
  });

  it.each(['077', '022', '777'])('under umask %s a server started by name gets a 0700 private and a 0711 public directory, a 0600 and a 0666 socket, and both answer', async (umask) => {
    const name = uniqueName('t');
    const priv = await serveUnderUmask(parseInt(umask, 8), name, 'current-user');
    const pub = await serveUnderUmask(parseInt(umask, 8), name, 'everyone');
    expect(priv).toBe(join(tmp, `winpipe-${me}`, `${name}.sock`));
    expect(pub).toBe(join(tmp, `winpipe-${me}.public`, `${name}.sock`));
    const modes = (p: string): number[] => [lstatSync(dirname(p)).mode & 0o7777, lstatSync(p).mode & 0o7777];
    expect(modes(priv)).toEqual([0o700, 0o600]);
    expect(modes(pub)).toEqual([0o711, 0o666]);
    // connect's own checks accept both directories.
    expect(await readAll(track(await connect(name)))).toBe('ours');
    expect(await readAll(track(await connect(pub)))).toBe('ours');
  });

  it('a Listener socket is 0600 from the moment it appears, and close removes it', () => {
    const dir = mkdtempSync(join(tmp, 'lst-'));
    const path = join(dir, 'l.sock');
    const old = process.umask(0);
    let listener: Listener;
    try {
      listener = new Listener(path);
    } finally {
      process.umask(old);
    }
    expect(readdirSync(dir)).toEqual(['l.sock']);
    expect(lstatSync(path).mode & 0o777).toBe(0o600);
    listener.close();
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('clients held beyond maxInstances are bounded by maxPendingClients', () => {
  async function clientThatEnds(name: string, options: ConnectOptions): Promise<{ conn: PipeConnection; ended: Promise<unknown> }> {
    const conn = track(await connect(name, options));
    const ended = new Promise((resolve) => {
      conn.once('end', resolve);
      conn.once('close', resolve);
    });
    conn.resume();
    return { conn, ended };
  }

  it.each(modes)('%s mode: with maxInstances 1 and maxPendingClients 2, the fourth client is closed at once; the held ones are served in turn', async (mode) => {
    const name = uniqueName('t');
    const handed: PipeConnection[] = [];
    const server = await serve({ mode, maxInstances: 1, maxPendingClients: 2 }, name, (c) => handed.push(c));
    const first = once(server, 'connection');
    await clientThatEnds(name, { mode });
    await within(first, BOUND, 'the first connection');
    const held = [await clientThatEnds(name, { mode }), await clientThatEnds(name, { mode })];
    const fourth = await clientThatEnds(name, { mode });
    await within(fourth.ended, BOUND, 'the fourth client to be closed');
    let heldEnded = false;
    for (const h of held) void h.ended.then(() => (heldEnded = true));
    await new Promise((r) => setImmediate(r));
    expect(heldEnded).toBe(false);
    // The held ones are handed out, oldest first, as slots free up.
    for (const expected of [2, 3]) {
      const next = once(server, 'connection');
      handed.at(-1)!.destroy();
      await within(next, BOUND, `connection ${expected}`);
      expect(handed).toHaveLength(expected);
    }
  });

  it('by default 64 clients are held beyond maxInstances; the 66th is closed at once', async () => {
    const name = uniqueName('t');
    const server = await serve({ maxInstances: 1 }, name);
    const first = once(server, 'connection');
    await clientThatEnds(name, {});
    await within(first, BOUND, 'the first connection');
    const held = [];
    for (let i = 0; i < 64; i++) held.push(await clientThatEnds(name, {}));
    const extra = await clientThatEnds(name, {});
    await within(extra.ended, BOUND, 'the 66th client to be closed');
    let heldEnded = false;
    for (const h of held) void h.ended.then(() => (heldEnded = true));
    await new Promise((r) => setImmediate(r));
    expect(heldEnded).toBe(false);
  });
});
