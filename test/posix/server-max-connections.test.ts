// The default bound on concurrent connections, POSIX part: a server whose descriptor limit is
// 1,024 keeps serving, and keeps opening files of its own, while another local user opens 1,100
// idle connections to it; and clients held beyond maxInstances count toward the bound. The
// platform-neutral contract is test/server-max-connections.test.ts.
//
// The flood runs as a second real user when we are root (test/fixtures/flood.mjs spawned with the
// uid / gid of `wptattacker`, made with useradd once, as test/posix/trust.test.ts does); otherwise
// as our own user, which meets the same bound. The server (test/fixtures/bound-victim.mjs) runs in
// a child whose hard descriptor limit `ulimit -n 1024` lowered, so that Node cannot raise it again.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, createServer, type PipeConnection, type PipeServer } from '../../src/index.js';
import { fixturesDir, uniqueName, within } from '../helpers/index.js';
import { stageFixture, stdoutLines } from '../helpers/cross-user.js';
import { secondUser } from '../helpers/users.js';

const BOUND = 20_000;
const isRoot = process.getuid?.() === 0;

const servers: PipeServer[] = [];
const streams: Duplex[] = [];
const children: ChildProcess[] = [];
const cleanups: (() => void)[] = [];
afterEach(async () => {
  for (const s of streams.splice(0)) s.destroy();
  for (const s of servers.splice(0)) await s.close();
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const f of cleanups.splice(0).reverse()) f();
});

function track<T extends Duplex>(s: T): T {
  streams.push(s);
  s.on('error', () => {});
  return s;
}

/** The rest of the first line of `child`'s stdout that starts with `prefix`, taken (the next call waits for the next one). */
function lines(child: ChildProcess): (prefix: string, what: string) => Promise<string> {
  const { wait } = stdoutLines(child);
  return async (prefix, what) => (await wait([prefix], what, 60_000, true)).slice(prefix.length);
}

/** test/fixtures/flood.mjs, staged for the second user; removed after the test. */
function stagedFlood(): string {
  const { file, remove } = stageFixture('flood.mjs');
  cleanups.push(remove);
  return file;
}

interface VictimState {
  stats?: { current: number; max: number; dropped: number; refused: number; reachedMax: number };
  drops: number;
  errors: string[];
  file: string;
  limit: { soft: number; hard: number };
}

describe('the default connection bound keeps a server from running out of descriptors', () => {
  it(`a default 'everyone' server with a hard limit of 1,024 descriptors, flooded with 1,100 idle connections by ${isRoot ? 'another real user' : 'our own user (not root: no second user)'}: it still opens a file of its own and serves its existing client; 589 clients are dropped and counted`, async () => {
    // A TMPDIR of the test's own (sticky and world-writable, as /tmp) for the public directory.
    const tmp = mkdtempSync('/tmp/wpt-bound-');
    chmodSync(tmp, 0o1777);
    cleanups.push(() => rmSync(tmp, { recursive: true, force: true }));
    const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: tmp };
    delete env.XDG_RUNTIME_DIR;
    // Hard and soft limit lowered in the shell, before Node starts (it raises soft to hard).
    const victim = spawn('sh', ['-c', 'umask 022 && ulimit -n 1024 && exec "$0" "$@"', process.execPath, join(fixturesDir, 'bound-victim.mjs'), uniqueName('bound')], {
      env,
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    children.push(victim);
    const victimSays = lines(victim);
    const path = await victimSays('listening ', 'the server to listen');
    const state = async (): Promise<VictimState> => {
      victim.stdin!.write('state\n');
      return JSON.parse(await victimSays('state ', "the server's state")) as VictimState;
    };
    expect((await state()).limit.hard).toBeLessThanOrEqual(1024);

    // A client of the server from before the flood.
    const existing = track(await connect(path));
    const echo = async (text: string): Promise<string> => {
      const answer = once(existing, 'data');
      existing.write(text);
      return ((await within(answer, BOUND, `the echo of ${text}`))[0] as Buffer).toString();
    };
    expect(await echo('before')).toBe('before');

    const ids = isRoot ? secondUser() : undefined;
    const flood = spawn(process.execPath, [stagedFlood(), path, '1100'], { ...ids, cwd: '/', stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(flood);
    const opened = await lines(flood)('opened ', 'the flood to open its connections');
    // Every connect went through (the kernel accepts them all); the server closes what it cannot hold.
    expect(opened).toBe('1100 {}');

    // Until the server has accepted all of them, or has failed.
    let s = await state();
    await within(
      (async () => {
        while (!((s.stats && s.stats.current + s.stats.dropped === 1101) || s.errors.length > 0 || s.file !== 'ok')) {
          await new Promise((r) => setTimeout(r, 50));
          s = await state();
        }
      })(),
      60_000,
      'the server to accept the whole flood',
    );
    expect(s.errors).toEqual([]);
    expect(s.file).toBe('ok');
    expect(s.stats).toEqual({ current: 512, max: 512, dropped: 589, refused: 0, reachedMax: 1 });
    expect(s.drops).toBe(589);
    expect(await echo('after')).toBe('after');
  });
});

describe('clients held beyond maxInstances count toward maxConnections', () => {
  it('maxInstances 1, maxConnections 3: one served, two held, the fourth closed at once and counted; the held ones are served in turn', async () => {
    const name = uniqueName('t');
    const handed: PipeConnection[] = [];
    const server = createServer({ maxInstances: 1, maxConnections: 3 }, (c) => handed.push(track(c)));
    servers.push(server);
    let drops = 0;
    server.on('drop', () => drops++);
    await server.listen(name);
    const first = once(server, 'connection');
    const clients = [track(await connect(name))];
    await within(first, BOUND, 'the first connection');
    for (let i = 0; i < 3; i++) clients.push(track(await connect(name)));
    const fourthEnded = new Promise((resolve) => {
      clients[3]!.once('end', resolve);
      clients[3]!.resume();
    });
    await within(fourthEnded, BOUND, 'the fourth client to be closed');
    expect(server.connectionStats()).toEqual({ current: 3, max: 3, dropped: 1, refused: 0, reachedMax: 1 });
    expect(drops).toBe(1);
    for (const expected of [2, 3]) {
      const next = once(server, 'connection');
      handed.at(-1)!.destroy();
      await within(next, BOUND, `connection ${expected}`);
      expect(handed).toHaveLength(expected);
    }
  });
});
