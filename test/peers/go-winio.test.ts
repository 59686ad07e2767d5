// Windows only: winpipe's `halfClose: 'zero-message'` against go-winio's wire behaviour, through
// test/fixtures/gowinio-peer.c (a zero-byte WriteFile as CloseWrite, a zero-byte read as EOF; see
// its header for the go-winio functions each behaviour follows). Natively the same contract is
// test/options-half-close.test.ts over Unix sockets; a go-winio peer exists only on Windows.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, createServer, pipePath, type PipeConnection, type PipeServer } from '../../src/index.js';
import { exited, fixturesDir, isWindows, uniqueName, within } from '../helpers/index.js';

const exe = join(fixturesDir, 'bin', 'gowinio-peer.exe');
const built = isWindows && existsSync(exe);
const skip = !isWindows || !built;
if (isWindows && !built) console.log('go-winio: skipped: test/fixtures/gowinio-peer.c is not built (scripts/wine.mjs builds it with gcc-mingw-w64-x86-64)');

const BOUND = 30_000;
const servers: PipeServer[] = [];
const conns: PipeConnection[] = [];
afterEach(async () => {
  for (const c of conns.splice(0)) c.destroy();
  for (const s of servers.splice(0)) await s.close();
});

async function readToEnd(conn: PipeConnection): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of conn.messages()) parts.push(chunk);
  return Buffer.concat(parts).toString();
}

/** Runs the fixture; resolves with its exit status and its JSON line. */
function peer(args: string[]): { result: Promise<{ code: number | null; json: { ok: boolean; got?: string; error?: string } }>; listening: Promise<void> } {
  const child = spawn(exe, args, { stdio: ['ignore', 'pipe', 'inherit'], windowsHide: true });
  let out = '';
  let seen: () => void = () => {};
  const listening = new Promise<void>((resolve) => (seen = resolve));
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.includes('listening\n')) seen();
  });
  const result = (async () => {
    const code = await exited(child);
    await new Promise((r) => (child.stdout!.closed ? r(null) : child.stdout!.once('close', r)));
    const line =
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .at(-1) ?? '{"ok":false,"error":"no output"}';
    return { code, json: JSON.parse(line) as { ok: boolean; got?: string; error?: string } };
  })();
  return { result, listening };
}

describe.skipIf(skip).each(['byte', 'message'] as const)("go-winio's half-close (%s mode)", (mode) => {
  it('winpipe server ⇄ go-winio client: the client writes and CloseWrites, the server answers 500 ms later, the client reads it all', async () => {
    const name = uniqueName(`gw-srv-${mode}`);
    const server = createServer({ mode, halfClose: 'zero-message' });
    servers.push(server);
    const answered = new Promise<string>((resolve, reject) => {
      server.once('connection', (conn: PipeConnection) => {
        conns.push(conn);
        conn.on('error', () => {});
        void (async () => {
          const request = await readToEnd(conn); // ends at the client's zero-byte message
          await sleep(500);
          await conn.writeMessage(Buffer.from('the-answer'));
          conn.end(); // our zero-byte message: the client's zero-byte read, its EOF
          return request;
        })().then(resolve, reject);
      });
    });
    await server.listen(name);
    const { result } = peer(['client', pipePath(name), 'the-request']);
    expect(await within(answered, BOUND, 'the request up to its zero-byte message')).toBe('the-request');
    const { code, json } = await within(result, BOUND, 'the go-winio client');
    expect(json).toEqual({ ok: true, got: 'the-answer' });
    expect(code).toBe(0);
  });

  it('go-winio server ⇄ winpipe client: end() is a zero-byte message the server reads as EOF; its answer 500 ms later arrives whole', async () => {
    const name = uniqueName(`gw-cli-${mode}`);
    const { result, listening } = peer(['server', pipePath(name), 'from-go-winio', '500']);
    await within(listening, BOUND, 'the go-winio server listening');
    const conn = await connect(name, { mode, halfClose: 'zero-message' });
    conns.push(conn);
    conn.on('error', () => {});
    const closed = new Promise((r) => conn.once('close', r));
    await conn.writeMessage(Buffer.from('from-winpipe'));
    conn.end();
    expect(await within(readToEnd(conn), BOUND, "the server's answer up to its zero-byte message")).toBe('from-go-winio');
    // Both directions are done: the connection closes, and the server sees it go.
    await within(closed, BOUND, "the client's close");
    const { code, json } = await within(result, BOUND, 'the go-winio server');
    expect(json).toEqual({ ok: true, got: 'from-winpipe' });
    expect(code).toBe(0);
  });
});

describe.skipIf(skip)("go-winio's half-close without the option", () => {
  it("message mode: a go-winio CloseWrite is an empty message (CPython's rule), and an empty writeMessage is one to go-winio", async () => {
    const name = uniqueName('gw-plain');
    const { result, listening } = peer(['server', pipePath(name), 'x', '0']);
    await within(listening, BOUND, 'the go-winio server listening');
    const conn = await connect(name, { mode: 'message' });
    conns.push(conn);
    conn.on('error', () => {});
    const it = conn.messages();
    await conn.writeMessage(Buffer.from('q'));
    await conn.writeMessage(Buffer.alloc(0)); // go-winio reads it as EOF
    const first = await within(it.next(), BOUND, 'the answer');
    const second = await within(it.next(), BOUND, 'the CloseWrite');
    expect(first.value?.toString()).toBe('x');
    expect(second.done).toBe(false);
    expect(second.value?.length).toBe(0);
    conn.destroy();
    const { json } = await within(result, BOUND, 'the go-winio server');
    expect(json).toEqual({ ok: true, got: 'q' });
  });
});
