// Scenario 14, bad input: every public function and option fuzzed with fast-check (wrong types,
// huge, negative and fractional sizes, bad names and encodings, closed ends). Every case either
// works or fails with a typed error: TypeError / RangeError with Node's codes (synchronously), a
// PipeError, or an AbortError. Nothing crashes, and nothing is leaked (descriptors on Linux, pipe
// handles, registered waits on Windows).
//
// Sizes: 150 cases per property by default, 2000 under WINPIPE_STRESS=1 (fast-check's numRuns).
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, createPipe, createServer, isPipeError, pipePath, PipeError, type PipeConnection } from '../../src/index.js';
import { activePipeResources, budget, figure, isWindows, openFdCount, overlappedCounts, settle, sized, uniqueName } from './helpers.js';

const RUNS = sized(150, 2000);
const TIMEOUT = budget(180_000, 1_800_000);
const ARG_CODES = ['ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_VALUE', 'ERR_OUT_OF_RANGE'];
let cases = 0;

/** Is `err` one of the typed errors the contract allows? */
function typed(err: unknown): boolean {
  if (isPipeError(err)) return true;
  if ((err as Error)?.name === 'AbortError') return true;
  if (err instanceof TypeError || err instanceof RangeError) return ARG_CODES.includes((err as { code?: string }).code ?? '');
  return false;
}

/** Runs `fn`; any synchronous throw or rejection must be typed. Returns what it produced. */
async function typedOutcome(fn: () => unknown): Promise<unknown> {
  cases++;
  let result: unknown;
  try {
    result = fn();
  } catch (err) {
    if (!typed(err)) throw new Error(`untyped synchronous error: ${String(err)} (code ${(err as { code?: string })?.code})`);
    return err;
  }
  if (result instanceof Promise) {
    try {
      return await result;
    } catch (err) {
      // Argument errors must be synchronous; a rejection must be a PipeError or an AbortError.
      if (!(isPipeError(err) || (err as Error)?.name === 'AbortError' || (err as { code?: string })?.code === 'ERR_SERVER_ALREADY_LISTEN')) {
        throw new Error(`untyped rejection: ${String(err)} (code ${(err as { code?: string })?.code})`);
      }
      return err;
    }
  }
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
});

const connectOptions = optionsOf({
  timeout: fc.integer({ min: -2, max: 50 }),
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
  await settle();
  before = { fds: openFdCount(), pipes: activePipeResources() };
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** POSIX: a name the fuzzer made absolute is moved into our temp folder (we run as any user, maybe root). */
function contained(name: unknown): unknown {
  if (!isWindows && typeof name === 'string' && name.startsWith('/')) return join(dir, name.replaceAll('/', '_').slice(0, 40));
  return name;
}

describe('scenario 14: fuzzed bad input gives typed errors, no crash, no leak', () => {
  it('createPipe(options)', async () => {
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
  }, TIMEOUT);

  it('every method of both pipe ends with junk arguments, open and closed', async () => {
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
  }, TIMEOUT);

  it('pipePath(name, options) and connect(name, options)', async () => {
    await fc.assert(
      fc.asyncProperty(names, connectOptions, optionsOf({ security: fc.constantFrom('current-user', 'everyone'), platform: fc.constantFrom('win32', 'linux', 'darwin') }), async (name, options, pathOptions) => {
        await typedOutcome(() => pipePath(name as never, pathOptions as never));
        const result = await typedOutcome(() => connect(contained(name) as never, options as never));
        // Nobody serves a fuzzed name; should anything ever answer, let it go.
        if (result && typeof (result as PipeConnection).destroy === 'function' && !(result instanceof Error)) (result as PipeConnection).destroy();
      }),
      { numRuns: RUNS },
    );
  }, TIMEOUT);

  it('createServer(options, listener), listen(name), and every server method', async () => {
    await fc.assert(
      fc.asyncProperty(serverOptions, fc.oneof(fc.constant(undefined), fc.constant(() => {}), junk), names, fc.boolean(), async (options, listener, name, twice) => {
        const server = await typedOutcome(() => createServer(options as never, listener as never));
        if (!(server && typeof server === 'object' && 'listen' in server)) return;
        const s = server as ReturnType<typeof createServer>;
        s.on('error', () => {});
        try {
          const listenName = typeof name === 'string' && name.length > 0 && name.length < 60 && !name.includes('\0') ? `${uniqueName('wp-fz')}${isWindows ? name.replaceAll('\\', '_') : name.replaceAll('/', '_')}` : name;
          await typedOutcome(() => s.listen(contained(listenName) as never));
          if (twice) await typedOutcome(() => s.listen(uniqueName('wp-fz')));
          await typedOutcome(() => s.address());
          await typedOutcome(() => s.unref().ref());
          if (isWindows) await typedOutcome(() => (s as unknown as { securityDescriptor(): string }).securityDescriptor());
        } finally {
          await s.close();
          await typedOutcome(() => s.listen(uniqueName('wp-fz')));
        }
      }),
      { numRuns: RUNS },
    );
  }, TIMEOUT);

  it('writeMessage(junk) on live and destroyed connections, both modes', async () => {
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
  }, TIMEOUT);

  it('PipeError and isPipeError take anything without throwing', async () => {
    await fc.assert(
      fc.asyncProperty(junk, fc.string(), async (value, code) => {
        cases++;
        expect(typeof isPipeError(value)).toBe('boolean');
        const err = new PipeError({ code: code || 'EPIPE', syscall: 'fuzz' });
        expect(isPipeError(err)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  }, TIMEOUT);

  it('leaves no descriptor, pipe handle or registered wait behind', async () => {
    await settle(10);
    const fds = openFdCount();
    if (fds !== undefined) expect(fds).toBeLessThanOrEqual(before.fds!);
    expect(activePipeResources()).toBeLessThanOrEqual(before.pipes);
    const waits = await overlappedCounts();
    if (waits) expect(waits).toEqual({ pendingWaits: 0, keepAliveRefs: 0 });
    figure('14 fuzz', `${cases} cases tried (${RUNS} runs per property), every failure typed; fds ${before.fds ?? 'n/a'} -> ${fds ?? 'n/a'}, pipe handles ${before.pipes} -> ${activePipeResources()}, waits ${JSON.stringify(waits ?? 'n/a')}`);
  });
});
