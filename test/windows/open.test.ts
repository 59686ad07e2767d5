// Windows names and owners: names stay in the pipe namespace, a server never stops serving
// silently between instances, clients connect only to pipes a trusted SID owns, and sizes that
// cross a 32-bit FFI parameter are refused. Runs on win32 and under Wine.
import { writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, createServer, type PipeConnection, type PipeServer } from '../../src/index.js';
import { Client } from '../../src/channel/index.js';
import * as k from '../../src/windows/kernel32.js';
import { SecurityAttributes, currentUserSid } from '../../src/windows/security.js';
import { defaultTrustedOwners, tokenOwnerSid } from '../../src/windows/trust.js';
import { messageTransportFromHandle } from '../../src/windows/transport.js';
import { codeOf, syncCode, uniqueName, within } from '../helpers/index.js';

const OTHER_SID = 'S-1-5-21-1-2-3-1001';
const servers: PipeServer[] = [];
const conns: { destroy(): unknown }[] = [];
const raw: bigint[] = [];
afterEach(async () => {
  for (const c of conns.splice(0)) c.destroy();
  for (const s of servers.splice(0)) await s.close();
  for (const h of raw.splice(0)) k.CloseHandle(h);
});

async function listen(options: Parameters<typeof createServer>[0], name = uniqueName(), onConn?: (c: PipeConnection) => void): Promise<PipeServer> {
  const server = createServer(options, onConn);
  servers.push(server);
  await server.listen(name);
  return server;
}

/** A one-instance pipe made directly with CreateNamedPipeW, with the given SDDL (owner included). */
function rawPipe(name: string, sddl: string, message = false): bigint {
  const sa = new SecurityAttributes({ sddl });
  try {
    const type = message ? k.PIPE_TYPE_MESSAGE | k.PIPE_READMODE_MESSAGE : 0;
    const h = k.CreateNamedPipeW(`\\\\.\\pipe\\${name}`, k.PIPE_ACCESS_DUPLEX, type, 1, 4096, 4096, 0, sa.bytes);
    expect(h).not.toBe(k.INVALID_HANDLE_VALUE);
    raw.push(h);
    return h;
  } finally {
    sa.free();
  }
}

/** Whether the client end of a raw instance was closed: PeekNamedPipe fails with ERROR_BROKEN_PIPE then. */
function clientClosed(server: bigint): boolean {
  const ok = k.PeekNamedPipe(server, null, 0, null, null, null);
  return !ok && k.GetLastError() === k.WIN32_ERRORS.ERROR_BROKEN_PIPE;
}

describe('names cannot leave the pipe namespace', () => {
  it("connect('..\\\\C:\\\\file') is refused with ERR_INVALID_ARG_VALUE before any system call, and the file stays unlocked", () => {
    const file = join(tmpdir(), `${uniqueName()}.txt`);
    writeFileSync(file, 'secret');
    try {
      for (const name of [`..\\${file}`, `\\\\.\\pipe\\..\\${file}`, `\\\\?\\pipe\\..\\${file}`, `a\\..\\..\\${file}`, `//./pipe/../${file}`]) {
        expect(
          syncCode(() => connect(name)),
          name,
        ).toBe('ERR_INVALID_ARG_VALUE');
        expect(
          syncCode(() => createServer().listen(name)),
          name,
        ).toBe('ERR_INVALID_ARG_VALUE');
      }
      // Nothing holds the file: it opens with no sharing at all.
      const h = k.CreateFileW(file, k.GENERIC_READ | k.GENERIC_WRITE, 0, null, k.OPEN_EXISTING, 0, null);
      expect(h).not.toBe(k.INVALID_HANDLE_VALUE);
      k.CloseHandle(h);
    } finally {
      rmSync(file, { force: true });
    }
  });

  it('a ..\\UNC\\ name is refused even with allowRemote (it could reach a remote pipe through the local namespace)', () => {
    expect(syncCode(() => connect('..\\UNC\\server\\pipe\\x'))).toBe('ERR_INVALID_ARG_VALUE');
    expect(syncCode(() => connect('..\\UNC\\server\\pipe\\x', { allowRemote: true }))).toBe('ERR_INVALID_ARG_VALUE');
    expect(syncCode(() => connect('\\\\.\\pipe\\..\\UNC\\server\\pipe\\x', { allowRemote: true }))).toBe('ERR_INVALID_ARG_VALUE');
  });

  it('the //./pipe/NAME spelling (WSL recipes) and \\\\?\\pipe\\NAME reach the server of NAME; address() shows \\\\.\\pipe\\NAME', async () => {
    const name = uniqueName();
    const server = await listen(undefined, `//./pipe/${name}`);
    expect(server.address()).toBe(`\\\\.\\pipe\\${name}`);
    for (const spelling of [name, `//./pipe/${name}`, `\\\\?\\pipe\\${name}`, `\\\\.\\pipe\\${name}`]) {
      const c = await connect(spelling);
      conns.push(c);
      expect(c.path).toBe(`\\\\.\\pipe\\${name}`);
      expect(c.serverProcessId).toBe(process.pid);
    }
  });

  it('winpipe/connection addresses follow the same rule: .. refused, //./pipe/ accepted', async () => {
    const file = join(tmpdir(), `${uniqueName()}.txt`);
    expect(syncCode(() => Client(`\\\\.\\pipe\\..\\${file}`))).toBe('ERR_INVALID_ARG_VALUE');
    const name = uniqueName();
    const server = await listen({ mode: 'message' }, name);
    expect(server.listening).toBe(true);
    const c = await Client(`//./pipe/${name}`);
    conns.push({ destroy: () => c.close() });
  });

  it('a failed connect closes its handle: a mode mismatch leaves the instance free of our client', async () => {
    const name = uniqueName();
    const server = rawPipe(name, 'D:P(A;;GA;;;WD)');
    expect(await codeOf(connect(name, { mode: 'message' }))).toBe('EPROTOTYPE');
    expect(clientClosed(server)).toBe(true);
  });
});

