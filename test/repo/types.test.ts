// The public API's types (test/types/api.ts): typed server events, connection types following
// `mode`, listen's forms, connect's options. tsc fails on a wrong type and on any
// `@ts-expect-error` line that is not an error (a wrong event name that compiles, say).
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { underWine } from '../helpers/index.js';

const require = createRequire(import.meta.url);

describe('types', () => {
  // Types do not depend on the platform: the host run checks them once.
  it.skipIf(underWine)(
    'test/types/api.ts type-checks: typed events, byte = net.Socket, message = MessagePipeConnection',
    () => {
      const tsc = require.resolve('typescript/bin/tsc');
      let out = '';
      try {
        execFileSync(process.execPath, [tsc, '-p', 'test/types', '--pretty', 'false'], { encoding: 'utf8', stdio: 'pipe' });
      } catch (err) {
        out = `${(err as { stdout?: string }).stdout ?? ''}${(err as { stderr?: string }).stderr ?? ''}`;
      }
      expect(out).toBe('');
    },
    120_000,
  );
});
