// A real peer: execa@9 (and execa@10 where the host Node is 22 or later) spawning children with our
// pipe ends in `stdio`, on both paths: an anonymous pipe's ends (PipeReader / PipeWriter objects and
// their fds) and a byte-mode named-pipe connection (a net.Socket over the pipe), as execa hands them
// to child_process.spawn. An end must reach the child as its fd does. execa takes an async-iterable
// object as a source of its own (it reads it itself and gives the child another pipe), so an end is
// not async-iterable: `reader.chunks()` is the explicit `for await`.
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { execa as execa9, type StdinOption } from 'execa';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect, createPipe, createServer, type PipeConnection, type PipeReader, type PipeServer, type PipeWriter } from '../../src/index.js';
import { readAll, uniqueName, within } from '../helpers/index.js';
import { execa10, execa10Skip } from '../helpers/runtimes.js';

const BOUND = 30_000;
// execa's types admit only Node's own stream classes and the fd numbers 0-9 in stdio. At run time it
// hands any stream with a descriptor (an end, as child_process.spawn takes it) and any fd number on
// to spawn, which is what these tests prove; the casts only tell the compiler so.
const asReadable = (end: PipeReader): Readable => end as unknown as Readable;
const asWritable = (end: PipeWriter): Writable => end as unknown as Writable;
const asStdin = (fd: number): StdinOption => fd as StdinOption;
const node = process.execPath;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function peerSuite(label: string, load: () => Promise<typeof execa9>): void {
  let execa: typeof execa9;
  beforeAll(async () => {
    execa = await load();
  }, 300_000);

  describe(`${label} with winpipe ends in stdio`, () => {
    it("a PipeWriter as the child's stdout: we read everything it wrote, then EOF", async () => {
      const { reader, writer } = createPipe();
      cleanups.push(
        () => reader.close(),
        () => writer.close(),
      );
      const child = execa(node, ['-e', "process.stdout.write('from execa '.repeat(1000))"], { stdout: asWritable(writer), stderr: 'pipe' });
      // The child has its own copy; ours must go for the reader to see EOF.
      writer.close();
      const got = readAll(reader);
      const result = await within(child, BOUND, 'the child');
      expect(result.exitCode).toBe(0);
      expect((await within(got, BOUND, 'EOF after the child')).toString()).toBe('from execa '.repeat(1000));
    });

    it('a PipeReader object at stdio[3]: after our copy is closed, the child reads everything we write, to EOF', async () => {
      const { reader, writer } = createPipe();
      cleanups.push(
        () => reader.close(),
        () => writer.close(),
      );
      const child = execa(node, ['-e', "console.log(require('fs').readFileSync(3).length)"], { stdio: ['ignore', 'pipe', 'pipe', asReadable(reader)] });
      // The child holds its own copy of the read end; if execa had read from ours instead, these
      // writes would fail with EPIPE.
      reader.close();
      const data = Buffer.alloc(300 * 1024, 5);
      await within(writer.write(data), BOUND, 'the write');
      writer.close();
      const result = await within(child, BOUND, 'the child');
      expect(result.exitCode).toBe(0);
      expect(result.stdout.trim()).toBe(String(data.length));
    });

    it('a PipeWriter object at stdio[3]: reader.chunks() yields what the child wrote, then ends', async () => {
      const { reader, writer } = createPipe();
      cleanups.push(
        () => reader.close(),
        () => writer.close(),
      );
      const child = execa(node, ['-e', "require('fs').writeSync(3, 'fd three '.repeat(500))"], { stdio: ['ignore', 'pipe', 'pipe', asWritable(writer)] });
      writer.close();
      const parts: Buffer[] = [];
      const reading = (async () => {
        for await (const chunk of reader.chunks()) parts.push(chunk);
      })();
      expect((await within(child, BOUND, 'the child')).exitCode).toBe(0);
      await within(reading, BOUND, 'EOF after the child');
      expect(Buffer.concat(parts).toString()).toBe('fd three '.repeat(500));
    });

    it("a PipeReader's fd as the child's stdin: the child reads what we write, to EOF", async () => {
      const { reader, writer } = createPipe();
      cleanups.push(
        () => reader.close(),
        () => writer.close(),
      );
      const child = execa(node, ['-e', "let n=0;process.stdin.on('data',(c)=>n+=c.length).on('end',()=>console.log(n))"], { stdin: asStdin(reader.fd) });
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
}

peerSuite('execa@9', async () => execa9);

describe.skipIf(execa10Skip !== null)(`execa@10${execa10Skip ? ` (skipped: ${execa10Skip})` : ''}`, () => {
  peerSuite('execa@10', execa10);
});
