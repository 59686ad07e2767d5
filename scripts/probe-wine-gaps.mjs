#!/usr/bin/env node
// Which of the Windows behaviours that Wine 8 lacks does this Wine (or Windows) have? Each probe
// asks the system directly (kernel32, advapi32, ntdll through koffi, no winpipe code), so that a
// skip in the tests can be checked against the Wine it names. docs/wine.md keeps the output.
//
//   node scripts/wine.mjs exec scripts/probe-wine-gaps.mjs                         (Wine 10, the bed)
//   WINPIPE_WINE_BED=off node scripts/wine.mjs exec scripts/probe-wine-gaps.mjs    (the system Wine 8)
//   node scripts/probe-wine-gaps.mjs                                               (on Windows)
//
// Prints one JSON line per behaviour: { probe, windows (what Windows does), seen, has }, `has`
// true when what was seen is what Windows does; then one summary line.
import { randomBytes } from 'node:crypto';
import koffi from 'koffi';

if (process.platform !== 'win32') {
  console.log('probe-wine-gaps: Windows only (run it under Wine with scripts/wine.mjs exec)');
  process.exit(0);
}

const k = koffi.load('kernel32.dll');
const adv = koffi.load('advapi32.dll');
const nt = koffi.load('ntdll.dll');
const CreateNamedPipeW = k.func('void * __stdcall CreateNamedPipeW(const char16_t *name, uint32_t open, uint32_t mode, uint32_t max, uint32_t out, uint32_t in, uint32_t timeout, void *sa)');
const CreateFileW = k.func('void * __stdcall CreateFileW(const char16_t *name, uint32_t access, uint32_t share, void *sa, uint32_t disp, uint32_t flags, void *tmpl)');
const CloseHandle = k.func('bool __stdcall CloseHandle(void *h)');
const GetLastError = k.func('uint32_t __stdcall GetLastError()');
const GetCurrentProcess = k.func('void * __stdcall GetCurrentProcess()');
const GetHandleInformation = k.func('bool __stdcall GetHandleInformation(void *h, _Out_ uint32_t *flags)');
const GetProcessHandleCount = k.func('bool __stdcall GetProcessHandleCount(void *p, _Out_ uint32_t *n)');
const CreateEventW = k.func('void * __stdcall CreateEventW(void *sa, bool manual, bool initial, const char16_t *name)');
const FindFirstFileW = k.func('void * __stdcall FindFirstFileW(const char16_t *pattern, void *data)');
const FindNextFileW = k.func('bool __stdcall FindNextFileW(void *h, void *data)');
const FindClose = k.func('bool __stdcall FindClose(void *h)');
const GetNamedPipeInfo = k.func('bool __stdcall GetNamedPipeInfo(void *h, _Out_ uint32_t *flags, void *out, void *in, void *max)');
const LocalFree = k.func('void * __stdcall LocalFree(void *p)');
const ConvertSddl = adv.func('bool __stdcall ConvertStringSecurityDescriptorToSecurityDescriptorW(const char16_t *sddl, uint32_t rev, _Out_ void **sd, void *size)');
const GetSecurityInfo = adv.func('uint32_t __stdcall GetSecurityInfo(void *h, int type, uint32_t info, _Out_ void **owner, void *group, void *dacl, void *sacl, _Out_ void **sd)');
const ConvertSidToStringSidW = adv.func('bool __stdcall ConvertSidToStringSidW(void *sid, _Out_ void **str)');
const NtCreateNamedPipeFile = nt.func(
  'uint32_t __stdcall NtCreateNamedPipeFile(_Out_ void **h, uint32_t access, void *attr, void *iosb, uint32_t share, uint32_t disposition, uint32_t options, uint32_t type, uint32_t readMode, uint32_t completion, uint32_t max, uint32_t inQuota, uint32_t outQuota, _In_ int64_t *timeout)',
);

const INVALID = 0xffff_ffff_ffff_ffffn;
// koffi 3: pointers and handles are bigints.
const isInvalid = (h) => h === null || h === 0n || h === INVALID;
const PIPE_ACCESS_DUPLEX = 0x3;
const FILE_FLAG_FIRST_PIPE_INSTANCE = 0x0008_0000;
const PIPE_TYPE_MESSAGE = 0x4;
const GENERIC_RW = 0xc000_0000;
const OPEN_EXISTING = 3;
const name = () => `winpipe-probe-${randomBytes(6).toString('hex')}`;
const wine = (() => {
  try {
    return nt.func('const char *wine_get_version()')();
  } catch {
    return null;
  }
})();

const results = [];
function report(probe, windows, seen, has) {
  const r = { probe, windows, seen, has };
  results.push(r);
  console.log(JSON.stringify(r));
}

