// The child-process side of scripts/bench.mjs. One role per invocation:
//
//   writer <fd> <chunk> <total>            B1: write <total> stamped bytes to <fd> in <chunk> writes
//   stdin-reader <total>                   B7: read stdin to its end (1 MiB readSync), check the stamps;
//                                          prints { bytes, bad, seconds } (first read to end of file)
//   echo-ours <name> <mode>                B3: winpipe connect(name, { mode }), echo every message
//   echo-net <path>                        B3: net.connect(path), echo every byte
//   echo-ipc                               B3: process.on('message') -> process.send (forked)
//   echo-connection                        B3: winpipe/connection Connection.fromFd(3), echo (recvBytes/sendBytes)
//   clients <impl> <name> <n> <msgs> <size> <firstId>   B4 (forked): n clients, msgs messages each
//   cycles <impl> <name> <total> <parallel>             B6 (forked): connect, read the greeting, destroy
//
// B4/B6 children are forked: they report 'ready' over IPC once set up, start on 'go', and report
// { done } or { error }. <impl> is 'ours' (winpipe, message mode for B4, byte mode for B6), 'ours-byte' (B4, byte mode),
// 'net', or 'net-checked' (B6, POSIX: net.connect making winpipe's client checks; see checkedConnector).
//
// The B1 stream format (shared with peers.c and peers.py): every 4096-byte block of the stream
// starts with u32le(block index) and u32le(0x50495057, 'WPIP'); every other byte is 'a'.
import fs from 'node:fs';
import net from 'node:net';
import { once } from 'node:events';
import path from 'node:path';
import { connectRetry, netConnect, openClients } from './clients.mjs';
import { distModule, winpipe } from './lib.mjs';

const BLOCK = 4096;
const MAGIC = 0x50495057;
const [role, ...args] = process.argv.slice(2);

function writer(fd, chunk, total) {
  const buf = Buffer.alloc(chunk, 'a');
  let off = 0;
  while (off < total) {
    const n = Math.min(chunk, total - off);
    for (let b = 0; b < n; b += BLOCK) {
      buf.writeUInt32LE(((off + b) / BLOCK) >>> 0, b);
      buf.writeUInt32LE(MAGIC, b + 4);
    }
    let done = 0;
    while (done < n) done += fs.writeSync(fd, buf, done, n - done);
    off += n;
  }
}

