// The Wine 10 bed: Debian 13's Wine in a chroot the project builds itself, used by scripts/wine.mjs.
// See docs/wine.md ("The Wine 10 bed"). Node built-ins only, argv arrays only; the one shell
// snippet (REAPER) is a fixed string that takes its arguments as "$@".
//
// Debian 12's Wine 8 cannot start node.exe 24 or later; Debian 13 packages Wine 10, which runs
// node.exe 22, 24 and 26. It is installed beside the host, never into it:
//   <cache>/bed-trixie/root       `debootstrap --variant=minbase trixie` + `apt-get install wine64 wine`
//   <cache>/bed-trixie/bed.json   written last: its presence says the bed is complete
//   <cache>/bed-trixie/provision.log
// Every process that uses it runs in a private mount and PID namespace (`unshare`), where the
// folders the tests need are bind-mounted into the root. Such a mount exists only in that
// namespace and ends with it; the namespace ends when its first process dies, and that process is
// killed when its parent dies (`setpriv --pdeathsig`, `unshare --kill-child`), so neither a mount
// nor a Wine process outlives the run, even after a timeout or a kill -9 of the runner.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ScriptError, log, onPath, repoRoot } from './lib.mjs';

export const BED_SUITE = 'trixie';
const BED_PACKAGES = ['wine64', 'wine'];
/** Bumped when the recipe changes: a bed made by another recipe is made again. */
const BED_RECIPE = 1;

/** Node majors verified to start under the bed's Wine 10 (22.23.3, 24.21.0, 26.10.0 were tried). */
export const BED_NODE_MAJORS = [22, 24, 26];
/** The newest LTS that starts under Wine 10: the Windows run's default node.exe on the bed. */
export const BED_DEFAULT_NODE_MAJOR = 26;

export function bedDir(cache) {
  return path.join(cache, `bed-${BED_SUITE}`);
}

/** A tool on PATH or in the sbin folders (chroot and debootstrap live there; a user's PATH may lack them). */
export function findTool(name) {
  return onPath(name, ['/usr/local/sbin', '/usr/sbin', '/sbin']);
}

/**
 * The argv prefix that runs a command in a fresh private mount and PID namespace, bound to our
 * life: setpriv makes unshare die with us (PR_SET_PDEATHSIG, which survives its exec of unshare),
 * unshare's --kill-child kills the namespace's first process when unshare dies, and when that
 * process dies the kernel kills every other process of the namespace. --mount-proc gives the
 * namespace a /proc of its own PIDs, which wineserver needs (it reads /proc/<pid>/ of its clients).
 */
function nsArgv() {
  return [findTool('setpriv'), '--pdeathsig', 'KILL', findTool('unshare'), '--mount', '--propagation', 'private', '--pid', '--fork', '--kill-child', '--mount-proc', '--'];
}

/**
 * The namespace's first process: runs "$@" and reaps every orphan while it waits (Wine double-forks
 * each Windows process, so finished ones would otherwise stay zombies, and PIDs are few: 32768
 * here). A signal sent to it is passed on to the command.
 */
const REAPER = '"$@" & child=$!; for s in INT TERM HUP; do trap "kill -$s $child 2>/dev/null" $s; done; while :; do wait $child; rc=$?; kill -0 $child 2>/dev/null || exit $rc; done';

/** The argv that runs `argv` in a new namespace (see nsArgv), with the reaper as its first process. */
export function inNamespace(argv) {
  return [...nsArgv(), '/bin/sh', '-c', REAPER, 'sh', ...argv];
}

