// Windows-only named-pipe behaviour: busy instances, security descriptors, first instance.
// Runs on win32 and under Wine (vitest.config.ts). Wine gaps are skips that name the gap.
import { afterEach, describe, expect, it } from 'vitest';
import { connect, createServer, isPipeError, type PipeConnection, type PipeServer } from '../../src/index.js';
import * as k from '../../src/windows/kernel32.js';
import { currentUserSid } from '../../src/windows/security.js';
import { underWine, uniqueName, within } from '../helpers/index.js';

const servers: PipeServer[] = [];
const conns: PipeConnection[] = [];
afterEach(async () => {
  for (const c of conns.splice(0)) c.destroy();
  for (const s of servers.splice(0)) await s.close();
});

async function listen(options: Parameters<typeof createServer>[0], name = uniqueName()): Promise<PipeServer & { securityDescriptor(): string }> {
  const server = createServer(options);
  servers.push(server);
  await server.listen(name);
  return server as PipeServer & { securityDescriptor(): string };
}

async function client(name: string, options?: Parameters<typeof connect>[1]): Promise<PipeConnection> {
  const c = await connect(name, options);
  conns.push(c);
  return c;
}

describe('busy pipe', () => {
  it('maxInstances 1: a second client times out with ETIMEDOUT, then succeeds when the first leaves', async () => {
    const name = uniqueName();
    const server = await listen({ maxInstances: 1 }, name);
    expect(server.listening).toBe(true);
    const first = await client(name);
    const err = await connect(name, { connectTimeout: 300 }).catch((e: unknown) => e);
    expect(isPipeError(err)).toBe(true);
    expect(err).toMatchObject({ code: 'ETIMEDOUT', win32Code: 'ERROR_PIPE_BUSY' });
    const waiting = connect(name, { connectTimeout: 20_000 });
    setTimeout(() => first.destroy(), 100);
    const second = await within(waiting, 25_000, 'connect after the first client left');
    conns.push(second);
    expect(second.serverProcessId).toBe(process.pid);
  });

  it('an AbortSignal stops a connect that waits on a busy pipe', async () => {
    const name = uniqueName();
    await listen({ maxInstances: 1 }, name);
    await client(name);
    const ac = new AbortController();
    const pending = connect(name, { connectTimeout: 20_000, signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await expect(within(pending, 5000, 'aborted connect')).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('security', () => {
  it("'current-user' (default) applies a protected DACL for the user and SYSTEM only", async () => {
    const server = await listen(undefined);
    const sddl = server.securityDescriptor();
    const dacl = sddl.slice(sddl.indexOf('D:'));
    expect(dacl.startsWith('D:P')).toBe(true);
    expect(dacl).toContain(`(A;;GA;;;${currentUserSid()})`);
    expect(dacl).toContain('(A;;GA;;;SY)');
    expect(dacl).not.toContain(';WD)');
    expect(dacl).not.toContain(';AN)');
  });

  it("'everyone' adds read/write for Everyone, without the right to create instances", async () => {
    const server = await listen({ security: 'everyone' });
    const dacl = server.securityDescriptor();
    const ace = dacl.match(/\(A;;([^;]+);;;WD\)/);
    expect(ace).not.toBeNull();
    const rights = /^0x/i.test(ace![1]!) ? Number.parseInt(ace![1]!, 16) : Number.NaN;
    // FILE_CREATE_PIPE_INSTANCE (0x4) must not be granted.
    if (!Number.isNaN(rights)) expect(rights & 0x4).toBe(0);
    else expect(ace![1]).not.toMatch(/GA|GW|FA|FW/);
  });

  it('{ sddl } is applied as given, and a bad SDDL is an EINVAL', async () => {
    const sddl = `D:P(A;;GA;;;${currentUserSid()})`;
    const server = await listen({ security: { sddl } });
    const dacl = server.securityDescriptor();
    expect(dacl).toContain(`(A;;GA;;;${currentUserSid()})`);
    expect(dacl).not.toContain(';SY)');
    await expect(createServer({ security: { sddl: 'not sddl' } }).listen(uniqueName())).rejects.toMatchObject({ code: 'EINVAL' });
  });

  it.skipIf(underWine)('a DACL without the current user denies it: connect fails with EACCES (Wine 8 and 10 do not enforce DACLs for the same user)', async () => {
    const name = uniqueName();
    await listen({ security: { sddl: 'D:P(A;;GA;;;SY)' } }, name);
    await expect(connect(name)).rejects.toMatchObject({ code: 'EACCES', win32Code: 'ERROR_ACCESS_DENIED' });
  });
});

describe('first instance', () => {
  it('listen on a name a squatter already serves fails with EADDRINUSE', async () => {
    const name = uniqueName();
    const path = `\\\\.\\pipe\\${name}`;
    // A squatter created with plain CreateNamedPipeW (no FIRST_PIPE_INSTANCE, default security).
    const squatter = k.CreateNamedPipeW(path, k.PIPE_ACCESS_DUPLEX, k.PIPE_TYPE_BYTE, k.PIPE_UNLIMITED_INSTANCES, 4096, 4096, 0, null);
    expect(squatter).not.toBe(k.INVALID_HANDLE_VALUE);
    try {
      const server = createServer();
      await expect(server.listen(name)).rejects.toMatchObject({ code: 'EADDRINUSE' });
      expect(server.listening).toBe(false);
    } finally {
      k.CloseHandle(squatter);
    }
  });

  it.skipIf(underWine)('FILE_FLAG_FIRST_PIPE_INSTANCE itself refuses an existing name (Wine 8 and 10 do not enforce FIRST_PIPE_INSTANCE)', () => {
    const path = `\\\\.\\pipe\\${uniqueName()}`;
    const a = k.CreateNamedPipeW(path, k.PIPE_ACCESS_DUPLEX, k.PIPE_TYPE_BYTE, k.PIPE_UNLIMITED_INSTANCES, 4096, 4096, 0, null);
    try {
      const b = k.CreateNamedPipeW(path, k.PIPE_ACCESS_DUPLEX | k.FILE_FLAG_FIRST_PIPE_INSTANCE, k.PIPE_TYPE_BYTE, k.PIPE_UNLIMITED_INSTANCES, 4096, 4096, 0, null);
      expect(b).toBe(k.INVALID_HANDLE_VALUE);
      expect(k.GetLastError()).toBe(k.WIN32_ERRORS.ERROR_ACCESS_DENIED);
    } finally {
      k.CloseHandle(a);
    }
  });

  it('firstInstance: false still creates the pipe when the name is free', async () => {
    const name = uniqueName();
    await listen({ firstInstance: false }, name);
    const c = await client(name);
    expect(c.serverProcessId).toBe(process.pid);
  });
});

describe('names and modes', () => {
  it('a remote \\\\server\\pipe\\ name needs allowRemote, checked before any system call', () => {
    expect(() => connect('\\\\otherhost\\pipe\\x')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => createServer().listen('\\\\otherhost\\pipe\\x')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });

  it('a full \\\\.\\pipe\\ path is used as is', async () => {
    const path = `\\\\.\\pipe\\${uniqueName()}`;
    const server = await listen(undefined, path);
    expect(server.address()).toBe(path);
    await client(path);
  });

  it('a message-mode client on a byte-mode pipe fails with EPROTOTYPE', async () => {
    const name = uniqueName();
    await listen({ mode: 'byte' }, name);
    await expect(connect(name, { mode: 'message' })).rejects.toMatchObject({ code: 'EPROTOTYPE' });
  });

  // Only a message client is checked: a byte client of a message pipe connects, each of its writes
  // is one message to the server, and it reads the server's messages as one stream of bytes.
  it('a byte-mode client of a message-mode server connects and reads the messages as bytes', async () => {
    const name = uniqueName();
    let resolveReceived!: (m: Buffer) => void;
    const received = new Promise<Buffer>((resolve) => (resolveReceived = resolve));
    const server = createServer({ mode: 'message' }, async (conn) => {
      await conn.writeMessage(Buffer.from('one'));
      await conn.writeMessage(Buffer.from('two'));
      for await (const m of conn.messages()) resolveReceived(m);
    });
    servers.push(server);
    await server.listen(name);
    const c = await client(name);
    expect(c.mode).toBe('byte');
    let bytes = '';
    c.on('data', (d: Buffer) => (bytes += d));
    c.write('ping');
    expect((await within(received, 10_000, 'the server got the client write as one message')).toString()).toBe('ping');
    const deadline = Date.now() + 10_000;
    while (bytes.length < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(bytes).toBe('onetwo');
  });

  it('a message longer than the 64 KiB read buffer is reassembled from ERROR_MORE_DATA pieces', async () => {
    const name = uniqueName();
    let resolveReceived!: (m: Buffer) => void;
    const received = new Promise<Buffer>((resolve) => (resolveReceived = resolve));
    const server = createServer({ mode: 'message' }, async (conn) => {
      for await (const m of conn.messages()) resolveReceived(m);
    });
    servers.push(server);
    await server.listen(name);
    const c = await client(name, { mode: 'message' });
    const big = Buffer.alloc(300_000);
    for (let i = 0; i < big.length; i++) big[i] = i % 251;
    await c.writeMessage(big);
    expect((await within(received, 10_000, 'big message')).equals(big)).toBe(true);
  });
});

describe('peer identity, read from the pipe when first asked', () => {
  it.each(['byte', 'message'] as const)('%s mode: first asked after the client has gone (our end still open), it is still the client; then kept', async (mode) => {
    const name = uniqueName();
    const server = await listen({ mode, allowHalfOpen: true }, name);
    const accepted = new Promise<PipeConnection>((resolve) => server.once('connection', resolve));
    const c = await client(name, { mode });
    const s = await within(accepted, 10_000, 'the connection');
    conns.push(s);
    const ended = new Promise((resolve) => s.once('end', resolve));
    s.resume();
    c.destroy();
    await within(ended, 10_000, "the server's 'end'");
    expect(s.clientProcessId).toBe(process.pid);
    expect(s.serverProcessId).toBeUndefined();
    const peer = s.peer;
    expect(peer.pid).toBe(process.pid);
    expect(peer.sid).toMatch(/^S-1-/);
    const closed = new Promise((resolve) => s.once('close', resolve));
    s.destroy();
    await within(closed, 10_000, "the server's 'close'");
    // Read once, kept: the same object after the handle is gone.
    expect(s.peer).toBe(peer);
    expect(s.clientProcessId).toBe(process.pid);
  });

  it.each(['byte', 'message'] as const)('%s mode: first asked after the close, the handle is not read: { pid: undefined }', async (mode) => {
    const name = uniqueName();
    const server = await listen({ mode }, name);
    const accepted = new Promise<PipeConnection>((resolve) => server.once('connection', resolve));
    const c = await client(name, { mode });
    const s = await within(accepted, 10_000, 'the connection');
    const closed = new Promise((resolve) => c.once('close', resolve));
    c.destroy();
    s.destroy();
    await within(closed, 10_000, "the client's 'close'");
    expect(c.peer).toEqual({ pid: undefined });
    expect(c.serverProcessId).toBeUndefined();
    expect(c.serverOwnerSid).toMatch(/^S-1-/);
  });
});
