// The security defaults, checked rather than assumed.
// - Pipes are non-inheritable: a child spawned while our ends and connections are open cannot hold
//   them open (end of stream still arrives while it lives).
// - Windows: the default DACL, read back from the live pipe, grants the current user and SYSTEM
//   only; remote clients are rejected; listen takes the first instance, so a squatter makes it fail.
// - POSIX: the socket is 0600 in a 0700 directory of ours; a squatter (a live socket, or a private
//   directory someone else owns) makes listen fail.
//
// Wine gaps (skips that name them, assertions not weakened): Wine 8 and 10 do not enforce
// FILE_FLAG_FIRST_PIPE_INSTANCE or DACLs for the same user (scripts/probe-wine-gaps.mjs). Wine has
// no remote pipes either: \\localhost\pipe\<name> is not found there, as on a Windows without the
// Server service, which the remote-client test accepts, so that test runs under Wine too.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chownSync, lstatSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, createServer, isPipeError, pipePath, type PipeServer } from '../../src/index.js';
import { fixturesDir, trackedPipes } from '../helpers/index.js';
import { BOUND, isWindows, namedPipes, nextConnection, rejection, underWine, uniqueName, within } from './helpers.js';

const pipe = trackedPipes();
const { serve, client, trackServer } = namedPipes();

const children: ChildProcess[] = [];
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const f of cleanups.splice(0)) f();
});

function holdChild(): ChildProcess {
  // A long-lived child spawned while our pipes are open: it would keep any inherited handle alive.
  const c = spawn(process.execPath, [join(fixturesDir, 'hold.mjs'), '60000'], { stdio: 'ignore', windowsHide: true });
  children.push(c);
  return c;
}

