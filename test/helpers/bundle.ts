// Bundles a winpipe entry point (TypeScript source) into one ESM file that a plain `node` child can
// import, so fixtures run against the code under test without a build. esbuild comes with vite.
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const built = new Map<string, Promise<string>>();

/**
 * `src/<entry>` bundled to `node_modules/.cache/winpipe-test/` (inside the repo, so that the
 * bundle's `import 'koffi'` resolves); returns the bundle's file URL for the child's argv.
 */
export function bundle(entry: string): Promise<string> {
  let url = built.get(entry);
  if (!url) {
    url = make(entry);
    built.set(entry, url);
  }
  return url;
}

// The async API, on esbuild's long-lived service (the one vite uses): buildSync starts a service of
// its own per call, and that hung under Wine when test files ran in parallel.
async function make(entry: string): Promise<string> {
  const dir = join(repoRoot, 'node_modules', '.cache', 'winpipe-test');
  mkdirSync(dir, { recursive: true });
  const outfile = join(dir, `${entry.replace(/[\\/.]/g, '_')}-${process.pid}.mjs`);
  await build({
    entryPoints: [join(repoRoot, 'src', entry)],
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    outfile,
    external: ['koffi'],
    logLevel: 'silent',
  });
  return pathToFileURL(outfile).href;
}
