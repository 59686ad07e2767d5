// The instance policy both Windows servers share (src/windows/instance.ts): when no instance of a
// server's is left (its bound reached, and that client refused by `admit`), the name is free for
// anyone, and the next instance must not join whoever serves it now. Both createServer and the
// winpipe/connection Listener find another party's listening instance and stop with EADDRINUSE;
// with nobody else there they go on serving.
// Runs on win32 and under Wine (vitest.config.ts). The other party here is a plain
// CreateNamedPipeW in this process, made while the server's last client waits on `admit`: on
// Windows it joins the server's pipe (our own user may add instances), under Wine as well; a
// squatter taking a name that is really free is a race no test can time.
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, createServer, type PipeConnection, type PipeServer } from '../../src/index.js';
import { Client, Listener, type Connection } from '../../src/channel/index.js';
import * as k from '../../src/windows/kernel32.js';
import { uniqueName, within } from '../helpers/index.js';

const BOUND = 15_000;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

/** An `admit` that waits until `refuse()` is called, and says when it was asked. */
function heldAdmit(): { admit: () => Promise<boolean>; asked: Promise<void>; refuse: () => void } {
  let asked!: () => void;
  let refuse!: () => void;
  const askedP = new Promise<void>((resolve) => (asked = resolve));
  const answer = new Promise<boolean>((resolve) => (refuse = () => resolve(false)));
  return {
    admit: () => {
      asked();
      return answer;
    },
    asked: askedP,
    refuse,
  };
}

/** A listening message-mode instance of `path` made by someone else (no winpipe code). */
function otherParty(path: string): void {
  const h = k.CreateNamedPipeW(path, k.PIPE_ACCESS_DUPLEX | k.FILE_FLAG_OVERLAPPED, k.PIPE_TYPE_MESSAGE | k.PIPE_READMODE_MESSAGE, k.PIPE_UNLIMITED_INSTANCES, 4096, 4096, 0, null);
  expect(h).not.toBe(k.INVALID_HANDLE_VALUE);
  cleanups.push(() => k.CloseHandle(h));
}

describe('the gap where no instance of a server is left', () => {
  it('Listener: another party listening on the name when its last instance goes makes accept() reject with EADDRINUSE', async () => {
    const address = `\\\\.\\pipe\\${uniqueName('wp-gap-l')}`;
    const gate = heldAdmit();
    const listener = new Listener(address, { maxPendingConnections: 1, admit: gate.admit });
    cleanups.push(() => listener.close());
    const accepted = listener.accept();
    accepted.catch(() => {});
    const client: Connection = await within(Client(address), BOUND, 'the first Client');
    cleanups.push(() => client.close());
    await within(gate.asked, BOUND, 'admit asked');
    otherParty(address);
    gate.refuse();
    await expect(within(accepted, BOUND, 'accept()')).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });

  it('createServer: another party listening on the name when its last instance goes: error EADDRINUSE, and the server closes', async () => {
    const name = uniqueName('wp-gap-s');
    const gate = heldAdmit();
    const server: PipeServer = createServer({ mode: 'message', maxConnections: 1, admit: gate.admit });
    cleanups.push(() => server.close());
    await server.listen(name);
    const errored = once(server, 'error');
    const client: PipeConnection = await within(connect(name, { mode: 'message' }), BOUND, 'the first client');
    client.on('error', () => {});
    cleanups.push(() => client.destroy());
    await within(gate.asked, BOUND, 'admit asked');
    otherParty(server.address()!);
    gate.refuse();
    const [err] = await within(errored, BOUND, "'error'");
    expect(err).toMatchObject({ code: 'EADDRINUSE' });
    expect(server.listening).toBe(false);
  });

  it('Listener: with nobody else there, the next client after a refused one at the bound is served', async () => {
    const address = `\\\\.\\pipe\\${uniqueName('wp-gap-ok')}`;
    let calls = 0;
    const listener = new Listener(address, { maxPendingConnections: 1, admit: () => ++calls > 1 });
    cleanups.push(() => listener.close());
    const refused = await within(Client(address), BOUND, 'the refused Client');
    // The refused client reads end of stream once the Listener has closed its instance.
    await expect(within(refused.recvBytes(), BOUND, 'end of stream')).rejects.toMatchObject({ code: 'ERR_CHANNEL_CLOSED' });
    refused.close();
    const [server, client] = await within(Promise.all([listener.accept(), Client(address)]), BOUND, 'the next client');
    cleanups.push(
      () => server.close(),
      () => client.close(),
    );
    await client.sendBytes(Buffer.from('hi'));
    expect((await server.recvBytes()).toString()).toBe('hi');
    expect(listener.connectionStats().refused).toBe(1);
  });
});
