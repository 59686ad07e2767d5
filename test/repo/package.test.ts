// The packed tarball (npm pack) works as an installed dependency through both import and require.
// scripts/test.mjs (host) and scripts/wine.mjs (Windows) install it and pass WINPIPE_PACKED_DIR.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { brokenLinks } from '../helpers/links.js';
import { removeChildDir } from '../helpers/index.js';
import { markdownFiles } from '../helpers/readme.js';

const dir = process.env.WINPIPE_PACKED_DIR;
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

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
    // --version through the link finds the installed package's own package.json.
    const installed = (JSON.parse(readFileSync(join(dir!, 'node_modules', 'winpipe', 'package.json'), 'utf8')) as { version: string }).version;
    const v = spawnSync(link, ['--version'], { cwd: dir, encoding: 'utf8' });
    expect({ status: v.status, out: v.stdout }).toEqual({ status: 0, out: `${installed}\n` });
  });

  it('ships docs/ and BENCHMARKS.md: every relative link of its Markdown works inside the installed package', () => {
    const pkgDir = join(dir!, 'node_modules', 'winpipe');
    const files = [...markdownFiles(pkgDir), 'BENCHMARKS.md'];
    expect(files).toEqual(expect.arrayContaining(['README.md', 'docs/anonymous-pipes.md', 'docs/named-pipes.md', 'BENCHMARKS.md']));
    expect(brokenLinks(pkgDir, files)).toEqual([]);
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

// What a consumer's TypeScript sees: every entry point resolves, typed, under each resolution a
// project may use (node16 for Node ESM, bundler, node10 for old CommonJS set-ups and bundlers).
const typedUse = `
import { createPipe, PipeError } from 'winpipe';
import { CreatePipe } from 'winpipe/win32';
import { pipe2 } from 'winpipe/posix';
import { Pipe } from 'winpipe/connection';
const { reader } = createPipe();
const fd: number = reader.fd;
const code: string = new PipeError({ code: 'EPIPE' }).code;
const fns: Function[] = [CreatePipe, pipe2];
const closed: boolean = Pipe()[0].closed;
export { fd, code, fns, closed };
`;

function tscIn(project: string, compilerOptions: Record<string, unknown>, file: string) {
  mkdirSync(project, { recursive: true });
  writeFileSync(join(project, file), typedUse);
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        target: 'ES2022',
        lib: ['ES2022', 'ESNext.Disposable'],
        types: ['node'],
        typeRoots: [join(repoRoot, 'node_modules', '@types')],
        ...compilerOptions,
      },
      files: [file],
    }),
  );
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', project, '--pretty', 'false'], { cwd: project, encoding: 'utf8', windowsHide: true });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe.skipIf(!dir)('types of the packed tarball under each moduleResolution', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['node16 (ESM)', { module: 'node16', moduleResolution: 'node16' }, 'use.mts'],
    ['node16 (CJS)', { module: 'node16', moduleResolution: 'node16' }, 'use.cts'],
    ['bundler', { module: 'esnext', moduleResolution: 'bundler' }, 'use.ts'],
    ['node10', { module: 'commonjs', moduleResolution: 'node10', esModuleInterop: true }, 'use.ts'],
  ];
  for (const [name, options, file] of cases) {
    it(`every entry point type-checks with moduleResolution ${name}`, async () => {
      const project = mkdtempSync(join(dir!, 'types-'));
      try {
        const r = tscIn(project, options, file);
        expect(r.out).toBe('');
        expect(r.status).toBe(0);
      } finally {
        // tsc ran in it.
        await removeChildDir(project);
      }
    });
  }
});

// Packaging linters over the very tarball that was installed. They read package metadata only,
// the same on every platform: the host run covers them.
describe.skipIf(!dir || process.env.WINPIPE_UNDER_WINE === '1')('packaging linters (host run only: platform-independent)', () => {
  const bin = (pkg: string, file: string) => join(repoRoot, 'node_modules', pkg, file);

  it('@arethetypeswrong/cli finds no problem in the tarball (node10, node16 CJS/ESM, bundler)', () => {
    const r = spawnSync(process.execPath, [bin('@arethetypeswrong/cli', 'dist/index.js'), join(dir!, 'winpipe.tgz'), '--format', 'json'], { encoding: 'utf8' });
    const report = JSON.parse(r.stdout) as { problems?: unknown[] | Record<string, unknown[]> };
    const problems = Array.isArray(report.problems) ? report.problems : Object.values(report.problems ?? {}).flat();
    expect(problems).toEqual([]);
    expect(r.status).toBe(0);
  }, 120_000);

  it('publint reports nothing, suggestions included', () => {
    const r = spawnSync(process.execPath, [bin('publint', 'src/cli.js'), 'run', join(dir!, 'winpipe.tgz'), '--level', 'suggestion'], { encoding: 'utf8' });
    expect(`${r.stdout}${r.stderr}`).toMatch(/All good!/);
    expect(r.status).toBe(0);
  }, 120_000);
});
