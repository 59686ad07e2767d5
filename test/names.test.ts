// The Windows name rule (src/names.ts pipePath / win32OpenPath) as pure functions, and the
// trustedServerOwners option's validation: run on every platform, since neither makes a system call.
// POSIX: whose socket directory a name lives in, for a process that changed its effective uid.
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connect, pipePath } from '../src/index.js';
import { win32OpenPath } from '../src/names.js';
import { bundle } from './helpers/bundle.js';
import { collect, exited, fixturesDir, isWindows, syncCode, uniqueName } from './helpers/index.js';
import { isRoot } from './helpers/users.js';

const win = { platform: 'win32' as const };

describe('Windows pipe names', () => {
  it("refuse any '..' segment with ERR_INVALID_ARG_VALUE, whatever the spelling", () => {
    for (const name of ['..\\C:\\Windows\\win.ini', '..', 'a\\..\\b', 'a/../b', '\\\\.\\pipe\\..\\x', '\\\\?\\pipe\\a\\..', '//./pipe/../x', '..\\UNC\\srv\\pipe\\x', '\\\\srv\\pipe\\..\\x']) {
      expect(
        syncCode(() => pipePath(name, win)),
        name,
      ).toBe('ERR_INVALID_ARG_VALUE');
    }
    // A '..' inside a segment is an ordinary name.
    expect(pipePath('a..b', win)).toBe('\\\\.\\pipe\\a..b');
  });

  it('accept //./pipe/NAME and \\\\?\\pipe\\NAME, shown as \\\\.\\pipe\\NAME and opened as \\\\?\\pipe\\NAME', () => {
    for (const name of ['x', '//./pipe/x', '\\\\?\\pipe\\x', '\\\\.\\pipe\\x', '//?/pipe/x']) {
      expect(pipePath(name, win), name).toBe('\\\\.\\pipe\\x');
    }
    expect(win32OpenPath('\\\\.\\pipe\\x')).toBe('\\\\?\\pipe\\x');
    // Remote paths keep their server; they need allowRemote to be opened at all.
    expect(pipePath('\\\\srv\\pipe\\x', win)).toBe('\\\\srv\\pipe\\x');
    expect(win32OpenPath('\\\\srv\\pipe\\x')).toBe('\\\\srv\\pipe\\x');
  });
});

describe('connect options: trustedServerOwners', () => {
  it('takes default, any, or SIDs; anything else is a TypeError before any system call', () => {
    const name = 'winpipe-never-served';
    expect(syncCode(() => connect(name, { trustedServerOwners: 5 as never }))).toBe('ERR_INVALID_ARG_TYPE');
    expect(syncCode(() => connect(name, { trustedServerOwners: [7] as never }))).toBe('ERR_INVALID_ARG_TYPE');
    expect(syncCode(() => connect(name, { trustedServerOwners: ['bob'] }))).toBe('ERR_INVALID_ARG_VALUE');
    expect(syncCode(() => connect(name, { trustedServerOwners: 'all' as never }))).toBe('ERR_INVALID_ARG_TYPE');
    for (const ok of ['default', 'any', ['default', 'S-1-5-21-1-2-3-1001'], ['s-1-5-18']] as const) {
      expect(
        syncCode(() => connect(name, { trustedServerOwners: ok, connectTimeout: 0 }).catch(() => {})),
        JSON.stringify(ok),
      ).toBe('no error');
    }
  });
});

describe.runIf(isRoot && !isWindows)('POSIX socket directories follow the effective uid (skipped when not root: seteuid needs root)', () => {
  it('a process that changed only its effective uid names its directory after that uid, and its own server and client meet there', async () => {
    // The uid need not exist: seteuid takes any number from root. The directory it names is new.
    const euid = 40_000 + (process.pid % 20_000);
    const name = uniqueName('euid');
    // Node ignores TMPDIR in a process whose uids differ (os.tmpdir() then says /tmp), as it does
    // every variable it reads for itself in a setuid process.
    const dir = join('/tmp', `winpipe-${euid}`);
    const child = spawn(process.execPath, [join(fixturesDir, 'seteuid-names.mjs'), await bundle('index.ts'), String(euid), name], {
      // Without XDG_RUNTIME_DIR the directory is named after the uid, which is what this is about.
      env: { ...process.env, XDG_RUNTIME_DIR: '' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const [out, code] = await Promise.all([collect(child.stdout), exited(child)]);
      const [path, result] = out.trim().split('\n');
      expect(path).toBe(join(dir, `${name}.sock`));
      expect(result).toBe('round-trip:ours');
      expect(code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
