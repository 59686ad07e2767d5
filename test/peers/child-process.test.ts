// Node's own child_process.spawn as a peer: pipe end objects at stdio indexes above 2, where Node
// takes their fd, and the explicit `for await` (reader.chunks()) reading what the child sent back.
// Runs natively and under Wine; Deno's and Bun's spawn get the same case in test/peers/runtimes.test.ts.
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { createPipe } from '../../src/index.js';
import { exited, within } from '../helpers/index.js';

const BOUND = 30_000;
const cleanups: (() => unknown)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

describe('child_process.spawn with winpipe ends in stdio', () => {
  it('a PipeReader at stdio[3] and a PipeWriter at stdio[4]: the child copies one to the other, chunks() reads it all', async () => {
    const toChild = createPipe();
    const fromChild = createPipe();
    cleanups.push(
      () => toChild.reader.close(),
      () => toChild.writer.close(),
      () => fromChild.reader.close(),
      () => fromChild.writer.close(),
    );
    const child = spawn(process.execPath, ['-e', "const fs=require('fs');fs.writeSync(4,fs.readFileSync(3))"], {
      stdio: ['ignore', 'inherit', 'inherit', toChild.reader, fromChild.writer],
      windowsHide: true,
    });
    // The child holds its own copies.
    toChild.reader.close();
    fromChild.writer.close();
    const data = Buffer.alloc(200 * 1024).map((_, i) => i & 0xff);
    const parts: Buffer[] = [];
    const reading = (async () => {
      for await (const chunk of fromChild.reader.chunks()) parts.push(chunk);
    })();
    await within(toChild.writer.write(data), BOUND, 'the write');
    toChild.writer.close();
    expect(await within(exited(child), BOUND, 'the child')).toBe(0);
    await within(reading, BOUND, 'EOF after the child');
    expect(Buffer.concat(parts).equals(data)).toBe(true);
  });
});
