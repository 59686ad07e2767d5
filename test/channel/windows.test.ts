// Windows-only channel behaviour (winpipe/connection over message-mode named pipes): the pipe
// Pipe() builds, the fd it hands out, and that closing releases every registered wait.
// Runs on win32 and under Wine (vitest.config.ts).
import { describe, expect, it } from 'vitest';
import { Client, Listener, Pipe } from '../../src/channel/index.js';
import { getOsfHandle } from '../../src/windows/crt.js';
import * as k from '../../src/windows/kernel32.js';
import { overlappedStats } from '../../src/windows/overlapped.js';
import { readSecurity, currentUserSid } from '../../src/windows/security.js';
import { syncCode, uniqueName, within } from '../helpers/index.js';

/** Resolves once `check()` is true, polling on a timer; rejects after `ms` (a hang check only). */
function eventually(check: () => boolean, ms: number, what: string): Promise<void> {
  return within(
    new Promise<void>((resolve) => {
      const tick = (): void => {
        if (check()) resolve();
        else setTimeout(tick, 10);
      };
      tick();
    }),
    ms,
    what,
  );
}

describe('winpipe/connection on Windows', () => {
  it('Pipe() ends are message-mode, overlapped named-pipe handles with a current-user DACL', async () => {
    const [a, b] = Pipe();
    try {
      for (const end of [a, b]) {
        expect(k.GetFileType(end.handle)).toBe(k.FILE_TYPE_PIPE);
      }
      const sddl = readSecurity(a.handle);
      expect(sddl).toContain(currentUserSid());
      expect(sddl).not.toContain(';WD)');
      // Message mode: two sends stay two messages even when both are waiting before the first read.
      await b.sendBytes(Buffer.from('one'));
      await b.sendBytes(Buffer.from('two'));
      expect((await a.recvBytes()).toString()).toBe('one');
      expect((await a.recvBytes()).toString()).toBe('two');
    } finally {
      a.close();
      b.close();
    }
  });

  it("conn.fd is a descriptor in Node's own CRT table over a duplicate of the pipe handle", () => {
    const [a, b] = Pipe();
    try {
      const fd = a.fd;
      expect(fd).toBeGreaterThan(2);
      expect(a.fd).toBe(fd);
      const h = getOsfHandle(fd);
      expect(h).not.toBe(k.INVALID_HANDLE_VALUE);
      expect(h).not.toBe(a.handle);
      expect(k.GetFileType(h)).toBe(k.FILE_TYPE_PIPE);
    } finally {
      a.close();
      b.close();
    }
    expect(a.fd).toBe(-1);
  });

  it('closing pipes, connections and listeners releases every registered wait', async () => {
    const before = overlappedStats().pendingWaits;
    const [a, b] = Pipe();
    await a.sendBytes(Buffer.from('x'));
    await b.recvBytes();
    const address = `\\\\.\\pipe\\${uniqueName('wp-chw')}`;
    const listener = new Listener(address, { authkey: 'k' });
    const [s, c] = await Promise.all([listener.accept(), Client(address, { authkey: 'k' })]);
    await c.sendBytes(Buffer.from('y'));
    await s.recvBytes();
    const pendingAccept = listener.accept().catch(() => undefined);
    for (const x of [a, b, s, c]) x.close();
    listener.close();
    await pendingAccept;
    await eventually(() => overlappedStats().pendingWaits <= before, 30_000, 'every wait released');
    expect(overlappedStats().pendingWaits).toBeLessThanOrEqual(before);
  });

  it('a remote \\\\server\\pipe\\ address needs allowRemote, as connect() does, and is refused before any open', async () => {
    const listener = new Listener(`\\\\.\\pipe\\${uniqueName('wp-ch-remote')}`);
    try {
      const remote = listener.address.replace(/^\\\\\.\\/, '\\\\localhost\\');
      // Thrown, not rejected: nothing was opened, so no login to the named machine was tried.
      for (const addr of [remote, '\\\\otherhost\\pipe\\x']) {
        expect(syncCode(() => Client(addr))).toBe('ERR_INVALID_ARG_VALUE');
        expect(syncCode(() => Client(addr, { allowRemote: false }))).toBe('ERR_INVALID_ARG_VALUE');
      }
      expect(syncCode(() => Client(remote, { allowRemote: 'yes' as never }))).toBe('ERR_INVALID_ARG_TYPE');
      await new Promise((r) => setTimeout(r, 50));
      expect(listener.connectionStats().current).toBe(0);
      // allowRemote changes nothing for a local address.
      const [server, client] = await within(Promise.all([listener.accept(), Client(listener.address, { allowRemote: true })]), 10_000, 'a local Client with allowRemote');
      await client.sendBytes(Buffer.from('local'));
      expect((await server.recvBytes()).toString()).toBe('local');
      server.close();
      client.close();
    } finally {
      listener.close();
    }
  });
});
