// Every block that imports winpipe in README.md and docs/**/*.md, and every file of examples/, as a
// user gets it: pasted
// into a project that installed the packed tarball, type-checked (strict, module/moduleResolution
// nodenext), run, and exiting 0 by itself within 20 s. The harness lines are described in
// test/helpers/readme.ts. WINPIPE_PACKED_DIR is set by npm test (host) and scripts/wine.mjs.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeChildDir } from '../helpers/index.js';
import { docSnippets, emitted, exampleSnippets, type Snippet } from '../helpers/readme.js';

const packed = process.env.WINPIPE_PACKED_DIR;
const here = fileURLToPath(import.meta.url);
const repo = resolve(dirname(here), '..', '..');
const snippets: Snippet[] = [...docSnippets(repo), ...exampleSnippets(join(repo, 'examples'))];
/** docs/ pages that must hold at least one runnable block. */
const DOC_PAGES = ['docs/passing-ends.md'];
const RUN_LIMIT_MS = 20_000;
const platform = process.platform === 'win32' ? 'win32' : 'posix';

let dir = '';
let diagnostics = '';

function onPath(cmd: string, pathVar: string | undefined): boolean {
  const exts = process.platform === 'win32' ? ['.exe', '.cmd', ''] : [''];
  return (pathVar ?? '').split(delimiter).some((d) => d && exts.some((e) => existsSync(join(d, cmd + e))));
}

function envFor(s: Snippet): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_OPTIONS; // vitest's loader hooks are not the user's
  if (s.harness.path) {
    const key = Object.keys(env).find((k) => k.toUpperCase() === 'PATH') ?? 'PATH';
    env[key] = `${join(repo, s.harness.path)}${delimiter}${env[key] ?? ''}`;
  }
  return env;
}

/** Why this snippet cannot run here, or null. */
function skipReason(s: Snippet): string | null {
  if (s.harness.skip) return s.harness.skip;
  if (s.harness.platform && s.harness.platform !== platform) return `for ${s.harness.platform} only (type-checked here)`;
  const env = envFor(s);
  const pathVar = env[Object.keys(env).find((k) => k.toUpperCase() === 'PATH') ?? 'PATH'];
  const needs = typeof s.harness.needs === 'string' ? s.harness.needs : s.harness.needs?.[platform];
  if (needs && !onPath(needs, pathVar)) return `needs ${needs} on PATH`;
  return null;
}

describe.skipIf(!packed)('README and docs/ blocks and examples/ against the packed tarball', () => {
  beforeAll(() => {
    // Inside the packed project, so `winpipe` resolves to node_modules/winpipe as in a user's project.
    dir = mkdtempSync(join(packed!, 'readme-'));
    writeFileSync(join(dir, 'package.json'), '{ "private": true, "type": "module" }\n');
    const tsconfig = {
      compilerOptions: {
        target: 'ES2022',
        lib: ['ES2022', 'ESNext.Disposable'],
        module: 'nodenext',
        moduleResolution: 'nodenext',
        strict: true,
        allowJs: true,
        checkJs: true,
        skipLibCheck: true,
        outDir: 'out',
        types: ['node'],
        typeRoots: [join(repo, 'node_modules', '@types')],
      },
      include: ['src'],
    };
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
    mkdirSync(join(dir, 'src'));
    for (const s of snippets) writeFileSync(join(dir, 'src', s.file), `${s.code}\n`);
    const tsc = createRequire(here).resolve('typescript/bin/tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', dir, '--pretty', 'false'], { cwd: dir, encoding: 'utf8', windowsHide: true });
    diagnostics = `${r.stdout}${r.stderr}`;
  }, 180_000);

  afterAll(async () => {
    // tsc ran in it.
    if (dir) await removeChildDir(dir);
  });

  it('finds the README blocks, the docs/ blocks and the examples', () => {
    expect(snippets.filter((s) => s.origin.startsWith('README')).length).toBeGreaterThanOrEqual(3);
    expect(snippets.filter((s) => s.origin.startsWith('docs/')).length).toBeGreaterThanOrEqual(15);
    expect(snippets.filter((s) => s.origin.startsWith('examples')).length).toBeGreaterThanOrEqual(4);
    for (const page of DOC_PAGES) expect(snippets.filter((s) => s.origin.startsWith(`${page}:`)).length, page).toBeGreaterThanOrEqual(1);
  });

  it('the type check itself ran: every diagnostic names a snippet, every snippet was emitted', () => {
    const stray = diagnostics.split(/\r?\n/).filter((l) => l.trim() && !snippets.some((s) => l.includes(s.file)));
    expect(stray).toEqual([]);
    expect(snippets.filter((s) => !existsSync(join(dir, 'out', emitted(s.file)))).map((s) => s.origin)).toEqual([]);
  });

  for (const s of snippets) {
    it(`${s.origin} type-checks (strict, nodenext)`, () => {
      const mine = diagnostics.split(/\r?\n/).filter((l) => l.includes(s.file));
      expect(mine).toEqual([]);
    });

    const reason = skipReason(s);
    it.skipIf(reason !== null)(`${s.origin} runs and exits 0 by itself within ${RUN_LIMIT_MS / 1000} s${reason ? ` (skipped: ${reason})` : ''}`, { timeout: RUN_LIMIT_MS + 15_000 }, async () => {
      const cwd = mkdtempSync(join(dir, 'run-'));
      const env = envFor(s);
      const clean = () => {
        for (const p of s.harness.clean ?? []) rmSync(p, { force: true });
      };
      clean();
      let peer: ReturnType<typeof spawn> | null = null;
      let peerOut = '';
      try {
        if (s.harness.peer) {
          const [cmd, ...args] = s.harness.peer;
          peer = spawn(cmd!, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
          peer.stdout!.on('data', (d: Buffer) => (peerOut += d));
          peer.stderr!.on('data', (d: Buffer) => (peerOut += d));
          if (s.harness.waitFor) {
            const deadline = Date.now() + 10_000;
            while (!existsSync(join(cwd, s.harness.waitFor))) {
              if (Date.now() > deadline || peer.exitCode !== null) throw new Error(`peer never made ${s.harness.waitFor}: ${peerOut}`);
              await sleep(20);
            }
          }
        }
        const child = spawn(process.execPath, [join(dir, 'out', emitted(s.file))], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
        let out = '';
        child.stdout!.on('data', (d: Buffer) => (out += d));
        child.stderr!.on('data', (d: Buffer) => (out += d));
        let timedOut = false;
        const timer = setTimeout(() => {
          timedOut = true;
          child.kill('SIGKILL');
        }, RUN_LIMIT_MS);
        const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
        clearTimeout(timer);
        expect({ timedOut, code, out: code === 0 ? '' : out }).toEqual({ timedOut: false, code: 0, out: '' });
      } finally {
        peer?.kill('SIGKILL');
        clean();
        // The block (and its peer, just killed) ran in it.
        await removeChildDir(cwd);
      }
    });
  }
});
