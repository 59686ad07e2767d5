// POSIX-only named-pipe behaviour (Unix domain sockets): file and directory modes, stale sockets,
// sun_path, the maxInstances hold queue, directions, half-close, the wire format, EAGAIN.
// vitest.config.ts runs this folder on Linux and macOS only.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, createServer, isPipeError, pipePath, type ConnectOptions, type CreateServerOptions, type PipeConnection, type PipeServer } from '../../src/index.js';
import { SUN_PATH_MAX } from '../../src/names.js';
import { collect, exited, uniqueName, within } from '../helpers/index.js';

const BOUND = 20_000;
const modes = ['byte', 'message'] as const;

const servers: PipeServer[] = [];
const streams: Duplex[] = [];
const children: ChildProcess[] = [];
const dirs: string[] = [];
const cleanups: (() => void)[] = [];
afterEach(async () => {
  for (const s of streams.splice(0)) s.destroy();
  for (const s of servers.splice(0)) await s.close();
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  for (const f of cleanups.splice(0)) f();
});

function track<T extends Duplex>(s: T): T {
  streams.push(s);
  s.on('error', () => {});
  return s;
}

async function serve(options?: CreateServerOptions, listener?: (c: PipeConnection) => void, name = uniqueName()): Promise<{ server: PipeServer; name: string; path: string }> {
  const server = createServer(options, (c) => {
    track(c);
    listener?.(c);
  });
  servers.push(server);
  await server.listen(name);
  return { server, name, path: server.address()! };
}

async function client(name: string, options?: ConnectOptions): Promise<PipeConnection> {
  return track(await connect(name, options));
}

function nextConnection(server: PipeServer): Promise<PipeConnection> {
  return once(server, 'connection').then(([c]) => c as PipeConnection);
}

function readToEnd(stream: Duplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => parts.push(Buffer.from(chunk)));
    stream.once('end', () => resolve(Buffer.concat(parts)));
    stream.once('error', reject);
  });
}

function readBytes(stream: Duplex, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let got = 0;
    const onData = (chunk: Buffer): void => {
      parts.push(chunk);
      got += chunk.length;
      if (got >= n) {
        stream.off('data', onData);
        stream.pause();
        resolve(Buffer.concat(parts));
      }
    };
    stream.on('data', onData);
    stream.once('error', reject);
    stream.resume();
  });
}

function tempDir(): string {
  // Short: sun_path is small.
  const dir = mkdtempSync(join(tmpdir(), 'wp-'));
  dirs.push(dir);
  return dir;
}

function uid(): number {
  return process.getuid!();
}

/** Leaves a socket file that nobody listens on: a child binds it and exits without unlinking. */
function makeStaleSocket(path: string): void {
  const script = `require('net').createServer().listen(${JSON.stringify(path)}, () => process.exit(0))`;
  const r = spawnSync(process.execPath, ['-e', script], { stdio: 'inherit' });
  expect(r.status).toBe(0);
  expect(lstatSync(path).isSocket()).toBe(true);
}

/** Points XDG_RUNTIME_DIR (where names live) at `dir` for this test; restored by its cleanup. */
function useRuntimeDir(dir: string): void {
  const saved = process.env.XDG_RUNTIME_DIR;
  process.env.XDG_RUNTIME_DIR = dir;
  cleanups.push(() => {
    if (saved === undefined) delete process.env.XDG_RUNTIME_DIR;
    else process.env.XDG_RUNTIME_DIR = saved;
  });
}

