// The documentation as a reader meets it: every relative link leads somewhere, the README's index
// of exports names every runtime export of every entry point, and the generated API reference
// (TypeDoc, `npm run docs:api`) covers every export. The code blocks themselves run in
// test/repo/readme.test.ts.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { brokenLinks, relativeLinks } from '../helpers/links.js';
import { underWine } from '../helpers/index.js';
import { markdownFiles } from '../helpers/readme.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { exports: Record<string, unknown>; files: string[] };

/** package.json "exports": each entry point and the source file its ESM build comes from. */
function entryPoints(): { entry: string; source: string }[] {
  return Object.entries(pkg.exports)
    .filter(([entry]) => entry !== './package.json')
    .map(([entry, target]) => {
      const esm = (target as { import: { default: string } }).import.default; // ./dist/esm/x/y.js
      return { entry: entry === '.' ? 'winpipe' : `winpipe/${entry.slice(2)}`, source: esm.replace('./dist/esm/', 'src/').replace(/\.js$/, '.ts') };
    });
}

async function runtimeExports(source: string): Promise<string[]> {
  return Object.keys((await import(pathToFileURL(join(repo, source)).href)) as object).sort();
}

// Platform-independent, and the Wine stage has no .ci/: the host run covers it.
describe.skipIf(process.env.WINPIPE_UNDER_WINE === '1')("the README's two commands", () => {
  const readme = readFileSync(join(repo, 'README.md'), 'utf8');
  const block = /## From a clone[^\n]*\n[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  const commands = block
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean);

  it('are one to set up and run the demo and one to run the tests, and both scripts exist', () => {
    expect(commands).toEqual(['npm ci && npm run demo', 'npm test']);
    const scripts = (pkg as unknown as { scripts: Record<string, string> }).scripts;
    expect(Object.keys(scripts)).toEqual(expect.arrayContaining(['demo', 'test']));
  });

  it('.ci/run runs the same test command, after npm ci', () => {
    const ci = readFileSync(join(repo, '.ci', 'run'), 'utf8')
      .split('\n')
      .filter((l) => !l.trimStart().startsWith('#'));
    const run = ci.findIndex((l) => /(^|\s)npm test(\s|$)/.test(l));
    const install = ci.findIndex((l) => /(^|\s)npm ci(\s|$)/.test(l));
    expect(run).toBeGreaterThan(-1);
    expect(install).toBeGreaterThan(-1);
    expect(install).toBeLessThan(run);
  });
});

describe('links in README.md, docs/ and BENCHMARKS.md', () => {
  const files = [...markdownFiles(repo), 'BENCHMARKS.md'];

  it('every relative link names a file that exists, and every #fragment a heading of it', () => {
    expect(files.length).toBeGreaterThan(10);
    expect(relativeLinks(repo, 'README.md').length).toBeGreaterThan(20); // the check looked at something
    expect(brokenLinks(repo, files)).toEqual([]);
  });

  it('the package ships every file the links lead to ("files" in package.json)', () => {
    const shipped = (p: string) => pkg.files.some((f) => p === f || p.startsWith(`${f}/`));
    const targets = files.flatMap((rel) =>
      relativeLinks(repo, rel)
        .map((l) => l.target.split('#')[0]!)
        .filter((t) => t !== '')
        .map((t) => join(dirname(rel), t).replace(/\\/g, '/')),
    );
    expect(files.filter((f) => !shipped(f))).toEqual([]);
    expect([...new Set(targets.filter((t) => !shipped(t)))]).toEqual([]);
  });
});

describe('paths cited in prose and comments', () => {
  // Files move (a module split, a test renamed after its module); a comment or a page that still
  // names the old path sends a reader nowhere. Only this repository's own kinds of file are checked:
  // src/win/pipe.c (libuv) or src/koffi/index.js (koffi) name other projects' files.
  const cited = /(?<![\w./-])((?:src|test|scripts|docs|examples)\/[\w./-]*\w\.(?:ts|mjs|md))\b/g;

  // The Wine stage is a copy without git; the host run reads the same files.
  const wineNote = underWine ? ' (skipped under Wine: the stage has no git, the host run checks the same files)' : '';
  it.skipIf(underWine)(`every src/, test/, scripts/, docs/ and examples/ path named in the tracked files exists${wineNote}`, () => {
    const tracked = spawnSync('git', ['ls-files'], { cwd: repo, encoding: 'utf8' }).stdout.split('\n');
    const texts = tracked.filter((f) => /\.(md|ts|mjs|js|cjs|jsonc?|yml)$/.test(f) || f === '.ci/run');
    expect(texts.length).toBeGreaterThan(100); // the check looked at something
    const missing: string[] = [];
    for (const file of texts) {
      for (const m of readFileSync(join(repo, file), 'utf8').matchAll(cited)) {
        if (!existsSync(join(repo, m[1]!))) missing.push(`${file}: ${m[1]}`);
      }
    }
    expect([...new Set(missing)]).toEqual([]);
  });
});

