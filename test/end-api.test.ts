// Contract tests for the Node-shaped conveniences of pipe ends (src/end.ts, src/reader.ts,
// src/writer.ts): strings in write/writeSync (as fs.writeSync), `for await` over reader.chunks(),
// the stream shape that spawn's stdio recognises, ref()/unref(). Runs natively and under Wine.
import { existsSync } from 'node:fs';
import { Stream, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createPipe, type Pipe } from '../src/index.js';
import { collect, exited, fixturesDir, readAll, spawnFixture, within } from './helpers/index.js';

const pipes: Pipe[] = [];
afterEach(() => {
  for (const p of pipes.splice(0)) {
    p.reader.close();
    p.writer.close();
  }
});
function pipe(): Pipe {
  const p = createPipe();
  pipes.push(p);
  return p;
}

describe('strings in write / writeSync', () => {
  it('writeSync(string) writes utf8 and returns the byte count; an encoding is honoured', async () => {
    const { reader, writer } = pipe();
    expect(writer.writeSync('héllo ')).toBe(Buffer.byteLength('héllo '));
    expect(writer.writeSync('aGk=', 'base64')).toBe(2);
    expect(writer.writeSync('')).toBe(0);
    writer.close();
    expect((await readAll(reader)).toString('utf8')).toBe('héllo hi');
  });

  it('write(string) resolves with the byte count; an encoding as a string or in options is honoured', async () => {
    const { reader, writer } = pipe();
    expect(await writer.write('€')).toBe(3);
    expect(await writer.write('2021', 'hex')).toBe(2);
    expect(await writer.write('!', { encoding: 'latin1', signal: AbortSignal.timeout(10_000) })).toBe(1);
    writer.close();
    expect((await readAll(reader)).toString('utf8')).toBe('€ !!');
  });

  it('an unknown encoding throws ERR_INVALID_ARG_VALUE synchronously, before anything is written', async () => {
    const { reader, writer } = pipe();
    expect(() => writer.writeSync('x', 'klingon' as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => writer.write('x', 'klingon' as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => writer.write('x', { encoding: 7 as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => writer.write(42 as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    writer.close();
    expect((await readAll(reader)).length).toBe(0);
  });
});

describe('for await over reader.chunks()', () => {
  it('yields every chunk in order until end of file, 1 MiB intact', async () => {
    const { reader, writer } = pipe();
    const data = Buffer.alloc(1 << 20, 0).map((_, i) => (i * 31) & 0xff);
    const writing = writer.write(data).then(() => writer.close());
    const parts: Buffer[] = [];
    for await (const chunk of reader.chunks()) {
      expect(chunk.length).toBeGreaterThan(0);
      parts.push(chunk);
    }
    await writing;
    expect(Buffer.concat(parts).equals(data)).toBe(true);
  });

  it('break leaves the reader open: the rest is read afterwards, nothing lost', async () => {
    const { reader, writer } = pipe();
    writer.writeSync('first');
    for await (const chunk of reader.chunks()) {
      expect(chunk.toString()).toBe('first');
      break;
    }
    expect(reader.closed).toBe(false);
    writer.writeSync('second');
    writer.close();
    expect((await readAll(reader)).toString()).toBe('second');
  });

  it('iterating a closed reader rejects with ERR_PIPE_CLOSED', async () => {
    const { reader } = pipe();
    reader.close();
    await expect(
      (async () => {
        for await (const _ of reader.chunks()) void _;
      })(),
    ).rejects.toMatchObject({ code: 'ERR_PIPE_CLOSED' });
  });

  it('size bounds every chunk; signal aborts the wait with an AbortError and loses nothing', async () => {
    const { reader, writer } = pipe();
    writer.writeSync('abcdefgh');
    const sizes: number[] = [];
    const ac = new AbortController();
    const loop = (async () => {
      for await (const chunk of reader.chunks({ size: 3, signal: ac.signal })) sizes.push(chunk.length);
    })();
    await within(
      (async () => {
        while (sizes.reduce((a, b) => a + b, 0) < 8) await new Promise((r) => setTimeout(r, 5));
      })(),
      10_000,
      'the three chunks',
    );
    ac.abort();
    await expect(loop).rejects.toMatchObject({ name: 'AbortError' });
    expect(sizes).toEqual([3, 3, 2]);
    writer.writeSync('after');
    writer.close();
    expect((await readAll(reader)).toString()).toBe('after');
  });

  it('bad options throw synchronously, before any read', () => {
    const { reader } = pipe();
    expect(() => reader.chunks({ size: 0 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => reader.chunks({ signal: 'no' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => reader.chunks(7 as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });
});

describe('the shape spawn and its wrappers see', () => {
  it('an end is not async-iterable (execa would read it itself), but is a Stream with _handle.fd', () => {
    const { reader, writer } = pipe();
    for (const end of [reader, writer]) {
      expect(Symbol.asyncIterator in end).toBe(false);
      expect(Symbol.iterator in end).toBe(false);
      expect(end).toBeInstanceOf(Stream);
      expect(end._handle).toEqual({ fd: end.fd });
      expect(end.pause()).toBe(end);
      // An EventEmitter, although it emits nothing itself.
      let heard = 0;
      end.on('ping', () => heard++);
      expect(end.emit('ping')).toBe(true);
      expect(heard).toBe(1);
    }
    reader.close();
    expect(reader._handle).toBeNull();
  });

  it('reader.pipe(dest) hands the end to a stream and pipes everything to dest; writer.pipe() is refused', async () => {
    const { reader, writer } = pipe();
    const got: Buffer[] = [];
    const finished = new Promise<void>((resolve) => {
      const sink = new Writable({
        write(chunk: Buffer, _enc, cb) {
          got.push(chunk);
          cb();
        },
      });
      sink.on('finish', () => resolve());
      expect(reader.pipe(sink)).toBe(sink);
    });
    expect(reader.closed).toBe(true);
    writer.writeSync('piped');
    writer.close();
    await within(finished, 10_000, 'the sink to finish');
    expect(Buffer.concat(got).toString()).toBe('piped');
    expect(() => writer.pipe(new Writable())).toThrow(expect.objectContaining({ code: 'ERR_STREAM_CANNOT_PIPE' }));
  });

  it('stream.pipeline(reader, dest) carries everything and resolves at end of file', async () => {
    const { reader, writer } = pipe();
    const got: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        got.push(chunk);
        cb();
      },
    });
    const data = Buffer.alloc(300 * 1024).map((_, i) => (i * 7) & 0xff);
    // pipeline's types take only Node's own readable streams; at run time it takes the reader by its
    // pipe() and the events it forwards, which is what this test proves.
    const piping = pipeline(reader as unknown as NodeJS.ReadableStream, sink);
    await writer.write(data);
    writer.close();
    await within(piping, 10_000, 'the pipeline to end');
    expect(Buffer.concat(got).equals(data)).toBe(true);
  });

  it('a pair gives its ends by position too: [reader, writer], pipe[0], pipe[1]', () => {
    const p = pipe();
    const [r, w] = p;
    expect(r).toBe(p.reader);
    expect(w).toBe(p.writer);
    expect(p[0]).toBe(p.reader);
    expect(p[1]).toBe(p.writer);
  });
});

describe('ref() / unref()', () => {
  it('return the end, and a pending read still completes after unref()', async () => {
    const { reader, writer } = pipe();
    expect(reader.unref()).toBe(reader);
    expect(writer.ref()).toBe(writer);
    const pending = reader.read();
    writer.writeSync('x');
    expect((await pending).toString()).toBe('x');
    expect(reader.ref()).toBe(reader);
  });
});

// The fixture imports the built package by its own name (package self-reference), so dist/ must exist.
const built = existsSync(join(fixturesDir, '..', '..', 'dist', 'esm', 'index.js'));

describe.skipIf(!built)('ref() / unref() and the event loop (needs dist/: npm test builds it)', () => {
  it('a pending read keeps its process alive by default; after unref() the process exits', async () => {
    const refChild = spawnFixture('reader-ref.mjs', ['ref'], ['ignore', 'pipe', 'inherit']);
    let said = '';
    await within(
      new Promise<void>((resolve, reject) => {
        refChild.stdout!.on('data', (d: Buffer) => {
          said += d.toString();
          if (said.includes('reading')) resolve();
        });
        refChild.once('exit', () => reject(new Error(`exited before reading: ${said}`)));
      }),
      60_000,
      'the ref child reading',
    );
    await new Promise((r) => setTimeout(r, 1500));
    expect(refChild.exitCode).toBe(null);
    expect(refChild.signalCode).toBe(null);
    refChild.kill();
    await exited(refChild);

    const unrefChild = spawnFixture('reader-ref.mjs', ['unref'], ['ignore', 'pipe', 'inherit']);
    const out = collect(unrefChild.stdout);
    expect(await within(exited(unrefChild), 30_000, 'an unref()d reader process exiting')).toBe(0);
    expect(await out).toContain('reading');
  }, 120_000);
});
