// Shared helpers for scripts/test.mjs and scripts/wine.mjs. Node built-ins only, no shell.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** `$XDG_CACHE_HOME/winpipe-wine` or `~/.cache/winpipe-wine`: outside the repo, survives a fresh clone. */
export function cacheDir() {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  const dir = path.join(base, 'winpipe-wine');
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * Take a lock file holding our pid; a dead holder's lock is taken over. Waits (saying so once,
 * with `what`) while a live process holds it. Resolves with a function that releases it; it is
 * also released when the process exits.
 */
export async function acquireLock(file, what) {
  let said = false;
  for (;;) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      const release = () => {
        try {
          if (fs.readFileSync(file, 'utf8') === String(process.pid)) fs.rmSync(file);
        } catch {
          /* gone */
        }
        process.off('exit', release);
      };
      process.on('exit', release);
      return release;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
    }
    let holder = NaN;
    try {
      holder = Number(fs.readFileSync(file, 'utf8'));
    } catch {
      continue; // released between our two calls
    }
    let alive = false;
    if (holder > 0) {
      try {
        process.kill(holder, 0);
        alive = true;
      } catch (err) {
        alive = err.code === 'EPERM';
      }
    }
    if (!alive) {
      // A pid of 0 or garbage is a lock written half: only its writer can still be about to finish it.
      if (!(holder > 0) && Date.now() - fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs < 5000) {
        await sleep(200);
        continue;
      }
      fs.rmSync(file, { force: true });
      continue;
    }
    if (!said) log(`${what}: waiting for pid ${holder} (${file})`);
    said = true;
    await sleep(1000);
  }
}

export function log(msg) {
  process.stdout.write(`${msg}\n`);
}

export class ScriptError extends Error {}

/** `[command, ...prefixArgs]` that runs npm without a shell, on any OS. */
export function npmCommand() {
  const fromEnv = process.env.npm_execpath;
  if (fromEnv && path.basename(fromEnv) === 'npm-cli.js' && fs.existsSync(fromEnv)) {
    return [process.execPath, fromEnv];
  }
  const dir = path.dirname(process.execPath);
  for (const cli of [
    path.join(dir, 'node_modules', 'npm', 'bin', 'npm-cli.js'), // Windows layout
    path.join(dir, '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js'), // POSIX layout
  ]) {
    if (fs.existsSync(cli)) return [process.execPath, cli];
  }
  return ['npm'];
}

/**
 * Run a command synchronously; stdio inherited unless `capture`. Throws a ScriptError on a
 * non-zero exit unless `allowFail`. Returns the spawnSync result.
 */
export function run(cmd, args, { cwd = repoRoot, env = process.env, capture = false, allowFail = false, timeout } = {}) {
  const res = spawnSync(cmd, args, {
    cwd,
    env,
    stdio: capture ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'inherit', 'inherit'],
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    timeout,
    // npm.cmd fallback on Windows only; every other call is an argv array without a shell.
    shell: process.platform === 'win32' && cmd === 'npm',
  });
  if (res.error && !allowFail) throw new ScriptError(`${cmd} ${args.join(' ')}: ${res.error.message}`);
  if (res.status !== 0 && !allowFail) {
    const tail = capture ? `\n${(res.stderr || '').trim().split('\n').slice(-20).join('\n')}` : '';
    throw new ScriptError(`${path.basename(cmd)} ${args.join(' ')} exited with ${res.status ?? res.signal}${tail}`);
  }
  return res;
}

export function npm(args, opts = {}) {
  const [cmd, ...pre] = npmCommand();
  return run(cmd, [...pre, ...args], opts);
}

export function sha256(...parts) {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

export function fileSha256(file) {
  return sha256(fs.readFileSync(file));
}

/** Is `name` an executable on PATH, or in one of `moreDirs` after it? (POSIX only; used to find `wine`.) */
export function onPath(name, moreDirs = []) {
  for (const dir of [...(process.env.PATH || '').split(path.delimiter), ...moreDirs]) {
    if (!dir) continue;
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      /* not here */
    }
  }
  return null;
}

/** `/x/y` -> `Z:\x\y` (Wine maps the Unix root to drive Z:). */
export function toWinePath(p) {
  return `Z:${path.resolve(p).replaceAll('/', '\\')}`;
}

/**
 * `npm run build` (skipped with a warning when scripts/build.mjs does not exist yet), then
 * `npm pack` into a temporary folder. Returns the tarball path, or null when skipped.
 * `WINPIPE_TGZ` (set by scripts/test.mjs for its wine.mjs child) reuses a tarball already made.
 */
