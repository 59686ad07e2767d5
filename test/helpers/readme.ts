// The code blocks of README.md and docs/**/*.md, and examples/, as tests: what a user pastes into a
// project that installed the packed tarball. A block is a ```ts or ```js fence that imports
// 'winpipe' (or a subpath); other fences (```sh, ```text, ```python, ```c) are recipes and
// fragments, never run.
//
// A hidden harness line may precede a block (an HTML comment, invisible on GitHub), or sit in an
// example's first lines (`// readme-test: {...}`):
//
//   <!-- readme-test: {"platform": "posix", "peer": ["sh", "-c", "..."], "waitFor": "py.sock",
//                      "needs": "python3", "path": "test/fixtures/bin", "clean": ["/tmp/x"]} -->
//
//   platform  where the block runs ("posix" | "win32"); it is type-checked everywhere.
//   peer      argv started in the block's directory before it (the other side of its pipe);
//             killed after the block exits.
//   waitFor   a file (relative to the block's directory) the peer creates when it is ready.
//   needs     a program that must be on PATH to run the block (else it is skipped, saying so),
//             or one per platform: {"posix": "python3", "win32": "python"}.
//   path      a directory (relative to the repository) put first on PATH for the block and peer.
//   clean     paths removed before and after the run (fixed paths the block creates).
//   skip      why the block cannot run here at all (it needs Docker, another machine, ...): it is
//             still type-checked, and the reason shows in the test's name.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface Harness {
  platform?: 'posix' | 'win32';
  peer?: string[];
  waitFor?: string;
  needs?: string | Partial<Record<'posix' | 'win32', string>>;
  path?: string;
  clean?: string[];
  skip?: string;
}

export interface Snippet {
  /** Where it comes from, for test names: `README.md:49`, `docs/named-pipes.md:12`, `examples/echo.mjs`. */
  origin: string;
  /** The file name it gets in the scratch project: `readme-49.ts`, `docs-named-pipes-12.ts`, `example-echo.mjs`. */
  file: string;
  code: string;
  harness: Harness;
}

const IMPORTS_WINPIPE = /\bfrom\s+['"]winpipe(\/[a-z0-9]+)?['"]|\bimport\(\s*['"]winpipe(\/[a-z0-9]+)?['"]\s*\)/;

function parseHarness(text: string | undefined, origin: string): Harness {
  if (!text) return {};
  try {
    return JSON.parse(text) as Harness;
  } catch (err) {
    throw new Error(`${origin}: the readme-test harness line is not JSON: ${(err as Error).message}`);
  }
}

/** Every Markdown file the package documents itself in: README.md, then docs/**\/*.md (sorted). */
export function markdownFiles(repo: string): string[] {
  const out = ['README.md'];
  const walk = (rel: string) => {
    for (const e of readdirSync(join(repo, rel), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.isDirectory()) walk(`${rel}/${e.name}`);
      else if (e.name.endsWith('.md')) out.push(`${rel}/${e.name}`);
    }
  };
  walk('docs');
  return out;
}

/** The ```ts / ```js blocks of one Markdown file (`rel` to `repo`) that import winpipe, with their harness lines. */
export function markdownSnippets(repo: string, rel: string): Snippet[] {
  const lines = readFileSync(join(repo, rel), 'utf8').split(/\r?\n/);
  const stem =
    rel === 'README.md'
      ? 'readme'
      : rel
          .replace(/\.md$/, '')
          .replace(/[^A-Za-z0-9]+/g, '-')
          .toLowerCase();
  const out: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const lang = open[1]!;
    const start = i;
    let end = i + 1;
    while (end < lines.length && !/^```\s*$/.test(lines[end]!)) end++;
    const code = lines.slice(start + 1, end).join('\n');
    i = end;
    if (lang !== 'ts' && lang !== 'js') continue;
    if (!IMPORTS_WINPIPE.test(code)) continue;
    // The harness comment: the nearest non-blank line above the fence.
    let h = start - 1;
    while (h >= 0 && lines[h]!.trim() === '') h--;
    const m = h >= 0 ? /^<!--\s*readme-test:\s*(\{.*\})\s*-->\s*$/.exec(lines[h]!) : null;
    const origin = `${rel}:${start + 1}`;
    out.push({ origin, file: `${stem}-${start + 1}.${lang === 'ts' ? 'ts' : 'mjs'}`, code, harness: parseHarness(m?.[1], origin) });
  }
  return out;
}

/** The blocks of README.md and of every page under docs/. */
export function docSnippets(repo: string): Snippet[] {
  return markdownFiles(repo).flatMap((rel) => markdownSnippets(repo, rel));
}

/** examples/*.mjs and *.ts, each with the harness line from its first comment lines. */
export function exampleSnippets(dir: string): Snippet[] {
  return readdirSync(dir)
    .filter((f) => /\.(mjs|ts)$/.test(f))
    .sort()
    .map((f) => {
      const code = readFileSync(join(dir, f), 'utf8');
      const m = /^\/\/\s*readme-test:\s*(\{.*\})\s*$/m.exec(code.split('\n').slice(0, 20).join('\n'));
      const origin = `examples/${f}`;
      return { origin, file: `example-${f}`, code, harness: parseHarness(m?.[1], origin) };
    });
}

/** The compiled file to run: tsc turns `x.ts` into `x.js` and copies `x.mjs` as `x.mjs`. */
export function emitted(file: string): string {
  return file.replace(/\.ts$/, '.js');
}
