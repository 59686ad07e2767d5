// The B4 fan-in clients, shared by the forked client processes (child.mjs) and the one-process
// variant (cases/b4-fanin.mjs). impl: 'ours' (winpipe, message mode: each write is one message),
// 'ours-byte' (winpipe, byte mode, u32be length framing) or 'net' (net.connect, the same framing).
import { once } from 'node:events';
import net from 'node:net';

export async function connectRetry(open) {
  // A burst of clients can find every instance busy (Windows) or the backlog full; retry briefly.
  for (let attempt = 0; ; attempt++) {
    try {
      return await open();
    } catch (err) {
      if (attempt >= 200 || !['EAGAIN', 'ECONNREFUSED', 'EBUSY', 'ETIMEDOUT'].includes(err.code)) throw err;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

export function netConnect(path) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ path, allowHalfOpen: true });
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Opens n connections; returns send() that makes each send msgs messages of size bytes, then end. */
export async function openClients(lib, impl, name, n, msgs, size, firstId, onError) {
  const conns = [];
  for (let i = 0; i < n; i++) {
    if (impl === 'net') conns.push(await connectRetry(() => netConnect(name)));
    else conns.push(await connectRetry(() => lib.connect(name, { mode: impl === 'ours' ? 'message' : 'byte', connectTimeout: 10_000 })));
  }
  for (const c of conns) c.on('error', onError);
  const framed = impl !== 'ours';
  const one = async (conn, id) => {
    for (let seq = 0; seq < msgs; seq++) {
      // One message: [client id][seq][filler], after a u32be length where the pipe is a byte
      // stream (the framing a net user writes by hand). A fresh buffer each time: write() keeps it.
      const h = framed ? 4 : 0;
      const m = Buffer.allocUnsafe(h + size);
      if (framed) m.writeUInt32BE(size, 0);
      m.writeUInt32LE(id, h);
      m.writeUInt32LE(seq, h + 4);
      m.fill(0x6d, h + 8);
      if (!conn.write(m)) await once(conn, 'drain');
    }
    conn.end();
    await once(conn, 'close');
  };
  return () => Promise.all(conns.map((c, i) => one(c, firstId + i)));
}