/** Why the bed cannot be used on this machine, or null when it can. */
export function bedBlocker(cache) {
  if (process.platform !== 'linux' || process.arch !== 'x64') return `the bed needs x86-64 Linux (this is ${process.platform}-${process.arch})`;
  if (process.getuid() !== 0) return 'not root (debootstrap, chroot and mount namespaces need root)';
  for (const tool of ['setpriv', 'unshare', 'chroot', 'mount']) {
    if (!findTool(tool)) return `${tool} not found`;
  }
  if (!bedInfo(cache) && !findTool('debootstrap')) return 'debootstrap is not installed (apt-get install debootstrap)';
  const [ns, ...nsArgs] = nsArgv();
  const probe = spawnSync(ns, [...nsArgs, '/bin/true'], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', timeout: 30_000 });
  if (probe.status !== 0) return `a private mount namespace cannot be made here (unshare: ${(probe.stderr || probe.error?.message || `exit ${probe.status}`).trim().split('\n').at(-1)})`;
  return null;
}

/** The finished bed's record ({ root, wine, ... }), or null while there is none. */
export function bedInfo(cache) {
  const dir = bedDir(cache);
  try {
    const info = JSON.parse(fs.readFileSync(path.join(dir, 'bed.json'), 'utf8'));
    if (info.recipe !== BED_RECIPE) return null;
    const root = path.join(dir, 'root');
    if (!fs.existsSync(path.join(root, 'usr', 'bin', 'wine'))) return null;
    return { ...info, root };
  } catch {
    return null;
  }
}

/**
 * Debian's registry as the host's apt sources name it (the first `.../debian` URI that is not
 * the security archive); deb.debian.org when they name none. WINPIPE_DEBIAN_MIRROR overrides.
 */
export function debianMirror() {
  if (process.env.WINPIPE_DEBIAN_MIRROR) return process.env.WINPIPE_DEBIAN_MIRROR;
  const files = ['/etc/apt/sources.list'];
  try {
    for (const f of fs.readdirSync('/etc/apt/sources.list.d')) if (/\.(list|sources)$/.test(f)) files.push(path.join('/etc/apt/sources.list.d', f));
  } catch {
    /* none */
  }
  for (const f of files) {
    let text;
    try {
      text = fs.readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      if (/^\s*#/.test(line)) continue;
      for (const m of line.matchAll(/\bhttps?:\/\/[^\s\]]+/g)) {
        const uri = m[0].replace(/\/+$/, '');
        if (/\/debian$/.test(uri)) return uri;
      }
    }
  }
  return 'http://deb.debian.org/debian';
}

/** Mount points at or under `dir` in our mount namespace (from /proc/self/mountinfo). */
function mountsUnder(dir) {
  const text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  // Field 5 is the mount point, with space, tab, newline and backslash written as \ooo.
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ')[4].replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8))))
    .filter((m) => m === dir || m.startsWith(`${dir}/`));
}

/** Delete a half-made root, but never through a mount (that would delete what it shows). */
function removeRoot(root) {
  if (!fs.existsSync(root)) return;
  const mounts = mountsUnder(root);
  if (mounts.length) {
    throw new ScriptError(`${root} has mounts in it (${mounts.slice(0, 3).join(', ')}): unmount them, then run again`);
  }
  fs.rmSync(root, { recursive: true, force: true });
}

/**
 * Run a slow command with its output in `logFile`, and one progress line every `everyMs` with
 * the elapsed time and the log's last line, so that a CI log shows it alive without thousands of
 * lines. On failure the log's tail is printed. Resolves with the seconds taken.
 */
async function slowStep(label, argv, logFile, { everyMs = 20_000, env = process.env } = {}) {
  const t0 = Date.now();
  log(`bed: ${label} (log: ${logFile})`);
  fs.appendFileSync(logFile, `\n### ${new Date().toISOString()} ${argv.join(' ')}\n`);
  const fd = fs.openSync(logFile, 'a');
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', fd, fd], env });
  fs.closeSync(fd);
  const lastLine = () => {
    try {
      const text = fs.readFileSync(logFile, 'utf8');
      return text.trimEnd().split('\n').at(-1).slice(0, 120);
    } catch {
      return '';
    }
  };
  const timer = setInterval(() => log(`bed: ${label}: ${Math.round((Date.now() - t0) / 1000)} s, ${lastLine()}`), everyMs);
  const code = await new Promise((resolve) => {
    child.on('error', (err) => resolve(err.message));
    child.on('exit', (c, s) => resolve(c ?? s));
  });
  clearInterval(timer);
  const secs = (Date.now() - t0) / 1000;
  if (code !== 0) {
    const tail = fs.readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-15).join('\n');
    throw new ScriptError(`bed: ${label} failed (${code}) after ${secs.toFixed(0)} s; the end of ${logFile}:\n${tail}`);
  }
  log(`bed: ${label}: done in ${secs.toFixed(0)} s`);
  return secs;
}

