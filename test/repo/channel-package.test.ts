// The packed tarball (npm test installs it and sets WINPIPE_PACKED_DIR): the `winpipe/connection`
// subpath works through both import and require, a Pipe round-trips, and the FIFO and
// spawnWithHandles exports are there. Children run with async spawn, never spawnSync, so the
// event loop keeps serving completions while they run.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { collect, exited, within } from '../helpers/index.js';

const dir = process.env.WINPIPE_PACKED_DIR;

const roundTrip = `
  const [a, b] = ch.Pipe();
  await a.send({ via: 'package' });
  const got = await b.recv();
  if (got.via !== 'package' || typeof ch.Listener !== 'function' || typeof ch.Client !== 'function' || typeof ch.Connection.fromFd !== 'function') throw new Error('bad');
  a.close(); b.close();
  for (const name of ['createFifo', 'openFifo', 'spawnWithHandles', 'adoptEnd', 'listPipes']) if (typeof w[name] !== 'function') throw new Error(name + ' missing');
  console.log('ok');`;

async function run(args: string[]): Promise<{ status: number | null; out: string }> {
  const child = spawn(process.execPath, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
  const [out, err, status] = await within(Promise.all([collect(child.stdout), collect(child.stderr), exited(child)]), 60_000, 'the packed-tarball child');
  return { status, out: `${out}${err}` };
}

describe.skipIf(!dir)('packed tarball: winpipe/connection', () => {
  it('works through import', async () => {
    const r = await run(['--input-type=module', '-e', `const ch = await import('winpipe/connection'); const w = await import('winpipe'); ${roundTrip}`]);
    expect(r.out.trim()).toBe('ok');
    expect(r.status).toBe(0);
  });

  it('works through require', async () => {
    const r = await run(['-e', `(async () => { const ch = require('winpipe/connection'); const w = require('winpipe'); ${roundTrip} })().catch((e) => { console.error(e); process.exit(1); });`]);
    expect(r.out.trim()).toBe('ok');
    expect(r.status).toBe(0);
  });
});