/** `bytes` copied into native memory (never freed: the probe is short-lived); its address. */
function native(bytes) {
  const p = koffi.alloc('uint8_t', bytes.length);
  new Uint8Array(koffi.view(p, bytes.length)).set(bytes);
  return p;
}

/** A SECURITY_ATTRIBUTES (x64: 24 bytes) holding the descriptor of `sddl`; free() releases it. */
function securityAttributes(sddl) {
  const sd = [0n];
  if (!ConvertSddl(sddl, 1, sd, null)) throw new Error(`ConvertStringSecurityDescriptorToSecurityDescriptorW ${GetLastError()}`);
  const sa = Buffer.alloc(24);
  sa.writeUInt32LE(24, 0);
  sa.writeBigUInt64LE(sd[0], 8);
  return { sa, free: () => LocalFree(sd[0]) };
}

function server(path, { open = PIPE_ACCESS_DUPLEX, mode = 0, sa = null } = {}) {
  const h = CreateNamedPipeW(path, open, mode, 255, 4096, 4096, 0, sa);
  return { h, err: isInvalid(h) ? GetLastError() : 0 };
}

function client(path) {
  const h = CreateFileW(path, GENERIC_RW, 0, null, OPEN_EXISTING, 0, null);
  const err = isInvalid(h) ? GetLastError() : 0;
  if (!err) CloseHandle(h);
  return err;
}

// 1. A DACL that leaves out the current user keeps it out (the same user as the server).
{
  const path = `\\\\.\\pipe\\${name()}`;
  const { sa, free } = securityAttributes('D:P(A;;GA;;;SY)');
  const s = server(path, { sa });
  const err = client(path);
  report('same-user DACL: connect to a pipe whose DACL grants only SYSTEM', 'ERROR_ACCESS_DENIED (5)', err ? `error ${err}` : 'connected', err === 5);
  if (!s.err) CloseHandle(s.h);
  free();
}

// 2. A pipe reached by a remote path (\\localhost\pipe\<name>), from a server that rejects remote clients.
{
  const n = name();
  const s = server(`\\\\.\\pipe\\${n}`, { mode: 0x8 /* PIPE_REJECT_REMOTE_CLIENTS */ });
  const err = client(`\\\\localhost\\pipe\\${n}`);
  // Windows: ERROR_ACCESS_DENIED from the rejecting server, or ERROR_BAD_NETPATH/NOT_FOUND without
  // the Server service; never a connection.
  report('remote pipes: \\\\localhost\\pipe\\<name> to a server with PIPE_REJECT_REMOTE_CLIENTS', 'refused (error 5, 53 or 2)', err ? `error ${err}` : 'connected', err !== 0);
  if (!s.err) CloseHandle(s.h);
}

// 3. FILE_FLAG_FIRST_PIPE_INSTANCE on a name that exists fails.
{
  const path = `\\\\.\\pipe\\${name()}`;
  const a = server(path);
  const b = server(path, { open: PIPE_ACCESS_DUPLEX | FILE_FLAG_FIRST_PIPE_INSTANCE });
  report('FILE_FLAG_FIRST_PIPE_INSTANCE on an existing name', 'ERROR_ACCESS_DENIED (5)', b.err ? `error ${b.err}` : 'created a second instance', b.err === 5);
  for (const s of [a, b]) if (!s.err) CloseHandle(s.h);
}

// 4. GetProcessHandleCount counts handles.
{
  const count = () => {
    const n = [0];
    return GetProcessHandleCount(GetCurrentProcess(), n) ? n[0] : `error ${GetLastError()}`;
  };
  const before = count();
  const events = Array.from({ length: 16 }, () => CreateEventW(null, true, false, null));
  const during = count();
  for (const e of events) CloseHandle(e);
  const after = count();
  report(
    'GetProcessHandleCount before, with 16 more events, after closing them',
    'grows by 16, then back',
    `${before}, ${during}, ${after}`,
    typeof before === 'number' && during - before === 16 && after === before,
  );
}

// 4b. The same count made by hand: the handle values (multiples of 4) that GetHandleInformation
// accepts, up to 1024 values past the last one it accepted.
{
  const count = () => {
    const flags = [0];
    let n = 0;
    for (let v = 4n, gap = 0; gap < 1024; v += 4n) {
      if (GetHandleInformation(v, flags)) {
        n++;
        gap = 0;
      } else gap++;
    }
    return n;
  };
  const t0 = Date.now();
  const before = count();
  const ms = Date.now() - t0;
  const events = Array.from({ length: 16 }, () => CreateEventW(null, true, false, null));
  const during = count();
  for (const e of events) CloseHandle(e);
  const after = count();
  report(
    `handle values GetHandleInformation accepts (one count took ${ms} ms): before, with 16 more events, after`,
    'grows by 16, then back',
    `${before}, ${during}, ${after}`,
    during - before === 16 && after === before,
  );
}

