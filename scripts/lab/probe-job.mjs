#!/usr/bin/env node
// What spawnWithHandles' killOnClose and adoptEnd rely on, probed on the Windows path:
//
//   node scripts/wine.mjs exec scripts/lab/probe-job.mjs     (under Wine)
//   node scripts/lab/probe-job.mjs                           (on Windows)
//
// Needs test/fixtures/bin/handles.exe (scripts/wine.mjs builds it). Prints one JSON object:
// - wine: ntdll's wine_get_version, or null on Windows;
// - job: CreateJobObjectW + SetInformationJobObject(KILL_ON_JOB_CLOSE | BREAKAWAY_OK) work;
// - brokerAssigned: a suspended broker can be put in the job (AssignProcessToJobObject);
// - childInheritsJobFromBroker: a child created with PROC_THREAD_ATTRIBUTE_PARENT_PROCESS = that
//   broker is in the job from creation (IsProcessInJob while still suspended);
// - assignSuspendedChild: the fallback, assigning a suspended child, works;
// - jobListAttribute: PROC_THREAD_ATTRIBUTE_JOB_LIST is accepted, and a child made with it is in the job;
// - nested: a spawn child (in libuv's job) put in a fresh job, then in `job`, which already held
//   processes of its own: Wine 8 refuses the second (ERROR_ACCESS_DENIED), as Windows does when the
//   jobs cannot form a tree. A fresh job nests (test/spawn-kill-on-close.test.ts, both levels);
// - killOnClose: a child in the job of a process that is then terminated is gone, and how fast (ms);
// - pipeInfo: FilePipeLocalInformation (configuration, end), FileModeInformation and
//   FileAccessInformation of CreatePipe's
//   ends and of an overlapped named pipe's ends; what GetFileType / NtQueryInformationFile say of a
//   file handle and of a closed value.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';

if (process.platform !== 'win32') {
  console.log('probe-job: Windows only (run it under Wine with scripts/wine.mjs exec)');
  process.exit(0);
}
const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const exe = path.join(root, 'test', 'fixtures', 'bin', 'handles.exe');

const k = koffi.load('kernel32.dll');
const nt = koffi.load('ntdll.dll');
const f = (lib, proto) => lib.func(proto);
const CloseHandle = f(k, 'bool __stdcall CloseHandle(void *h)');
const GetLastError = f(k, 'uint32_t __stdcall GetLastError()');
const InitializeProcThreadAttributeList = f(k, 'bool __stdcall InitializeProcThreadAttributeList(void *list, uint32_t count, uint32_t flags, _Inout_ uint64_t *size)');
const UpdateProcThreadAttribute = f(k, 'bool __stdcall UpdateProcThreadAttribute(void *list, uint32_t flags, uint64_t attr, void *value, uint64_t size, void *prev, void *retSize)');
const DeleteProcThreadAttributeList = f(k, 'void __stdcall DeleteProcThreadAttributeList(void *list)');
const CreateProcessW = f(k, 'bool __stdcall CreateProcessW(const char16_t *app, char16_t *cmd, void *pa, void *ta, bool inherit, uint32_t flags, void *env, const char16_t *cwd, void *si, void *pi)');
const TerminateProcess = f(k, 'bool __stdcall TerminateProcess(void *h, uint32_t code)');
const WaitForSingleObject = f(k, 'uint32_t __stdcall WaitForSingleObject(void *h, uint32_t ms)');
const ResumeThread = f(k, 'uint32_t __stdcall ResumeThread(void *h)');
const OpenProcess = f(k, 'void * __stdcall OpenProcess(uint32_t access, bool inherit, uint32_t pid)');
const CreateJobObjectW = f(k, 'void * __stdcall CreateJobObjectW(void *sa, const char16_t *name)');
const SetInformationJobObject = f(k, 'bool __stdcall SetInformationJobObject(void *job, int cls, void *info, uint32_t len)');
const AssignProcessToJobObject = f(k, 'bool __stdcall AssignProcessToJobObject(void *job, void *process)');
const IsProcessInJob = f(k, 'bool __stdcall IsProcessInJob(void *process, void *job, _Out_ int *result)');
const CreatePipe = f(k, 'bool __stdcall CreatePipe(_Out_ void **r, _Out_ void **w, void *sa, uint32_t size)');
const CreateNamedPipeW = f(k, 'void * __stdcall CreateNamedPipeW(const char16_t *name, uint32_t open, uint32_t mode, uint32_t max, uint32_t out, uint32_t in, uint32_t timeout, void *sa)');
const CreateFileW = f(k, 'void * __stdcall CreateFileW(const char16_t *name, uint32_t access, uint32_t share, void *sa, uint32_t disp, uint32_t flags, void *tmpl)');
const GetFileType = f(k, 'uint32_t __stdcall GetFileType(void *h)');
const GetHandleInformation = f(k, 'bool __stdcall GetHandleInformation(void *h, _Out_ uint32_t *flags)');
const NtQueryInformationFile = f(nt, 'int32_t __stdcall NtQueryInformationFile(void *h, _Out_ uint8_t *iosb, _Out_ uint8_t *info, uint32_t len, int cls)');

