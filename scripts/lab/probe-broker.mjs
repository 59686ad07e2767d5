#!/usr/bin/env node
// Can a child get exactly one handle while this process never holds an inheritable one? The
// broker design (docs/decisions/windows-spawn-broker.md): the handle is duplicated (inheritable)
// into a broker process, and the child is created with PROC_THREAD_ATTRIBUTE_PARENT_PROCESS = the
// broker and PROC_THREAD_ATTRIBUTE_HANDLE_LIST naming the broker's copy. A concurrent CreateProcessW with
// bInheritHandles=TRUE in this process (what libuv does) then has nothing of ours to inherit.
//
//   node scripts/wine.mjs exec scripts/lab/probe-broker.mjs     (under Wine)
//   node scripts/lab/probe-broker.mjs                           (on Windows)
//
// Needs test/fixtures/bin/writefile.exe (scripts/wine.mjs builds it). Prints one JSON line:
// - suspendedBroker: a fresh suspended process as the broker (terminated after the spawn);
// - reusedBroker: one broker for two children, its copy closed with DUPLICATE_CLOSE_SOURCE between;
// - inheritedByPlainSpawn: pipes a plain child_process.spawn child found while the broker held the copy;
// - eof: the reader sees end of file once the children are gone (no copy leaked anywhere);
// - works: all of that holds.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';

if (process.platform !== 'win32') {
  console.log('probe-broker: Windows only (run it under Wine with scripts/wine.mjs exec)');
  process.exit(0);
}
const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const exe = path.join(root, 'test', 'fixtures', 'bin', 'writefile.exe');
if (!fs.existsSync(exe)) {
  console.log(`probe-broker: ${exe} is missing (build test/fixtures/writefile.c with x86_64-w64-mingw32-gcc)`);
  process.exit(1);
}

const k = koffi.load('kernel32.dll');
const CreatePipe = k.func('bool __stdcall CreatePipe(_Out_ void **r, _Out_ void **w, void *sa, uint32_t size)');
const DuplicateHandle = k.func('bool __stdcall DuplicateHandle(void *sp, void *h, void *tp, _Out_ void **out, uint32_t access, bool inherit, uint32_t opts)');
const GetCurrentProcess = k.func('void * __stdcall GetCurrentProcess()');
const CloseHandle = k.func('bool __stdcall CloseHandle(void *h)');
const GetLastError = k.func('uint32_t __stdcall GetLastError()');
const InitializeProcThreadAttributeList = k.func('bool __stdcall InitializeProcThreadAttributeList(void *list, uint32_t count, uint32_t flags, _Inout_ uint64_t *size)');
const UpdateProcThreadAttribute = k.func('bool __stdcall UpdateProcThreadAttribute(void *list, uint32_t flags, uint64_t attr, void *value, uint64_t size, void *prev, void *retSize)');
const DeleteProcThreadAttributeList = k.func('void __stdcall DeleteProcThreadAttributeList(void *list)');
const CreateProcessW = k.func(
  'bool __stdcall CreateProcessW(const char16_t *app, char16_t *cmd, void *pa, void *ta, bool inherit, uint32_t flags, void *env, const char16_t *cwd, void *si, void *pi)',
);
const TerminateProcess = k.func('bool __stdcall TerminateProcess(void *h, uint32_t code)');
const WaitForSingleObject = k.func('uint32_t __stdcall WaitForSingleObject(void *h, uint32_t ms)');
const GetExitCodeProcess = k.func('bool __stdcall GetExitCodeProcess(void *h, _Out_ uint32_t *code)');
const ReadFile = k.func('bool __stdcall ReadFile(void *h, void *buf, uint32_t n, _Out_ uint32_t *read, void *ov)');

const PROC_THREAD_ATTRIBUTE_PARENT_PROCESS = 0x20000n;
const PROC_THREAD_ATTRIBUTE_HANDLE_LIST = 0x20002n;
const EXTENDED_STARTUPINFO_PRESENT = 0x80000;
const CREATE_SUSPENDED = 0x4;
const CREATE_NO_WINDOW = 0x08000000;
const self = GetCurrentProcess();
const addr = (h) => (typeof h === 'bigint' ? h : koffi.address(h));

function create(cmd, { inherit = false, flags = 0, list = null } = {}) {
  const si = Buffer.alloc(112);
  si.writeUInt32LE(list ? 112 : 104, 0);
  if (list) si.writeBigUInt64LE(addr(list), 104);
  const pi = Buffer.alloc(24);
  const ok = CreateProcessW(null, Buffer.from(`${cmd}\0`, 'utf16le'), null, null, inherit, flags | CREATE_NO_WINDOW | (list ? EXTENDED_STARTUPINFO_PRESENT : 0), null, null, si, pi);
  if (!ok) return { error: GetLastError() };
  return { process: koffi.decode(pi, 'void *'), thread: koffi.decode(pi, 8, 'void *'), pid: pi.readUInt32LE(16) };
}

