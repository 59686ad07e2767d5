// The `winpipe` command (src/cli/): relay with npiperelay's flags, ls, serve, send, --help and exit
// statuses. The command runs as a child of this test (natively: against Unix sockets; under Wine:
// node.exe spawning node.exe, so the child's stdio are Windows pipes, which node.exe can write:
// docs/wine.md). The servers and clients on the other end are winpipe's own, in-process.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect, createServer, type PipeConnection, type PipeServer } from '../../src/index.js';
import { findFiles } from '../../src/cli/ls.js';
import { bundle } from '../helpers/bundle.js';
import { exited, isWindows, seededBytes, uniqueName, underWine, within } from '../helpers/index.js';

let cliPath: string;
beforeAll(async () => {
  cliPath = fileURLToPath(await bundle('cli/main.ts'));
});

interface Cli {
  child: ChildProcess;
  stdout: () => Buffer;
  stderr: () => string;
  /** Resolves once stdout holds at least `n` bytes. */
  stdoutBytes: (n: number) => Promise<Buffer>;
  /** Resolves once stderr contains `text`. */
  stderrHas: (text: string) => Promise<string>;
  code: Promise<number | null>;
}

const children: ChildProcess[] = [];
const servers: PipeServer[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    // SIGTERM first: `serve` then removes its socket file (POSIX), which SIGKILL would leave behind.
    c.kill('SIGTERM');
    const code = exited(c);
    const gone = await Promise.race([code.then(() => true), sleep(5000).then(() => false)]);
    if (!gone) c.kill('SIGKILL');
  }
  for (const s of servers.splice(0)) await s.close();
});

function startCli(args: string[]): Cli {
  const child = spawn(process.execPath, [cliPath, ...args], { stdio: 'pipe', windowsHide: true });
  children.push(child);
  const out: Buffer[] = [];
  let err = '';
  const waiters: (() => void)[] = [];
  const wake = (): void => {
    for (const w of waiters.splice(0)) w();
  };
  child.stdout!.on('data', (d: Buffer) => {
    out.push(d);
    wake();
  });
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    wake();
  });
  const code = exited(child);
  const until = <T>(check: () => T | undefined): Promise<T> =>
    new Promise((resolve, reject) => {
      const test = (): void => {
        const v = check();
        if (v !== undefined) return resolve(v);
        if (child.exitCode !== null || child.signalCode !== null) {
          return reject(new Error(`winpipe exited (${child.exitCode}) first; stderr: ${err}`));
        }
        waiters.push(test);
      };
      child.once('exit', () => setImmediate(wake));
      test();
    });
  return {
    child,
    stdout: () => Buffer.concat(out),
    stderr: () => err,
    stdoutBytes: (n) => until(() => (Buffer.concat(out).length >= n ? Buffer.concat(out) : undefined)),
    stderrHas: (text) => until(() => (err.includes(text) ? err : undefined)),
    code,
  };
}

/** Runs the command to its end with `input` on stdin. */
async function runCli(args: string[], input?: Buffer | string): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  const cli = startCli(args);
  cli.child.stdin!.on('error', () => {}); // a command that exits without reading stdin
  cli.child.stdin!.end(input ?? '');
  const code = await within(cli.code, 45_000, `winpipe ${args.join(' ')}`);
  // 'exit' can come before the last stdio data: wait for the streams to close.
  await new Promise((r) => (cli.child.stdout!.closed ? r(null) : cli.child.stdout!.once('close', r)));
  await new Promise((r) => (cli.child.stderr!.closed ? r(null) : cli.child.stderr!.once('close', r)));
  return { code, stdout: cli.stdout(), stderr: cli.stderr() };
}

/** An in-process server; `onConn` gets each connection. */
async function serveHere(name: string, mode: 'byte' | 'message', onConn: (conn: PipeConnection) => void): Promise<PipeServer> {
  const server = createServer({ mode }, onConn);
  servers.push(server);
  await server.listen(name);
  return server;
}

/** The first connection a server gets. */
function firstConnection(server: PipeServer): Promise<PipeConnection> {
  return new Promise((resolve) => server.once('connection', resolve));
}

