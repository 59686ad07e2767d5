// Bad input: every public function and option fuzzed with fast-check (wrong types,
// huge, negative and fractional sizes, bad names and encodings, closed ends). Every case either
// works or fails with a typed error: TypeError / RangeError with Node's codes (synchronously), a
// PipeError, or an AbortError. Nothing crashes, and nothing is leaked (descriptors on Linux, pipe
// handles, registered waits on Windows).
//
// Sizes: 150 runs per property by default, 2000 under WINPIPE_STRESS=1 (fast-check's numRuns);
// each property prints how many calls (cases) it made.
//
// Covered: createPipe and both pipe ends; pipePath / connect; createServer, listen and the server
// methods; writeMessage; PipeError; winpipe/connection (Pipe, Listener + accept / close, Client,
// Connection.fromFd, every Connection method on live and closed ends); createFifo / openFifo
// (ERR_UNSUPPORTED_PLATFORM on Windows); spawnWithHandles (bad input never spawns a child).
import fc from 'fast-check';
import { ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Client, Connection, Listener, Pipe } from '../../src/channel/index.js';
import { connect, createFifo, createPipe, createServer, isPipeError, openFifo, pipePath, PipeError, spawnWithHandles, type PipeConnection, type PipeReader, type PipeWriter } from '../../src/index.js';
import { WindowsChild } from '../../src/windows/spawn.js';
import { activePipeResources, BOUND, budget, figure, isWindows, openFdCount, overlappedCounts, settle, sized, uniqueName, within } from './helpers.js';

const RUNS = sized(150, 2000);
const TIMEOUT = budget(180_000, 1_800_000);
const ARG_CODES = ['ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_VALUE', 'ERR_OUT_OF_RANGE'];
let cases = 0;
/** How the cases of the current property ended: 'ok', or the error code. */
let outcomes = new Map<string, number>();
function tally(outcome: string): void {
  outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
}

/** Is `err` one of the typed errors the contract allows? */
function typed(err: unknown): boolean {
  if (isPipeError(err)) return true;
  if ((err as Error)?.name === 'AbortError') return true;
  if (err instanceof TypeError || err instanceof RangeError) return ARG_CODES.includes((err as { code?: string }).code ?? '');
  return false;
}

/**
 * Runs `fn`; any synchronous throw or rejection must be typed. Returns what it produced.
 * `alsoTyped` admits more synchronous errors (Node's own, for options winpipe passes through).
 */
async function typedOutcome(fn: () => unknown, alsoTyped?: (err: unknown) => boolean): Promise<unknown> {
  cases++;
  let result: unknown;
  try {
    result = fn();
  } catch (err) {
    if (!typed(err) && !alsoTyped?.(err)) throw new Error(`untyped synchronous error: ${String(err)} (code ${(err as { code?: string })?.code})`);
    tally((err as { code: string }).code ?? (err as Error).name);
    return err;
  }
  if (result instanceof Promise) {
    try {
      result = await result;
    } catch (err) {
      // Argument errors must be synchronous; a rejection must be a PipeError or an AbortError.
      if (!(isPipeError(err) || (err as Error)?.name === 'AbortError' || (err as { code?: string })?.code === 'ERR_SERVER_ALREADY_LISTEN')) {
        throw new Error(`untyped rejection: ${String(err)} (code ${(err as { code?: string })?.code})`);
      }
      tally((err as { code?: string }).code ?? (err as Error).name);
      return err;
    }
  }
  tally('ok');
  return result;
}

/** Anything at all, weighted towards the values that break validation. */
const junk = fc.oneof(
  fc.anything(),
  fc.constantFrom(undefined, null, NaN, Infinity, -Infinity, -0, -1, 0, 1, 1.5, 2 ** 31, 2 ** 32, 2 ** 53, Number.MAX_SAFE_INTEGER + 2, -(2 ** 31)),
  fc.bigInt(),
  fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
  fc.double(),
  fc.string(),
  fc.constant(Symbol('s')),
  fc.constant(() => {}),
  fc.constant(new AbortController().signal),
  fc.constant(AbortSignal.abort()),
  fc.uint8Array({ maxLength: 64 }),
  fc.constant(new DataView(new ArrayBuffer(8))),
  fc.constant(new Float64Array(4)),
);

