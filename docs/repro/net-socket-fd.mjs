// net.Socket({ fd }) over a descriptor that is not a socket, without winpipe: the read end of a
// FIFO (opened read-write, so no second process is needed). Exit code 0: the socket read it.
//
//   node docs/repro/net-socket-fd.mjs        data: hello                       (exit 0)
//   bun docs/repro/net-socket-fd.mjs         no data after 2 s                 (Bun 1.4.5, exit 1)
//   deno run -A docs/repro/net-socket-fd.mjs throws EEXIST in new net.Socket  (Deno 2.9.6, exit 1)
//
// Deno refuses the fd because node:fs opened it (an fd from pipe2 or open(2) works); Bun never
// reads (nor emits 'end') on a pipe, FIFO or socketpair descriptor given as `fd`.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';

const path = `/tmp/net-socket-fd-${process.pid}`;
execFileSync('mkfifo', [path]);
const fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
fs.unlinkSync(path);
fs.writeSync(fd, 'hello');
let socket;
try {
  socket = new net.Socket({ fd, readable: true, writable: false });
} catch (err) {
  console.log(`new net.Socket({ fd }) threw ${err.code}: ${err.message}`);
  process.exit(1);
}
socket.on('data', (d) => {
  console.log(`data: ${d}`);
  process.exit(0);
});
setTimeout(() => {
  console.log('no data after 2 s');
  process.exit(1);
}, 2000);
