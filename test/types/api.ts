// Type tests for the public API (compiled with `tsc --noEmit -p test/types` by test/repo/types.test.ts,
// never run). Each `@ts-expect-error` line must be an error: tsc fails on an unused one.
import { spawn } from 'node:child_process';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import {
  connect,
  createPipe,
  createServer,
  type PipeReader,
  type PipeWriter,
  type BytePipeConnection,
  type ConnectionStats,
  type MessagePipeConnection,
  type PipeConnection,
  type PipeServer,
} from '../../src/index.js';

declare function is<T>(value: T): void;

export async function serverEvents(): Promise<void> {
  const server = createServer();
  is<PipeServer<BytePipeConnection>>(server);
  server.on('connection', (conn) => {
    is<net.Socket>(conn); // a byte connection is a net.Socket
    conn.setTimeout(1000);
    is<number | undefined>(conn.clientProcessId);
    is<'byte'>(conn.mode);
  });
  server.once('listening', () => {});
  server.on('drop', () => {});
  // @ts-expect-error: 'drop' has no arguments to emit
  server.emit('drop', 1);
  is<ConnectionStats>(server.connectionStats());
  is<number>(server.connectionStats().dropped);
  // @ts-expect-error: a snapshot, read-only
  server.connectionStats().current = 0;
  createServer({ maxConnections: 2000 });
  // @ts-expect-error: maxConnections is a number
  createServer({ maxConnections: 'unlimited' });
  server.on('close', () => {});
  server.on('error', (err) => is<Error>(err));
  server.off('connection', () => {});
  // @ts-expect-error: not an event of a PipeServer
  server.on('connect', () => {});
  // @ts-expect-error: not an event of a PipeServer
  server.once('data', () => {});
  // @ts-expect-error: 'connection' gives a connection, not a string
  server.on('connection', (conn: string) => conn);
  // @ts-expect-error: 'listening' has no arguments to emit
  server.emit('listening', 1);
  await server.listen('name', () => {});
  await server.listen({ path: 'name', signal: AbortSignal.timeout(1) });
  await server.listen({ name: 'name' });
  // @ts-expect-error: listen takes a name or { path | name, signal }
  await server.listen(42);
  for await (const conn of server) is<BytePipeConnection>(conn);
}

export async function modesFollowThroughOverloads(): Promise<void> {
  createServer((conn) => conn.setNoDelay()); // byte: a net.Socket
  createServer({ maxInstances: 2 }, (conn) => is<BytePipeConnection>(conn));
  const msgServer = createServer({ mode: 'message' }, (conn) => {
    is<MessagePipeConnection>(conn);
    is<'message'>(conn.mode);
    // @ts-expect-error: a message connection is not a net.Socket
    conn.setTimeout(1000);
  });
  msgServer.on('connection', (conn) => is<MessagePipeConnection>(conn));

  const byte = await connect('name');
  is<BytePipeConnection>(byte);
  byte.setTimeout(1000);
  const byte2 = await connect('name', { mode: 'byte', connectTimeout: 10, wait: true });
  is<net.Socket>(byte2);
  const msg = await connect('name', { mode: 'message' });
  is<MessagePipeConnection>(msg);
  is<Duplex>(msg);
  is<MessagePipeConnection>(msg.unref().ref());
  // @ts-expect-error: a message connection has no setTimeout
  msg.setTimeout(1);
  const mode = Math.random() > 0.5 ? ('byte' as const) : ('message' as const);
  const either = await connect('name', { mode });
  is<PipeConnection>(either);
  is<PipeConnection>(either.unref());
  // @ts-expect-error: not known to be a socket when the mode is not known
  either.setTimeout(1);
  // @ts-expect-error: wait is a boolean
  await connect('name', { wait: 1 });
}

export async function endsInStdioAndPositions(): Promise<void> {
  const { reader, writer } = createPipe();
  // The ends themselves, in @types/node's StdioOptions (a Stream), at any index.
  const child = spawn('cmd', ['arg'], { stdio: ['ignore', 'inherit', 'inherit', writer] });
  is<number | undefined>(child.pid);
  spawn('cmd', [], { stdio: [reader, 'inherit', 'inherit'] });
  spawn('cmd', { stdio: ['ignore', writer, writer.fd] });
  // A pair destructured by position types each end.
  const [r, w] = createPipe();
  is<PipeReader>(r);
  is<PipeWriter>(w);
  // @ts-expect-error: position 0 is the reader
  is<PipeWriter>(r);
  is<PipeReader>(createPipe()[0]);
  // `for await` over a reader is spelled chunks().
  for await (const chunk of reader.chunks({ size: 1024, signal: AbortSignal.timeout(1) })) is<Buffer>(chunk);
  // @ts-expect-error: an end is not async-iterable (execa would read it instead of passing its fd)
  for await (const chunk of reader) void chunk;
  is<{ readonly fd: number } | null>(writer._handle);
}

export async function childSideKillOnCloseAndListing(): Promise<void> {
  type W = typeof import('../../src/index.js');
  const w: W = await import('../../src/index.js');
  const reader = w.adoptEnd('3', 'r');
  is<InstanceType<W['PipeReader']>>(reader);
  is<InstanceType<W['PipeWriter']>>(w.adoptEnd(3n, 'w'));
  // @ts-expect-error: 'r' gives a reader, which has no writeSync
  w.adoptEnd(3, 'r').writeSync('x');
  // @ts-expect-error: the direction is 'r' or 'w'
  w.adoptEnd(3, 'read');
  // @ts-expect-error: a value is a number, a bigint or a decimal string
  w.adoptEnd({ fd: 3 }, 'r');
  w.spawnWithHandles('x', [], { handles: [reader], killOnClose: true });
  // @ts-expect-error: killOnClose is a boolean
  w.spawnWithHandles('x', [], { handles: [reader], killOnClose: 'yes' });
  const pipes = await w.listPipes();
  is<string>(pipes[0]!.path);
  is<string>(pipes[0]!.name);
  is<number | undefined>(pipes[0]!.instances);
  is<'current-user' | 'everyone' | undefined>(pipes[0]!.security);
}

export async function accessTypes(): Promise<void> {
  const server = createServer({
    security: { allow: ['interactive', { sid: 'S-1-15-2-1' }, { account: 'PC\\ann' }], integrity: 'low' },
    admit: async (peer) => peer.sid !== undefined && peer.integrity !== 'low' && peer.elevated !== true,
    admitTimeout: 1000,
  });
  is<string>(server.securityDescriptor());
  is<number>(server.connectionStats().refused);
  server.on('refused', (peer, reason, error) => {
    is<number | undefined>(peer.pid);
    is<'denied' | 'timeout' | 'error'>(reason);
    is<unknown>(error);
  });
  await server.listen({ name: 'x', rendezvous: true });
  await connect('x', { rendezvous: true });
  await connect('x', { serverSession: 'same' });
  await connect('x', { serverSession: 1 });
  // @ts-expect-error: 'same' or a session number
  await connect('x', { serverSession: 'mine' });
  // @ts-expect-error an unknown party is not a preset entry
  createServer({ security: { allow: ['friends'] } });
  // @ts-expect-error admit answers a boolean
  createServer({ admit: () => 'yes' });
}
