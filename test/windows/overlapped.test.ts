// The registered-wait fallback of src/windows/overlapped.ts (the path byte-mode accepts take): its
// events are lent from a pool, each with one persistent wait, so a signal that no pending
// operation caused (a synchronous completion also sets the event) must not settle the next one.
// Windows only (vitest.config.ts runs this folder on win32 and under Wine).
import { describe, expect, it } from 'vitest';
import * as k from '../../src/windows/kernel32.js';
import { NativeBuffer, OverlappedSlot, overlappedStats } from '../../src/windows/overlapped.js';
import { uniqueName, within } from '../helpers/index.js';

/** A connected named-pipe pair: an overlapped server end and a blocking client end. */
function pair(): { server: k.HANDLE; client: k.HANDLE } {
  const name = `\\\\.\\pipe\\${uniqueName('ov')}`;
  const server = k.CreateNamedPipeW(name, k.PIPE_ACCESS_DUPLEX | k.FILE_FLAG_OVERLAPPED, k.PIPE_TYPE_BYTE | k.PIPE_READMODE_BYTE | k.PIPE_WAIT, 1, 4096, 4096, 0, null);
  expect(server).not.toBe(k.INVALID_HANDLE_VALUE);
  const client = k.CreateFileW(name, k.GENERIC_READ | k.GENERIC_WRITE, 0, null, k.OPEN_EXISTING, 0, null);
  expect(client).not.toBe(k.INVALID_HANDLE_VALUE);
  return { server, client };
}

function write(handle: k.HANDLE, text: string): void {
  expect(k.WriteFile(handle, Buffer.from(text), text.length, [0], null)).toBe(true);
}

describe('wait fallback (port: false)', () => {
  it('a read that finished at once leaves its event set; the next, pending read still waits for its own data', async () => {
    const before = overlappedStats();
    const { server, client } = pair();
    const buf = new NativeBuffer(64);
    try {
      for (let round = 0; round < 3; round++) {
        // A slot per round: from the second on, the event comes from the pool, signalled.
        const slot = new OverlappedSlot(server, { port: false });
        write(client, 'now');
        const first = slot.issue('ReadFile', (ov) => k.ReadFile(server, buf.ptr, 64, null as never, ov));
        expect(first).toEqual({ error: 0, bytes: 3 });
        let settled = false;
        const pending = slot.start('ReadFile', (ov) => k.ReadFile(server, buf.ptr, 64, null as never, ov)).then((c) => {
          settled = true;
          return c;
        });
        // Long enough for the stray signal to reach the wait callback: it must not settle the read.
        await new Promise((r) => setTimeout(r, 100));
        expect(settled).toBe(false);
        expect(overlappedStats().pendingWaits).toBe(before.pendingWaits + 1);
        write(client, 'later');
        expect(await within(pending, 10_000, 'the pending read')).toEqual({ error: 0, bytes: 5 });
        expect(buf.read(5).toString()).toBe('later');
        slot.free();
      }
      expect(overlappedStats()).toEqual(before);
    } finally {
      buf.free();
      k.CloseHandle(client);
      k.CloseHandle(server);
    }
  });

  it('a cancelled pending read settles with ERROR_OPERATION_ABORTED, and its event serves the next slot', async () => {
    const before = overlappedStats();
    const { server, client } = pair();
    const buf = new NativeBuffer(64);
    try {
      const slot = new OverlappedSlot(server, { port: false });
      const pending = slot.start('ReadFile', (ov) => k.ReadFile(server, buf.ptr, 64, null as never, ov));
      slot.cancel();
      expect((await within(pending, 10_000, 'the cancelled read')).error).toBe(k.WIN32_ERRORS.ERROR_OPERATION_ABORTED);
      slot.free();
      const next = new OverlappedSlot(server, { port: false });
      const read = next.start('ReadFile', (ov) => k.ReadFile(server, buf.ptr, 64, null as never, ov));
      write(client, 'next');
      expect(await within(read, 10_000, 'the next slot read')).toEqual({ error: 0, bytes: 4 });
      next.free();
      expect(overlappedStats()).toEqual(before);
    } finally {
      buf.free();
      k.CloseHandle(client);
      k.CloseHandle(server);
    }
  });
});
