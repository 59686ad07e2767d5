// An echo server and a client over a winpipe named pipe, in byte mode and in message mode.
// Windows: \\.\pipe\winpipe-echo-<pid>-<mode>; Linux/macOS: a Unix socket in a private directory.
//
//   npm run build && node examples/echo.mjs
import { connect, createServer } from 'winpipe';

async function byteMode() {
  // Byte mode: each connection is a net.Socket. Echo every chunk. When the client ends, our side
  // ends too and 'close' follows (allowHalfOpen: false, the default, as net).
  const server = createServer((conn) => {
    console.log(`[byte] client pid ${conn.clientProcessId} connected`);
    conn.on('data', (chunk) => conn.write(chunk));
  });
  await server.listen(`winpipe-echo-${process.pid}-byte`);
  console.log(`[byte] listening on ${server.address()}`);

  const conn = await connect(`winpipe-echo-${process.pid}-byte`);
  const answer = new Promise((resolve) => conn.once('data', resolve));
  conn.write('hello, pipe');
  console.log(`[byte] echoed: ${await answer}`);
  conn.destroy();
  await server.close();
}

async function messageMode() {
  // Message mode: every write is one message and arrives whole, empty ones included.
  const server = createServer({ mode: 'message' }, async (conn) => {
    for await (const message of conn.messages()) await conn.writeMessage(message);
    conn.end();
  });
  await server.listen(`winpipe-echo-${process.pid}-message`);
  console.log(`[message] listening on ${server.address()}`);

  const conn = await connect(`winpipe-echo-${process.pid}-message`, { mode: 'message' });
  const sent = ['one', '', 'three', 'x'.repeat(100_000)];
  const replies = conn.messages();
  for (const text of sent) {
    await conn.writeMessage(Buffer.from(text));
    const { value } = await replies.next();
    console.log(`[message] sent ${text.length} bytes, got back ${value.length}`);
  }
  conn.end();
  await server.close();
}

await byteMode();
await messageMode();