/** Copy a host file into the root when it differs, atomically (concurrent runs may copy it too). */
export function copyIntoRoot(root, file) {
  const dst = path.join(root, file);
  const bytes = fs.readFileSync(file);
  try {
    if (fs.readFileSync(dst).equals(bytes)) return;
  } catch {
    /* absent */
  }
  const tmp = `${dst}.winpipe-${process.pid}`;
  fs.writeFileSync(tmp, bytes);
  fs.renameSync(tmp, dst);
}

/** `chroot root argv` in a new namespace with /proc and /dev bound: for apt-get while provisioning. */
function chrootArgv(root, argv) {
  const script = 'set -e; r=$1; shift; mount --bind /proc "$r/proc"; mount --bind /dev "$r/dev"; exec chroot "$r" "$@"';
  return inNamespace(['/bin/sh', '-c', script, 'sh', root, ...argv]);
}

/**
 * Make the bed when it is missing or half made; a no-op (one stat) when it is complete. The
 * caller holds the bed lock. Throws a ScriptError when it cannot be made (no registry, ...).
 */
export async function ensureBed(cache) {
  const have = bedInfo(cache);
  if (have) return have;
  const dir = bedDir(cache);
  const root = path.join(dir, 'root');
  const logFile = path.join(dir, 'provision.log');
  fs.mkdirSync(dir, { recursive: true });
  fs.rmSync(path.join(dir, 'bed.json'), { force: true });
  if (fs.existsSync(root)) log(`bed: ${root} is incomplete (a run stopped while making it); making it again`);
  removeRoot(root);
  fs.writeFileSync(logFile, '');
  const mirror = debianMirror();
  const t0 = Date.now();
  log(`bed: making the Wine 10 bed: Debian ${BED_SUITE} (minbase) + ${BED_PACKAGES.join(' ')} from ${mirror}, one to a few minutes (most of it downloads) and 1.1 GB, once`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive', LC_ALL: 'C' };
  // debootstrap mounts /proc and /sys inside the root while it works: in our namespace, so a
  // killed debootstrap leaves no mount behind.
  const secsBootstrap = await slowStep(`debootstrap --variant=minbase ${BED_SUITE}`, inNamespace([findTool('debootstrap'), '--variant=minbase', BED_SUITE, root, mirror]), logFile, { env });
  copyIntoRoot(root, '/etc/resolv.conf');
  copyIntoRoot(root, '/etc/hosts');
  const apt = (args) => chrootArgv(root, ['/usr/bin/env', 'DEBIAN_FRONTEND=noninteractive', 'LC_ALL=C', 'apt-get', '-o', 'Dpkg::Use-Pty=0', ...args]);
  const secsUpdate = await slowStep('apt-get update (in the root)', apt(['update']), logFile, { env });
  const secsInstall = await slowStep(`apt-get install --no-install-recommends ${BED_PACKAGES.join(' ')} (in the root)`, apt(['install', '-y', '--no-install-recommends', ...BED_PACKAGES]), logFile, {
    env,
  });
  // The downloaded .debs and package lists are not needed to run: ~300 MB less on disk.
  await slowStep('apt-get clean (in the root)', apt(['clean']), logFile, { env });
  fs.rmSync(path.join(root, 'var', 'lib', 'apt', 'lists'), { recursive: true, force: true });
  fs.mkdirSync(path.join(root, 'var', 'lib', 'apt', 'lists', 'partial'), { recursive: true });
  const inRoot = (argv) => {
    const [cmd, ...args] = chrootArgv(root, argv);
    return spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });
  };
  const version = inRoot(['/usr/bin/wine', '--version']);
  const wine = (version.stdout || '').trim().split('\n').at(-1);
  if (version.status !== 0 || !/^wine-\d+/.test(wine)) throw new ScriptError(`bed: wine --version in the root answered ${JSON.stringify(version.stdout + version.stderr)}`);
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format, not a JavaScript template
  const dpkg = inRoot(['/usr/bin/dpkg-query', '-W', '-f', '${Version}', 'wine64']);
  const du = spawnSync('du', ['-sx', '--block-size=1M', root], { encoding: 'utf8' });
  const info = {
    recipe: BED_RECIPE,
    suite: BED_SUITE,
    packages: BED_PACKAGES,
    mirror,
    wine,
    wine64Package: (dpkg.stdout || '').trim(),
    madeAt: new Date().toISOString(),
    seconds: { debootstrap: Math.round(secsBootstrap), aptUpdate: Math.round(secsUpdate), aptInstall: Math.round(secsInstall), total: Math.round((Date.now() - t0) / 1000) },
    diskMiB: Number((du.stdout || '').split('\t')[0]) || null,
  };
  // Written last, atomically: its presence is what says the bed is complete.
  fs.writeFileSync(path.join(dir, 'bed.json.tmp'), `${JSON.stringify(info, null, 1)}\n`);
  fs.renameSync(path.join(dir, 'bed.json.tmp'), path.join(dir, 'bed.json'));
  log(`bed: ready: ${wine} (wine64 ${info.wine64Package}) in ${root}, ${info.diskMiB} MiB, made in ${info.seconds.total} s`);
  return { ...info, root };
}

