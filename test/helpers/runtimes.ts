// Peers and runtimes fetched into the user's cache on first use (scripts/runtimes.mjs): execa 10
// (Node >= 22), Deno and Bun.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { execa10Dir, runtimeBinary, unavailable } from '../../scripts/runtimes.mjs';

const nodeMajor = Number(process.versions.node.split('.')[0]);

/** Why execa 10 cannot be tested here, or null. */
export const execa10Skip: string | null = nodeMajor >= 22 ? null : `execa 10 needs Node >= 22; this is Node ${process.versions.node}`;

/** execa@10's `execa`, fetched on first use; only call it where {@link execa10Skip} is null. */
export async function execa10(): Promise<typeof import('execa').execa> {
  const dir = execa10Dir() as string;
  const mod = (await import(pathToFileURL(join(dir, 'node_modules', 'execa', 'index.js')).href)) as typeof import('execa');
  return mod.execa;
}

/** Why `name` cannot run here, or null. */
export function runtimeSkip(name: 'deno' | 'bun'): string | null {
  return unavailable(name) as string | null;
}

/** The runtime's binary, fetched on first use. */
export function runtime(name: 'deno' | 'bun'): string {
  return runtimeBinary(name) as string;
}