describe('server owner check', () => {
  it(`a pipe owned by another SID (${OTHER_SID}) is refused with EACCES, and the handle is closed`, async () => {
    const name = uniqueName();
    const server = rawPipe(name, `O:${OTHER_SID}D:P(A;;GA;;;WD)`);
    expect(await codeOf(connect(name))).toBe('EACCES');
    expect(clientClosed(server)).toBe(true);
  });

  it('the winpipe/connection Client refuses it too (the same check), and closes the handle', async () => {
    const name = uniqueName();
    const server = rawPipe(name, `O:${OTHER_SID}D:P(A;;GA;;;WD)`, true);
    expect(await codeOf(Client(`\\\\.\\pipe\\${name}`))).toBe('EACCES');
    expect(clientClosed(server)).toBe(true);
  });

  it("trustedServerOwners widens the set (['default', sid]) or turns the check off ('any'); the owner is on the connection", async () => {
    for (const trustedServerOwners of [['default', OTHER_SID], [OTHER_SID.toLowerCase()], 'any'] as const) {
      const name = uniqueName();
      rawPipe(name, `O:${OTHER_SID}D:P(A;;GA;;;WD)`);
      const c = await connect(name, { trustedServerOwners });
      conns.push(c);
      expect(c.serverOwnerSid).toBe(OTHER_SID);
    }
    const name = uniqueName();
    rawPipe(name, `O:${OTHER_SID}D:P(A;;GA;;;WD)`, true);
    const c = await Client(`\\\\.\\pipe\\${name}`, { trustedServerOwners: 'any' });
    conns.push({ destroy: () => c.close() });
  });

  it("by default our own server passes (owner: our token's default owner) and so do SYSTEM and Administrators", async () => {
    const name = uniqueName();
    await listen(undefined, name);
    const c = await connect(name);
    conns.push(c);
    expect(c.serverOwnerSid).toBe(tokenOwnerSid());
    expect(defaultTrustedOwners()).toEqual(expect.arrayContaining([tokenOwnerSid(), 'S-1-5-18', 'S-1-5-32-544']));
    for (const owner of ['SY', 'BA']) {
      const n = uniqueName();
      rawPipe(n, `O:${owner}D:P(A;;GA;;;WD)`);
      const d = await connect(n);
      conns.push(d);
      expect(d.serverOwnerSid).toBe(owner === 'SY' ? 'S-1-5-18' : 'S-1-5-32-544');
    }
  });

  it('a pipe made without a security descriptor (libuv, go-winio defaults) passes: its owner, or under Wine (no owner) its server process user', async () => {
    const name = uniqueName();
    const h = k.CreateNamedPipeW(`\\\\.\\pipe\\${name}`, k.PIPE_ACCESS_DUPLEX, 0, 1, 4096, 4096, 0, null);
    raw.push(h);
    const c = await connect(name);
    conns.push(c);
    expect([tokenOwnerSid(), currentUserSid()]).toContain(c.serverOwnerSid);
  });

  it('trustedServerOwners narrows the set: a list without our owner refuses our own server with EACCES', async () => {
    const name = uniqueName();
    await listen(undefined, name);
    expect(await codeOf(connect(name, { trustedServerOwners: ['S-1-5-18'] }))).toBe('EACCES');
    // The refused client's instance was closed: the server still accepts the next client.
    const c = await connect(name);
    conns.push(c);
  });
});