function broker() {
  const b = create(`"${exe}" broker x 0`, { flags: CREATE_SUSPENDED });
  if (b.error) throw new Error(`broker CreateProcessW ${b.error}`);
  return b;
}

/** Child created from `brokerProc` with the broker's copy `value` as its only inherited handle. */
function childVia(brokerProc, value, text) {
  const size = [0n];
  InitializeProcThreadAttributeList(null, 2, 0, size);
  const list = koffi.alloc('uint8_t', Number(size[0]));
  if (!InitializeProcThreadAttributeList(list, 2, 0, size)) throw new Error(`InitializeProcThreadAttributeList ${GetLastError()}`);
  const parent = koffi.alloc('void *', 1);
  koffi.encode(parent, 'void *', brokerProc);
  const handles = koffi.alloc('void *', 1);
  koffi.encode(handles, 'void *', value);
  const r = { parentSet: UpdateProcThreadAttribute(list, 0, PROC_THREAD_ATTRIBUTE_PARENT_PROCESS, parent, 8n, null, null) || GetLastError() };
  r.listSet = UpdateProcThreadAttribute(list, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, handles, 8n, null, null) || GetLastError();
  const c = create(`"${exe}" ${addr(value)} ${text}`, { inherit: true, list });
  DeleteProcThreadAttributeList(list);
  if (c.error) return { ...r, created: false, error: c.error };
  WaitForSingleObject(c.process, 30_000);
  const code = [0];
  GetExitCodeProcess(c.process, code);
  CloseHandle(c.thread);
  CloseHandle(c.process);
  return { ...r, created: true, exitCode: code[0] };
}

function toBroker(b, h) {
  const out = [null];
  if (!DuplicateHandle(self, h, b.process, out, 0, true, 2)) throw new Error(`DuplicateHandle into broker ${GetLastError()}`);
  return out[0];
}

const r = [null];
const w = [null];
if (!CreatePipe(r, w, null, 0)) throw new Error(`CreatePipe ${GetLastError()}`);

// 1. A fresh suspended broker per spawn.
const t0 = performance.now();
const b1 = broker();
const v1 = toBroker(b1, w[0]);
// While the broker holds the inheritable copy, a plain spawn from this process finds no pipe of ours.
const scan = spawnSync(exe, ['scan', 'LEAK'], { stdio: 'ignore', windowsHide: true });
const suspendedBroker = childVia(b1.process, v1, 'one');
TerminateProcess(b1.process, 0);
WaitForSingleObject(b1.process, 30_000);
CloseHandle(b1.thread);
CloseHandle(b1.process);
const perSpawnMs = performance.now() - t0;

// 2. One broker, two children; its copy closed in between.
const b2 = broker();
const v2 = toBroker(b2, w[0]);
const first = childVia(b2.process, v2, 'two');
const closed = DuplicateHandle(b2.process, v2, null, [null], 0, false, 1 /* DUPLICATE_CLOSE_SOURCE */) || GetLastError();
const v3 = toBroker(b2, w[0]);
const second = childVia(b2.process, v3, 'three');
DuplicateHandle(b2.process, v3, null, [null], 0, false, 1);
const t1 = performance.now();
const v4 = toBroker(b2, w[0]);
childVia(b2.process, v4, '');
DuplicateHandle(b2.process, v4, null, [null], 0, false, 1);
const reusedSpawnMs = performance.now() - t1;
TerminateProcess(b2.process, 0);
CloseHandle(b2.thread);
CloseHandle(b2.process);

CloseHandle(w[0]);
const buf = Buffer.alloc(256);
let text = '';
const n = [0];
while (ReadFile(r[0], buf, buf.length, n, null) && n[0] > 0) text += buf.subarray(0, n[0]).toString();
const eofError = GetLastError();
CloseHandle(r[0]);

const result = {
  wine: (() => {
    try {
      return koffi.load('ntdll.dll').func('const char *wine_get_version()')();
    } catch {
      return null;
    }
  })(),
  suspendedBroker,
  reusedBroker: { first, closedInBroker: closed, second },
  inheritedByPlainSpawn: scan.status,
  text,
  eof: eofError === 109 /* ERROR_BROKEN_PIPE */,
  perSpawnMs: Math.round(perSpawnMs),
  reusedSpawnMs: Math.round(reusedSpawnMs),
};
result.works = suspendedBroker.exitCode === 0 && first.exitCode === 0 && second.exitCode === 0 && scan.status === 0 && text === 'onetwothree' && result.eof;
console.log(JSON.stringify(result));