const PARENT_PROCESS = 0x20000n;
const JOB_LIST = 0x2000dn;
const EXTENDED_STARTUPINFO_PRESENT = 0x80000;
const CREATE_SUSPENDED = 0x4;
const CREATE_NO_WINDOW = 0x08000000;
const KILL_ON_JOB_CLOSE = 0x2000;
const BREAKAWAY_OK = 0x800;
const addr = (h) => (h === null ? 0n : typeof h === 'bigint' ? h : koffi.address(h));

function makeJob() {
  const job = CreateJobObjectW(null, null);
  if (!job) return { error: GetLastError() };
  // JOBOBJECT_EXTENDED_LIMIT_INFORMATION: 144 bytes; LimitFlags at 16.
  const info = Buffer.alloc(144);
  info.writeUInt32LE(KILL_ON_JOB_CLOSE | BREAKAWAY_OK, 16);
  if (!SetInformationJobObject(job, 9, info, info.length)) return { error: GetLastError() };
  return { job };
}

/** CreateProcessW; attrs: [[attribute, bigint value]] put in a list. Returns { process, thread, pid } or { error }. */
function create(cmd, { flags = 0, attrs = [] } = {}) {
  const si = Buffer.alloc(112);
  let list = null;
  const keep = [];
  if (attrs.length) {
    const size = [0n];
    InitializeProcThreadAttributeList(null, attrs.length, 0, size);
    list = Buffer.alloc(Number(size[0]));
    if (!InitializeProcThreadAttributeList(list, attrs.length, 0, size)) return { error: GetLastError(), at: 'Initialize' };
    for (const [attr, value] of attrs) {
      const v = Buffer.alloc(8);
      v.writeBigUInt64LE(addr(value));
      keep.push(v);
      if (!UpdateProcThreadAttribute(list, 0, attr, v, 8n, null, null)) return { error: GetLastError(), at: `Update ${attr.toString(16)}` };
    }
    si.writeUInt32LE(112, 0);
    si.writeBigUInt64LE(addr(list), 104);
    flags |= EXTENDED_STARTUPINFO_PRESENT;
  } else si.writeUInt32LE(104, 0);
  const pi = Buffer.alloc(24);
  const ok = CreateProcessW(null, Buffer.from(`${cmd}\0`, 'utf16le'), null, null, false, flags | CREATE_NO_WINDOW, null, null, si, pi);
  const error = ok ? 0 : GetLastError();
  if (list) DeleteProcThreadAttributeList(list);
  if (!ok) return { error, at: 'CreateProcessW' };
  return { process: pi.readBigUInt64LE(0), thread: pi.readBigUInt64LE(8), pid: pi.readUInt32LE(16) };
}

function inJob(process, job) {
  const r = [0];
  if (!IsProcessInJob(process, job, r)) return `error ${GetLastError()}`;
  return r[0] !== 0;
}

function end(p) {
  TerminateProcess(p.process, 0);
  CloseHandle(p.process);
  CloseHandle(p.thread);
}

const quote = (s) => `"${s}"`;
const sleeper = `${quote(exe)} sleep 60000`;

