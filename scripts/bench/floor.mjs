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

/**
 * The B4 row "C floor": `count` messages of `size` bytes through one client. Its target is the
 * issue's: ours ≥ 0.8× the floor. The exe prints one JSON line { ok, count, bytes, seconds }.
 */
export function messageFloorRow(count, size) {
  const exe = messageFloorExe();
  const base = { peer: 'c-floor', label: 'C floor: sync message-mode WriteFile/ReadFile, 1 client, 1 process', role: 'peer', target: { op: '>=', ratio: 0.8 } };
  return exe.ok ? { ...base, cmd: exe.path, args: [String(count), String(size)] } : { ...base, status: 'n/a', reason: exe.reason };
}