describe('index of exports', () => {
  const readme = readFileSync(join(repo, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Index of exports\n');
  const index = start < 0 ? '' : readme.slice(start, readme.indexOf('\n## ', start + 1));
  const lowLevelPage = join(repo, 'docs', 'low-level.md');
  const lowLevel = existsSync(lowLevelPage) ? readFileSync(lowLevelPage, 'utf8') : '';
  // A name is indexed when a code span starts with it: `createPipe(options?)`, `PipeEnd`.
  const names = (text: string, name: string) => new RegExp('`' + name.replace(/\$/g, '\\$') + '[`(]').test(text);

  it('covers every entry point of package.json "exports"', () => {
    expect(entryPoints().map((e) => e.entry)).toEqual(['winpipe', 'winpipe/win32', 'winpipe/posix', 'winpipe/connection']);
  });

  for (const { entry, source } of entryPoints()) {
    // winpipe/win32 and winpipe/posix are kernel32 and libc, 188 names: the README gives them one
    // line that leads to docs/low-level.md, and that page names each one.
    const lowLevelEntry = entry === 'winpipe/win32' || entry === 'winpipe/posix';
    it(`${lowLevelEntry ? 'docs/low-level.md' : "the README's index"} names every runtime export of ${entry}`, async () => {
      const exported = await runtimeExports(source);
      expect(exported.length).toBeGreaterThan(3);
      expect(exported.filter((name) => !names(lowLevelEntry ? lowLevel : index, name))).toEqual([]);
      if (lowLevelEntry) expect(index).toContain(`\`${entry}\``);
    });
  }
});

// TypeDoc reads the TSDoc the way the .d.ts files carry it to editors. The reference is generated,
// not kept in git (api/ is ignored): this checks that it covers every runtime export, and that the
// public faces have a summary for each. Platform-independent, so the host run covers it.
describe.skipIf(process.env.WINPIPE_UNDER_WINE === '1')('API reference (TypeDoc, npm run docs:api)', () => {
  it('documents every runtime export of every entry point; winpipe and winpipe/connection each with a summary', async () => {
    const out = mkdtempSync(join(tmpdir(), 'winpipe-api-'));
    try {
      const typedoc = join(dirname(createRequire(import.meta.url).resolve('typedoc/package.json')), 'bin', 'typedoc');
      const r = spawnSync(process.execPath, [typedoc, '--options', join(repo, 'typedoc.json'), '--out', join(out, 'html'), '--json', join(out, 'api.json')], { cwd: repo, encoding: 'utf8' });
      expect({ status: r.status, errors: `${r.stdout}${r.stderr}`.split('\n').filter((l) => /\berror\b/i.test(l) && !/Found 0 errors/.test(l)) }).toEqual({ status: 0, errors: [] });
      interface Reflection {
        name: string;
        kind: number;
        comment?: { summary: { text: string }[] };
        signatures?: Reflection[];
        children?: Reflection[];
        sources?: { fileName: string }[];
      }
      const project = JSON.parse(readFileSync(join(out, 'api.json'), 'utf8')) as Reflection;
      const modules = new Map((project.children ?? []).map((m) => [m.name, m]));
      const REFERENCE = 4194304; // a re-export of a symbol documented where it is declared
      for (const { entry, source } of entryPoints()) {
        const moduleName = source
          .replace(/^src\//, '')
          .replace(/\.ts$/, '')
          .replace(/\/index$/, '')
          .replace(/^index$/, 'index');
        const mod = modules.get(moduleName);
        expect(mod, `TypeDoc module ${moduleName} for ${entry}`).toBeDefined();
        const documented = new Map((mod!.children ?? []).map((c) => [c.name, c]));
        const exported = await runtimeExports(source);
        expect(
          exported.filter((n) => !documented.has(n)),
          entry,
        ).toEqual([]);
        if (entry === 'winpipe' || entry === 'winpipe/connection') {
          const summary = (c: Reflection) => [c.comment, ...(c.signatures ?? []).map((s) => s.comment)].some((cm) => cm?.summary.some((p) => p.text.trim() !== ''));
          expect(
            exported.filter((n) => documented.get(n)!.kind !== REFERENCE && !summary(documented.get(n)!)),
            `${entry}: exports without a TSDoc summary`,
          ).toEqual([]);
        }
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 180_000);
});
