// The platform seam: the public modules never ask which platform they run on. src/platform.ts
// picks one implementation (src/windows/platform.ts or src/posix/platform.ts) once, and everything
// platform-specific goes through it; a branch on Windows in a public module would be a second place
// where the platform is chosen. Read with the TypeScript parser, so TSDoc examples (comments) may
// still show `process.platform === 'win32'` to the reader.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { platform } from '../src/index.js';
import { host } from '../src/platform.js';

const src = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'src');

/** The public modules: src/*.ts but the seam itself, and the channel's public face. */
function publicModules(): string[] {
  const top = readdirSync(src)
    .filter((f) => f.endsWith('.ts') && f !== 'platform.ts')
    .map((f) => join(src, f));
  return [...top, join(src, 'channel', 'index.ts')];
}

const isWin32 = (n: ts.Node): boolean => ts.isStringLiteralLike(n) && n.text === 'win32';
const isProcessPlatform = (n: ts.Node): boolean => ts.isPropertyAccessExpression(n) && n.name.text === 'platform' && ts.isIdentifier(n.expression) && n.expression.text === 'process';

/**
 * Each branch on Windows in `file`'s code: an `isWindows`, or a comparison with `'win32'` of anything
 * but a function's own `platform` (a rule asked for another platform, as `pipePath(name, { platform })`).
 */
function platformBranches(file: string, text = readFileSync(file, 'utf8')): string[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const at = (n: ts.Node): string => `${file.slice(src.length + 1)}:${sf.getLineAndCharacterOfPosition(n.getStart()).line + 1}: ${n.getText().slice(0, 80)}`;
  const visit = (n: ts.Node): void => {
    if (ts.isIdentifier(n) && n.text === 'isWindows') found.push(at(n));
    if (
      ts.isBinaryExpression(n) &&
      [ts.SyntaxKind.EqualsEqualsEqualsToken, ts.SyntaxKind.ExclamationEqualsEqualsToken, ts.SyntaxKind.EqualsEqualsToken, ts.SyntaxKind.ExclamationEqualsToken].includes(n.operatorToken.kind)
    ) {
      const other = isWin32(n.right) ? n.left : isWin32(n.left) ? n.right : undefined;
      if (other !== undefined && !(ts.isIdentifier(other) && other.text === 'platform')) found.push(at(n));
      if (isProcessPlatform(n.left) || isProcessPlatform(n.right)) {
        if (other !== undefined || isWin32(n.left) || isWin32(n.right)) found.push(at(n));
      }
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return [...new Set(found)];
}

describe('the platform seam', () => {
  it('no public module branches on Windows: the platform is picked once, in src/platform.ts', () => {
    const modules = publicModules();
    expect(modules.length).toBeGreaterThan(10);
    expect(modules.flatMap((f) => platformBranches(f))).toEqual([]);
  });

  it('the scan sees a branch in code and not one in a comment', () => {
    const probe = [
      '/**',
      ' * @example',
      " * const path = process.platform === 'win32' ? '\\\\.\\pipe\\x' : './x.sock';",
      ' */',
      "export const a = process.platform === 'win32' ? 1 : 2;",
      "const isWindows = process.platform !== 'linux';",
      "export const b = (platform: string) => platform === 'win32';",
      "export const c = 'win32' !== process.platform;",
    ].join('\n');
    expect(platformBranches(join(src, 'probe.ts'), probe).map((b) => b.split(':')[1])).toEqual(['5', '6', '8']);
    // The seam itself holds the one branch.
    expect(platformBranches(join(src, 'platform.ts'))).toHaveLength(1);
  });

  it('picks the implementation of this process, and winpipe reports it', () => {
    expect(host.name).toBe(process.platform === 'win32' ? 'windows' : 'posix');
    expect(platform).toBe(host.name);
    expect(host.pipes.platform).toBe(host.name);
  });
});
