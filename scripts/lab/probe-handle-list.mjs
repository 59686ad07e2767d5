#!/usr/bin/env node
// Does this Windows (or Wine) honour PROC_THREAD_ATTRIBUTE_HANDLE_LIST? The exact way to give one
// child one handle: CreateProcessW with bInheritHandles=TRUE and an attribute list naming the only
// handles the child may inherit.
//
//   node scripts/wine.mjs exec scripts/lab/probe-handle-list.mjs     (under Wine)
//   node scripts/lab/probe-handle-list.mjs                           (on Windows)
//
// Needs test/fixtures/bin/writefile.exe (x86_64-w64-mingw32-gcc -o test/fixtures/bin/writefile.exe
// test/fixtures/writefile.c). Two inheritable pipe write ends exist; only the first is in the list.
// The same child program is started once for each, with the handle value on its command line.
// Prints one JSON line: honoured = the listed handle works in its child and the unlisted one does not.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';

if (process.platform !== 'win32') {
  console.log('probe-handle-list: Windows only (run it under Wine with scripts/wine.mjs exec)');
  process.exit(0);
}
const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const exe = path.join(root, 'test', 'fixtures', 'bin', 'writefile.exe');
if (!fs.existsSync(exe)) {
  console.log(`probe-handle-list: ${exe} is missing (build test/fixtures/writefile.c with x86_64-w64-mingw32-gcc)`);
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
const WaitForSingleObject = k.func('uint32_t __stdcall WaitForSingleObject(void *h, uint32_t ms)');
const GetExitCodeProcess = k.func('bool __stdcall GetExitCodeProcess(void *h, _Out_ uint32_t *code)');
const PeekNamedPipe = k.func('bool __stdcall PeekNamedPipe(void *h, void *buf, uint32_t size, void *read, _Out_ uint32_t *avail, void *left)');

const PROC_THREAD_ATTRIBUTE_HANDLE_LIST = 0x20002n;
const EXTENDED_STARTUPINFO_PRESENT = 0x80000;
const CREATE_NO_WINDOW = 0x08000000;
const self = GetCurrentProcess();

function inheritablePipe() {
  const r = [null];
  const w = [null];
  if (!CreatePipe(r, w, null, 0)) throw new Error(`CreatePipe ${GetLastError()}`);
  const dup = [null];
  // A fresh inheritable duplicate of the write end; the original stays non-inheritable.
  if (!DuplicateHandle(self, w[0], self, dup, 0, true, 2)) throw new Error(`DuplicateHandle ${GetLastError()}`);
  CloseHandle(w[0]);
  return { reader: r[0], writer: dup[0] };
}

const listed = inheritablePipe();
const unlisted = inheritablePipe();

const size = [0n];
InitializeProcThreadAttributeList(null, 1, 0, size);
const list = koffi.alloc('uint8_t', Number(size[0]));
if (!InitializeProcThreadAttributeList(list, 1, 0, size)) throw new Error(`InitializeProcThreadAttributeList ${GetLastError()}`);
const handles = koffi.alloc('void *', 1);
koffi.encode(handles, 'void *', listed.writer);
if (!UpdateProcThreadAttribute(list, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, handles, 8n, null, null)) {
  throw new Error(`UpdateProcThreadAttribute ${GetLastError()}`);
}

function handleValue(h) {
  return koffi.address(h).toString();
}

function run(handle, message) {
  // STARTUPINFOEXW (x64): STARTUPINFOW is 104 bytes, then lpAttributeList.
  const si = Buffer.alloc(112);
  si.writeUInt32LE(112, 0);
  si.writeBigUInt64LE(koffi.address(list), 104);
  const pi = Buffer.alloc(24);
  const cmd = `"${exe}" ${handleValue(handle)} ${message}\0`;
  const ok = CreateProcessW(null, Buffer.from(cmd, 'utf16le'), null, null, true, EXTENDED_STARTUPINFO_PRESENT | CREATE_NO_WINDOW, null, null, si, pi);
  if (!ok) return { created: false, error: GetLastError() };
  const hProcess = koffi.decode(pi, 'void *');
  const hThread = koffi.decode(pi, 8, 'void *');
  WaitForSingleObject(hProcess, 30_000);
  const code = [0];
  GetExitCodeProcess(hProcess, code);
  CloseHandle(hThread);
  CloseHandle(hProcess);
  return { created: true, exitCode: code[0] };
}

const a = run(listed.writer, 'listed');
const b = run(unlisted.writer, 'unlisted');
DeleteProcThreadAttributeList(list);
const avail = (reader) => {
  const n = [0];
  return PeekNamedPipe(reader, null, 0, null, n, null) ? n[0] : -1;
};
const result = {
  wine: (() => {
    try {
      return koffi.load('ntdll.dll').func('const char *wine_get_version()')();
    } catch {
      return null;
    }
  })(),
  listedChild: { ...a, bytesArrived: avail(listed.reader) },
  unlistedChild: { ...b, bytesArrived: avail(unlisted.reader) },
};
result.honoured = a.exitCode === 0 && result.listedChild.bytesArrived > 0 && b.exitCode !== 0 && result.unlistedChild.bytesArrived === 0;
console.log(JSON.stringify(result));
for (const h of [listed.reader, listed.writer, unlisted.reader, unlisted.writer]) CloseHandle(h);
