// Named-pipe servers must not starve Node: pending accepts and idle connections hold no thread of
// libuv's pool, and a listening server or an open connection keeps the process alive only while
// ref'd.
// Contract tests: natively (POSIX) and under Wine (Windows).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, createServer, type PipeConnection, type PipeServer } from '../src/index.js';
import { collect, exited, fixturesDir, removeStaleSocket, spawnFixture, uniqueName, within } from './helpers/index.js';

const servers: PipeServer[] = [];
const conns: PipeConnection[] = [];
afterEach(async () => {
  for (const c of conns.splice(0)) c.destroy();
  for (const s of servers.splice(0)) await s.close();
});

describe.each(['byte', 'message'] as const)('%s mode under load', (mode) => {
  it('with 256 idle clients and pending accepts, fs.promises.readFile still completes', async () => {
    const name = uniqueName();
    const accepted: PipeConnection[] = [];
    const server = createServer({ mode, pendingInstances: 8 }, (conn) => {
      accepted.push(conn);
      conns.push(conn);
    });
    servers.push(server);
    await server.listen(name);
    const clients: PipeConnection[] = [];
    for (let i = 0; i < 256; i++) clients.push(await connect(name, { mode }));
    conns.push(...clients);
    await within(
      (async () => {
        while (accepted.length < 256) await new Promise((r) => setTimeout(r, 10));
      })(),
      30_000,
      'accepting 256 clients',
    );
    // Every server-side connection now has a read pending, and 8 accepts wait for clients.
    for (const c of accepted) c.on('data', () => {});
    const text = await within(readFile(fileURLToPath(import.meta.url), 'utf8'), 20_000, 'fs.promises.readFile under 256 idle pipes');
    expect(text).toContain('256 idle clients');
    // And the connections still work: the last client's message reaches its server side.
    const last = clients[clients.length - 1]!;
    const echoed = new Promise<Buffer>((resolve) => {
      for (const c of accepted) c.on('data', (d: Buffer) => d.toString() === 'still alive' && resolve(d));
    });
    last.write(Buffer.from('still alive'));
    expect((await within(echoed, 10_000, 'data on the 256th connection')).toString()).toBe('still alive');
  });
});

// The fixture imports the built package by its own name (package self-reference), so dist/ must exist.
const built = existsSync(join(fixturesDir, '..', '..', 'dist', 'esm', 'index.js'));

describe.skipIf(!built)('keeping the process alive (needs dist/: npm test builds it)', () => {
  it("a ref'd listening server keeps its process alive; unref() lets it exit", async () => {
    const name = uniqueName();
    const refChild = spawnFixture('server-ref.mjs', [name, 'ref'], ['ignore', 'pipe', 'inherit']);
    let said = '';
    // Wait until it listens (a node.exe under a loaded Wine can take seconds to start), then it
    // must still be alive well after that.
    await within(
      new Promise<void>((resolve, reject) => {
        refChild.stdout!.on('data', (d: Buffer) => {
          said += d.toString();
          if (said.includes('listening')) resolve();
        });
        refChild.once('exit', () => reject(new Error(`exited before listening: ${said}`)));
      }),
      60_000,
      'the ref child listening',
    );
    await new Promise((r) => setTimeout(r, 1500));
    expect(refChild.exitCode).toBe(null);
    expect(refChild.signalCode).toBe(null);
    refChild.kill();
    await exited(refChild);
    removeStaleSocket(name);
    expect(said).toContain('listening');

    const unrefName = uniqueName();
    const unrefChild = spawnFixture('server-ref.mjs', [unrefName, 'unref'], ['ignore', 'pipe', 'inherit']);
    const out = collect(unrefChild.stdout);
    expect(await within(exited(unrefChild), 20_000, 'an unref()d server process exiting')).toBe(0);
    removeStaleSocket(unrefName);
    expect(await out).toContain('listening');
  }, 120_000);
});

describe.skipIf(!built).each(['byte', 'message'] as const)('keeping the process alive: a connection, %s mode (needs dist/)', (mode) => {
  it("a ref'd connection with a read pending keeps its process alive after a burst; unref() lets it exit", async () => {
    const name = uniqueName();
    const server = createServer({ mode }, (conn) => {
      conns.push(conn);
      conn.on('error', () => {});
      conn.on('data', (d: Buffer) => conn.write(d));
    });
    servers.push(server);
    await server.listen(name);

    const refChild = spawnFixture('client-ref.mjs', [name, mode, 'ref'], ['ignore', 'pipe', 'inherit']);
    let said = '';
    await within(
      new Promise<void>((resolve, reject) => {
        refChild.stdout!.on('data', (d: Buffer) => {
          said += d.toString();
          if (said.includes('ready')) resolve();
        });
        refChild.once('exit', () => reject(new Error(`exited before its burst was echoed: ${said}`)));
      }),
      60_000,
      'the ref child done with its burst',
    );
    await new Promise((r) => setTimeout(r, 1500));
    expect(refChild.exitCode).toBe(null);
    expect(refChild.signalCode).toBe(null);
    refChild.kill();
    await exited(refChild);

    const unrefChild = spawnFixture('client-ref.mjs', [name, mode, 'unref'], ['ignore', 'pipe', 'inherit']);
    const out = collect(unrefChild.stdout);
    expect(await within(exited(unrefChild), 20_000, "an unref()'d client process exiting")).toBe(0);
    expect(await out).toContain('ready');
  }, 120_000);
});
