// The packed tarball (npm pack) works as an installed dependency through both import and require.
// scripts/test.mjs (host) and scripts/wine.mjs (Windows) install it and pass WINPIPE_PACKED_DIR.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
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

  it('ships the winpipe bin: a node script with a shebang that prints its help (exit 0)', () => {
    const pkgDir = join(dir!, 'node_modules', 'winpipe');
    const bin = (JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { bin?: Record<string, string> }).bin?.winpipe;
    expect(typeof bin).toBe('string');
    const script = join(pkgDir, bin!);
    expect(readFileSync(script, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    const r = run([script, '--help']);
    expect(r.out).toMatch(/^usage: winpipe/);
    expect(r.status).toBe(0);
  });

  // npm links bins as the host's kind (a symlink here, a .cmd shim on Windows), and the Wine run's
  // install is made by the host's npm: run the link only where npm made it for this platform.
  it.skipIf(process.platform === 'win32')('npm links it as node_modules/.bin/winpipe, which runs by its shebang', () => {
    const link = join(dir!, 'node_modules', '.bin', 'winpipe');
    expect(existsSync(link)).toBe(true);
    const r = spawnSync(link, ['relay', '--help'], { cwd: dir, encoding: 'utf8' });
    expect(`${r.stdout}${r.stderr}`).toMatch(/^usage: winpipe relay/);
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