export function buildAndPack() {
  const reuse = process.env.WINPIPE_TGZ;
  if (reuse && fs.existsSync(reuse)) return reuse;
  if (!fs.existsSync(path.join(repoRoot, 'scripts', 'build.mjs'))) {
    log('warning: scripts/build.mjs does not exist yet; skipping the packed-tarball install (WINPIPE_PACKED_DIR unset)');
    return null;
  }
  log('pack: npm run build');
  npm(['run', 'build', '--silent'], { cwd: repoRoot });
  const dest = fs.mkdtempSync(path.join(os.tmpdir(), 'winpipe-pack-'));
  // --ignore-scripts: `prepare` (the build, for git installs) has just run as `npm run build`.
  const res = npm(['pack', '--json', '--ignore-scripts', '--pack-destination', dest], { cwd: repoRoot, capture: true });
  const info = JSON.parse(res.stdout.slice(res.stdout.indexOf('[')));
  const tgz = path.join(dest, info[0].filename);
  if (!fs.existsSync(tgz)) throw new ScriptError(`npm pack did not produce ${tgz}`);
  log(`pack: ${path.basename(tgz)} (${info[0].entryCount} files)`);
  return tgz;
}

/** Remove a tarball made by buildAndPack (not one passed in through WINPIPE_TGZ). */
export function discardPack(tgz) {
  if (!tgz || tgz === process.env.WINPIPE_TGZ) return;
  const dir = path.dirname(tgz);
  if (path.basename(dir).startsWith('winpipe-pack-')) fs.rmSync(dir, { recursive: true, force: true });
}

/**
 * Install `tgz` into `dir` (a `{"private":true}` project), for the host or with
 * `--os=win32 --cpu=x64`. Skipped when the same tarball is already installed there.
 */
export function installPacked(tgz, dir, { win32 = false } = {}) {
  const stamp = path.join(dir, '.installed-sha256');
  const digest = `${fileSha256(tgz)}${win32 ? ' win32' : ''}`;
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === digest && fs.existsSync(path.join(dir, 'node_modules', 'winpipe'))) {
    return dir;
  }
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'package.json'), '{"private":true}\n');
  // Copy the tarball in: package.json then records a stable relative path.
  const local = path.join(dir, 'winpipe.tgz');
  fs.copyFileSync(tgz, local);
  const platform = win32 ? ['--os=win32', '--cpu=x64', '--ignore-scripts'] : [];
  log(`pack: npm install ${win32 ? '--os=win32 --cpu=x64 ' : ''}winpipe.tgz in ${dir}`);
  npm(['install', ...platform, '--no-audit', '--no-fund', '--loglevel=error', './winpipe.tgz'], { cwd: dir });
  if (win32 && !fs.existsSync(path.join(dir, 'node_modules', '@koromix', 'koffi-win32-x64'))) {
    throw new ScriptError(`${dir}: npm did not install @koromix/koffi-win32-x64`);
  }
  fs.writeFileSync(stamp, digest);
  return dir;
}

/**
 * Counts from a vitest JSON report. A test file that failed without a failed test (an import
 * error, a crash in a hook) counts as one failure; so does a non-zero exit with nothing failed.
 */
export function countsFromReport(reportFile, exitCode) {
  const notes = [];
  let report;
  try {
    report = JSON.parse(fs.readFileSync(reportFile, 'utf8'));
  } catch {
    notes.push(`no JSON report (exit code ${exitCode}); counted as 1 failed`);
    return { passed: 0, failed: 1, skipped: 0, notes, crashed: true };
  }
  const passed = report.numPassedTests ?? 0;
  let failed = report.numFailedTests ?? 0;
  const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  for (const file of report.testResults ?? []) {
    const failedInFile = (file.assertionResults ?? []).filter((a) => a.status === 'failed').length;
    if (file.status === 'failed' && failedInFile === 0) {
      failed += 1;
      const name = String(file.name).replaceAll('\\', '/');
      const shown = name.includes('/test/') ? name.slice(name.lastIndexOf('/test/') + 1) : name;
      notes.push(`${shown}: the file failed outside any test; counted as 1 failed`);
    }
  }
  if (exitCode !== 0 && failed === 0) {
    failed = 1;
    notes.push(
      `vitest exited with code ${exitCode} although no test failed (no test files? an unhandled error? something left in the run's TMPDIR, see test/helpers/global-setup.ts?); counted as 1 failed`,
    );
  }
  return { passed, failed, skipped, notes, crashed: false };
}

export function countsLine(label, c) {
  return `${label}: ${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped`;
}
