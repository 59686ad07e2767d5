// vitest globalSetup (vitest.config.ts): the run leaves nothing behind, and says what it left.
//
// POSIX: the whole run gets a temporary directory of its own as TMPDIR (1777, as /tmp), and a
// private XDG_RUNTIME_DIR inside it when the user has one set, so that every socket, FIFO and
// scratch file of the run lands there. Other runs on the machine (other checkouts, other users of
// /tmp/winpipe-<uid>) cannot be mistaken for ours, and ours never pile up in the user's real
// directories for `winpipe ls` to list. At the end, anything left in it fails the run, by name (a
// name says which test made it: every test uses uniqueName(prefix)). Then it is removed.
// Windows (the Wine run): named pipes leave no files; nothing to do.
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

/** Everything under `dir` that is not a directory, or is an empty directory we did not make. */
function leftovers(dir: string, keepDirs: Set<string>): string[] {
  const out: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries) {
    const p = join(dir, name);
    const st = lstatSync(p);
    if (st.isDirectory()) {
      const inner = leftovers(p, keepDirs);
      if (inner.length > 0) out.push(...inner);
      else if (!keepDirs.has(p)) out.push(`${p}/`);
    } else {
      const kind = st.isSocket() ? 'socket' : st.isFIFO() ? 'fifo' : st.isSymbolicLink() ? 'symlink' : 'file';
      out.push(`${p} (${kind})`);
    }
  }
  return out;
}

export default function setup(): (() => void) | undefined {
  if (process.platform === 'win32') return undefined;
  const saved = { TMPDIR: process.env.TMPDIR, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR, NODE_DISABLE_COMPILE_CACHE: process.env.NODE_DISABLE_COMPILE_CACHE };
  const run = mkdtempSync(join(tmpdir(), 'winpipe-testrun-'));
  chmodSync(run, 0o1777);
  process.env.TMPDIR = run;
  // Node 22+ keeps a compile cache in <tmpdir>/node-compile-cache for a process that enables it
  // (vitest's workers do, on Node 26): not ours to leave behind, and no test needs it.
  process.env.NODE_DISABLE_COMPILE_CACHE = '1';
  // winpipe's own directories: they stay between runs in real life, so they may stay empty here.
  const uid = process.getuid!();
  const keep = new Set([join(run, `winpipe-${uid}`), join(run, `winpipe-${uid}.public`)]);
  if (saved.XDG_RUNTIME_DIR) {
    const xdg = join(run, 'xdg-runtime');
    mkdirSync(xdg, { mode: 0o700 });
    process.env.XDG_RUNTIME_DIR = xdg;
    keep.add(xdg);
    keep.add(join(xdg, 'winpipe'));
  }
  return () => {
    const left = leftovers(run, keep).map((p) => relative(run, p));
    rmSync(run, { recursive: true, force: true });
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    if (left.length > 0) {
      // A throw here is only printed ("error during close"); the exit status must say it too.
      process.exitCode = 1;
      throw new Error(`the test run left ${left.length} thing(s) behind in its TMPDIR (removed now):\n  ${left.join('\n  ')}`);
    }
  };
}
