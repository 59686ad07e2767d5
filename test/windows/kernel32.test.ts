// winpipe/win32: the typed kernel32 layer, used raw as a power user would (Windows only;
// vitest.config.ts runs this folder on win32 and under Wine).
import { describe, expect, it } from 'vitest';
import * as k from '../../src/windows/kernel32.js';
import { uniqueName } from '../helpers/index.js';

function ok(result: boolean, what: string): void {
  if (!result) throw new Error(`${what} failed with Win32 error ${k.GetLastError()}`);
}

describe('winpipe/win32', () => {
  it('CreatePipe, WriteFile, PeekNamedPipe, ReadFile, CloseHandle', () => {
    const r: k.Out<k.HANDLE> = [0n];
    const w: k.Out<k.HANDLE> = [0n];
    ok(k.CreatePipe(r, w, null, 0), 'CreatePipe');
    try {
      const done: k.Out<number> = [0];
      ok(k.WriteFile(w[0], Buffer.from('raw'), 3, done, null), 'WriteFile');
      expect(done[0]).toBe(3);
      const avail: k.Out<number> = [0];
      ok(k.PeekNamedPipe(r[0], null, 0, null, avail, null), 'PeekNamedPipe');
      expect(avail[0]).toBe(3);
      const buf = Buffer.alloc(8);
      ok(k.ReadFile(r[0], buf, 8, done, null), 'ReadFile');
      expect(buf.subarray(0, done[0]).toString()).toBe('raw');
      expect(k.GetFileType(r[0])).toBe(k.FILE_TYPE_PIPE);
    } finally {
      ok(k.CloseHandle(r[0]), 'CloseHandle');
      ok(k.CloseHandle(w[0]), 'CloseHandle');
    }
  });

  it('handles from CreatePipe with NULL attributes are not inheritable; SetHandleInformation flips it', () => {
    const r: k.Out<k.HANDLE> = [0n];
    const w: k.Out<k.HANDLE> = [0n];
    ok(k.CreatePipe(r, w, null, 0), 'CreatePipe');
    const flags: k.Out<number> = [0];
    ok(k.GetHandleInformation(r[0], flags), 'GetHandleInformation');
    expect(flags[0] & k.HANDLE_FLAG_INHERIT).toBe(0);
    ok(k.SetHandleInformation(r[0], k.HANDLE_FLAG_INHERIT, k.HANDLE_FLAG_INHERIT), 'SetHandleInformation');
    ok(k.GetHandleInformation(r[0], flags), 'GetHandleInformation');
    expect(flags[0] & k.HANDLE_FLAG_INHERIT).toBe(k.HANDLE_FLAG_INHERIT);
    k.CloseHandle(r[0]);
    k.CloseHandle(w[0]);
  });

  it('writing to a pipe whose reader is closed fails with ERROR_NO_DATA (232)', () => {
    const r: k.Out<k.HANDLE> = [0n];
    const w: k.Out<k.HANDLE> = [0n];
    ok(k.CreatePipe(r, w, null, 0), 'CreatePipe');
    k.CloseHandle(r[0]);
    expect(k.WriteFile(w[0], Buffer.from('x'), 1, [0], null)).toBe(false);
    expect([k.WIN32_ERRORS.ERROR_NO_DATA, k.WIN32_ERRORS.ERROR_BROKEN_PIPE]).toContain(k.GetLastError());
    k.CloseHandle(w[0]);
  });

  it('CreateNamedPipeW, CreateFileW, ConnectNamedPipe, GetNamedPipeClientProcessId, DisconnectNamedPipe', () => {
    const name = `\\\\.\\pipe\\${uniqueName()}`;
    const server = k.CreateNamedPipeW(name, k.PIPE_ACCESS_DUPLEX, k.PIPE_TYPE_MESSAGE | k.PIPE_READMODE_MESSAGE | k.PIPE_WAIT | k.PIPE_REJECT_REMOTE_CLIENTS, 1, 4096, 4096, 0, null);
    expect(server).not.toBe(k.INVALID_HANDLE_VALUE);
    try {
      const client = k.CreateFileW(name, k.GENERIC_READ | k.GENERIC_WRITE, 0, null, k.OPEN_EXISTING, 0, null);
      expect(client).not.toBe(k.INVALID_HANDLE_VALUE);
      try {
        // The client connected before the server asked: ConnectNamedPipe reports ERROR_PIPE_CONNECTED.
        if (!k.ConnectNamedPipe(server, null)) expect(k.GetLastError()).toBe(k.WIN32_ERRORS.ERROR_PIPE_CONNECTED);
        const pid: k.Out<number> = [0];
        ok(k.GetNamedPipeClientProcessId(server, pid), 'GetNamedPipeClientProcessId');
        expect(pid[0]).toBe(k.GetCurrentProcessId());
        // Message mode: a short read gets ERROR_MORE_DATA, the rest comes next.
        const mode: [number] = [k.PIPE_READMODE_MESSAGE];
        ok(k.SetNamedPipeHandleState(client, mode, null, null), 'SetNamedPipeHandleState');
        ok(k.WriteFile(server, Buffer.from('0123456789'), 10, [0], null), 'WriteFile');
        const part = Buffer.alloc(4);
        const got: k.Out<number> = [0];
        expect(k.ReadFile(client, part, 4, got, null)).toBe(false);
        expect(k.GetLastError()).toBe(k.WIN32_ERRORS.ERROR_MORE_DATA);
        expect(part.toString()).toBe('0123');
        const rest = Buffer.alloc(16);
        ok(k.ReadFile(client, rest, 16, got, null), 'ReadFile');
        expect(rest.subarray(0, got[0]).toString()).toBe('456789');
        ok(k.DisconnectNamedPipe(server), 'DisconnectNamedPipe');
        // A disconnected client reads end of file as ERROR_PIPE_NOT_CONNECTED or ERROR_BROKEN_PIPE.
        expect(k.ReadFile(client, rest, 16, got, null)).toBe(false);
        expect([k.WIN32_ERRORS.ERROR_PIPE_NOT_CONNECTED, k.WIN32_ERRORS.ERROR_BROKEN_PIPE]).toContain(k.GetLastError());
      } finally {
        k.CloseHandle(client);
      }
    } finally {
      k.CloseHandle(server);
    }
  });

  it('CreateFileW on a name nobody serves fails with ERROR_FILE_NOT_FOUND', () => {
    const h = k.CreateFileW(`\\\\.\\pipe\\${uniqueName('absent')}`, k.GENERIC_READ, 0, null, k.OPEN_EXISTING, 0, null);
    expect(h).toBe(k.INVALID_HANDLE_VALUE);
    expect(k.GetLastError()).toBe(k.WIN32_ERRORS.ERROR_FILE_NOT_FOUND);
  });
});
