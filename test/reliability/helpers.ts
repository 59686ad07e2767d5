// Shared helpers for the reliability suite (test/reliability/*.test.ts).
//
// Every scenario has a default size, which runs in `npm test` (natively and under Wine), and a
// stress size, which runs with WINPIPE_STRESS=1 (`npm run test:stress`). Each test file says which
// is which; `sized()` picks one.
import { createCipheriv, createHash } from 'node:crypto';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import type { Duplex, Readable } from 'node:stream';
import { afterEach } from 'vitest';
import { connect, createServer, type ConnectOptions, type CreateServerOptions, type PipeConnection, type PipeServer } from '../../src/index.js';
import { isWindows, uniqueName } from '../helpers/index.js';

export { isWindows, processHandleCount, underWine, uniqueName, within, prng } from '../helpers/index.js';

/** `npm run test:stress` sets WINPIPE_STRESS=1. */
export const STRESS = process.env.WINPIPE_STRESS === '1';

/** The default size, or the stress size under WINPIPE_STRESS=1. */
export function sized<T>(byDefault: T, underStress: T): T {
  return STRESS ? underStress : byDefault;
}

/** A vitest timeout for one test: generous, because it is a hang detector, not a speed check. */
export function budget(defaultMs: number, stressMs: number): number {
  return sized(defaultMs, stressMs);
}

/** Bound for "settles, does not hang" checks: generous on purpose, never a speed claim. */
export const BOUND = 30_000;

export const MiB = 1024 * 1024;

// --- seeded data -------------------------------------------------------------------------------

/**
 * A reproducible stream of pseudo-random bytes: the AES-128-CTR keystream for a key derived from
 * `seed`. Fast on every platform (OpenSSL), so 256 MiB costs well under a second to make.
 * `next(n)` returns the next `n` bytes; the SHA-256 of everything returned so far is `digest()`.
 */
export class SeededStream {
  readonly #cipher;
  readonly #hash = createHash('sha256');
  #produced = 0;
  constructor(seed: number) {
    const key = createHash('sha256').update(`winpipe-reliability-${seed}`).digest().subarray(0, 16);
    this.#cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  }
  next(n: number): Buffer {
    const out = this.#cipher.update(Buffer.alloc(n));
    this.#hash.update(out);
    this.#produced += n;
    return out;
  }
  get produced(): number {
    return this.#produced;
  }
  digest(): string {
    return this.#hash.digest('hex');
  }
}

/**
 * Reads `stream` with `read(nextSize())` until its end, handing each chunk to `onChunk` (awaited:
 * a slow consumer is a slow reader). One persistent 'readable' listener: adding a 'readable'
 * listener while data is buffered emits 'readable' at once, so re-adding one per wait would spin
 * on process.nextTick without ever letting the event loop read more.
 */
export async function readWithSizes(stream: Readable, nextSize: () => number, onChunk: (chunk: Buffer) => void | Promise<void>): Promise<void> {
  let wake: (() => void) | undefined;
  let failure: unknown;
  const poke = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const onError = (err: unknown): void => {
    failure ??= err;
    poke();
  };
  stream.on('readable', poke);
  stream.on('end', poke);
  stream.on('error', onError);
  try {
    for (;;) {
      if (failure) throw failure;
      const chunk = stream.read(nextSize()) as Buffer | null;
      if (chunk !== null) {
        await onChunk(chunk);
        continue;
      }
      if (stream.readableEnded) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    stream.off('readable', poke);
    stream.off('end', poke);
    stream.off('error', onError);
  }
}

// --- resource counts (leak checks) -------------------------------------------------------------

/** Linux: the number of open descriptors of this process (`/proc/self/fd`). Elsewhere undefined. */
export function openFdCount(): number | undefined {
  if (process.platform !== 'linux') return undefined;
  // The readdir itself opens one fd for the directory; it is counted every time, so it cancels out.
  return readdirSync('/proc/self/fd').length;
}

/** Windows: live registered waits and keep-alive refs of src/windows/overlapped.ts. Elsewhere undefined. */
export async function overlappedCounts(): Promise<{ pendingWaits: number; keepAliveRefs: number } | undefined> {
  if (!isWindows) return undefined;
  const { overlappedStats } = await import('../../src/windows/overlapped.js');
  return overlappedStats();
}

/** libuv handles and requests Node reports as active (pipes, sockets, timers...), by type. */
export function activeResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
}

/** The pipe-ish active resources: what a leaked end, socket or server would show up as. */
export function activePipeResources(): number {
  const counts = activeResources();
  let n = 0;
  for (const [type, count] of Object.entries(counts)) if (/Pipe|TCP|Stream|FSReq|Write|Shutdown|Connect/i.test(type)) n += count;
  return n;
}

/** Lets pending close callbacks and completions run: a few turns of the event loop. */
export async function settle(turns = 5, ms = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setTimeout(resolve, ms));
}

// --- servers and connections, cleaned up after each test ----------------------------------------

/**
 * Named-pipe helpers whose servers and connections are closed after each test of the calling
 * file. Connections get a no-op 'error' listener: tests check errors through their own promises.
 */
export function namedPipes(): {
  serve(options?: CreateServerOptions, listener?: (c: PipeConnection) => void, name?: string): Promise<{ server: PipeServer; name: string }>;
  client(name: string, options?: ConnectOptions): Promise<PipeConnection>;
  track<T extends Duplex>(c: T): T;
  trackServer(s: PipeServer): PipeServer;
} {
  const servers: PipeServer[] = [];
  const conns: Duplex[] = [];
  afterEach(async () => {
    for (const c of conns.splice(0)) c.destroy();
    for (const s of servers.splice(0)) await s.close();
  });
  const track = <T extends Duplex>(c: T): T => {
    conns.push(c);
    c.on('error', () => {});
    return c;
  };
  return {
    track,
    trackServer(s) {
      servers.push(s);
      return s;
    },
    async serve(options, listener, name = uniqueName('wp-rel')) {
      const server = createServer(options, (c) => {
        track(c);
        listener?.(c);
      });
      servers.push(server);
      await server.listen(name);
      return { server, name };
    },
    async client(name, options) {
      return track(await connect(name, options));
    },
  };
}

export function nextConnection(server: PipeServer): Promise<PipeConnection> {
  return once(server, 'connection').then(([c]) => c as PipeConnection);
}

/** The error a promise rejects with, or a failure if it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<{ code?: string; name?: string } & Error> {
  try {
    await promise;
  } catch (err) {
    return err as { code?: string } & Error;
  }
  throw new Error('expected a rejection, but the promise resolved');
}

/** Prints one figure line for the report (visible in the test output). */
export function figure(what: string, text: string): void {
  console.log(`[reliability${STRESS ? ' stress' : ''}] ${what}: ${text}`);
}