describe('security defaults', () => {
  it('anonymous pipe ends are created non-inheritable', () => {
    const { reader, writer } = pipe();
    expect(reader.inheritable).toBe(false);
    expect(writer.inheritable).toBe(false);
  });

  it.each(['byte', 'message'] as const)('%s mode: a child spawned while a connection is open does not inherit it: the peer still sees end of stream', async (mode) => {
    const { server, name } = await serve({ mode });
    const accepted = nextConnection(server);
    const c = await client(name, { mode });
    const s = await accepted;
    const child = holdChild();
    const ended = once(s, 'end');
    s.resume();
    c.destroy();
    await within(ended, BOUND, 'end of stream while the child lives');
    expect(child.exitCode).toBe(null);
    // The server's pending instances were not inherited either: after close the name is free.
    s.destroy();
    await server.close();
    const err = await within(rejection(connect(name, { connectTimeout: 0 })), BOUND, 'connect after close while the child lives');
    expect(err.code).toBe('ENOENT');
  });

  it('a squatter on the name makes listen fail with EADDRINUSE; the squatter keeps its name', async () => {
    // The squatter is another server that got the name first (winpipe's own, firstInstance: false
    // so that it does not matter what it asked for).
    const { name } = await serve({ firstInstance: false });
    const second = trackServer(createServer());
    const err = await rejection(second.listen(name));
    expect(isPipeError(err)).toBe(true);
    expect(err.code).toBe('EADDRINUSE');
    expect(second.listening).toBe(false);
  });

  describe.runIf(isWindows)('Windows', () => {
    async function listening(options?: Parameters<typeof createServer>[0]): Promise<PipeServer & { securityDescriptor(): string }> {
      const { server } = await serve(options);
      return server as PipeServer & { securityDescriptor(): string };
    }

    it('the default DACL, read back from the pipe, is protected and grants only the current user and SYSTEM', async () => {
      const { currentUserSid } = await import('../../src/windows/security.js');
      const sddl = (await listening()).securityDescriptor();
      const dacl = sddl.slice(sddl.indexOf('D:'));
      expect(dacl.startsWith('D:P')).toBe(true);
      const aces = dacl.match(/\([^)]*\)/g) ?? [];
      expect(aces.sort()).toEqual([`(A;;GA;;;${currentUserSid()})`, '(A;;GA;;;SY)'].sort());
    });

    it.skipIf(underWine)('a DACL without the current user is enforced: connect fails with EACCES (skipped under Wine: Wine 8 and 10 do not enforce DACLs for the same user)', async () => {
      const { server } = await serve({ security: { sddl: 'D:P(A;;GA;;;SY)' } });
      const err = await rejection(connect(server.address()!));
      expect(err).toMatchObject({ code: 'EACCES', win32Code: 'ERROR_ACCESS_DENIED' });
    });

    it('remote clients are rejected: \\\\localhost\\pipe\\<name> is refused', async () => {
      const { name } = await serve();
      const err = await within(rejection(connect(`\\\\localhost\\pipe\\${name}`, { allowRemote: true, connectTimeout: 2000 })), BOUND, 'a remote connect');
      expect(isPipeError(err)).toBe(true);
      // PIPE_REJECT_REMOTE_CLIENTS answers ERROR_ACCESS_DENIED; without the Server service the
      // redirector answers that the path is not found. Either way nobody got in.
      expect(['EACCES', 'ENOENT']).toContain(err.code);
    });

    it.skipIf(underWine)('FILE_FLAG_FIRST_PIPE_INSTANCE is enforced by the OS: a second first instance is refused (skipped under Wine: Wine 8 and 10 do not enforce FIRST_PIPE_INSTANCE)', async () => {
      const k = await import('../../src/windows/kernel32.js');
      const path = `\\\\.\\pipe\\${uniqueName('wp-rel-first')}`;
      const a = k.CreateNamedPipeW(path, k.PIPE_ACCESS_DUPLEX, k.PIPE_TYPE_BYTE, k.PIPE_UNLIMITED_INSTANCES, 4096, 4096, 0, null);
      cleanups.push(() => k.CloseHandle(a));
      const b = k.CreateNamedPipeW(path, k.PIPE_ACCESS_DUPLEX | k.FILE_FLAG_FIRST_PIPE_INSTANCE, k.PIPE_TYPE_BYTE, k.PIPE_UNLIMITED_INSTANCES, 4096, 4096, 0, null);
      expect(b).toBe(k.INVALID_HANDLE_VALUE);
      expect(k.GetLastError()).toBe(k.WIN32_ERRORS.ERROR_ACCESS_DENIED);
    });

    it('a raw squatter (plain CreateNamedPipeW, default security) makes listen fail with EADDRINUSE', async () => {
      const k = await import('../../src/windows/kernel32.js');
      const name = uniqueName('wp-rel-squat');
      const squatter = k.CreateNamedPipeW(`\\\\.\\pipe\\${name}`, k.PIPE_ACCESS_DUPLEX, k.PIPE_TYPE_BYTE, k.PIPE_UNLIMITED_INSTANCES, 4096, 4096, 0, null);
      expect(squatter).not.toBe(k.INVALID_HANDLE_VALUE);
      cleanups.push(() => k.CloseHandle(squatter));
      const server = trackServer(createServer());
      expect(await rejection(server.listen(name))).toMatchObject({ code: 'EADDRINUSE' });
    });
  });

  describe.runIf(!isWindows)('POSIX', () => {
    it('the socket is 0600 in a 0700 directory owned by us, whatever the umask', async () => {
      const old = process.umask(0);
      try {
        const { server } = await serve();
        const path = server.address()!;
        expect(lstatSync(path).isSocket()).toBe(true);
        expect(lstatSync(path).mode & 0o777).toBe(0o600);
        const dir = statSync(join(path, '..'));
        expect(dir.mode & 0o777).toBe(0o700);
        expect(dir.uid).toBe(process.getuid!());
      } finally {
        process.umask(old);
      }
    });

    it('a live socket of another program at the path makes listen fail with EADDRINUSE, and it keeps working', async () => {
      const name = uniqueName('wp-rel-squat');
      const path = pipePath(name);
      mkdirSync(join(path, '..'), { recursive: true, mode: 0o700 });
      const squatter = net.createServer((s) => s.end('squatter'));
      cleanups.push(() => squatter.close());
      await new Promise<void>((resolve) => squatter.listen(path, resolve));
      const server = trackServer(createServer());
      expect(await rejection(server.listen(name))).toMatchObject({ code: 'EADDRINUSE' });
      const c = net.connect(path);
      let said = '';
      for await (const chunk of c) said += chunk;
      expect(said).toBe('squatter');
    });

    it.runIf(process.getuid?.() === 0)('a private directory pre-created by another user is refused: listen fails with EACCES (needs root to make one)', async () => {
      const runtime = mkdtempSync(join(tmpdir(), 'wp-xdg-'));
      cleanups.push(() => rmSync(runtime, { recursive: true, force: true }));
      mkdirSync(join(runtime, 'winpipe'), { mode: 0o700 });
      chownSync(join(runtime, 'winpipe'), 65534, 65534);
      const saved = process.env.XDG_RUNTIME_DIR;
      process.env.XDG_RUNTIME_DIR = runtime;
      cleanups.push(() => {
        if (saved === undefined) delete process.env.XDG_RUNTIME_DIR;
        else process.env.XDG_RUNTIME_DIR = saved;
      });
      const server = trackServer(createServer());
      expect(await rejection(server.listen(uniqueName('wp-rel-squat')))).toMatchObject({ code: 'EACCES' });
    });
  });
});