function stdinReader(total) {
  // 64 bytes past the allocation's start, as B1's readSync row (see there): the same reader for
  // every B7 row, which must not lose 2-3x on pipes alone to 4 KiB aliasing in the kernel's copy.
  const buf = Buffer.allocUnsafeSlow((1 << 20) + 64).subarray(64);
  let pos = 0;
  let bad = 0;
  let t0 = 0n;
  for (;;) {
    const n = fs.readSync(0, buf, 0, buf.length, null);
    if (n === 0) break;
    if (pos === 0) t0 = process.hrtime.bigint();
    // The first block boundary inside this read, if its stamp is whole here.
    const a = Math.ceil(pos / BLOCK) * BLOCK;
    if (a + 8 <= pos + n && (buf.readUInt32LE(a - pos) !== (a / BLOCK) >>> 0 || buf.readUInt32LE(a - pos + 4) !== MAGIC)) bad++;
    pos += n;
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  process.stdout.write(`${JSON.stringify({ bytes: pos, total, bad, seconds })}\n`);
}

async function echoOurs(name, mode) {
  const { connect } = await winpipe();
  const conn = await connect(name, { mode, connectTimeout: 10_000 });
  conn.on('data', (m) => conn.write(m));
  conn.on('end', () => conn.end());
  await once(conn, 'close');
}

async function echoNet(path) {
  const socket = net.connect({ path, allowHalfOpen: true });
  socket.setNoDelay?.(true);
  socket.on('data', (d) => socket.write(d));
  socket.on('end', () => socket.end());
  await once(socket, 'close');
}

async function echoConnection() {
  const { Connection } = await distModule('esm/channel/index.js');
  const conn = Connection.fromFd(3);
  for (;;) {
    let m;
    try {
      m = await conn.recvBytes();
    } catch (err) {
      if (err.code === 'ERR_CHANNEL_CLOSED') break;
      throw err;
    }
    await conn.sendBytes(m);
  }
  conn.close();
}

function echoIpc() {
  process.on('message', (m) => process.send(m));
  process.on('disconnect', () => process.exit(0));
}

/** Resolves when the parent says 'go'. */
function go() {
  return new Promise((resolve) => {
    process.on('message', function onMessage(m) {
      if (m === 'go') {
        process.off('message', onMessage);
        resolve();
      }
    });
  });
}

/** B4: n connections to one server, each sends msgs messages of size bytes, then ends. */
async function clients(impl, name, n, msgs, size, firstId) {
  const lib = impl === 'net' ? undefined : await winpipe();
  const send = await openClients(lib, impl, name, n, msgs, size, firstId, (err) => process.send({ error: String(err?.stack ?? err) }));
  process.send('ready');
  await go();
  await send();
  process.send({ done: n });
  process.disconnect();
}

/**
 * B6's 'net-checked' client: `net.connect` to winpipe's socket path for `name`, making the checks
 * winpipe's connect makes with its defaults, through the same functions (the built package's
 * posix/trust.js): our effective uid, the socket directory's `lstat` (ours, mode at most 0700)
 * before connecting, and the server's `SO_PEERCRED` (ours or root's) in the 'connect' event.
 * Nothing else of winpipe's connect: no options, candidates or connection members.
 */
async function checkedConnector(name) {
  const { pipePath } = await winpipe();
  const { checkDir, checkServer, currentUid, peerCredentials } = await distModule('esm/posix/trust.js');
  const { socketFd } = await distModule('esm/posix/socket.js');
  const p = pipePath(name);
  const dir = path.dirname(p);
  return () =>
    new Promise((resolve, reject) => {
      const self = currentUid();
      checkDir(dir, 0o700, [], 'connect', self);
      const s = net.connect({ path: p, allowHalfOpen: true });
      s.once('connect', () => {
        s.off('error', reject);
        try {
          checkServer(peerCredentials(socketFd(s)), [], p, 'connect', self);
        } catch (err) {
          s.destroy();
          reject(err);
          return;
        }
        resolve(s);
      });
      s.once('error', reject);
    });
}

/** B6: total cycles of connect, read the server's greeting, destroy; parallel at a time. */
async function cycles(impl, name, total, parallel) {
  const lib = impl === 'ours' ? await winpipe() : undefined;
  const checked = impl === 'net-checked' ? await checkedConnector(name) : undefined;
  process.send('ready');
  await go();
  let started = 0;
  let closed = 0;
  const one = async () => {
    let conn;
    if (impl === 'ours') {
      conn = await connectRetry(() => lib.connect(name, { connectTimeout: 10_000 }));
    } else if (checked) {
      conn = await connectRetry(checked);
    } else {
      conn = await connectRetry(() => netConnect(name));
    }
    // The server greets every connection with one byte: wait for it, so each cycle is a real
    // accept (libuv's Windows server never reports a client that left before it was accepted).
    await once(conn, 'data');
    const gone = once(conn, 'close');
    conn.destroy();
    await gone;
    closed++;
  };
  const lane = async () => {
    while (started < total) {
      started++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: parallel }, lane));
  process.send({ done: closed });
  process.disconnect();
}

async function main() {
  switch (role) {
    case 'writer':
      writer(Number(args[0]), Number(args[1]), Number(args[2]));
      return;
    case 'stdin-reader':
      stdinReader(Number(args[0]));
      return;
    case 'echo-ours':
      await echoOurs(args[0], args[1]);
      return;
    case 'echo-net':
      await echoNet(args[0]);
      return;
    case 'echo-connection':
      await echoConnection();
      return;
    case 'echo-ipc':
      echoIpc();
      return;
    case 'clients':
      await clients(args[0], args[1], Number(args[2]), Number(args[3]), Number(args[4]), Number(args[5]));
      return;
    case 'cycles':
      await cycles(args[0], args[1], Number(args[2]), Number(args[3]));
      return;
    default:
      throw new Error(`bench child: unknown role ${role}`);
  }
}

main().catch((err) => {
  process.stderr.write(`bench child ${role}: ${err?.stack ?? err}\n`);
  process.exitCode = 1;
  if (process.connected) process.send({ error: String(err?.stack ?? err) }, () => process.disconnect());
});
