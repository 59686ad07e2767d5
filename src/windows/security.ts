/**
 * Named-pipe security on Windows: the SDDL for each `security` option, the SECURITY_ATTRIBUTES
 * passed to CreateNamedPipeW, and reading back the DACL actually applied.
 *
 * Why not the default DACL: it grants Everyone and Anonymous read access to a pipe created by
 * a normal user (nodejs/node#47086), so any local user could connect.
 */
import koffi from 'koffi';
import { PipeError, win32Error } from '../errors.js';
import type { PipeSecurity } from '../options.js';
import { CLIENT_READ_WRITE, isAccessPolicy, presetSddl } from '../access.js';
import * as adv from './advapi32.js';
import * as k32 from './kernel32.js';

let userSid: string | undefined;

/** The current process user's SID as a string (`S-1-5-21-...`). */
export function currentUserSid(): string {
  if (userSid) return userSid;
  const token: k32.Out<k32.HANDLE> = [0n];
  if (!adv.OpenProcessToken(k32.GetCurrentProcess(), adv.TOKEN_QUERY, token)) throw win32Error(k32.GetLastError(), 'OpenProcessToken');
  // Ownership: the native buffer lives until the SID inside it has been converted.
  const size = 256;
  const info = koffi.alloc('uint8_t', size) as bigint;
  try {
    const got: k32.Out<number> = [0];
    if (!adv.GetTokenInformation(token[0], adv.TokenUser, info, size, got)) throw win32Error(k32.GetLastError(), 'GetTokenInformation');
    // TOKEN_USER { SID_AND_ATTRIBUTES User { PSID Sid; DWORD Attributes; } }
    const sid = new DataView(koffi.view(info, 8)).getBigUint64(0, true);
    const str: k32.Out<bigint> = [0n];
    if (!adv.ConvertSidToStringSidW(sid, str)) throw win32Error(k32.GetLastError(), 'ConvertSidToStringSidW');
    try {
      userSid = koffi.decode(str[0], 'char16_t', -1) as string;
    } finally {
      k32.LocalFree(str[0]);
    }
  } finally {
    koffi.free(info);
    k32.CloseHandle(token[0]);
  }
  return userSid;
}

/**
 * The SDDL for a `security` option. Protected DACLs (`D:P`), so nothing is inherited:
 * - `'current-user'`: the user and SYSTEM get full control; nobody else gets anything.
 * - `'everyone'`: additionally, Everyone may connect, read and write (not create instances).
 * - `{ sddl }`: used as given.
 * - `{ allow, integrity }`: src/access.ts `presetSddl`, with each `{ account }` looked up here.
 */
export function sddlFor(security: PipeSecurity): string {
  if (isAccessPolicy(security)) {
    const accounts: string[] = [];
    for (const entry of security.allow) if (typeof entry === 'object' && 'account' in entry) accounts.push(accountSid(entry.account));
    return presetSddl(security, currentUserSid(), accounts);
  }
  if (typeof security === 'object') return security.sddl;
  const user = currentUserSid();
  const base = `D:P(A;;GA;;;${user})(A;;GA;;;SY)`;
  return security === 'everyone' ? `${base}(A;;${CLIENT_READ_WRITE};;;WD)` : base;
}

/** The SID of an account or group name (LookupAccountNameW); `ENOENT` when there is no such account. */
export function accountSid(account: string): string {
  const sid = new Uint8Array(68);
  const domain = new Uint16Array(256);
  const cbSid: [number] = [sid.length];
  const cchDomain: [number] = [domain.length];
  const use: k32.Out<number> = [0];
  if (!adv.LookupAccountNameW(null, account, sid, cbSid, domain, cchDomain, use)) {
    const e = k32.GetLastError();
    throw new PipeError({ code: 'ENOENT', syscall: 'LookupAccountNameW', win32Errno: e, message: `ENOENT: no account named '${account}'` });
  }
  // koffi passes the typed array itself as the PSID (valid for the call).
  const str: k32.Out<bigint> = [0n];
  if (!adv.ConvertSidToStringSidW(sid as unknown as bigint, str)) throw win32Error(k32.GetLastError(), 'ConvertSidToStringSidW');
  try {
    return koffi.decode(str[0], 'char16_t', -1) as string;
  } finally {
    k32.LocalFree(str[0]);
  }
}

/**
 * A SECURITY_ATTRIBUTES for CreateNamedPipeW, non-inheritable, holding a parsed descriptor.
 * Ownership: the caller frees it with {@link SecurityAttributes.free} after the last CreateNamedPipeW.
 */
export class SecurityAttributes {
  readonly bytes: Uint8Array;
  readonly sddl: string;
  #sd: bigint;

  constructor(security: PipeSecurity) {
    this.sddl = sddlFor(security);
    const sd: k32.Out<bigint> = [0n];
    if (!adv.ConvertStringSecurityDescriptorToSecurityDescriptorW(this.sddl, adv.SDDL_REVISION_1, sd, null)) {
      const e = k32.GetLastError();
      throw new PipeError({ code: 'EINVAL', syscall: 'ConvertStringSecurityDescriptorToSecurityDescriptorW', win32Errno: e, message: `EINVAL: invalid SDDL '${this.sddl}'` });
    }
    this.#sd = sd[0];
    // SECURITY_ATTRIBUTES { DWORD nLength; LPVOID lpSecurityDescriptor; BOOL bInheritHandle; } = 24 bytes on x64.
    const b = Buffer.alloc(24);
    b.writeUInt32LE(24, 0);
    b.writeBigUInt64LE(this.#sd, 8);
    b.writeInt32LE(0, 16);
    this.bytes = b;
  }

  free(): void {
    if (this.#sd) {
      k32.LocalFree(this.#sd);
      this.#sd = 0n;
    }
  }
}

/** The owner, DACL and mandatory label actually applied to a live pipe handle (or, with `SE_FILE_OBJECT`, a file's), as SDDL (`O:…D:…S:…`; no `S:` when it has no label). */
export function readSecurity(handle: k32.HANDLE, objectType = adv.SE_KERNEL_OBJECT): string {
  const sd: k32.Out<bigint> = [0n];
  const info = adv.DACL_SECURITY_INFORMATION | adv.OWNER_SECURITY_INFORMATION | adv.LABEL_SECURITY_INFORMATION;
  const err = adv.GetSecurityInfo(handle, objectType, info, null, null, null, null, sd);
  if (err !== 0) throw win32Error(err, 'GetSecurityInfo');
  try {
    const str: k32.Out<bigint> = [0n];
    if (!adv.ConvertSecurityDescriptorToStringSecurityDescriptorW(sd[0], adv.SDDL_REVISION_1, info, str, null)) {
      throw win32Error(k32.GetLastError(), 'ConvertSecurityDescriptorToStringSecurityDescriptorW');
    }
    try {
      return koffi.decode(str[0], 'char16_t', -1) as string;
    } finally {
      k32.LocalFree(str[0]);
    }
  } finally {
    k32.LocalFree(sd[0]);
  }
}