/** Every message (byte mode: chunk) a connection receives until it ends, and whether it ended. */
function gather(conn: PipeConnection): { items: Buffer[]; bytes: () => Buffer; ended: Promise<void>; got: (n: number) => Promise<void> } {
  const items: Buffer[] = [];
  const waiters: (() => void)[] = [];
  const ended = (async () => {
    try {
      for await (const m of conn.messages()) {
        items.push(m);
        for (const w of waiters.splice(0)) w();
      }
    } catch {
      /* a reset at the end of a test */
    }
  })();
  const got = (n: number): Promise<void> =>
    new Promise((resolve) => {
      const test = (): void => (items.length >= n ? resolve() : void waiters.push(test));
      test();
    });
  return { items, bytes: () => Buffer.concat(items), ended, got };
}

describe('winpipe --help and exit statuses', () => {
  it('--help prints the usage of the command and of every subcommand, exit 0', async () => {
    for (const args of [['--help'], ['relay', '--help'], ['ls', '--help'], ['serve', '--help'], ['send', '-h']]) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout.toString(), args.join(' ')).toMatch(/^usage: winpipe/);
    }
  });

  it('a usage error exits 2: no command, an unknown command, an unknown flag, no NAME, a bad --mode, a bad name, a bad --timeout', async () => {
    for (const args of [
      [],
      ['frob'],
      ['relay', '--bogus', 'x'],
      ['relay'],
      ['send', '--mode', 'stream', 'x'],
      ['send', 'x/../y'],
      ['ls', 'extra'],
      ['ls', '--mode', 'stream'],
      ['send', '--timeout', '0', 'x'],
      ['send', '--timeout', 'soon', 'x'],
    ]) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.length, args.join(' ')).toBeGreaterThan(0);
    }
  });
});

describe('winpipe --version', () => {
  it("prints the version of the package it comes from (package.json's), exit 0", async () => {
    const { version } = JSON.parse(readFileSync(join(fileURLToPath(import.meta.url), '..', '..', '..', 'package.json'), 'utf8')) as { version: string };
    const r = await runCli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe(`${version}\n`);
  });
});

describe('winpipe send', () => {
  it('to a name nobody serves: exit 1, ENOENT on stderr', async () => {
    const r = await runCli(['send', uniqueName('wp-cli-none')], 'hello');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ENOENT: /);
  });

  it('byte mode: stdin to the pipe, the reply (until the server closes) to stdout', async () => {
    const name = uniqueName('wp-cli-send');
    // Replies as the bytes come: a Windows pipe has no half-close, so a server there cannot answer
    // after the client's end (the end is the client's close).
    await serveHere(name, 'byte', (conn) => {
      conn.write('got:');
      conn.on('data', (d: Buffer) => conn.write(d));
      conn.on('end', () => conn.end());
    });
    const r = await runCli(['send', name], 'hello');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('got:hello');
  });

  it('message mode: stdin as one message, one reply message to stdout', async () => {
    const name = uniqueName('wp-cli-sendm');
    const received: Buffer[] = [];
    await serveHere(name, 'message', (conn) => {
      void (async () => {
        for await (const m of conn.messages()) {
          received.push(m);
          await conn.writeMessage(Buffer.from(`reply to ${m.length} bytes`));
        }
      })().catch(() => {});
    });
    const input = seededBytes(100_000, 14);
    const r = await runCli(['send', '--mode', 'message', name], input);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('reply to 100000 bytes');
    expect(received).toHaveLength(1);
    expect(received[0]!.equals(input)).toBe(true);
  });
});

