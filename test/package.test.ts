// The packed tarball (npm pack) works as an installed dependency through both import and require.
// scripts/test.mjs (host) and scripts/wine.mjs (Windows) install it and pass WINPIPE_PACKED_DIR.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const dir = process.env.WINPIPE_PACKED_DIR;

const roundTrip = `
  const { reader, writer } = w.createPipe();
  writer.writeSync(Buffer.from('packed'));
  const b = Buffer.alloc(6);
  if (reader.readSync(b) !== 6 || b.toString() !== 'packed') throw new Error('round trip failed');
  reader.close(); writer.close();
  const low = process.platform === 'win32' ? lowWin : lowPosix;
  if (typeof low.CreatePipe !== 'function' && typeof low.pipe2 !== 'function') throw new Error('low-level layer missing');
  if (typeof w.isPipeError !== 'function' || typeof w.PipeError !== 'function') throw new Error('errors missing');
  console.log('ok');
`;

function run(args: string[]): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8', windowsHide: true });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe.skipIf(!dir)('packed tarball (WINPIPE_PACKED_DIR is set by npm test)', () => {
  it('is installed where the test driver put it', () => {
    expect(existsSync(join(dir!, 'node_modules', 'winpipe', 'package.json'))).toBe(true);
  });

  it('works through import', () => {
    const code = `
      const w = await import('winpipe');
      const lowWin = await import('winpipe/win32');
      const lowPosix = await import('winpipe/posix');
      ${roundTrip}`;
    const r = run(['--input-type=module', '-e', code]);
    expect(r.out.trim()).toBe('ok');
    expect(r.status).toBe(0);
  });

  it('works through require', () => {
    const code = `
      const w = require('winpipe');
      const lowWin = require('winpipe/win32');
      const lowPosix = require('winpipe/posix');
      ${roundTrip}`;
    const r = run(['-e', code]);
    expect(r.out.trim()).toBe('ok');
    expect(r.status).toBe(0);
  });
});
