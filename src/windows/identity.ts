/**
 * Windows: who a pipe client is, from its own token, read on the server's side at accept.
 *
 * How: `ImpersonateNamedPipeClient` gives this thread the client's token at the level the client
 * allowed (winpipe's clients allow identification only, libuv's and .NET's impersonation), then
 * `OpenThreadToken` (as self: an identification-level thread may not open objects) and
 * `RevertToSelf`, all in one synchronous run on the main thread, so no other code ever runs as
 * the client. Why not the client's process: a pid names a process only while it lives; a client
 * that exits at once and whose pid is reused would read as another process's user. The token is
 * the one captured when the client opened the pipe.
 *
 * A client that connected at anonymous level (go-winio's DialPipe does) has no token to open: the
 * token fields are absent, never taken from its process instead.
 */
import koffi from 'koffi';
import { WIN32_ERRORS } from '../errors.js';
import type { PeerIdentity } from '../types.js';
import * as adv from './advapi32.js';
import * as k32 from './kernel32.js';
import { accountName, sidString } from './trust.js';

/** What a client's token says; every field absent when there is no token to read. */
export type TokenIdentity = Pick<PeerIdentity, 'sid' | 'user' | 'groupSids' | 'elevated' | 'integrity' | 'appContainer' | 'packageSid' | 'logonSession'>;

/** Bytes kept for GetTokenInformation; a larger answer (many groups) gets a buffer of its own. */
const INFO_SIZE = 1024;
/** Ownership: process-wide, reused by every read (calls are synchronous, never nested). */
let infoBuf: bigint | undefined;

/**
 * Calls `use` with the token information of `infoClass` in native memory, valid only during the
 * call; undefined when the token will not say.
 */
function tokenInfo<T>(token: k32.HANDLE, infoClass: number, use: (ptr: bigint, size: number) => T): T | undefined {
  infoBuf ??= koffi.alloc('uint8_t', INFO_SIZE) as bigint;
  const got: k32.Out<number> = [0];
  if (adv.GetTokenInformation(token, infoClass, infoBuf, INFO_SIZE, got)) return use(infoBuf, got[0]);
  if (k32.GetLastError() !== WIN32_ERRORS.ERROR_INSUFFICIENT_BUFFER || got[0] <= INFO_SIZE) return undefined;
  // Ownership: a buffer for this one answer, freed below.
  const own = koffi.alloc('uint8_t', got[0]) as bigint;
  try {
    return adv.GetTokenInformation(token, infoClass, own, got[0], got) ? use(own, got[0]) : undefined;
  } finally {
    koffi.free(own);
  }
}

const view = (ptr: bigint, size: number): DataView => new DataView(koffi.view(ptr, size));

/** The integrity level's name, from the RID of the label SID (S-1-16-<rid>). */
function integrityName(rid: number): NonNullable<PeerIdentity['integrity']> {
  if (rid < 0x1000) return 'untrusted';
  if (rid < 0x2000) return 'low';
  if (rid < 0x3000) return 'medium';
  if (rid < 0x4000) return 'high';
  if (rid < 0x5000) return 'system';
  return 'protected';
}

/** Reads the identity fields from an open token. Every field is best effort: one the token will not give is left out. */
function readToken(token: k32.HANDLE): TokenIdentity {
  const id: TokenIdentity = {};
  // TOKEN_USER { SID_AND_ATTRIBUTES User { PSID Sid; DWORD Attributes; } }
  tokenInfo(token, adv.TokenUser, (p, n) => {
    const psid = view(p, n).getBigUint64(0, true);
    const sid = sidString(psid);
    id.sid = sid;
    const name = accountName(psid, sid);
    if (name !== undefined) id.user = name;
  });
  // TOKEN_GROUPS { DWORD GroupCount; SID_AND_ATTRIBUTES Groups[]; } (x64: the array at 8, 16 bytes each)
  tokenInfo(token, adv.TokenGroups, (p, n) => {
    const v = view(p, n);
    const count = v.getUint32(0, true);
    const groups: string[] = [];
    for (let i = 0; i < count && 8 + i * 16 + 16 <= n; i++) {
      const attrs = v.getUint32(8 + i * 16 + 8, true);
      if ((attrs & adv.SE_GROUP_ENABLED) === 0 || (attrs & adv.SE_GROUP_USE_FOR_DENY_ONLY) !== 0) continue;
      groups.push(sidString(v.getBigUint64(8 + i * 16, true)));
    }
    id.groupSids = groups;
  });
  // TOKEN_ELEVATION { DWORD TokenIsElevated; }
  tokenInfo(token, adv.TokenElevation, (p, n) => {
    if (n >= 4) id.elevated = view(p, n).getUint32(0, true) !== 0;
  });
  // TOKEN_MANDATORY_LABEL { SID_AND_ATTRIBUTES Label; }
  tokenInfo(token, adv.TokenIntegrityLevel, (p, n) => {
    const label = sidString(view(p, n).getBigUint64(0, true));
    const rid = Number(label.slice(label.lastIndexOf('-') + 1));
    if (label.startsWith('S-1-16-') && Number.isInteger(rid)) id.integrity = integrityName(rid);
  });
  // DWORD
  tokenInfo(token, adv.TokenIsAppContainer, (p, n) => {
    if (n >= 4) id.appContainer = view(p, n).getUint32(0, true) !== 0;
  });
  if (id.appContainer) {
    // TOKEN_APPCONTAINER_INFORMATION { PSID TokenAppContainer; }
    tokenInfo(token, adv.TokenAppContainerSid, (p, n) => {
      const psid = view(p, n).getBigUint64(0, true);
      if (psid !== 0n) id.packageSid = sidString(psid);
    });
  }
  // TOKEN_STATISTICS { LUID TokenId; LUID AuthenticationId; ... }: the logon session is AuthenticationId.
  tokenInfo(token, adv.TokenStatistics, (p, n) => {
    if (n < 16) return;
    const v = view(p, n);
    const luid = (BigInt(v.getInt32(12, true) >>> 0) << 32n) | BigInt(v.getUint32(8, true));
    id.logonSession = `0x${luid.toString(16)}`;
  });
  return id;
}

/**
 * The client's token fields for the connected server instance `pipe`, or `{}` when the client
 * gave no token (anonymous level) or impersonation failed. Runs impersonation, OpenThreadToken
 * and RevertToSelf on this (the main) thread with nothing in between; a failed RevertToSelf ends
 * the process, as Microsoft requires (the thread would go on as the client).
 */
export function clientTokenIdentity(pipe: k32.HANDLE): TokenIdentity {
  if (!adv.ImpersonateNamedPipeClient(pipe)) return {};
  const token: k32.Out<k32.HANDLE> = [0n];
  let opened: boolean;
  try {
    opened = adv.OpenThreadToken(k32.GetCurrentThread(), adv.TOKEN_QUERY, true, token);
  } finally {
    if (!adv.RevertToSelf()) {
      process.emitWarning("RevertToSelf failed after reading a pipe client's token: the process ends rather than run as the client");
      process.abort();
    }
  }
  // ERROR_CANT_OPEN_ANONYMOUS (anonymous level) or ERROR_NO_TOKEN: nothing to read.
  if (!opened) return {};
  // Ownership: the token is read here and closed below.
  try {
    return readToken(token[0]);
  } finally {
    k32.CloseHandle(token[0]);
  }
}