// --- inner: the process whose termination must take its job's children with it ------------------
if (process.argv[2] === 'inner') {
  const { job } = makeJob();
  const broker = create(quote(process.execPath), { flags: CREATE_SUSPENDED });
  AssignProcessToJobObject(job, broker.process);
  const child = create(sleeper, { flags: CREATE_SUSPENDED, attrs: [[PARENT_PROCESS, broker.process]] });
  if (inJob(child.process, job) !== true) AssignProcessToJobObject(job, child.process);
  ResumeThread(child.thread);
  end(broker);
  fs.writeFileSync(process.argv[3], String(child.pid));
  setInterval(() => {}, 1000);
} else {
  const out = { wine: null };
  try {
    out.wine = nt.func('const char * __cdecl wine_get_version()')();
  } catch {
    // Not Wine: ntdll has no such export.
  }
  const made = makeJob();
  out.job = made.error ?? true;
  const { job } = made;

  const broker = create(quote(process.execPath), { flags: CREATE_SUSPENDED });
  out.brokerAssigned = AssignProcessToJobObject(job, broker.process) ? true : GetLastError();
  const child = create(sleeper, { flags: CREATE_SUSPENDED, attrs: [[PARENT_PROCESS, broker.process]] });
  out.childInheritsJobFromBroker = child.error ? child : inJob(child.process, job);
  if (!child.error) end(child);
  end(broker);

  const plain = create(sleeper, { flags: CREATE_SUSPENDED });
  out.assignSuspendedChild = AssignProcessToJobObject(job, plain.process) ? inJob(plain.process, job) : GetLastError();
  end(plain);

  const listed = create(sleeper, { flags: CREATE_SUSPENDED, attrs: [[JOB_LIST, job]] });
  out.jobListAttribute = listed.error ? listed : inJob(listed.process, job);
  if (!listed.error) end(listed);

  console.log(JSON.stringify(out));
  // Nested: a plain spawn child is in libuv's job; can it join ours as well?
  const spawned = spawn(exe, ['sleep', '60000'], { stdio: 'ignore', windowsHide: true });
  await new Promise((r) => spawned.once('spawn', r));
  const h = OpenProcess(0x1000 | 0x0100 | 0x0001 | 0x100000, false, spawned.pid);
  const other = makeJob().job;
  out.nested = AssignProcessToJobObject(other, h) ? (AssignProcessToJobObject(job, h) ? inJob(h, job) : `second: ${GetLastError()}`) : `first: ${GetLastError()}`;
  spawned.kill();
  CloseHandle(h);
  CloseHandle(other);

  // Kill-on-close: an inner process puts a sleeper in its job; we terminate the inner process.
  const pidFile = path.join(os.tmpdir(), `probe-job-${process.pid}.pid`);
  fs.rmSync(pidFile, { force: true });
  const inner = spawn(process.execPath, [fileURLToPath(import.meta.url), 'inner', pidFile], { stdio: 'ignore', windowsHide: true });
  const deadline = Date.now() + 30_000;
  while (!fs.existsSync(pidFile) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const pid = fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, 'utf8')) : 0;
  fs.rmSync(pidFile, { force: true });
  // SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_TERMINATE
  if (pid === 0) {
    out.killOnClose = 'the inner process never wrote its child pid';
    inner.kill();
  } else {
    const ch = OpenProcess(0x100000 | 0x1000 | 0x1, false, pid);
    const t0 = Date.now();
    inner.kill();
    const w = WaitForSingleObject(ch, 5000);
    out.killOnClose = { gone: w === 0, ms: Date.now() - t0 };
    if (w !== 0) TerminateProcess(ch, 1);
    CloseHandle(ch);
  }

  // Pipe facts.
  const info = (h) => {
    const iosb = new Uint8Array(16);
    const local = new Uint8Array(40);
    const s1 = NtQueryInformationFile(h, iosb, local, 40, 24);
    const mode = new Uint8Array(4);
    const s2 = NtQueryInformationFile(h, iosb, mode, 4, 16);
    const access = new Uint8Array(4);
    const s3 = NtQueryInformationFile(h, iosb, access, 4, 8);
    const dv = new DataView(local.buffer);
    const flags = [0];
    return {
      type: GetFileType(h),
      handleInfo: GetHandleInformation(h, flags) ? flags[0] : `error ${GetLastError()}`,
      local: s1 === 0 ? { pipeType: dv.getUint32(0, true), configuration: dv.getUint32(4, true), state: dv.getUint32(32, true), end: dv.getUint32(36, true) } : `status 0x${(s1 >>> 0).toString(16)}`,
      mode: s2 === 0 ? new DataView(mode.buffer).getUint32(0, true) : `status 0x${(s2 >>> 0).toString(16)}`,
      access: s3 === 0 ? `0x${new DataView(access.buffer).getUint32(0, true).toString(16)}` : `status 0x${(s3 >>> 0).toString(16)}`,
    };
  };
  const r = [null];
  const wr = [null];
  CreatePipe(r, wr, null, 0);
  out.pipeInfo = { createPipeReader: info(r[0]), createPipeWriter: info(wr[0]) };
  const name = `\\\\.\\pipe\\probe-job-${process.pid}`;
  const srv = CreateNamedPipeW(name, 0x1 | 0x40000000, 0, 1, 4096, 4096, 0, null);
  const cli = CreateFileW(name, 0x40000000, 0, null, 3, 0x40000000, null);
  out.pipeInfo.overlappedInboundServer = info(srv);
  out.pipeInfo.overlappedInboundClient = info(cli);
  const file = CreateFileW(path.join(root, 'package.json'), 0x80000000, 1, null, 3, 0, null);
  out.pipeInfo.file = info(file);
  for (const h of [r[0], wr[0], srv, cli, file]) CloseHandle(h);
  out.pipeInfo.closed = info(r[0]);
  out.pipeInfo.bogus = info(0x7ffffff0n);
  console.log(JSON.stringify(out, null, 1));
  process.exit(0);
}
