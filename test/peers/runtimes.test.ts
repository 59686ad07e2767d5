// winpipe under Deno and Bun (Linux): the contract subset of test/fixtures/runtime-contract.mjs run
// by each runtime, with Node as the control. The binaries come from npm (scripts/runtimes.mjs) into
// the user's cache on first use. A check that fails because of the runtime itself is skipped with a
// reason that names the fault; each has a minimal reproduction in docs/runtimes.md.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixturesDir } from '../helpers/index.js';
import { runtime, runtimeSkip } from '../helpers/runtimes.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const CHECKS = [
  'anonymous: a PipeWriter object at stdio[3] reaches the child, readSync to EOF',
  'anonymous: reader.chunks() reads what a child wrote, to EOF',
  'anonymous: a PipeReader object as a child stdin, written with write()',
  'anonymous: writeSync / readSync, and 0 at end of file',
  'named pipe, byte mode: a round trip and end of stream',
  'named pipe, message mode: boundaries kept both ways',
  'channel: a Pipe() pair carries objects and bytes',
  'channel: Listener and Client with an authkey',
  'FIFO: createFifo, openFifo for both sides, data and end of file',
  'errors: EPIPE, ENOENT, ERR_PIPE_CLOSED, ERR_OUT_OF_RANGE as codes',
] as const;
type Check = (typeof CHECKS)[number];

// Faults of the runtimes themselves (docs/runtimes.md has a reproduction of each, without winpipe).
const BUN_SOCKET_FD = "Bun 1.4.5's net.Socket({ fd }) does no I/O on a pipe, FIFO or socketpair fd: reads never come, socketpair writes fail ERR_SOCKET_CLOSED (docs/runtimes.md#bun-netsocket-fd)";
const DENO_FS_FD = "Deno 2.9's net.Socket({ fd }) refuses an fd that node:fs opened, with EEXIST (docs/runtimes.md#deno-netsocket-fd-from-fsopensync)";
const KNOWN: Record<'deno' | 'bun', Partial<Record<Check, string>>> = {
  deno: {
    'FIFO: createFifo, openFifo for both sides, data and end of file': DENO_FS_FD,
  },
  bun: {
    'anonymous: reader.chunks() reads what a child wrote, to EOF': BUN_SOCKET_FD,
    'channel: a Pipe() pair carries objects and bytes': BUN_SOCKET_FD,
    'FIFO: createFifo, openFifo for both sides, data and end of file': BUN_SOCKET_FD,
  },
};

interface Line {
  check: string;
  ok: boolean;
  error?: string;
}

let work = '';
let bundleUrl = '';

/**
 * A scratch project outside node_modules (Deno runs nothing from there as a script) whose
 * node_modules is the repository's, so the bundle's `import 'koffi'` resolves as in a user's
 * project. Made once, by the first runtime's suite.
 */
async function prepare(): Promise<void> {
  if (work) return;
  work = mkdtempSync(join(tmpdir(), 'winpipe-runtimes-'));
  writeFileSync(join(work, 'package.json'), '{ "private": true, "type": "module", "dependencies": { "koffi": "*" } }\n');
  symlinkSync(join(repo, 'node_modules'), join(work, 'node_modules'), 'dir');
  const entry = `export * from ${JSON.stringify(join(repo, 'src', 'index.ts'))};\nexport * as channel from ${JSON.stringify(join(repo, 'src', 'channel', 'index.ts'))};\n`;
  await build({
    stdin: { contents: entry, resolveDir: repo, loader: 'ts' },
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    outfile: join(work, 'winpipe.mjs'),
    external: ['koffi'],
    logLevel: 'silent',
  });
  bundleUrl = pathToFileURL(join(work, 'winpipe.mjs')).href;
}

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function runContract(argv: string[]): Map<string, Line> {
  const scratch = mkdtempSync(join(work, 'scratch-'));
  const r = spawnSync(argv[0]!, [...argv.slice(1), join(fixturesDir, 'runtime-contract.mjs'), bundleUrl, scratch], {
    cwd: work,
    encoding: 'utf8',
    timeout: 240_000,
    env: { ...process.env, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' },
  });
  rmSync(scratch, { recursive: true, force: true });
  const lines = new Map<string, Line>();
  for (const l of (r.stdout ?? '').split('\n')) {
    if (!l.startsWith('{')) continue;
    const line = JSON.parse(l) as Line;
    lines.set(line.check, line);
  }
  if (lines.size === 0) throw new Error(`${argv[0]} printed no results (status ${r.status}, ${r.error?.message ?? ''}):\n${r.stdout}\n${r.stderr}`);
  return lines;
}

const RUNNERS = {
  node: { skip: null as string | null, argv: (): string[] => [process.execPath] },
  // --node-modules-dir=manual: use the project's node_modules as npm left it (Deno's default would
  // want a deno.json or its own npm cache). -A: koffi loads a native library, the tests spawn.
  deno: { skip: runtimeSkip('deno'), argv: (): string[] => [runtime('deno'), 'run', '-A', '--node-modules-dir=manual'] },
  bun: { skip: runtimeSkip('bun'), argv: (): string[] => [runtime('bun')] },
};

// The other runtimes run on the host half: under Wine there is no Linux Deno or Bun to run.
const underWindows = process.platform === 'win32';

for (const [name, runner] of Object.entries(RUNNERS) as [keyof typeof RUNNERS, (typeof RUNNERS)[keyof typeof RUNNERS]][]) {
  const skip = underWindows ? 'the Deno/Bun subset runs on the POSIX host half' : runner.skip;
  describe.skipIf(skip !== null)(`winpipe under ${name}${skip ? ` (skipped: ${skip})` : ''}`, () => {
    let results: Map<string, Line>;
    beforeAll(async () => {
      await prepare();
      results = runContract(runner.argv());
    }, 300_000);

    for (const check of CHECKS) {
      const fault = name === 'node' ? undefined : KNOWN[name][check];
      it.skipIf(fault !== undefined)(`${check}${fault ? ` (skipped: ${fault})` : ''}`, () => {
        expect(results.get(check)).toEqual({ check, ok: true });
      });
    }

    // A skip must not outlive its fault: when the runtime gets it right, the skip has to go.
    for (const [check, fault] of Object.entries(name === 'node' ? {} : KNOWN[name])) {
      it(`the known fault still shows: ${check} fails (${fault})`, () => {
        expect(results.get(check)?.ok).toBe(false);
      });
    }
  });
}
