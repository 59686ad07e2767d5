/**
 * POSIX side of `listPipes`: the sockets in winpipe's two directories for this user (the private
 * one, and the one for `security: 'everyone'`), found through the same rule as `pipePath`. A
 * directory `connect` would refuse (not ours, a symlink, open to others) is not read: nothing
 * winpipe would talk to lives there.
 */
import { readdir } from 'node:fs/promises';
import type { PipeInfo } from '../list.js';
import { socketDirMode, socketDirs } from '../names.js';
import { verifyDir } from './trust.js';

export async function listPosixPipes(): Promise<PipeInfo[]> {
  const dirs = socketDirs();
  const out: PipeInfo[] = [];
  for (const security of ['current-user', 'everyone'] as const) {
    const dir = security === 'everyone' ? dirs.public : dirs.private;
    try {
      verifyDir(dir, { mode: socketDirMode(security), create: false, syscall: 'listPipes' });
    } catch {
      // Not made yet, or not one connect would use.
      continue;
    }
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      // Removed since the check: nothing in it.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    for (const e of entries) {
      if (e.isSocket() && e.name.endsWith('.sock') && e.name.length > 5) out.push({ name: e.name.slice(0, -5), path: `${dir}/${e.name}`, security });
    }
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
