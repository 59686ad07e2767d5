// Builds dist/esm (import) and dist/cjs (require) with the TypeScript compiler, from one source.
import { spawnSync } from 'node:child_process';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

rmSync(join(root, 'dist'), { recursive: true, force: true });
for (const project of ['tsconfig.json', 'tsconfig.cjs.json']) {
  const r = spawnSync(process.execPath, [tsc, '-p', join(root, project)], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
// dist/cjs/*.js are CommonJS although the package is "type": "module".
writeFileSync(join(root, 'dist/cjs/package.json'), '{ "type": "commonjs" }\n');
// The `winpipe` bin (package.json): runnable in place too, as npm makes it once installed.
chmodSync(join(root, 'dist/esm/cli/main.js'), 0o755);
console.log('built dist/esm and dist/cjs');
