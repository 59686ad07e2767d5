// Node and Python talking through multiprocessing.connection, both ways, with an authkey.
// POSIX: a Unix socket in a temporary directory; Windows: \\.\pipe\winpipe-example-<pid>.
// readme-test: {"needs": {"posix": "python3", "win32": "python"}}
//
//   npm run build && node examples/python-channel.mjs          (needs python3 on PATH; `python` on Windows)
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Listener } from 'winpipe/connection';

const python = process.platform === 'win32' ? 'python' : 'python3';
const dir = process.platform === 'win32' ? null : mkdtempSync(join(tmpdir(), 'winpipe-example-'));
const address = (/** @type {string} */ name) => (dir ? join(dir, name) : `\\\\.\\pipe\\winpipe-example-${process.pid}-${name}`);
const authkey = 'example secret';

/** @param {string} code @param {string[]} args */
function runPython(code, ...args) {
  const child = spawn(python, ['-c', code, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  child.stdout.setEncoding('utf8');
  return child;
}

// 1. A Python client talks to our Listener.
{
  const listener = new Listener(address('node-listens'), { authkey });
  runPython(
    `import sys
from multiprocessing.connection import Client
with Client(sys.argv[1], authkey=b'example secret') as c:
    c.send_bytes(b'hello from Python')
    print('python got:', c.recv_bytes().decode())`,
    listener.address,
  ).stdout.on('data', (d) => process.stdout.write(d));
  const conn = await listener.accept();
  console.log('node got:', (await conn.recvBytes()).toString());
  await conn.sendBytes(Buffer.from('hello from Node'));
  conn.close();
  listener.close();
}

// 2. Our Client talks to a Python Listener.
{
  const addr = address('python-listens');
  const child = runPython(
    `import sys
from multiprocessing.connection import Listener
with Listener(sys.argv[1], authkey=b'example secret') as l:
    print('ready', flush=True)
    with l.accept() as c:
        c.send_bytes(c.recv_bytes().upper())`,
    addr,
  );
  await new Promise((resolve) => child.stdout.once('data', resolve));
  const conn = await Client(addr, { authkey });
  await conn.sendBytes(Buffer.from('shout this'));
  console.log('python answered:', (await conn.recvBytes()).toString());
  conn.close();
}

if (dir) rmSync(dir, { recursive: true, force: true });