// 5. FindFirstFileW on \\.\pipe\* lists the pipes.
{
  const n = name();
  const s = server(`\\\\.\\pipe\\${n}`);
  const data = Buffer.alloc(592); // WIN32_FIND_DATAW
  const h = FindFirstFileW('\\\\.\\pipe\\*', data);
  let seen;
  let found = false;
  if (isInvalid(h)) seen = `error ${GetLastError()}`;
  else {
    let count = 0;
    do {
      count++;
      const fname = data
        .subarray(44, 44 + 520)
        .toString('utf16le')
        .split('\0')[0];
      if (fname === n) found = true;
    } while (FindNextFileW(h, data));
    FindClose(h);
    seen = `${count} names${found ? ', ours among them' : ', ours not among them'}`;
  }
  report('FindFirstFileW on \\\\.\\pipe\\* (winpipe ls)', 'every pipe, ours among them', seen, found);
  if (!s.err) CloseHandle(s.h);
}

// 6. A pipe created without a security descriptor has an owner (read through a client's handle, as winpipe does).
{
  const path = `\\\\.\\pipe\\${name()}`;
  const s = server(path);
  const c = CreateFileW(path, GENERIC_RW, 0, null, OPEN_EXISTING, 0, null);
  let seen;
  let has = false;
  if (isInvalid(c)) seen = `connect error ${GetLastError()}`;
  else {
    const owner = [0n];
    const sd = [0n];
    const rc = GetSecurityInfo(c, 6 /* SE_KERNEL_OBJECT */, 1 /* OWNER_SECURITY_INFORMATION */, owner, null, null, null, sd);
    if (rc !== 0) seen = `GetSecurityInfo error ${rc}`;
    else if (!owner[0]) seen = 'no owner';
    else {
      const str = [0n];
      ConvertSidToStringSidW(owner[0], str);
      seen = `owner ${koffi.decode(str[0], 'char16_t', -1)}`;
      LocalFree(str[0]);
      has = true;
    }
    if (sd[0]) LocalFree(sd[0]);
    CloseHandle(c);
  }
  report('owner of a pipe created without a security descriptor', 'the creator (token owner)', seen, has);
  if (!s.err) CloseHandle(s.h);
}

// 7. NtCreateNamedPipeFile takes NamedPipeType 0 (byte) and 1 (message) only.
{
  const make = (type) => {
    const n = `\\??\\pipe\\${name()}`;
    const ustr = Buffer.from(n, 'utf16le');
    const us = Buffer.alloc(16); // UNICODE_STRING
    us.writeUInt16LE(ustr.length, 0);
    us.writeUInt16LE(ustr.length, 2);
    us.writeBigUInt64LE(native(ustr), 8);
    const oa = Buffer.alloc(48); // OBJECT_ATTRIBUTES
    oa.writeUInt32LE(48, 0);
    oa.writeBigUInt64LE(native(us), 16);
    oa.writeUInt32LE(0x40 /* OBJ_CASE_INSENSITIVE */, 24);
    const h = [0n];
    const iosb = Buffer.alloc(16);
    // GENERIC_READ|GENERIC_WRITE|SYNCHRONIZE, share read|write, FILE_OPEN_IF, synchronous I/O.
    const status = NtCreateNamedPipeFile(h, 0xc010_0000, oa, iosb, 3, 3, 0x20, type, 0, 0, 0xffff_ffff, 4096, 4096, [-500_000n]);
    if (status !== 0) return `status 0x${status.toString(16)}`;
    const flags = [0];
    GetNamedPipeInfo(h[0], flags, null, null, null);
    CloseHandle(h[0]);
    return flags[0] & PIPE_TYPE_MESSAGE ? 'a message pipe' : 'a byte pipe';
  };
  const seen2 = make(2);
  report(
    'NtCreateNamedPipeFile with NamedPipeType 2 (neither byte 0 nor message 1)',
    'STATUS_INVALID_PARAMETER (0xc000000d)',
    `${seen2} (type 0: ${make(0)}, type 1: ${make(1)})`,
    seen2.startsWith('status'),
  );
}

const has = results.filter((r) => r.has).length;
console.log(`probe-wine-gaps: ${wine ? `Wine ${wine}` : 'Windows'}, node ${process.version}: ${has} of ${results.length} behave as on Windows`);
