// Builds dist/esm (import) and dist/cjs (require) with the TypeScript compiler, from one source.
//
// Once per change: `npm ci` (through `prepare`), `npm run demo`, `npm pack` (`prepare` again) and
// `npm test` all ask for a build, and tsc takes 15-20 s of CPU twice over. A build whose inputs
// (src/, the tsconfigs, this script, the TypeScript version) and outputs (dist/) are what the last
// build made and left is skipped, saying so. `--force` builds anyway.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const tsc = require.resolve('typescript/bin/tsc');
// Outside dist/, which npm pack ships whole.
const stampFile = join(root, 'node_modules', '.cache', 'winpipe-build.json');

/** Every file under `dir`, sorted, as paths relative to the repository. */
function files(dir) {
  if (!existsSync(dir)) return [];
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...files(p));
    else out.push(relative(root, p));
  }
  return out.sort();
}

/** One digest over the names and contents of `paths` (and `extra`). */
function digest(paths, extra = '') {
  const h = createHash('sha256');
  h.update(extra);
  for (const p of paths) {
    h.update(`\0${p.replaceAll('\\', '/')}\0`);
    h.update(readFileSync(join(root, p)));
  }
  return h.digest('hex');
}

function inputsDigest() {
  const tsVersion = JSON.parse(readFileSync(require.resolve('typescript/package.json'), 'utf8')).version;
  const paths = [...files(join(root, 'src')), 'tsconfig.json', 'tsconfig.cjs.json', 'scripts/build.mjs'];
  return digest(paths, `typescript ${tsVersion}\n`);
}

const outputsDigest = () => digest(files(join(root, 'dist')));

const force = process.argv.includes('--force');
const inputs = inputsDigest();
if (!force && existsSync(stampFile)) {
  try {
    const last = JSON.parse(readFileSync(stampFile, 'utf8'));
    if (last.inputs === inputs && last.outputs === outputsDigest()) {
      console.log('dist/ is up to date: src/ and the build settings are as the last build found them (--force to build anyway)');
      process.exit(0);
    }
  } catch {
    // An unreadable stamp: build.
  }
}

rmSync(stampFile, { force: true });
rmSync(join(root, 'dist'), { recursive: true, force: true });
for (const project of ['tsconfig.json', 'tsconfig.cjs.json']) {
  const r = spawnSync(process.execPath, [tsc, '-p', join(root, project)], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
// dist/cjs/*.js are CommonJS although the package is "type": "module".
writeFileSync(join(root, 'dist/cjs/package.json'), '{ "type": "commonjs" }\n');
// The `winpipe` bin (package.json): runnable in place too, as npm makes it once installed.
chmodSync(join(root, 'dist/esm/cli/main.js'), 0o755);
mkdirSync(dirname(stampFile), { recursive: true });
writeFileSync(stampFile, `${JSON.stringify({ inputs, outputs: outputsDigest() })}\n`);
console.log('built dist/esm and dist/cjs');