/**
 * Inside the run's namespace: bind what the tests use into the root, at the same paths. /proc
 * (the namespace's own), /dev, /dev/shm and /tmp; the cache (node.exe, the shared stage); and the
 * checkout (the prefix, the per-checkout stage, the packed tarball). `extra` is a list of
 * [source, target] binds made first, on the host side of the namespace (the checkout's bind is
 * recursive, so it carries them in). The host's /etc/hosts is copied in: without it `localhost`
 * does not resolve and vitest stops at start-up.
 */
export function mountBed(root, cache, extra = []) {
  const mount = findTool('mount');
  const bind = (src, dst, opts = []) => {
    fs.mkdirSync(dst, { recursive: true });
    const r = spawnSync(mount, [...opts, src, dst], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    if (r.status !== 0) throw new ScriptError(`mount ${[...opts, src, dst].join(' ')}: ${(r.stderr || '').trim()}`);
  };
  for (const [src, dst, ro] of extra) bind(src, dst, ro ? ['-o', 'bind,ro'] : ['--bind']);
  bind('/proc', path.join(root, 'proc'), ['--bind']);
  bind('/dev', path.join(root, 'dev'), ['--bind']);
  bind('/dev/shm', path.join(root, 'dev', 'shm'), ['--bind']);
  bind('/tmp', path.join(root, 'tmp'), ['--bind']);
  bind(cache, path.join(root, cache), ['--bind']);
  bind(repoRoot, path.join(root, repoRoot), ['--rbind']);
  copyIntoRoot(root, '/etc/hosts');
}

/** argv that runs a Wine program (`wine`, `wineserver`, ...) of the root in `cwd`, inside the namespace. */
export function bedWineArgv(root, program, args, cwd) {
  // env -C: chroot starts in /; coreutils 9 (trixie) changes to the caller's folder first.
  return [findTool('chroot'), root, '/usr/bin/env', '-C', cwd, program, ...args];
}
