// docs/platforms.md "Bundlers and Electron": the esbuild recipe, both forms. A small app is bundled from a
// project that installed the packed tarball, the bundle is copied to a directory with no
// node_modules but koffi's one native package (as the recipe says), and run there.
import { spawnSync } from 'node:child_process';
import { buildSync, type BuildOptions } from 'esbuild';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const packed = process.env.WINPIPE_PACKED_DIR;
const native = `@koromix/koffi-${process.platform}-${process.arch}`;

const app = (imp: string) => `${imp}
const { reader, writer } = createPipe();
writer.writeSync(Buffer.from('bundled'));
const b = Buffer.alloc(7);
reader.readSync(b);
reader.close(); writer.close();
console.log(b.toString());
`;

// The options docs/platforms.md gives (its command lines, as esbuild's API). CJS: koffi's CommonJS entry
// finds its native module only by paths relative to its own file, which a bundle no longer has;
// its ES entry requires the platform package by name, so the CJS recipe bundles that entry and
// supplies import.meta.
const FORMS: Record<string, { file: string; code: string; options: BuildOptions }> = {
  esm: { file: 'app.mjs', code: app("import { createPipe } from 'winpipe';"), options: { format: 'esm' } },
  cjs: {
    file: 'app.cjs',
    code: app("const { createPipe } = require('winpipe');"),
    options: {
      format: 'cjs',
      alias: { koffi: './node_modules/koffi/index.js' },
      define: { 'import.meta.url': '__import_meta_url', 'import.meta.dirname': '__dirname' },
      banner: { js: "const __import_meta_url = require('node:url').pathToFileURL(__filename).href;" },
    },
  },
};

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe.skipIf(!packed)('esbuild recipe (docs/platforms.md "Bundlers and Electron")', () => {
  for (const [form, f] of Object.entries(FORMS)) {
    it(`a ${form.toUpperCase()} bundle runs far from node_modules, with only ${native} beside it`, () => {
      const src = mkdtempSync(join(packed!, 'esbuild-'));
      dirs.push(src);
      writeFileSync(join(src, f.file), f.code);
      const out = join(src, 'dist', f.file);
      const alias = f.options.alias ? { koffi: join(packed!, 'node_modules', 'koffi', 'index.js') } : undefined;
      const result = buildSync({
        ...f.options,
        ...(alias ? { alias } : {}),
        entryPoints: [join(src, f.file)],
        bundle: true,
        platform: 'node',
        outfile: out,
        logLevel: 'silent',
        absWorkingDir: packed!,
      });
      expect(result.errors).toEqual([]);

      const elsewhere = mkdtempSync(join(tmpdir(), 'winpipe-bundle-'));
      dirs.push(elsewhere);
      cpSync(out, join(elsewhere, f.file));
      mkdirSync(join(elsewhere, 'node_modules', '@koromix'), { recursive: true });
      cpSync(join(packed!, 'node_modules', native), join(elsewhere, 'node_modules', native), { recursive: true });
      const r = spawnSync(process.execPath, [join(elsewhere, f.file)], { cwd: tmpdir(), encoding: 'utf8', windowsHide: true, timeout: 30_000 });
      expect(`${r.stdout}${r.stderr}`.trim()).toBe('bundled');
      expect(r.status).toBe(0);
    });
  }
});