describe('maxInstances 1 keeps serving', () => {
  // Byte mode is not here: libuv closes the handle a few turns before 'close', and a client that
  // comes in that window still finds no pipe (docs/guarantees.md, "Not covered yet").
  for (const mode of ['message'] as const) {
    it(`${mode} mode: after each reply-then-end() the next client is served; no 'error', still listening`, async () => {
      const name = uniqueName();
      const errors: unknown[] = [];
      const server = await listen({ mode, maxInstances: 1 }, name, (conn) => {
        void (async () => {
          for await (const m of conn.messages()) {
            await conn.writeMessage(Buffer.concat([Buffer.from('re:'), m]));
            conn.end();
            break;
          }
        })();
      });
      server.on('error', (e) => errors.push(e));
      for (let i = 0; i < 5; i++) {
        const c = await connect(name, { mode, connectTimeout: 5000 });
        conns.push(c);
        await c.writeMessage(Buffer.from(`m${i}`));
        const got: Buffer[] = [];
        for await (const m of c.messages()) got.push(m);
        expect(Buffer.concat(got).toString()).toBe(`re:m${i}`);
        c.destroy();
      }
      expect(server.listening).toBe(true);
      expect(errors).toEqual([]);
    });
  }

  it("a message connection emits 'close' only after its pipe handle is released (the instance is free on 'close')", async () => {
    const name = uniqueName();
    const server = rawPipe(name, 'D:P(A;;GA;;;WD)', true);
    const c = await connect(name, { mode: 'message' });
    const closed = new Promise<boolean>((resolve) => c.once('close', () => resolve(clientClosed(server))));
    c.destroy();
    expect(await within(closed, 5000, "'close'")).toBe(true);
  });
});

describe('sizes that cross a 32-bit FFI parameter', () => {
  /** A real view whose byteLength claims 4 GiB: what the validation sees, without allocating it. */
  function claims4GiB(): Uint8Array {
    const view = new Uint8Array(1);
    Object.defineProperty(view, 'byteLength', { value: 2 ** 32 });
    return view;
  }

  it('writeMessage / write of a 4 GiB message reject with ERR_MESSAGE_TOO_LARGE (WriteFile takes a DWORD)', async () => {
    const name = uniqueName();
    await listen({ mode: 'message' }, name);
    const c = await connect(name, { mode: 'message' });
    conns.push(c);
    expect(await codeOf(c.writeMessage(claims4GiB()))).toBe('ERR_MESSAGE_TOO_LARGE');
    const viaWrite = new Promise<unknown>((resolve) => c.write(claims4GiB(), (err) => resolve((err as { code?: unknown } | null)?.code)));
    c.on('error', () => {});
    expect(await viaWrite).toBe('ERR_MESSAGE_TOO_LARGE');
  });

  it('the message transport (also under winpipe/connection) refuses it before WriteFile', async () => {
    const name = uniqueName();
    const server = k.CreateNamedPipeW(`\\\\.\\pipe\\${name}`, k.PIPE_ACCESS_DUPLEX | k.FILE_FLAG_OVERLAPPED, k.PIPE_TYPE_MESSAGE | k.PIPE_READMODE_MESSAGE, 1, 4096, 4096, 0, null);
    const t = messageTransportFromHandle(server, name, 1024);
    try {
      expect(t.maxSendSize).toBe(0xffff_ffff);
      expect(await codeOf(t.send(claims4GiB()))).toBe('ERR_MESSAGE_TOO_LARGE');
    } finally {
      await t.destroy();
    }
  });
});
