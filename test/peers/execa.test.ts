// A real peer: execa@9 (10 needs Node 22) spawning children with our pipe ends in `stdio`, on both
// paths: an anonymous pipe's ends (PipeReader / PipeWriter, and their fds) and a byte-mode named-pipe
// connection (a net.Socket over the pipe), as execa hands them to child_process.spawn.
import { once } from 'node:events';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, createPipe, createServer, type PipeConnection, type PipeServer } from '../../src/index.js';
import { readAll, uniqueName, within } from '../helpers/index.js';

const BOUND = 30_000;
const node = process.execPath;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('execa@9 with winpipe ends in stdio', () => {
  it("a PipeWriter as the child's stdout: we read everything it wrote, then EOF", async () => {
    const { reader, writer } = createPipe();
    cleanups.push(() => reader.close(), () => writer.close());
    const child = execa(node, ['-e', "process.stdout.write('from execa '.repeat(1000))"], { stdout: writer, stderr: 'pipe' });
    // The child has its own copy; ours must go for the reader to see EOF.
    writer.close();
    const got = readAll(reader);
    const result = await within(child, BOUND, 'the child');
    expect(result.exitCode).toBe(0);
    expect((await within(got, BOUND, 'EOF after the child')).toString()).toBe('from execa '.repeat(1000));
  });

  it("a PipeReader's fd as the child's stdin: the child reads what we write, to EOF", async () => {
    const { reader, writer } = createPipe();
    cleanups.push(() => reader.close(), () => writer.close());
    const child = execa(node, ['-e', "let n=0;process.stdin.on('data',(c)=>n+=c.length).on('end',()=>console.log(n))"], { stdin: reader.fd });
    reader.close();
    const data = Buffer.alloc(256 * 1024, 7);
    await writer.write(data);
    writer.close();
    const result = await within(child, BOUND, 'the child');
    expect(result.exitCode).toBe(0);
    expect(result.stdout.trim()).toBe(String(data.length));
  });

  it("a named-pipe connection as the child's stdin and stdout: the child echoes through it to our server", async () => {
    let server: PipeServer | undefined;
    const received: Buffer[] = [];
    const accepted = new Promise<PipeConnection>((resolve) => {
      server = createServer({ allowHalfOpen: true }, (conn) => {
        conn.on('error', () => {});
        cleanups.push(() => conn.destroy());
        resolve(conn);
      });
    });
    const name = uniqueName('winpipe-execa');
    cleanups.push(() => server!.close());
    await server!.listen(name);
    const conn = await connect(name);
    conn.on('error', () => {});
    cleanups.push(() => conn.destroy());
    const s = await accepted;
    s.on('data', (c: Buffer) => received.push(c));
    const serverEnded = once(s, 'end');
    // The child reads the server's request from stdin (the pipe) and writes its answer to stdout (the pipe).
    const child = execa(node, ['-e', "process.stdin.once('data',(c)=>{process.stdout.write('echo:'+c);process.exit(0)})"], { stdin: conn, stdout: conn });
    s.write('ping');
    const result = await within(child, BOUND, 'the child');
    expect(result.exitCode).toBe(0);
    // Our copy of the client end goes too: the server sees end of stream after the child's bytes.
    conn.destroy();
    await within(serverEnded, BOUND, "the server's end of stream");
    expect(Buffer.concat(received).toString()).toBe('echo:ping');
  });
});