/** Names: valid and invalid, odd encodings (lone surrogates, NUL, non-BMP), separators, pipe prefixes. */
const names = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ maxLength: 300 }),
  fc.constantFrom('', '\0', 'a\0b', '\ud800', 'x\udfffy', '😀', '/', 'a/b', '..', '.', '\\\\.\\pipe\\', '\\\\?\\pipe\\x', '\\\\remote\\pipe\\x', 'n'.repeat(300), ' ', '\n'),
  junk,
);

/** The same options objects with each known key given junk or a plausible value. */
function optionsOf(keys: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<unknown> {
  const record = fc.record(Object.fromEntries(Object.entries(keys).map(([k, v]) => [k, fc.oneof(v, junk)])), { requiredKeys: [] });
  return fc.oneof(record, junk);
}

/** Like optionsOf, but half the time every key present is plausible: so that valid calls happen too. */
function plausibleOptionsOf(keys: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<unknown> {
  return fc.oneof(optionsOf(keys), fc.record(keys, { requiredKeys: [] }));
}

/** Mostly a plausible value, sometimes junk. */
function mostly<T>(plausible: fc.Arbitrary<T>): fc.Arbitrary<unknown> {
  return fc.oneof({ arbitrary: plausible, weight: 3 }, { arbitrary: junk, weight: 1 });
}

const serverOptions = optionsOf({
  mode: fc.constantFrom('byte', 'message'),
  access: fc.constantFrom('duplex', 'inbound', 'outbound'),
  maxInstances: fc.oneof(fc.integer({ min: -2, max: 300 }), fc.constant('unlimited')),
  pendingInstances: fc.integer({ min: -2, max: 300 }),
  inBufferSize: fc.integer({ min: -2, max: 2 ** 32 }),
  outBufferSize: fc.integer({ min: -2, max: 2 ** 32 }),
  security: fc.oneof(fc.constantFrom('current-user', 'everyone'), fc.record({ sddl: fc.oneof(fc.string(), junk) })),
  rejectRemoteClients: fc.boolean(),
  firstInstance: fc.boolean(),
  maxMessageSize: fc.integer({ min: -2, max: 2 ** 40 }),
  maxConnections: fc.integer({ min: -2, max: 2 ** 32 }),
});

const connectOptions = optionsOf({
  connectTimeout: fc.integer({ min: -2, max: 50 }),
  signal: fc.constantFrom(undefined, AbortSignal.abort()),
  mode: fc.constantFrom('byte', 'message'),
  access: fc.constantFrom('duplex', 'read', 'write'),
  maxMessageSize: fc.integer({ min: -2, max: 2 ** 40 }),
  allowRemote: fc.boolean(),
});

let dir: string;
let before: { fds: number | undefined; pipes: number };
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wp-fuzz-'));
  // Stays empty: spawnWithHandles' fuzzed commands all name a file in here, so none ever runs.
  mkdirSync(join(dir, 'no-bin'));
  await settle();
  before = { fds: openFdCount(), pipes: activePipeResources() };
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

// Cases per property, for the report.
let casesAtStart = 0;
beforeEach(() => {
  casesAtStart = cases;
  outcomes = new Map();
});
afterEach((ctx) => {
  if (cases === casesAtStart) return;
  const ends = [...outcomes].sort((a, b) => b[1] - a[1]).map(([outcome, n]) => `${outcome} ${n}`);
  figure('fuzz', `${ctx.task.name}: ${cases - casesAtStart} cases (${RUNS} runs): ${ends.join(', ') || 'no outcome kept'}`);
});

/** POSIX: a name the fuzzer made absolute is moved into our temp folder (we run as any user, maybe root). */
function contained(name: unknown): unknown {
  if (!isWindows && typeof name === 'string' && name.startsWith('/')) return join(dir, name.replaceAll('/', '_').slice(0, 40));
  return name;
}

/**
 * A descriptor of our own over one end of a fresh channel, as a child would inherit it: a raw
 * socketpair end on POSIX, a CRT fd over a duplicate of a Pipe() end on Windows. `release` closes
 * the rest (not the returned fd).
 */
async function ownChannelDescriptor(): Promise<{ fd: number; release(): void }> {
  if (isWindows) {
    const k32 = await import('../../src/windows/kernel32.js');
    const { openOsfHandle } = await import('../../src/windows/crt.js');
    const [x, y] = Pipe();
    const release = (): void => {
      x.close();
      y.close();
    };
    const out: [bigint] = [0n];
    const self = k32.GetCurrentProcess();
    const fd = k32.DuplicateHandle(self, y.handle, self, out, 0, false, k32.DUPLICATE_SAME_ACCESS) ? openOsfHandle(out[0]) : -1;
    if (fd < 0) {
      if (out[0]) k32.CloseHandle(out[0]);
      release();
      throw new Error(`no descriptor over a Pipe() end: ${k32.GetLastError()}`);
    }
    return { fd, release };
  }
  const libc = await import('../../src/posix/libc.js');
  const sv = new Int32Array(2);
  if (libc.socketpair(libc.AF_UNIX, libc.SOCK_STREAM | libc.SOCK_CLOEXEC, 0, sv) !== 0) throw new Error(`socketpair failed: ${libc.errno()}`);
  return { fd: sv[0]!, release: () => void libc.close(sv[1]!) };
}

describe('fuzzed bad input gives typed errors, no crash, no leak', () => {
  it('createPipe(options)', { timeout: TIMEOUT }, async () => {
    await fc.assert(
      fc.asyncProperty(optionsOf({ size: fc.integer({ min: -2, max: 2 ** 32 }), inheritable: fc.constantFrom(true, false, 'reader', 'writer') }), async (options) => {
        const made = await typedOutcome(() => createPipe(options as never));
        if (made && typeof made === 'object' && 'reader' in made) {
          const { reader, writer } = made as ReturnType<typeof createPipe>;
          writer.writeSync(Buffer.from('ok'));
          expect(reader.readSync(Buffer.alloc(2))).toBe(2);
          reader.close();
          writer.close();
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('every method of both pipe ends with junk arguments, open and closed', { timeout: TIMEOUT }, async () => {
    /** Would byteRange() accept (buffer, offset, length)? Then the call is a real, possibly blocking, one. */
    const validRange = (a: unknown, b: unknown, c: unknown): number | undefined => {
      if (!ArrayBuffer.isView(a)) return undefined;
      const off = b ?? 0;
      if (typeof off !== 'number' || !Number.isInteger(off) || off < 0 || off > a.byteLength) return undefined;
      const len = c ?? a.byteLength - off;
      if (typeof len !== 'number' || !Number.isInteger(len) || len < 0 || len > a.byteLength - off) return undefined;
      return len;
    };
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.constantFrom('readSync', 'writeSync', 'read', 'write', 'inheritable', 'props', 'close'), junk, junk, junk), { maxLength: 8 }),
        fc.boolean(),
        async (calls, closeFirst) => {
          const { reader, writer } = createPipe();
          // Bytes known to be in the pipe, for sync reads; unknown once an async read has run
          // (its read-ahead may hold them), so sync reads are then only made on a closed end.
          let inPipe = 0;
          let asyncRead = false;
          try {
            if (closeFirst) {
              reader.close();
              writer.close();
            }
            for (const [method, a, b, c] of calls) {
              if (method === 'read' && !writer.closed && !reader.closed) {
                // A valid read with nothing to come would wait forever: give it something.
                await writer.write(Buffer.alloc(8, 2));
                inPipe += 8;
              }
              // The call itself is synchronous, so that argument errors must be thrown, not rejected.
              await typedOutcome(() => {
                switch (method) {
                  case 'readSync': {
                    const len = validRange(a, b, c);
                    // A valid sync read blocks until data comes: only when data is surely there.
                    if (len !== undefined && len > 0 && !reader.closed && (asyncRead || inPipe === 0)) return undefined;
                    const n = reader.readSync(a as never, b as never, c as never);
                    inPipe -= n;
                    return n;
                  }
                  case 'writeSync': {
                    const len = validRange(a, b, c);
                    // A valid sync write blocks while the pipe is full: keep it far below any buffer.
                    if (len !== undefined && !writer.closed && !reader.closed && inPipe + len > 1024) return undefined;
                    const n = writer.writeSync(a as never, b as never, c as never);
                    inPipe += n;
                    return n;
                  }
                  case 'read':
                    asyncRead = true;
                    return reader.read(a as never, b as never);
                  case 'write':
                    if (ArrayBuffer.isView(a) && !writer.closed && !reader.closed && inPipe + a.byteLength > 1024) return undefined;
                    return writer.write(a as never, b as never).then((n) => {
                      inPipe += n;
                      return n;
                    });
                  case 'inheritable':
                    reader.inheritable = a as never;
                    return reader.inheritable;
                  case 'props':
                    return [reader.fd, writer.handle, reader.closed, writer.closed];
                  default:
                    return a ? reader.close() : writer.close();
                }
              });
            }
          } finally {
            reader.close();
            writer.close();
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('pipePath(name, options) and connect(name, options)', { timeout: TIMEOUT }, async () => {
    await fc.assert(
      fc.asyncProperty(
        names,
        connectOptions,
        optionsOf({ security: fc.constantFrom('current-user', 'everyone'), platform: fc.constantFrom('win32', 'linux', 'darwin') }),
        async (name, options, pathOptions) => {
          await typedOutcome(() => pipePath(name as never, pathOptions as never));
          const result = await typedOutcome(() => connect(contained(name) as never, options as never));
          // Nobody serves a fuzzed name; should anything ever answer, let it go.
          if (result && typeof (result as PipeConnection).destroy === 'function' && !(result instanceof Error)) (result as PipeConnection).destroy();
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('createServer(options, listener), listen(name), and every server method', { timeout: TIMEOUT }, async () => {
    await fc.assert(
      fc.asyncProperty(
        serverOptions,
        fc.oneof(
          fc.constant(undefined),
          fc.constant(() => {}),
          junk,
        ),
        names,
        fc.boolean(),
        async (options, listener, name, twice) => {
          const server = await typedOutcome(() => createServer(options as never, listener as never));
          if (!(server && typeof server === 'object' && 'listen' in server)) return;
          const s = server as ReturnType<typeof createServer>;
          s.on('error', () => {});
          try {
            const listenName =
              typeof name === 'string' && name.length > 0 && name.length < 60 && !name.includes('\0')
                ? `${uniqueName('wp-fz')}${isWindows ? name.replaceAll('\\', '_') : name.replaceAll('/', '_')}`
                : name;
            await typedOutcome(() => s.listen(contained(listenName) as never));
            if (twice) await typedOutcome(() => s.listen(uniqueName('wp-fz')));
            await typedOutcome(() => s.address());
            await typedOutcome(() => s.unref().ref());
            await typedOutcome(() => s.connectionStats());
            if (isWindows) await typedOutcome(() => (s as unknown as { securityDescriptor(): string }).securityDescriptor());
          } finally {
            await s.close();
            await typedOutcome(() => s.listen(uniqueName('wp-fz')));
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('writeMessage(junk) on live and destroyed connections, both modes', { timeout: TIMEOUT }, async () => {
    const servers = await Promise.all(
      (['byte', 'message'] as const).map(async (mode) => {
        const name = uniqueName('wp-fz');
        const server = createServer({ mode }, (c) => {
          c.on('error', () => {});
          c.resume();
          // Connections are half-open on POSIX: end our side when the client has gone.
          c.on('end', () => c.end());
        });
        await server.listen(name);
        return { mode, name, server };
      }),
    );
    try {
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(0, 1), junk, fc.boolean(), async (which, data, destroyFirst) => {
          const { mode, name } = servers[which]!;
          const c = await connect(name, { mode });
          c.on('error', () => {});
          try {
            if (destroyFirst) c.destroy();
            await typedOutcome(() => c.writeMessage(data as never));
          } finally {
            c.destroy();
          }
        }),
        { numRuns: RUNS },
      );
    } finally {
      for (const { server } of servers) await server.close();
    }
  });

  it('PipeError and isPipeError take anything without throwing', { timeout: TIMEOUT }, async () => {
    await fc.assert(
      fc.asyncProperty(junk, fc.string(), async (value, code) => {
        cases++;
        expect(typeof isPipeError(value)).toBe('boolean');
        const err = new PipeError({ code: code || 'EPIPE', syscall: 'fuzz' });
        expect(isPipeError(err)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  // --- winpipe/connection ------------------------------------------------------------------------

  it('winpipe/connection Pipe(options)', { timeout: TIMEOUT }, async () => {
    await fc.assert(
      fc.asyncProperty(optionsOf({ duplex: fc.boolean(), maxMessageSize: fc.oneof(fc.integer({ min: -2, max: 300 }), fc.integer({ min: -2, max: 2 ** 40 })) }), async (options) => {
        const made = await typedOutcome(() => Pipe(options as never));
        if (!Array.isArray(made)) return;
        const [a, b] = made as [Connection, Connection];
        try {
          // The first end always receives, the second always sends (duplex or not).
          await typedOutcome(() => b.sendBytes(Buffer.from('ok')));
          await within(
            typedOutcome(() => a.recvBytes()),
            BOUND,
            'recvBytes of a message just sent',
          );
        } finally {
          a.close();
          b.close();
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('winpipe/connection: every Connection method with junk arguments, live and closed', { timeout: TIMEOUT }, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.tuple(
            fc.constantFrom('send', 'recv', 'sendBytes', 'recvBytes', 'poll', 'close', 'props'),
            fc.constantFrom(0, 1),
            // Buffers, values and sizes that are often valid, so that messages really move.
            fc.oneof(fc.uint8Array({ maxLength: 16 }), fc.constant(undefined), fc.integer({ min: -2, max: 20 }), junk),
            fc.oneof(fc.constant(undefined), fc.integer({ min: -2, max: 20 }), fc.double({ min: -1, max: 20 }), junk),
            fc.oneof(fc.constant(undefined), fc.integer({ min: -2, max: 20 }), junk),
          ),
          { maxLength: 10 },
        ),
        fc.boolean(),
        fc.boolean(),
        async (calls, duplex, closeFirst) => {
          const ends = Pipe({ duplex });
          // recv, recvBytes and a long poll may wait for a message that never comes: they are not
          // awaited here, and closing both ends at the end settles them (ERR_PIPE_CLOSED).
          const pending: Promise<unknown>[] = [];
          try {
            if (closeFirst) for (const e of ends) e.close();
            for (const [method, which, a, b, c] of calls) {
              const end = ends[which]!;
              // The call itself is synchronous, so that argument errors must be thrown, not rejected.
              const outcome = typedOutcome(() => {
                switch (method) {
                  case 'send':
                    return end.send(a);
                  case 'recv':
                    return end.recv();
                  case 'sendBytes':
                    return end.sendBytes(a as never, b as never, c as never);
                  case 'recvBytes':
                    return end.recvBytes(a as never);
                  case 'poll':
                    return end.poll(a as never);
                  case 'props':
                    return [end.fd, end.handle, end.closed, end.readable, end.writable, inspect(end)];
                  default:
                    return end.close();
                }
              });
              // Checked below by Promise.all; until then a failure must not count as unhandled.
              outcome.catch(() => {});
              pending.push(outcome);
              // A turn of the event loop: what was sent arrives, recvs and polls are answered.
              await settle(1, 0);
            }
          } finally {
            for (const e of ends) e.close();
            await within(Promise.all(pending), BOUND, 'every channel call settles once both ends are closed');
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('winpipe/connection new Listener(address, options), accept(), close() and Client(address, options)', { timeout: TIMEOUT }, async () => {
    const authkeys = fc.oneof(
      fc.constantFrom(undefined, '', 'k', Buffer.alloc(0), Buffer.from('key'), new Uint8Array([1, 2, 3]), new DataView(new ArrayBuffer(3)), new Float64Array(1)),
      fc.string({ maxLength: 20 }),
      junk,
    );
    const sizes = fc.oneof(fc.integer({ min: -2, max: 300 }), fc.integer({ min: -2, max: 2 ** 40 }));
    const listenerOptions = plausibleOptionsOf({
      authkey: authkeys,
      backlog: fc.integer({ min: -2, max: 2 ** 31 }),
      maxMessageSize: sizes,
      maxPendingConnections: fc.integer({ min: -2, max: 2 ** 32 }),
    });
    const clientOptions = plausibleOptionsOf({ authkey: authkeys, maxMessageSize: sizes });
    /** Addresses: junk and bad names, ones plausible for this platform, and ones of the other family. */
    const addresses = fc.oneof(
      names,
      fc.constantFrom(
        undefined,
        null,
        '\\\\.\\pipe\\',
        '\\\\.\\pipe\\a\0b',
        '\\\\?\\pipe\\q',
        `\\\\.\\pipe\\${'n'.repeat(300)}`,
        '/tmp/a\0b',
        '\0abstract',
        'x'.repeat(120),
        './rel.sock',
        'C:\\not\\a\\pipe',
        '\\\\remote\\pipe\\x',
      ),
      fc.string({ maxLength: 40 }).map((s) => (isWindows ? `\\\\.\\pipe\\${s}` : s)),
      fc.string({ maxLength: 40 }).map((s) => (isWindows ? s : `\\\\.\\pipe\\${s}`)),
    );
    /**
     * Where a Listener may bind: POSIX paths go into our temp folder (a relative one would land in
     * the cwd), Windows pipe names get a unique prefix. Names that must be refused stay as they are.
     */
    const placed = (a: unknown): unknown => {
      if (typeof a !== 'string' || a.includes('\0')) return a;
      if (isWindows) return a.replace(/^(\\\\[.?]\\pipe\\)(?=[^\\])/i, `$1${uniqueName('wp-fz')}-`);
      if (/^\\\\[^\\]+\\pipe\\/i.test(a)) return a;
      return join(dir, `l-${a.replaceAll('/', '_')}`);
    };
    /** Strings no channel address may be: empty, or a NUL anywhere but a Linux abstract name's start. */
    const refused = (a: unknown): boolean => typeof a === 'string' && (a === '' || (a.includes('\0') && !(process.platform === 'linux' && a.startsWith('\0') && !a.includes('\0', 1))));
    const closeIfConnection = (v: unknown): void => {
      if (v instanceof Connection) v.close();
    };
    await fc.assert(
      fc.asyncProperty(addresses, listenerOptions, fc.oneof({ arbitrary: fc.constant('own'), weight: 3 }, addresses), clientOptions, fc.boolean(), async (address, lopts, caddr, copts, sameKey) => {
        const made = await typedOutcome(() => new Listener(placed(address) as never, lopts as never));
        if (refused(placed(address))) expect(ARG_CODES).toContain((made as { code?: string }).code);
        if (!(made instanceof Listener)) {
          // Nobody listens at a fuzzed address.
          const target = contained(caddr === 'own' ? address : caddr);
          const client = await typedOutcome(() => Client(target as never, copts as never));
          if (refused(target)) expect(ARG_CODES).toContain((client as { code?: string }).code);
          closeIfConnection(client);
          return;
        }
        const listener = made;
        try {
          let options = copts;
          if (sameKey && lopts && typeof lopts === 'object' && copts && typeof copts === 'object') options = { ...copts, authkey: (lopts as { authkey?: unknown }).authkey };
          const accepting = typedOutcome(() => listener.accept());
          const connecting = typedOutcome(() => Client((caddr === 'own' ? listener.address : contained(caddr)) as never, options as never));
          // A side with an authkey waits for a peer without one until that peer goes; an accept
          // waits for ever if the client never came. So: once either side is done, close what it
          // got and the listener; the other side must then settle too.
          closeIfConnection(await Promise.race([accepting, connecting]));
          listener.close();
          const [server, client] = await within(Promise.all([accepting, connecting]), BOUND, 'accept and Client settle');
          closeIfConnection(server);
          closeIfConnection(client);
          await typedOutcome(() => listener.connectionStats());
          const again = await typedOutcome(() => listener.accept());
          expect((again as { code?: string }).code).toBe('ERR_PIPE_CLOSED');
        } finally {
          listener.close();
          listener.close();
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('winpipe/connection Connection.fromFd(fd, options)', { timeout: TIMEOUT }, async () => {
    // Only descriptors of our own: an integer the fuzzer picks could be stdio or vitest's channel.
    const UNUSED = 0x7fff_fff0;
    await fc.assert(
      fc.asyncProperty(
        mostly(fc.constantFrom('socket', 'socket', 'file', 'unused')),
        plausibleOptionsOf({ readable: fc.boolean(), writable: fc.boolean(), maxMessageSize: fc.integer({ min: -2, max: 2 ** 40 }) }),
        async (choice, options) => {
          const cleanup: (() => void)[] = [];
          let fd: unknown = choice;
          let ours: number | undefined;
          try {
            if (typeof choice === 'number' && Number.isInteger(choice) && choice >= 0 && choice <= 0x7fff_ffff) fd = UNUSED;
            else if (choice === 'unused') fd = UNUSED;
            else if (choice === 'file') {
              ours = openSync(join(dir, 'regular'), 'w+');
              fd = ours;
            } else if (choice === 'socket') {
              const own = await ownChannelDescriptor();
              cleanup.push(own.release);
              ours = own.fd;
              fd = ours;
            }
            const result = await typedOutcome(() => Connection.fromFd(fd as never, options as never));
            if (result instanceof Connection) {
              ours = undefined;
              await typedOutcome(() => result.poll(0));
              result.close();
            }
          } finally {
            // Not taken: the descriptor is still ours (Windows: a refused pipe end may be closed already).
            if (ours !== undefined) {
              try {
                closeSync(ours);
              } catch {
                // Already closed by fromFd.
              }
            }
            for (const c of cleanup) c();
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  // --- FIFOs ---------------------------------------------------------------------------------------

  it('createFifo(path, options) and openFifo(path, flags, options)', { timeout: TIMEOUT }, async () => {
    const fifoPaths = fc.oneof(names, fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }), fc.constantFrom('@dir', '@file', '@missing'));
    /** Every path the fuzzer makes lands in our temp folder; the bad ones (empty, NUL) stay bad. */
    const placed = (p: unknown): unknown => {
      if (p === '@dir') return dir;
      if (p === '@file') return join(dir, 'regular');
      if (p === '@missing') return join(dir, 'missing', 'x');
      if (typeof p !== 'string' || p === '' || p.includes('\0')) return p;
      return join(dir, `f-${p.replaceAll('/', '_')}`);
    };
    const isFifo = (p: unknown): boolean => {
      // No FIFOs on Windows; and there Node 20's libuv aborts the process on a path holding
      // U+10FFFF (assertion code_point < 0x10FFFF, deps/uv/src/win/fs.c), so never stat one.
      if (isWindows) return false;
      try {
        return typeof p === 'string' && statSync(p).isFIFO();
      } catch {
        return false;
      }
    };
    /** Windows: an argument error or ERR_UNSUPPORTED_PLATFORM, never anything else. */
    const unsupported = (outcome: unknown): void => {
      if (!isWindows) return;
      expect([...ARG_CODES, 'ERR_UNSUPPORTED_PLATFORM']).toContain((outcome as { code?: string })?.code);
    };
    await fc.assert(
      fc.asyncProperty(
        fifoPaths,
        plausibleOptionsOf({ mode: fc.oneof(fc.constantFrom(0o600, 0o666, 0o7777, 0o10000), fc.integer({ min: -2, max: 0o20000 })) }),
        mostly(fc.constantFrom('r', 'w', 'r', 'w', 'rw', 'r+', 'R', '')),
        plausibleOptionsOf({ signal: fc.constantFrom(undefined, AbortSignal.abort(), new AbortController().signal), nonBlocking: fc.boolean() }),
        async (rawPath, createOptions, flags, openOptions) => {
          const path = placed(rawPath);
          const made = isFifo(path) ? undefined : path;
          const ends: unknown[] = [];
          try {
            unsupported(await typedOutcome(() => createFifo(path as never, createOptions as never)));
            const opening = typedOutcome(() => openFifo(path as never, flags as never, openOptions as never));
            // A valid open waits for the other side: be that other side, without waiting ourselves.
            if (!isWindows && isFifo(path) && (flags === 'r' || flags === 'w')) {
              ends.push(await typedOutcome(() => openFifo(path as string, flags === 'r' ? 'w' : 'r', { nonBlocking: true })));
            }
            const opened = await within(opening, BOUND, 'openFifo settles');
            ends.push(opened);
            unsupported(opened);
          } finally {
            for (const e of ends) if (e && typeof (e as PipeReader).close === 'function' && !(e instanceof Error)) (e as PipeReader | PipeWriter).close();
            if (typeof made === 'string' && isFifo(made)) rmSync(made, { force: true });
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  // --- spawnWithHandles ----------------------------------------------------------------------------

  it('spawnWithHandles(command, args, options): bad input throws before any child is spawned', { timeout: TIMEOUT }, async () => {
    const identity = (values: string[]): string[] => values;
    const notArray = (): unknown => 'not an array';
    const symbols = (): unknown[] => [Symbol('a')];
    const commands = mostly(fc.oneof(fc.constantFrom('', 'a\0b', 'no-such-command'), fc.string({ minLength: 1, maxLength: 30 })));
    const argLists = mostly(
      fc.oneof(
        fc.constantFrom(identity, identity, notArray, symbols),
        fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 }),
        fc.array(fc.oneof(fc.string({ maxLength: 10 }), junk), { maxLength: 3 }),
      ),
    );
    const sources = fc.oneof(
      junk,
      { arbitrary: fc.constantFrom('open-end', 'closed-end', 'open-fd', 'closed-fd', 'connection', 'closed-connection'), weight: 4 },
      fc.integer({ min: -3, max: 3 }),
      fc.record({ fd: junk }),
      fc.record({ fd: fc.oneof(fc.constantFrom('open-fd', 'closed-fd'), junk), handle: junk }),
    );
    const stdios = fc.oneof(
      fc.constantFrom(undefined, undefined, 'ignore', 'pipe', 'inherit', 'bogus'),
      junk,
      fc.array(fc.constantFrom('ignore', 'pipe', 'inherit', null, undefined, 'bogus'), { maxLength: 4 }),
    );
    const spawnOptions = mostly(fc.record({ handles: mostly(fc.array(sources, { maxLength: 3 })), stdio: stdios }, { requiredKeys: ['handles'] }));
    /** An fd of the parent a child could be given: an integer in range (open or not, POSIX checks). */
    const fdLike = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0x7fff_ffff;

    await fc.assert(
      fc.asyncProperty(commands, argLists, spawnOptions, async (rawCommand, args, rawOptions) => {
        const cleanup: (() => void)[] = [];
        /** Our own descriptors and ends stand in for the tokens; fuzzed integers never reach a child. */
        const realize = (s: unknown): unknown => {
          if (s === 'open-end' || s === 'closed-end' || s === 'open-fd' || s === 'closed-fd') {
            const { reader, writer } = createPipe();
            cleanup.push(
              () => reader.close(),
              () => writer.close(),
            );
            const fd = writer.fd;
            if (s === 'closed-end' || s === 'closed-fd') writer.close();
            return s.endsWith('end') ? writer : fd;
          }
          if (s === 'connection' || s === 'closed-connection') {
            const [a, b] = Pipe();
            cleanup.push(
              () => a.close(),
              () => b.close(),
            );
            if (s === 'closed-connection') a.close();
            return a;
          }
          // An in-range integer the fuzzer made is somebody's descriptor (stdio, vitest's channel):
          // hand over one nobody has instead.
          if (fdLike(s)) return 0x7fff_fff0;
          if (s && typeof s === 'object' && 'fd' in s) return { ...s, fd: realize((s as { fd: unknown }).fd) };
          return s;
        };
        // A command that is a file in an empty folder of ours: nothing ever runs.
        const command = typeof rawCommand === 'string' && rawCommand !== '' && !rawCommand.includes('\0') ? join(dir, 'no-bin', `nx-${rawCommand.replaceAll(/[/\\]/g, '_')}`) : rawCommand;
        let options = rawOptions;
        if (rawOptions && typeof rawOptions === 'object' && 'handles' in rawOptions) {
          const { handles } = rawOptions as { handles: unknown };
          options = { ...rawOptions, handles: Array.isArray(handles) ? handles.map(realize) : handles };
        }
        try {
          // `stdio` goes to Node's spawn as it is: Node's own typed errors for it count as typed.
          const nodeStdioError = (err: unknown): boolean => err instanceof TypeError && (err as { code?: string }).code === 'ERR_INVALID_SYNC_FORK_INPUT';
          const result = await typedOutcome(() => spawnWithHandles(command as never, args as never, options as never), nodeStdioError);
          // Windows: winpipe's own child (src/windows/spawn.ts), not Node's.
          if (result instanceof ChildProcess || result instanceof WindowsChild) {
            // Only for input that is valid on its face...
            const handles = (options as { handles: unknown[] }).handles;
            expect(typeof command).toBe('string');
            expect(Array.isArray(args) || args === identity).toBe(true);
            if (Array.isArray(args)) for (const a of args) expect(typeof a).toBe('string');
            for (const h of handles) expect(fdLike(h) || (h !== null && typeof h === 'object' && fdLike((h as { fd: unknown }).fd))).toBe(true);
            // ...and even then no program ran: the command does not exist.
            await within(
              new Promise<void>((resolve) => {
                if (result.exitCode !== null || result.signalCode !== null) resolve();
                result.once('error', () => resolve());
                result.once('exit', () => resolve());
              }),
              BOUND,
              'the spawn of a missing command fails',
            );
            expect(result.pid === undefined || result.exitCode !== 0).toBe(true);
          }
        } finally {
          for (const c of cleanup) c();
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('leaves no descriptor, pipe handle or registered wait behind', async () => {
    await settle(10);
    const fds = openFdCount();
    if (fds !== undefined) expect(fds).toBeLessThanOrEqual(before.fds!);
    expect(activePipeResources()).toBeLessThanOrEqual(before.pipes);
    const waits = await overlappedCounts();
    if (waits) expect(waits).toEqual({ pendingWaits: 0, keepAliveRefs: 0 });
    figure(
      '14 fuzz',
      `${cases} cases tried (${RUNS} runs per property), every failure typed; fds ${before.fds ?? 'n/a'} -> ${fds ?? 'n/a'}, pipe handles ${before.pipes} -> ${activePipeResources()}, waits ${JSON.stringify(waits ?? 'n/a')}`,
    );
  });
});
