// The C message-mode floor of B4 on the Windows path: test/fixtures/msg-floor.c, built with mingw
// as the test fixtures are (scripts/wine.mjs buildWindowsFixtures; on Windows build it the same way
// with x86_64-w64-mingw32-gcc or any C compiler into test/fixtures/bin/msg-floor.exe).
// One process, one client, a one-way flood of synchronous message-mode WriteFile / ReadFile: the
// most the platform (under Wine: wineserver) gives for these messages.
//
// Self-contained so that it moves with the B4 case: messageFloorRow() returns a bench row.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The floor exe, or why there is none. */
export function messageFloorExe() {
  if (process.platform !== 'win32') return { ok: false, reason: 'the message-mode floor is Windows only' };
  const exe = path.join(root, 'test', 'fixtures', 'bin', 'msg-floor.exe');
  if (!fs.existsSync(exe)) return { ok: false, reason: 'test/fixtures/bin/msg-floor.exe not built (x86_64-w64-mingw32-gcc missing)' };
  return { ok: true, path: exe };
}

/** How many trials one floor run times (the exe reports the median trial; see msg-floor.c). */
export const FLOOR_TRIALS = 5;

/**
 * The B4 row "C floor": `count` messages of `size` bytes through one client, in FLOOR_TRIALS
 * trials. Its target: ours ≥ 0.8× the floor (BENCHMARKS.md, "Targets, Wine"). The exe prints one JSON line
 * { ok, count, bytes, seconds, trialRates }.
 *
 * One floor per run: every B4 point gets this row with the same `shared` key, and the runner
 * (scripts/bench.mjs measure) times it only in the first point, interleaved with that point's
 * peers, then reuses those runs, so every point's ratio is against the same median. `count`
 * must therefore not depend on the point (it used to be clients × messages, and each point timed
 * its own floor: four different floors in one run).
 */
export function messageFloorRow(count, size) {
  const exe = messageFloorExe();
  const base = { peer: 'c-floor', label: 'C floor: sync message-mode WriteFile/ReadFile, 1 client, 1 process', role: 'peer', shared: `c-floor-${count}-${size}`, target: { op: '>=', ratio: 0.8 } };
  return exe.ok ? { ...base, cmd: exe.path, args: [String(count), String(size), String(FLOOR_TRIALS)] } : { ...base, status: 'n/a', reason: exe.reason };
}