describe('winpipe send to a server that never answers', () => {
  /**
   * A server that reads everything and never writes or closes (half-open in byte mode, so our end
   * does not end its side): what `serve --print` is to send.
   */
  async function silent(name: string, mode: 'byte' | 'message'): Promise<Buffer[]> {
    const got: Buffer[] = [];
    const server = createServer({ mode, allowHalfOpen: true }, (conn) => {
      void (async () => {
        for await (const m of conn.messages()) got.push(m);
      })().catch(() => {});
    });
    servers.push(server);
    await server.listen(name);
    return got;
  }

  it.each(['byte', 'message'] as const)('--mode %s --no-reply: sends stdin, exits 0 without waiting, and the server has it all', async (mode) => {
    const name = uniqueName('wp-cli-noreply');
    const got = await silent(name, mode);
    const r = await runCli(['send', '--no-reply', '--mode', mode, name], 'fire and forget');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(0);
    await within(
      (async () => {
        while (Buffer.concat(got).toString() !== 'fire and forget') await sleep(10);
      })(),
      20_000,
      'the server to have the bytes',
    );
  });

  // A Windows byte pipe has no half-close: there send's reply ends 50 ms after the server goes
  // quiet (libuv's EOF timer, see docs/cli.md), so it never waits for a silent byte server.
  it.each(isWindows ? (['message'] as const) : (['byte', 'message'] as const))('--mode %s --timeout 300: gives up, exit 1, ETIMEDOUT on stderr', async (mode) => {
    const name = uniqueName('wp-cli-timeout');
    const got = await silent(name, mode);
    const r = await runCli(['send', '--timeout', '300', '--mode', mode, name], 'anyone?');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ETIMEDOUT: /);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(Buffer.concat(got).toString()).toBe('anyone?');
  });

  it('--timeout does not cut short an answer that comes in time', async () => {
    const name = uniqueName('wp-cli-intime');
    await serveHere(name, 'message', (conn) => {
      void (async () => {
        for await (const m of conn.messages()) await conn.writeMessage(Buffer.concat([Buffer.from('re:'), m]));
      })().catch(() => {});
    });
    const r = await runCli(['send', '--timeout', '30000', '--mode', 'message', name], 'ping');
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('re:ping');
  });
});

describe('winpipe serve', () => {
  it('echoes (byte mode), says where it listens on stderr, and a client reads its bytes back', async () => {
    const name = uniqueName('wp-cli-serve');
    const cli = startCli(['serve', name]);
    const err = await within(cli.stderrHas('\n'), 45_000, 'serve listening');
    const address = /listening on (.*)\n/.exec(err)![1]!;
    expect(address.endsWith(name) || address.endsWith(`${name}.sock`)).toBe(true);
    const conn = await connect(name);
    const g = gather(conn);
    conn.write('echo me');
    await within(
      (async () => {
        while (g.bytes().toString() !== 'echo me') await g.got(g.items.length + 1);
      })(),
      20_000,
      'the echo',
    );
    conn.destroy();
    if (!isWindows) {
      // SIGTERM stops it cleanly and the socket file goes with it. (Windows: kill() is TerminateProcess.)
      cli.child.kill('SIGTERM');
      expect(await within(cli.code, 20_000, 'serve exit')).toBe(0);
      expect(existsSync(address)).toBe(false);
    }
  });

  it('a client that leaves with the echo unread (relay -ei) is not reported as an error: -v says it left, nothing else on stderr', async () => {
    const name = uniqueName('wp-cli-leave');
    const cli = startCli(['serve', '-v', name]);
    await within(cli.stderrHas('listening on'), 45_000, 'serve listening');
    for (let i = 0; i < 3; i++) {
      const r = await runCli(['relay', '-ei', name], Buffer.alloc(200_000, 0x61));
      expect(r.code).toBe(0);
    }
    await within(
      (async () => {
        while ((cli.stderr().match(/client gone/g) ?? []).length < 3) await sleep(20);
      })(),
      20_000,
      'serve to see three clients go',
    );
    const lines = cli.stderr().trimEnd().split('\n');
    expect(lines.filter((l) => !l.startsWith('listening on ') && !l.startsWith('winpipe serve: '))).toEqual([]);
  });

  it('--print --mode message prints each message a client sends on its own line', async () => {
    const name = uniqueName('wp-cli-print');
    const cli = startCli(['serve', '--print', '--mode', 'message', name]);
    await within(cli.stderrHas('listening on'), 45_000, 'serve listening');
    const conn = await connect(name, { mode: 'message' });
    await conn.writeMessage(Buffer.from('one'));
    await conn.writeMessage(Buffer.from('two'));
    expect((await within(cli.stdoutBytes(8), 20_000, 'printed')).toString()).toBe('one\ntwo\n');
    conn.destroy();
  });
});

