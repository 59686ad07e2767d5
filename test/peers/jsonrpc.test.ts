// A real peer: vscode-jsonrpc (LSP's transport, as VS Code uses it over pipes), against our server
// and our client, on both paths (POSIX: Unix sockets; Windows under Wine: named pipes). Its pipe
// transports are plain net servers/sockets on the same path, named LSP's way round: the editor
// (createClientPipeTransport) listens, the language server (createServerPipeTransport) connects; its stream reader/writer run over our
// byte-mode connections. vscode-jsonrpc learns that a peer left from 'close' only, so the
// client-leaving cases run with the allowHalfOpen default, false (docs/named-pipes.md).
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StreamMessageReader, StreamMessageWriter, createClientPipeTransport, createMessageConnection, createServerPipeTransport, type MessageConnection } from 'vscode-jsonrpc/node';
import { connect, createServer, pipePath, type PipeConnection, type PipeServer } from '../../src/index.js';
import { isWindows, uniqueName, within } from '../helpers/index.js';

const BOUND = 30_000;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A jsonrpc connection over one of our byte-mode connections, listening. */
function rpcOver(conn: PipeConnection): MessageConnection {
  const rpc = createMessageConnection(new StreamMessageReader(conn), new StreamMessageWriter(conn));
  cleanups.push(() => rpc.dispose());
  return rpc;
}

/** The handlers every server in this file has: echo, length, and a notification counter. */
function handle(rpc: MessageConnection, seen: string[]): void {
  rpc.onRequest('echo', (p: { text: string }) => ({ text: p.text }));
  rpc.onRequest('length', (p: { text: string }) => p.text.length);
  rpc.onNotification('note', (p: { text: string }) => void seen.push(p.text));
  rpc.listen();
}

/** Requests, a notification (seen before the request that follows it: one stream, in order) and 8 MiB each way. */
async function exercise(rpc: MessageConnection, seen: string[]): Promise<void> {
  expect(await rpc.sendRequest('echo', { text: 'hello' })).toEqual({ text: 'hello' });
  await rpc.sendNotification('note', { text: 'first' });
  await rpc.sendNotification('note', { text: 'second' });
  expect(await rpc.sendRequest('length', { text: 'abc' })).toBe(3);
  expect(seen).toEqual(['first', 'second']);
  const big = 'x'.repeat(8 * 1024 * 1024 - 7) + 'the-end';
  const back = (await within(rpc.sendRequest('echo', { text: big }), BOUND, 'the 8 MiB echo')) as { text: string };
  expect(back.text.length).toBe(big.length);
  expect(back.text === big).toBe(true);
}

async function ourServer(onConnection: (conn: PipeConnection) => void): Promise<{ server: PipeServer; name: string }> {
  const server = createServer((conn) => {
    conn.on('error', () => {});
    cleanups.push(() => conn.destroy());
    onConnection(conn);
  });
  const name = uniqueName('winpipe-jsonrpc');
  cleanups.push(() => server.close());
  await server.listen(name);
  return { server, name };
}

describe('vscode-jsonrpc against a winpipe server', () => {
  it("its createServerPipeTransport (it connects): requests, notifications, 8 MiB, and its leaving is 'close' on our side", async () => {
    const seen: string[] = [];
    const closed: Promise<unknown>[] = [];
    const { server } = await ourServer((conn) => {
      closed.push(once(conn, 'close'));
      handle(rpcOver(conn), seen);
    });
    const [reader, writer] = createServerPipeTransport(server.address()!);
    const client = createMessageConnection(reader, writer);
    client.listen();
    await exercise(client, seen);
    expect(closed).toHaveLength(1);
    // The client leaves; our connection must emit 'close' by itself (allowHalfOpen: false).
    client.dispose();
    reader.dispose();
    writer.dispose();
    await within(closed[0]!, BOUND, "the server connection's 'close' after the client left");
  });

  it("StreamMessageReader/Writer over our client too: the server's jsonrpc sees onClose when our client ends", async () => {
    const seen: string[] = [];
    const rpcClosed: Promise<void>[] = [];
    const { name } = await ourServer((conn) => {
      const rpc = rpcOver(conn);
      rpcClosed.push(new Promise<void>((resolve) => rpc.onClose(() => resolve())));
      handle(rpc, seen);
    });
    const conn = await connect(name);
    conn.on('error', () => {});
    cleanups.push(() => conn.destroy());
    const client = rpcOver(conn);
    client.listen();
    await exercise(client, seen);
    conn.end();
    await within(rpcClosed[0]!, BOUND, "the server jsonrpc connection's onClose");
  });
});

describe('vscode-jsonrpc serving, winpipe connecting', () => {
  it("its createClientPipeTransport (it listens): our client's requests, notifications and 8 MiB; our end() closes its connection", async () => {
    // Its transport listens with net on the very path our names map to.
    // POSIX: in a directory of its own (net does not make our private directory).
    const path = isWindows ? pipePath(uniqueName('winpipe-jsonrpc-srv')) : join(mkdtempSync(join(tmpdir(), 'wpj-')), 's.sock');
    if (!isWindows) cleanups.push(() => rmSync(dirname(path), { recursive: true, force: true }));
    const transport = await createClientPipeTransport(path);
    cleanups.push(() => transport.close());
    const seen: string[] = [];
    const connecting = connect(path);
    const [reader, writer] = await within(transport.onConnected(), BOUND, 'its server seeing our client');
    const server = createMessageConnection(reader, writer);
    cleanups.push(() => server.dispose());
    const serverClosed = new Promise<void>((resolve) => server.onClose(() => resolve()));
    handle(server, seen);
    const conn = await connecting;
    conn.on('error', () => {});
    cleanups.push(() => conn.destroy());
    const client = rpcOver(conn);
    client.listen();
    await exercise(client, seen);
    const ourClose = once(conn, 'close');
    conn.end();
    await within(serverClosed, BOUND, "its server's onClose after our end()");
    // Its side closes in turn; ours follows without a destroy() (allowHalfOpen: false).
    await within(ourClose, BOUND, "our client's 'close'");
  });
});
