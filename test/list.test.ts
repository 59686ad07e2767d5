// listPipes() (src/list.ts): the enumeration `winpipe ls` prints, without connecting. A live server
// is listed, and is not once closed. Wine (8.0 and 10.0 both, scripts/probe-wine-gaps.mjs) cannot list
// \\.\pipe\ (FindFirstFileW fails with ERROR_BAD_DEV_TYPE, 66): there it rejects with ENOTSUP, and
// the listing tests are skipped.
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import koffi from 'koffi';
import { afterAll, describe, expect, it } from 'vitest';
import { connect, createServer, listPipes, pipePath, type PipeServer } from '../src/index.js';
import { codeOf, isWindows, underWine, uniqueName } from './helpers/index.js';

/** The Wine version (ntdll's wine_get_version), or undefined off Wine. */
function wineVersion(): string | undefined {
  if (!isWindows) return undefined;
  try {
    return koffi.load('ntdll.dll').func('const char *wine_get_version()')() as string;
  } catch {
    return undefined;
  }
}
const wine = wineVersion();
/** Wine (8.0 and 10.0 alike) has no directory listing for the pipe device. */
const cannotList = wine !== undefined;
const skipReason = cannotList ? `Wine ${wine} cannot list \\\\.\\pipe\\ (FindFirstFileW: ERROR_BAD_DEV_TYPE, 66; so do Wine 8 and 10)` : undefined;

const servers: PipeServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.close();
});

async function serve(name: string, options: Parameters<typeof createServer>[0] = {}): Promise<PipeServer> {
  const server = createServer(options, (conn) => conn.destroy());
  servers.push(server);
  await server.listen(name);
  return server;
}

describe('listPipes()', () => {
  it.skipIf(cannotList)(`sees a live server, by the path and name connect takes, and not after close${skipReason ? ` (skipped: ${skipReason})` : ''}`, async () => {
    const name = uniqueName('wp-list');
    const server = await serve(name);
    const path = server.address() as string;
    const found = (await listPipes()).filter((p) => p.path === path);
    expect(found).toHaveLength(1);
    const [p] = found;
    expect(p!.name).toBe(name);
    expect(pipePath(p!.name)).toBe(path);
    if (isWindows) {
      // One instance listens; nothing else is known without connecting.
      expect(p!.instances).toBeGreaterThanOrEqual(1);
      expect(p!.security).toBeUndefined();
    } else {
      expect(p!.security).toBe('current-user');
      expect(p!.instances).toBeUndefined();
    }
    // Listing is not a connection: the server still has none, and a client still gets one.
    const conn = await connect(p!.name);
    conn.destroy();
    await server.close();
    expect((await listPipes()).some((q) => q.path === path)).toBe(false);
  });

  it.skipIf(cannotList)(`is sorted by path, and every entry's name maps back to its path${skipReason ? ` (skipped: ${skipReason})` : ''}`, async () => {
    await serve(uniqueName('wp-list-b'));
    await serve(uniqueName('wp-list-a'));
    const all = await listPipes();
    const paths = all.map((p) => p.path);
    expect(paths).toEqual([...paths].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    for (const p of all) expect(p.path.endsWith(isWindows ? `\\${p.name}` : `/${p.name}.sock`)).toBe(true);
  });

  it.runIf(cannotList)(`Wine (here ${wine}): rejects with ENOTSUP, as \`winpipe ls\` reports it`, async () => {
    expect(await codeOf(listPipes())).toBe('ENOTSUP');
  });

  describe.runIf(!isWindows)("POSIX: only what winpipe serves in this user's directories", () => {
    it("lists a security: 'everyone' server as such, and not a socket at an absolute path", async () => {
      const pub = await serve(uniqueName('wp-list-pub'), { security: 'everyone' });
      const dir = mkdtempSync(join(tmpdir(), 'wp-list-abs-'));
      try {
        const abs = await serve(join(dir, 'x.sock'));
        const all = await listPipes();
        expect(all.find((p) => p.path === pub.address())?.security).toBe('everyone');
        expect(all.some((p) => p.path === abs.address())).toBe(false);
        await abs.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('skips a socket directory connect would refuse (open to other users), and lists it once it is private again', async () => {
      const runtime = mkdtempSync(join(tmpdir(), 'wp-list-xdg-'));
      const saved = process.env.XDG_RUNTIME_DIR;
      const other = net.createServer();
      try {
        process.env.XDG_RUNTIME_DIR = runtime;
        const dir = join(runtime, 'winpipe');
        mkdirSync(dir, { mode: 0o700 });
        const sock = join(dir, `${uniqueName('wp-list-loose')}.sock`);
        await new Promise<void>((resolve) => other.listen(sock, resolve));
        expect((await listPipes()).some((p) => p.path === sock)).toBe(true);
        chmodSync(dir, 0o755);
        expect((await listPipes()).some((p) => p.path === sock)).toBe(false);
        chmodSync(dir, 0o700);
        expect((await listPipes()).some((p) => p.path === sock)).toBe(true);
      } finally {
        await new Promise((resolve) => other.close(resolve));
        if (saved === undefined) delete process.env.XDG_RUNTIME_DIR;
        else process.env.XDG_RUNTIME_DIR = saved;
        rmSync(runtime, { recursive: true, force: true });
      }
    });
  });

  it.runIf(underWine)(`the Wine version is known to this file: ${wine ?? 'none'}`, () => {
    expect(wine).toMatch(/^\d+\.\d+/);
  });
});