describe('winpipe relay', () => {
  it('relays stdin to the pipe and the pipe to stdout; exits 0 when the server closes (POSIX: and stdin has ended)', async () => {
    const name = uniqueName('wp-cli-relay');
    const server = await serveHere(name, 'byte', () => {});
    const accepted = firstConnection(server);
    const cli = startCli(['relay', name]);
    const conn = await within(accepted, 45_000, 'relay connects');
    const g = gather(conn);
    cli.child.stdin!.write('to the server');
    await within(g.got(1), 20_000, 'stdin reaches the server');
    conn.write('to stdout');
    expect((await within(cli.stdoutBytes(9), 20_000, 'pipe reaches stdout')).toString()).toBe('to stdout');
    // Windows: the end of a pipe is its close, and relay exits with stdin still open, as
    // npiperelay. POSIX: the end may be a half-close, so stdin is still relayed until it ends.
    if (!isWindows) cli.child.stdin!.end();
    conn.destroy();
    expect(await within(cli.code, 20_000, 'relay exit')).toBe(0);
    expect(g.bytes().toString()).toBe('to the server');
  });

  it('a 1 MiB round trip through relay and an echo server is byte-exact', async () => {
    const name = uniqueName('wp-cli-mib');
    const size = 1 << 20;
    const data = seededBytes(size, 1414);
    let serverConn: PipeConnection | undefined;
    await serveHere(name, 'byte', (conn) => {
      serverConn = conn;
      conn.pipe(conn);
    });
    const cli = startCli(['relay', name]);
    cli.child.stdin!.end(data);
    const out = await within(cli.stdoutBytes(size), 60_000, '1 MiB back');
    expect(out.length).toBe(size);
    expect(out.equals(data)).toBe(true);
    serverConn!.destroy();
    expect(await within(cli.code, 20_000, 'relay exit')).toBe(0);
  });

  it('accepts the //./pipe/NAME spelling (Windows) or an absolute socket path (POSIX)', async () => {
    const name = uniqueName('wp-cli-spell');
    const server = await serveHere(name, 'byte', (conn) => conn.end('hi'));
    const target = isWindows ? `//./pipe/${name}` : server.address()!;
    const r = await runCli(['relay', target]);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('hi');
  });

  it('without -p, a name nobody serves: exit 1, ENOENT on stderr', async () => {
    const r = await runCli(['relay', uniqueName('wp-cli-nop')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ENOENT: /);
  });

  it('-p polls until a server that appears late exists, then relays', async () => {
    const name = uniqueName('wp-cli-late');
    const cli = startCli(['relay', '-p', '-v', name]);
    cli.child.stdin!.end();
    // The relay is running and polling before the server exists.
    await within(cli.stderrHas('polling'), 45_000, 'relay polling');
    await new Promise((r) => setTimeout(r, 300));
    expect(cli.child.exitCode).toBe(null);
    await serveHere(name, 'byte', (conn) => conn.end('late'));
    expect(await within(cli.code, 20_000, 'relay exit')).toBe(0);
    expect(cli.stdout().toString()).toBe('late');
  });

  it.skipIf(isWindows)('-p stops polling on SIGINT and exits 130 (POSIX: Windows has no SIGINT to send a child)', async () => {
    const cli = startCli(['relay', '-p', '-v', uniqueName('wp-cli-int')]);
    await within(cli.stderrHas('polling'), 45_000, 'relay polling');
    cli.child.kill('SIGINT');
    expect(await within(cli.code, 20_000, 'relay exit on SIGINT')).toBe(130);
  });

  it('-ei exits at the end of stdin although the server keeps the pipe open; what stdin had was delivered', async () => {
    const name = uniqueName('wp-cli-ei');
    const server = await serveHere(name, 'byte', () => {});
    const accepted = firstConnection(server);
    const cli = startCli(['relay', '-ei', name]);
    const conn = await within(accepted, 45_000, 'relay connects');
    const g = gather(conn);
    cli.child.stdin!.end('last words');
    expect(await within(cli.code, 20_000, 'relay exit at the end of stdin')).toBe(0);
    await within(g.ended, 20_000, 'the server sees the relay go');
    expect(g.bytes().toString()).toBe('last words');
  });

  it('-s --mode message sends a zero-byte message at the end of stdin (the recipe form -ei -s exits first, as npiperelay)', async () => {
    const name = uniqueName('wp-cli-s');
    const server = await serveHere(name, 'message', () => {});
    const accepted = firstConnection(server);
    const cli = startCli(['relay', '-s', '--mode', 'message', name]);
    const conn = await within(accepted, 45_000, 'relay connects');
    const g = gather(conn);
    cli.child.stdin!.end('payload');
    await within(g.got(2), 20_000, 'payload and the zero-byte message');
    expect(g.items.map((m) => m.toString())).toEqual(['payload', '']);
    conn.destroy();
    expect(await within(cli.code, 20_000, 'relay exit')).toBe(0);
  });

  it('-ei -s (the WSL recipe) exits at the end of stdin before -s runs, as npiperelay: a name nobody serves is exit 1, ENOENT', async () => {
    const r2 = await runCli(['relay', '-ei', '-s', uniqueName('wp-cli-sb')]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/^ENOENT: /);
  });

  it.each(['byte', 'message'] as const)("-s --mode %s: the end of stdin is go-winio's zero-byte message (halfClose), and relay prints the answer that comes 500 ms later", async (mode) => {
    const name = uniqueName(`wp-cli-hc-${mode}`);
    // A halfClose server: on Windows its pipe is message-type, as Docker's, so a zero-byte write reaches it.
    const server = createServer({ mode, halfClose: 'zero-message' });
    servers.push(server);
    await server.listen(name);
    const accepted = firstConnection(server);
    const cli = startCli(['relay', '-s', '--mode', mode, name]);
    const conn = await within(accepted, 45_000, 'relay connects');
    const g = gather(conn);
    cli.child.stdin!.end('request');
    await within(g.ended, 20_000, 'the end of stream (the zero-byte message)');
    expect(g.bytes().toString()).toBe('request');
    await sleep(500);
    expect(cli.child.exitCode).toBe(null);
    await conn.writeMessage(Buffer.from('answer'));
    conn.end();
    expect(await within(cli.code, 20_000, 'relay exit')).toBe(0);
    expect(cli.stdout().toString()).toBe('answer');
  });

  it.skipIf(isWindows)('-s in byte mode on POSIX: the server reads the end of stream (shutdown of our write side)', async () => {
    const name = uniqueName('wp-cli-sp');
    const server = await serveHere(name, 'byte', () => {});
    const accepted = firstConnection(server);
    const cli = startCli(['relay', '-s', name]);
    const conn = await within(accepted, 45_000, 'relay connects');
    const g = gather(conn);
    cli.child.stdin!.end('bytes');
    await within(g.ended, 20_000, 'the end of stream');
    expect(g.bytes().toString()).toBe('bytes');
    conn.end();
    expect(await within(cli.code, 20_000, 'relay exit')).toBe(0);
  });

  it('-ep exits at the end of the pipe (a zero-byte message) while stdin is still open', async () => {
    const name = uniqueName('wp-cli-ep');
    const server = await serveHere(name, 'message', () => {});
    const accepted = firstConnection(server);
    const cli = startCli(['relay', '-ep', '--mode', 'message', name]);
    const conn = await within(accepted, 45_000, 'relay connects');
    gather(conn);
    await conn.writeMessage(Buffer.from('bye'));
    await conn.writeMessage(Buffer.alloc(0));
    expect(await within(cli.code, 20_000, 'relay exit at the end of the pipe')).toBe(0);
    expect(cli.stdout().toString()).toBe('bye');
    conn.destroy();
  });

  it('without -ep, stdin still reaches the server after the end of the pipe (a zero-byte message)', async () => {
    const name = uniqueName('wp-cli-noep');
    const server = await serveHere(name, 'message', () => {});
    const accepted = firstConnection(server);
    const cli = startCli(['relay', '--mode', 'message', name]);
    const conn = await within(accepted, 45_000, 'relay connects');
    const g = gather(conn);
    await conn.writeMessage(Buffer.from('bye'));
    await conn.writeMessage(Buffer.alloc(0));
    expect((await within(cli.stdoutBytes(3), 20_000, 'bye')).toString()).toBe('bye');
    cli.child.stdin!.write('more');
    await within(g.got(1), 20_000, 'stdin after the end of the pipe');
    expect(g.items[0]!.toString()).toBe('more');
    expect(cli.child.exitCode).toBe(null);
    cli.child.stdin!.end();
    conn.destroy();
    expect(await within(cli.code, 20_000, 'relay exit')).toBe(0);
  });

  it.skipIf(isWindows)('-ep on POSIX byte mode: the server half-closes and relay exits although stdin is open', async () => {
    const name = uniqueName('wp-cli-eph');
    await serveHere(name, 'byte', (conn) => conn.end('half'));
    const cli = startCli(['relay', '-ep', name]);
    expect(await within(cli.code, 45_000, 'relay exit at the half-close')).toBe(0);
    expect(cli.stdout().toString()).toBe('half');
  });

  it('-v says what happens on stderr; without it stderr stays empty', async () => {
    const name = uniqueName('wp-cli-v');
    await serveHere(name, 'byte', (conn) => conn.end('x'));
    const quiet = await runCli(['relay', name]);
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe('');
    const loud = await runCli(['relay', '-v', name]);
    expect(loud.code).toBe(0);
    expect(loud.stderr.split('\n').filter(Boolean).length).toBeGreaterThan(1);
    expect(loud.stdout.toString()).toBe('x');
  });
});

describe('winpipe ls', () => {
  it('takes --mode as every command does, and lists the same pipes (a mode cannot be seen without connecting)', async () => {
    const name = uniqueName('wp-cli-lsmode');
    const server = await serveHere(name, 'message', () => {});
    const plain = await runCli(['ls']);
    for (const mode of ['byte', 'message']) {
      const r = await runCli(['ls', '--mode', mode]);
      // Under Wine both fail alike (ENOTSUP, exit 1); elsewhere both list the pipe.
      expect(r.code, mode).toBe(plain.code);
      if (r.code === 0) expect(r.stdout.toString().split('\n'), mode).toContain(server.address());
      else expect(r.stderr, mode).toMatch(/^ENOTSUP: /);
    }
  });

  it.skipIf(underWine)('lists a pipe being served, by the path relay and send accept (Wine: FindFirstFileW on \\\\.\\pipe\\ fails with error 66 under Wine 8 and 10)', async () => {
    const name = uniqueName('wp-cli-ls');
    const server = await serveHere(name, 'byte', () => {});
    const r = await runCli(['ls']);
    expect(r.code).toBe(0);
    expect(r.stdout.toString().split('\n')).toContain(server.address());
  });

  it.runIf(isWindows)('the FindFirstFileW / FindNextFileW walk ls uses reads every name and size of a directory (Wine lists directories, not \\\\.\\pipe\\)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wp-cli-find-'));
    try {
      const names = ['a.txt', 'b-é-ü.bin', `${'n'.repeat(150)}.dat`];
      names.forEach((n, i) => writeFileSync(join(dir, n), Buffer.alloc(i * 1000 + 7)));
      const found = findFiles(`${dir}\\*`).filter((f) => f.name !== '.' && f.name !== '..');
      expect(found.map((f) => f.name).sort()).toEqual([...names].sort());
      for (const [i, n] of names.entries()) expect(found.find((f) => f.name === n)!.sizeLow).toBe(i * 1000 + 7);
      expect(findFiles(`${dir}\\nothing-here-*`)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.runIf(underWine)('where the system cannot list pipes (Wine 8 and 10: error 66), one line on stderr and exit 1', async () => {
    const r = await runCli(['ls']);
    expect(r.code).toBe(1);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^ENOTSUP: /);
  });
});
