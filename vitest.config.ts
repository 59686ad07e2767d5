import { defineConfig } from 'vitest/config';

// One config for the host run and the Wine run (scripts/wine.mjs copies it into its stage).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // POSIX: a TMPDIR of the run's own, checked for leftovers at the end (test/helpers/global-setup.ts).
    globalSetup: ['test/helpers/global-setup.ts'],
    // Platform-only suites run where their platform is live (Windows under Wine here); the
    // contract suites at the top of test/ run everywhere.
    exclude: ['**/node_modules/**', process.platform === 'win32' ? 'test/posix/**' : 'test/windows/**'],
    // Each file spawns children and opens OS pipes; forks keep a crashed FFI call in one worker.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: more workers only contend. Wine is slower to start a process.
    maxWorkers: 2,
  },
});