describe('socket files and directories', () => {
  it("security 'current-user' (default): a 0600 socket in a 0700 directory of ours, named <name>.sock", async () => {
    const { name, path } = await serve();
    const runtime = process.env.XDG_RUNTIME_DIR;
    const dir = runtime ? join(runtime, 'winpipe') : join(tmpdir(), `winpipe-${uid()}`);
    expect(path).toBe(join(dir, `${name}.sock`));
    const sock = lstatSync(path);
    expect(sock.isSocket()).toBe(true);
    expect(sock.mode & 0o777).toBe(0o600);
    const st = statSync(dir);
    expect(st.mode & 0o777).toBe(0o700);
    expect(st.uid).toBe(uid());
  });

  it('the socket mode does not depend on the umask', async () => {
    const old = process.umask(0);
    try {
      const { path } = await serve();
      expect(lstatSync(path).mode & 0o777).toBe(0o600);
      const dir = tempDir();
      const { path: abs } = await serve(undefined, undefined, join(dir, 's.sock'));
      expect(lstatSync(abs).mode & 0o777).toBe(0o600);
    } finally {
      process.umask(old);
    }
  });

  // Not the shared sticky `winpipe-shared` directory of before, which whoever made it first owns,
  // but a public directory of our own (docs/security.md, 'everyone').
  it("security 'everyone': a 0666 socket in our own 0711 public directory; connect(name) finds it", async () => {
    const old = process.umask(0o077);
    let served;
    try {
      served = await serve({ security: 'everyone' }, (c) => c.end('shared'));
    } finally {
      process.umask(old);
    }
    const { name, path } = served;
    expect(path).toBe(join(tmpdir(), `winpipe-${uid()}.public`, `${name}.sock`));
    expect(path).toBe(pipePath(name, { security: 'everyone' }));
    expect(lstatSync(path).mode & 0o777).toBe(0o666);
    const pub = lstatSync(join(tmpdir(), `winpipe-${uid()}.public`));
    expect(pub.isDirectory()).toBe(true);
    expect(pub.mode & 0o7777).toBe(0o711);
    expect(pub.uid).toBe(uid());
    // By name: not in the private directory, so connect looks in our public one.
    const c = await client(name);
    expect(c.path).toBe(path);
    expect((await readToEnd(c)).toString()).toBe('shared');
    // By full path too.
    const d = await client(path);
    expect((await readToEnd(d)).toString()).toBe('shared');
  });

  it('an absolute path is used as is, with mode 0600', async () => {
    const path = join(tempDir(), 'abs.sock');
    const { server } = await serve(undefined, (c) => c.end('abs'), path);
    expect(server.address()).toBe(path);
    expect(lstatSync(path).mode & 0o777).toBe(0o600);
    expect((await readToEnd(await client(path))).toString()).toBe('abs');
  });

  it('close() removes the socket file', async () => {
    const { server, path } = await serve();
    expect(existsSync(path)).toBe(true);
    await server.close();
    expect(existsSync(path)).toBe(false);
  });

  it('a stale socket (nobody listening) gives ENOENT to connect and is replaced by listen', async () => {
    const name = uniqueName();
    // Make sure the private directory exists, then leave a dead socket in it.
    const { server: first } = await serve(undefined, undefined, uniqueName());
    await first.close();
    const path = pipePath(name);
    makeStaleSocket(path);
    const err = await within(
      connect(name, { connectTimeout: 60_000 }).then(
        () => null,
        (e: unknown) => e,
      ),
      BOUND,
      'connect to a stale socket',
    );
    expect(isPipeError(err)).toBe(true);
    expect(err).toMatchObject({ code: 'ENOENT', syscall: 'connect', path });
    const { server } = await serve(undefined, (c) => c.end('fresh'), name);
    expect(server.address()).toBe(path);
    expect((await readToEnd(await client(name))).toString()).toBe('fresh');
  });

  it('a regular file at the path is never deleted: listen rejects with EADDRINUSE', async () => {
    const path = join(tempDir(), 'file.sock');
    writeFileSync(path, 'precious');
    const server = createServer();
    servers.push(server);
    const err = await server.listen(path).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isPipeError(err)).toBe(true);
    expect(err).toMatchObject({ code: 'EADDRINUSE', path });
    expect(readFileSync(path, 'utf8')).toBe('precious');
    expect(server.listening).toBe(false);
  });

  it("a live socket of another program (Node's net.Server) gives EADDRINUSE and is left working", async () => {
    const path = join(tempDir(), 'live.sock');
    const nodeServer = net.createServer((s) => s.end('node'));
    cleanups.push(() => nodeServer.close());
    await new Promise<void>((resolve) => nodeServer.listen(path, resolve));
    const server = createServer();
    servers.push(server);
    await expect(server.listen(path)).rejects.toMatchObject({ code: 'EADDRINUSE' });
    expect((await readToEnd(await client(path))).toString()).toBe('node');
  });

  it('a loosened private directory is tightened back to 0700', async () => {
    // Its own runtime directory: loosening the real one would fail connects of anything else
    // running as this user meanwhile (a bench, another suite).
    useRuntimeDir(tempDir());
    const { path } = await serve();
    const dir = join(path, '..');
    spawnSync('chmod', ['0755', dir]);
    await serve();
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  it.skipIf(uid() !== 0)('a private directory owned by another user is refused with EACCES (needs root to chown)', async () => {
    const runtime = tempDir();
    const squatted = join(runtime, 'winpipe');
    spawnSync('mkdir', ['-m', '0700', squatted]);
    expect(spawnSync('chown', ['12345', squatted]).status).toBe(0);
    useRuntimeDir(runtime);
    const server = createServer();
    servers.push(server);
    await expect(server.listen(uniqueName())).rejects.toMatchObject({ code: 'EACCES', path: squatted });
  });

  it('connect checks the socket directory of a name: a symlink is ENOTDIR, a loosened one EACCES, a missing one ENOENT', async () => {
    const runtime = tempDir();
    useRuntimeDir(runtime);
    const dir = join(runtime, 'winpipe');
    const name = uniqueName();
    await expect(connect(name)).rejects.toMatchObject({ code: 'ENOENT' });
    const { server } = await serve(undefined, (c) => c.end('ok'), name);
    expect((await readToEnd(await client(name))).toString()).toBe('ok');
    spawnSync('chmod', ['0755', dir]);
    await expect(connect(name)).rejects.toMatchObject({ code: 'EACCES', path: dir });
    spawnSync('chmod', ['0700', dir]);
    expect((await readToEnd(await client(name))).toString()).toBe('ok');
    await server.close();
    const real = join(runtime, 'real');
    spawnSync('mv', [dir, real]);
    symlinkSync(real, dir);
    await expect(connect(name)).rejects.toMatchObject({ code: 'ENOTDIR', path: dir });
  });
  it('connect(name) follows a change of XDG_RUNTIME_DIR, TMPDIR or TMP between two connects, both ways (the directories are read on every connect, as os.tmpdir() reads them)', async () => {
    // Two servers of one name, in two runtime directories: each connect reaches the one where the
    // environment points now, and again the first after switching back.
    const name = uniqueName();
    const a = tempDir();
    const b = tempDir();
    useRuntimeDir(a);
    await serve(undefined, (c) => c.end('a'), name);
    expect((await readToEnd(await client(name))).toString()).toBe('a');
    process.env.XDG_RUNTIME_DIR = b;
    await expect(connect(name)).rejects.toMatchObject({ code: 'ENOENT' });
    await serve(undefined, (c) => c.end('b'), name);
    expect((await readToEnd(await client(name))).toString()).toBe('b');
    process.env.XDG_RUNTIME_DIR = a;
    expect((await readToEnd(await client(name))).toString()).toBe('a');
    // XDG_RUNTIME_DIR unset: the private directory is under TMPDIR, which is followed the same way.
    delete process.env.XDG_RUNTIME_DIR;
    const savedTmp = process.env.TMPDIR;
    cleanups.push(() => {
      if (savedTmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = savedTmp;
    });
    const t1 = tempDir();
    const t2 = tempDir();
    process.env.TMPDIR = t1;
    await serve(undefined, (c) => c.end('t1'), name);
    expect((await readToEnd(await client(name))).toString()).toBe('t1');
    process.env.TMPDIR = t2;
    await expect(connect(name)).rejects.toMatchObject({ code: 'ENOENT' });
    await serve(undefined, (c) => c.end('t2'), name);
    expect((await readToEnd(await client(name))).toString()).toBe('t2');
    process.env.TMPDIR = t1;
    const back = await client(name);
    expect(back.path).toBe(join(t1, `winpipe-${uid()}`, `${name}.sock`));
    expect((await readToEnd(back)).toString()).toBe('t1');
    // As os.tmpdir(): TMP counts only while TMPDIR is empty or unset.
    const savedTmpVar = process.env.TMP;
    cleanups.push(() => {
      if (savedTmpVar === undefined) delete process.env.TMP;
      else process.env.TMP = savedTmpVar;
    });
    process.env.TMP = t2;
    expect((await readToEnd(await client(name))).toString()).toBe('t1');
    process.env.TMPDIR = '';
    expect((await readToEnd(await client(name))).toString()).toBe('t2');
    process.env.TMP = t1;
    expect((await readToEnd(await client(name))).toString()).toBe('t1');
  });

  it('with XDG_RUNTIME_DIR set, connect(name) looks for an everyone-server in the public directory of the TMPDIR it finds at that connect', async () => {
    // The private directory comes from XDG_RUNTIME_DIR alone; the public one, tried when the
    // private one has no such socket, from the temporary directory read then, not when the
    // runtime directory was first read.
    const name = uniqueName();
    const t1 = tempDir();
    const t2 = tempDir();
    useRuntimeDir(tempDir());
    const savedTmp = process.env.TMPDIR;
    cleanups.push(() => {
      if (savedTmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = savedTmp;
    });
    process.env.TMPDIR = t1;
    await serve({ security: 'everyone' }, (c) => c.end('t1'), name);
    const first = await client(name);
    expect(first.path).toBe(join(t1, `winpipe-${uid()}.public`, `${name}.sock`));
    expect((await readToEnd(first)).toString()).toBe('t1');
    process.env.TMPDIR = t2;
    await expect(connect(name)).rejects.toMatchObject({ code: 'ENOENT' });
    await serve({ security: 'everyone' }, (c) => c.end('t2'), name);
    expect((await readToEnd(await client(name))).toString()).toBe('t2');
    process.env.TMPDIR = t1;
    expect((await readToEnd(await client(name))).toString()).toBe('t1');
  });
});

describe('names and sun_path', () => {
  it(`a path of ${SUN_PATH_MAX - 1} bytes works; ${SUN_PATH_MAX} bytes is rejected, never truncated`, async () => {
    const dir = tempDir();
    const fits = join(dir, 'a'.repeat(SUN_PATH_MAX - 1 - dir.length - 1));
    expect(Buffer.byteLength(fits)).toBe(SUN_PATH_MAX - 1);
    expect(pipePath(fits)).toBe(fits);
    await serve(undefined, (c) => c.end('fits'), fits);
    expect((await readToEnd(await client(fits))).toString()).toBe('fits');

    const tooLong = `${fits}b`;
    const server = createServer();
    servers.push(server);
    for (const call of [() => pipePath(tooLong), () => server.listen(tooLong), () => connect(tooLong)]) {
      let err: unknown;
      try {
        call();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(TypeError);
      expect((err as { code: string }).code).toBe('ERR_INVALID_ARG_VALUE');
    }
    expect(existsSync(tooLong)).toBe(false);
  });

  it("a relative name with '/' is rejected (use an absolute path to choose the place)", () => {
    expect(() => pipePath('a/b')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => connect('a/b')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });

  it('a name whose path would overflow sun_path is rejected by pipePath', () => {
    const dirLength = Buffer.byteLength(pipePath('x')) - 'x.sock'.length;
    const name = 'n'.repeat(SUN_PATH_MAX - dirLength - '.sock'.length);
    expect(() => pipePath(name)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(pipePath(name.slice(1))).toHaveLength(SUN_PATH_MAX - 1);
  });
});

describe('maxInstances: excess clients are held in arrival order', () => {
  it.each(modes)('%s mode: with maxInstances 2, clients 3 and 4 are handed out as 1 and 2 close, data intact', async (mode) => {
    const handedOut: string[] = [];
    const live = new Set<PipeConnection>();
    const { server, name } = await serve({ mode, maxInstances: 2 }, (conn) => {
      live.add(conn);
      conn.once('close', () => live.delete(conn));
      conn.once('data', (first: Buffer) => {
        handedOut.push(first.toString());
        conn.write(first);
      });
      conn.on('end', () => conn.end());
    });
    const clients: PipeConnection[] = [];
    for (const id of ['1', '2', '3', '4']) {
      // POSIX: every connect succeeds at once; the kernel has accepted it.
      const c = await client(name, { mode });
      c.write(Buffer.from(id));
      clients.push(c);
    }
    const answer = (c: PipeConnection, id: string): Promise<Buffer> => readBytes(c, id.length);
    expect((await within(answer(clients[0]!, '1'), BOUND, 'client 1')).toString()).toBe('1');
    expect((await within(answer(clients[1]!, '2'), BOUND, 'client 2')).toString()).toBe('2');
    expect(live.size).toBe(2);
    expect(handedOut).toEqual(['1', '2']);
    expect(server.listening).toBe(true);

    clients[0]!.destroy();
    expect((await within(answer(clients[2]!, '3'), BOUND, 'client 3 after 1 left')).toString()).toBe('3');
    expect(live.size).toBe(2);
    clients[1]!.destroy();
    expect((await within(answer(clients[3]!, '4'), BOUND, 'client 4 after 2 left')).toString()).toBe('4');
    expect(handedOut).toEqual(['1', '2', '3', '4']);
    expect(live.size).toBeLessThanOrEqual(2);
  });

  it('close() drops held clients (they see end of stream) and leaves the live one working', async () => {
    const { server, name } = await serve({ maxInstances: 1 }, (conn) => {
      conn.on('data', (d: Buffer) => conn.write(d));
      conn.on('end', () => conn.end());
    });
    const first = await client(name);
    first.write('a');
    expect((await readBytes(first, 1)).toString()).toBe('a');
    const held = await client(name);
    const heldEnd = new Promise<string>((resolve) => {
      held.once('end', () => resolve('end'));
      held.once('error', (e: { code?: string }) => resolve(e.code ?? 'error'));
      held.once('close', () => resolve('close'));
      held.resume();
    });
    // The held client has been accepted by the server process once a later round trip is done.
    first.write('b');
    expect((await readBytes(first, 1)).toString()).toBe('b');
    await server.close();
    expect(['end', 'close', 'ECONNRESET']).toContain(await within(heldEnd, BOUND, 'the held client noticing the close'));
    first.write('c');
    expect((await readBytes(first, 1)).toString()).toBe('c');
  });
});

describe('directions (access)', () => {
  it("server 'inbound': the client (duplex) reads end of stream at once; a server write fails as on an ended stream", async () => {
    const { server, name } = await serve({ access: 'inbound' });
    const accepted = nextConnection(server);
    const c = await client(name);
    const s = await accepted;
    expect((await within(readToEnd(c), BOUND, 'the client reading')).length).toBe(0);
    expect(s.writable).toBe(false);
    const err = await new Promise((resolve) => s.write('x', resolve));
    expect(err).toMatchObject({ code: 'ERR_STREAM_WRITE_AFTER_END' });
  });

  it("server 'outbound': the server side ends reading at once; on Linux the client's writes then fail with EPIPE", async () => {
    const { server, name } = await serve({ access: 'outbound' });
    const accepted = nextConnection(server);
    const c = await client(name);
    const s = await accepted;
    await within(once(s, 'end'), BOUND, "the server's read side ending");
    s.write('still writable');
    expect((await readBytes(c, 14)).toString()).toBe('still writable');
    if (process.platform === 'linux') {
      const err = await within(
        new Promise((resolve) => {
          c.once('error', resolve);
          const pump = (): void => {
            if (!c.destroyed) c.write(Buffer.alloc(1024), () => setImmediate(pump));
          };
          pump();
        }),
        BOUND,
        'a write against a read-shut server',
      );
      expect(err).toMatchObject({ code: 'EPIPE' });
    }
  });

  it.each(modes)("%s mode: client 'write' ends its read side at once; client 'read' shows the server end of stream", async (mode) => {
    // The server replies after the 'read' client's end: half-open on purpose.
    const { server, name } = await serve({ mode, allowHalfOpen: true });
    const accepted = nextConnection(server);
    const writer = await client(name, { mode, access: 'write' });
    const s1 = await accepted;
    if (mode === 'byte') await within(once(writer, 'end'), BOUND, "the 'write' client's read side ending");
    else expect(writer.readable).toBe(false);
    writer.write(Buffer.from('w'));
    const got =
      mode === 'byte'
        ? readBytes(s1, 1)
        : s1
            .messages()
            .next()
            .then((r) => r.value as Buffer);
    expect((await got).toString()).toBe('w');

    const accepted2 = nextConnection(server);
    const reader = await client(name, { mode, access: 'read' });
    const s2 = await accepted2;
    expect(reader.writable).toBe(false);
    s2.resume();
    await within(once(s2, 'end'), BOUND, "the server seeing the 'read' client's end");
    s2.write(Buffer.from('r'));
    const back =
      mode === 'byte'
        ? readBytes(reader, 1)
        : reader
            .messages()
            .next()
            .then((r) => r.value as Buffer);
    expect((await back).toString()).toBe('r');
  });
});

describe('half-close', () => {
  it.each(modes)('%s mode: the client ends, the server reads everything, then still replies', async (mode) => {
    const { name } = await serve({ mode, allowHalfOpen: true }, (conn) => {
      void (async () => {
        const parts: string[] = [];
        // messages() in both modes: a plain `for await (const chunk of conn)` would destroy the
        // stream at its end (Node's stream iterator), and there would be no side left to reply on.
        for await (const m of conn.messages()) parts.push(m.toString());
        // End of stream seen; our side is still open.
        conn.end(Buffer.from(`got ${parts.join('+')}`));
      })();
    });
    const c = await client(name, { mode });
    c.write(Buffer.from('a'));
    c.write(Buffer.from('b'));
    c.end();
    const reply = mode === 'message' ? (async () => (await c.messages().next()).value as Buffer)() : readToEnd(c);
    expect((await within(reply, BOUND, 'the reply after half-close')).toString()).toBe(mode === 'message' ? 'got a+b' : 'got ab');
  });
});

describe('wire format (CPython multiprocessing.connection)', () => {
  async function rawPair(options?: CreateServerOptions): Promise<{ raw: net.Socket; s: PipeConnection }> {
    const { server, path } = await serve({ mode: 'message', ...options });
    const accepted = nextConnection(server);
    const raw = track(net.connect(path));
    await once(raw, 'connect');
    return { raw, s: await accepted };
  }

  it('a 4-byte big-endian length, then the bytes; 0 is an empty message; -1 + 8-byte length is read too', async () => {
    const { raw, s } = await rawPair();
    const long = Buffer.alloc(12);
    long.writeInt32BE(-1, 0);
    long.writeBigUInt64BE(5n, 4);
    raw.write(Buffer.concat([Buffer.from([0, 0, 0, 3]), Buffer.from('abc'), Buffer.from([0, 0, 0, 0]), long, Buffer.from('fives')]));
    const it = s.messages();
    const got = [(await it.next()).value, (await it.next()).value, (await it.next()).value].map((m) => (m as Buffer).toString());
    expect(got).toEqual(['abc', '', 'fives']);
    const wire = readBytes(raw, 6 + 4);
    await s.writeMessage(Buffer.from('xy'));
    await s.writeMessage(Buffer.alloc(0));
    expect([...(await wire)]).toEqual([0, 0, 0, 2, 0x78, 0x79, 0, 0, 0, 0]);
  });

  it('end of stream in the middle of a message is ECONNRESET', async () => {
    const { raw, s } = await rawPair();
    raw.end(Buffer.from([0, 0, 0, 10, 0x61]));
    const err = await within(
      s
        .messages()
        .next()
        .then(
          () => null,
          (e: unknown) => e,
        ),
      BOUND,
      'a truncated message',
    );
    expect(isPipeError(err)).toBe(true);
    expect((err as { code: string }).code).toBe('ECONNRESET');
  });

  it('a negative length is EPROTO; a message before it in the same bytes still arrives', async () => {
    const { raw, s } = await rawPair();
    raw.write(Buffer.from([0, 0, 0, 1, 0x7a, 0xff, 0xff, 0xff, 0xfe]));
    const it = s.messages();
    expect(((await it.next()).value as Buffer).toString()).toBe('z');
    const err = await within(
      it.next().then(
        () => null,
        (e: unknown) => e,
      ),
      BOUND,
      'a bad length',
    );
    expect((err as { code: string }).code).toBe('EPROTO');
  });

  const python = spawnSync('python3', ['-c', 'import multiprocessing.connection'], { stdio: 'ignore' }).status === 0;
  it.skipIf(!python)("Python's multiprocessing.connection.Client talks to a message-mode server (needs python3)", async () => {
    const { path } = await serve({ mode: 'message' }, (conn) => {
      void (async () => {
        for await (const m of conn.messages()) await conn.writeMessage(Buffer.concat([Buffer.from('echo:'), m]));
        conn.end();
      })().catch(() => {});
    });
    const script = [
      'import sys',
      'from multiprocessing.connection import Client',
      'c = Client(sys.argv[1], family="AF_UNIX")',
      'for m in [b"hello", b"", b"x" * 100000]:',
      '    c.send_bytes(m)',
      '    r = c.recv_bytes()',
      '    print(len(r), r[:7].decode())',
      'c.close()',
    ].join('\n');
    const child = spawn('python3', ['-c', script, path], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    const out = collect(child.stdout);
    expect(await within(exited(child), BOUND, 'the Python client')).toBe(0);
    expect((await out).trim().split('\n')).toEqual(['10 echo:he', '5 echo:', '100005 echo:xx']);
  });
});

describe.skipIf(process.platform !== 'linux')('full listen backlog (Linux: EAGAIN; macOS reports ECONNREFUSED instead)', () => {
  it('connect retries on EAGAIN until the timeout (ETIMEDOUT), and gets through once the server accepts again', async () => {
    const path = join(tempDir(), 'busy.sock');
    // A server whose event loop is blocked in a read of its stdin: it accepts nobody until we write.
    const script = `
      const net = require('net'), fs = require('fs');
      net.createServer((s) => s.end('served')).listen({ path: ${JSON.stringify(path)}, backlog: 1 }, () => {
        console.log('ready');
        fs.readSync(0, Buffer.alloc(1));
      });`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
    children.push(child);
    await within(once(child.stdout!, 'data'), BOUND, 'the blocked server starting');
    // Fill the backlog with plain Node clients until the kernel refuses with EAGAIN.
    let full = false;
    for (let i = 0; i < 64 && !full; i++) {
      const s = track(net.connect(path));
      const r = await new Promise<string>((resolve) => {
        s.once('connect', () => resolve('connected'));
        s.once('error', (e: { code?: string }) => resolve(e.code ?? 'error'));
      });
      if (r === 'EAGAIN') full = true;
      else expect(r).toBe('connected');
    }
    expect(full).toBe(true);
    const err = await within(
      connect(path, { connectTimeout: 200 }).then(
        () => null,
        (e: unknown) => e,
      ),
      BOUND,
      'connect on a full backlog',
    );
    expect(isPipeError(err)).toBe(true);
    expect(err).toMatchObject({ code: 'ETIMEDOUT', syscall: 'connect', path });

    const waiting = connect(path, { connectTimeout: 60_000 });
    child.stdin!.write('x');
    const c = track(await within(waiting, BOUND, 'connect after the server accepts again'));
    expect((await readToEnd(c)).toString()).toBe('served');
  });

  it('an AbortSignal stops a connect that waits on a full backlog', async () => {
    const path = join(tempDir(), 'busy.sock');
    const script = `
      const net = require('net'), fs = require('fs');
      net.createServer().listen({ path: ${JSON.stringify(path)}, backlog: 1 }, () => {
        console.log('ready');
        fs.readSync(0, Buffer.alloc(1));
      });`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
    children.push(child);
    await within(once(child.stdout!, 'data'), BOUND, 'the blocked server starting');
    for (let i = 0; i < 64; i++) {
      const s = track(net.connect(path));
      const r = await new Promise<string>((resolve) => {
        s.once('connect', () => resolve('connected'));
        s.once('error', (e: { code?: string }) => resolve(e.code ?? 'error'));
      });
      if (r === 'EAGAIN') break;
    }
    const ac = new AbortController();
    const pending = connect(path, { connectTimeout: 60_000, signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await expect(within(pending, BOUND, 'an aborted connect')).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
  });
});
