import { defineConfig } from 'vitest/config';

// One config for the host run and the Wine run (scripts/wine.mjs copies it into its stage).
const posixOnly = ['test/posix/**'];
const windowsOnly = ['test/windows/**', 'test/channel/windows.test.ts', 'test/peers/go-winio.test.ts'];

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // POSIX: a TMPDIR of the run's own, checked for leftovers at the end (test/helpers/global-setup.ts).
    globalSetup: ['test/helpers/global-setup.ts'],
    // Platform-only suites run where their platform is live (Windows under Wine here): test/posix/,
    // test/windows/, and the Windows-only files that sit beside the module or peer they test. The
    // contract suites everywhere else in test/ run on both.
    exclude: ['**/node_modules/**', ...(process.platform === 'win32' ? posixOnly : windowsOnly)],
    // Each file spawns children and opens OS pipes; forks keep a crashed FFI call in one worker.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: more workers only contend. Wine is slower to start a process.
    maxWorkers: 2,
  },
});
