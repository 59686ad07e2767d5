/**
 * Windows: whose pipe a client may connect to. The one place this check lives: `connect()`
 * (src/windows/client.ts) and the `winpipe/connection` Client (src/channel/windows.ts) both call
 * {@link verifyServerOwner} right after `CreateFileW` succeeds, before any byte moves.
 *
 * Why the owner: anyone who can create a pipe of a name first (a squatter, another user) is its
 * owner, and a client's data goes to whoever owns the instance it opened. A DACL says who may
 * open; only the owner says who serves. This is the analogue of POSIX "our uid or root", and what
 * .NET's `PipeOptions.CurrentUserOnly` checks (against the token owner), only by default here.
 */
import koffi from 'koffi';
import { PipeError, win32Error } from '../errors.js';
import * as adv from './advapi32.js';
import * as k32 from './kernel32.js';
import * as nt from './ntdll.js';
import { currentUserSid } from './security.js';
import { clientTokenIdentity } from './identity.js';
import type { PeerIdentity } from '../types.js';
import { ExpiringMemo } from '../memo.js';

/** SYSTEM: services run as it. */
export const SID_LOCAL_SYSTEM = 'S-1-5-18';
/** BUILTIN\Administrators: elevated processes (docker_engine, openssh-ssh-agent) own their pipes as it. */
export const SID_ADMINISTRATORS = 'S-1-5-32-544';

let tokenOwner: string | undefined;

export function sidString(sid: bigint): string {
  const str: k32.Out<bigint> = [0n];
  if (!adv.ConvertSidToStringSidW(sid, str)) throw win32Error(k32.GetLastError(), 'ConvertSidToStringSidW');
  try {
    return koffi.decode(str[0], 'char16_t', -1) as string;
  } finally {
    k32.LocalFree(str[0]);
  }
}

/** A SID-valued token field (TokenUser or TokenOwner: both start with a PSID) of `process`, with its account name when `withName`. */
function tokenSidAndName(process: k32.HANDLE, infoClass: number, withName: boolean): { sid: string; user: string | undefined } {
  const token: k32.Out<k32.HANDLE> = [0n];
  if (!adv.OpenProcessToken(process, adv.TOKEN_QUERY, token)) throw win32Error(k32.GetLastError(), 'OpenProcessToken');
  const size = 256;
  // Ownership: the buffer lives until the SID inside it is converted; the token is closed below.
  const info = koffi.alloc('uint8_t', size) as bigint;
  try {
    const got: k32.Out<number> = [0];
    if (!adv.GetTokenInformation(token[0], infoClass, info, size, got)) throw win32Error(k32.GetLastError(), 'GetTokenInformation');
    // TOKEN_OWNER { PSID Owner; } / TOKEN_USER { SID_AND_ATTRIBUTES { PSID Sid; ... } }
    const psid = new DataView(koffi.view(info, 8)).getBigUint64(0, true);
    const sid = sidString(psid);
    return { sid, user: withName ? accountName(psid, sid) : undefined };
  } finally {
    koffi.free(info);
    k32.CloseHandle(token[0]);
  }
}

export function tokenSid(process: k32.HANDLE, infoClass: number): string {
  return tokenSidAndName(process, infoClass, false).sid;
}

/**
 * Account names by SID string, for a minute. LookupAccountSidW asks the LSA (on Windows an RPC to
 * lsass; under Wine 10 it measured 284 µs, a fifth of reading a client's identity at accept), and
 * a server asks it at every accept for the same few users. Windows caches these lookups itself on
 * domain members. What this costs: a renamed account keeps its old `user` for up to a minute;
 * `sid`, which a decision should use, is read fresh every time.
 */
const accountNames = new ExpiringMemo<string, string | undefined>(256, 60_000);

/**
 * `DOMAIN\name` of a SID (LookupAccountSidW), or undefined when it has no name here. `sid`: its
 * string form, when the caller has it already (the memo's key).
 */
export function accountName(psid: bigint, sid: string = sidString(psid)): string | undefined {
  return accountNames.get(sid, () => lookupAccountName(psid));
}

function lookupAccountName(psid: bigint): string | undefined {
  const name = new Uint16Array(256);
  const domain = new Uint16Array(256);
  const cchName: [number] = [name.length];
  const cchDomain: [number] = [domain.length];
  const use: k32.Out<number> = [0];
  try {
    if (!adv.LookupAccountSidW(null, psid, name, cchName, domain, cchDomain, use)) return undefined;
  } catch {
    return undefined;
  }
  const text = (a: Uint16Array, n: number): string => Buffer.from(a.buffer, 0, Math.min(n, a.length) * 2).toString('utf16le');
  const user = text(name, cchName[0]);
  const dom = text(domain, cchDomain[0]);
  return dom ? `${dom}\\${user}` : user;
}

/** The user SID and account name of process `pid`, or undefined when it cannot be opened (another user's, a SYSTEM service). */
function processUser(pid: number | undefined): { sid: string; user: string | undefined } | undefined {
  if (pid === undefined) return undefined;
  const proc = k32.OpenProcess(k32.PROCESS_QUERY_LIMITED_INFORMATION, false, pid);
  if (!proc) return undefined;
  try {
    return tokenSidAndName(proc, adv.TokenUser, true);
  } catch {
    return undefined;
  } finally {
    k32.CloseHandle(proc);
  }
}

/** The account name of the owner of `handle`'s object, or undefined when it has none or no name. */
function ownerName(handle: k32.HANDLE): string | undefined {
  try {
    return withOwner(handle, (psid) => (psid !== 0n && adv.IsValidSid(psid) ? accountName(psid) : undefined));
  } catch {
    return undefined;
  }
}

/** Bytes kept for an owner-only security descriptor: a 20-byte header and one SID (at most 68). */
const OWNER_SD_SIZE = 256;
/** Ownership: process-wide, reused by every {@link withOwner} (calls are synchronous, never nested). */
let ownerSd: bigint | undefined;

/**
 * Calls `use` with the owner PSID (0n when there is none) of the kernel object behind `handle`,
 * valid only during the call. One NtQuerySecurityObject into a buffer kept for it: what
 * GetSecurityInfo(SE_KERNEL_OBJECT, OWNER_SECURITY_INFORMATION) reads, but GetSecurityInfo asks
 * twice (the size, then the descriptor), and under Wine each is a wineserver request. Throws the
 * Win32 error when the descriptor cannot be read.
 */
function withOwner<T>(handle: k32.HANDLE, use: (psid: bigint) => T): T {
  ownerSd ??= koffi.alloc('uint8_t', OWNER_SD_SIZE) as bigint;
  let sd = ownerSd;
  let own: bigint | undefined;
  try {
    const needed: [number] = [0];
    let status = nt.NtQuerySecurityObject(handle, adv.OWNER_SECURITY_INFORMATION, sd, OWNER_SD_SIZE, needed);
    if (status === nt.STATUS_BUFFER_TOO_SMALL && needed[0] > OWNER_SD_SIZE) {
      // Ownership: a descriptor larger than ours lives in its own buffer, freed below.
      own = koffi.alloc('uint8_t', needed[0]) as bigint;
      sd = own;
      status = nt.NtQuerySecurityObject(handle, adv.OWNER_SECURITY_INFORMATION, sd, needed[0], needed);
    }
    if (status !== 0) throw win32Error(nt.RtlNtStatusToDosError(status), 'NtQuerySecurityObject');
    const owner: k32.Out<bigint> = [0n];
    const defaulted: k32.Out<number> = [0];
    if (!adv.GetSecurityDescriptorOwner(sd, owner, defaulted)) throw win32Error(k32.GetLastError(), 'GetSecurityDescriptorOwner');
    return use(owner[0]);
  } finally {
    if (own !== undefined) koffi.free(own);
  }
}

/**
 * The `peer` of a connection on the pipe `handle`.
 * Server side (`'client'`): the client's pid and session, and the rest from the client's own
 * token, read through impersonation (src/windows/identity.ts); a client without a token
 * (anonymous level) has only pid and session: its process is never asked instead. Client side
 * (`'server'`): the server's pid and session, and as `sid` the user of the server process when
 * its token opens (not a SYSTEM service's), else `ownerSid`, the pipe's owner that
 * {@link verifyServerOwner} returned. Every call here is best effort: a field the OS will not give
 * is left out, never guessed.
 */
export function peerIdentity(handle: k32.HANDLE, who: 'client' | 'server', ownerSidChecked?: string): PeerIdentity {
  const pid: k32.Out<number> = [0];
  const session: k32.Out<number> = [0];
  const gotPid = who === 'client' ? k32.GetNamedPipeClientProcessId(handle, pid) : k32.GetNamedPipeServerProcessId(handle, pid);
  let gotSession = false;
  try {
    gotSession = who === 'client' ? k32.GetNamedPipeClientSessionId(handle, session) : k32.GetNamedPipeServerSessionId(handle, session);
  } catch {
    // Not exported by this kernel32: no session id.
  }
  const peer: PeerIdentity = { pid: gotPid ? pid[0] : undefined };
  if (gotSession) peer.sessionId = session[0];
  if (who === 'client') {
    let token: ReturnType<typeof clientTokenIdentity> = {};
    try {
      token = clientTokenIdentity(handle);
    } catch {
      // The token could not be read: its fields stay absent.
    }
    return Object.assign(peer, token);
  }
  const account = processUser(peer.pid);
  if (account) {
    peer.sid = account.sid;
    if (account.user !== undefined) peer.user = account.user;
  } else if (ownerSidChecked !== undefined) {
    peer.sid = ownerSidChecked;
    const name = ownerName(handle);
    if (name !== undefined) peer.user = name;
  }
  return peer;
}

/**
 * The `peer` of a connection (and the peer's pid, `clientProcessId` / `serverProcessId`), read
 * with {@link peerIdentity} once, then kept. A server reads it at accept (it calls `get()` at
 * once: the client's token is read before `admit` and `'connection'`). A client reads it the
 * first time anyone asks: there it is the server process's user, which no check needs (the owner
 * check, {@link verifyServerOwner}, runs before `connect` resolves), and most connections never
 * ask (B6 under Wine: 9 of the client's 33 requests per connection).
 *
 * It is read from the pipe handle, so only while the connection still holds that handle
 * (`isOpen`, given by the connection's owner with {@link LazyPeer.bind}); an identity first asked
 * for after the close is `{ pid: undefined }`. Ownership: never owns `handle`.
 */
export class LazyPeer {
  readonly #handle: k32.HANDLE;
  readonly #ownerSid: string | undefined;
  #isOpen: () => boolean = () => false;
  #peer: PeerIdentity | undefined;
  /** `'client'`: the peer is the client (this is a server connection), so its pid is `clientProcessId`. */
  readonly peerIs: 'client' | 'server';

  constructor(handle: k32.HANDLE, who: 'client' | 'server', ownerSidChecked?: string) {
    this.#handle = handle;
    this.peerIs = who;
    this.#ownerSid = ownerSidChecked;
  }

  /** `isOpen`: true while `handle` is still the connection's (not yet closed): only then is it read. */
  bind(isOpen: () => boolean): void {
    this.#isOpen = isOpen;
  }

  get(): PeerIdentity {
    if (this.#peer) return this.#peer;
    // A closed handle's value may already name another object: never read it.
    this.#peer = this.#isOpen() ? peerIdentity(this.#handle, this.peerIs, this.#ownerSid) : { pid: undefined };
    return this.#peer;
  }
}

/** The SID our token gives as owner to what it creates (TokenOwner): the user, or Administrators when elevated. */
export function tokenOwnerSid(): string {
  tokenOwner ??= tokenSid(k32.GetCurrentProcess(), adv.TokenOwner);
  return tokenOwner;
}

/** The user SID of the process serving the pipe behind a client `handle`. */
function serverProcessUserSid(handle: k32.HANDLE): string {
  const pid: k32.Out<number> = [0];
  if (!k32.GetNamedPipeServerProcessId(handle, pid)) throw win32Error(k32.GetLastError(), 'GetNamedPipeServerProcessId');
  const proc = k32.OpenProcess(k32.PROCESS_QUERY_LIMITED_INFORMATION, false, pid[0]);
  if (!proc) throw win32Error(k32.GetLastError(), 'OpenProcess');
  try {
    return tokenSid(proc, adv.TokenUser);
  } finally {
    k32.CloseHandle(proc);
  }
}

/** The default trusted set: our user, our token's default owner, SYSTEM and Administrators. */
export function defaultTrustedOwners(): string[] {
  return [...new Set([currentUserSid(), tokenOwnerSid(), SID_LOCAL_SYSTEM, SID_ADMINISTRATORS])];
}

/**
 * The owner SID of the kernel object behind `handle` (a pipe: the owner its first instance was
 * created with). Wine gives a pipe created without a security descriptor (libuv's, go-winio's
 * defaults) no owner at all; then the user of the serving process stands in for it. Windows always
 * sets an owner.
 */
export function ownerSid(handle: k32.HANDLE): string {
  const sid = withOwner(handle, (psid) => (psid === 0n || !adv.IsValidSid(psid) ? undefined : sidString(psid)));
  return sid ?? serverProcessUserSid(handle);
}

/**
 * Checks that the pipe behind a freshly opened client `handle` is owned by a trusted SID, and
 * returns that SID. `trusted`: `'any'` (no check), or SIDs with `'default'` for the default set.
 * A failure throws `EACCES` (the owner cannot be read either: fail closed). The caller still owns
 * `handle` and closes it on a throw.
 */
export function verifyServerOwner(handle: k32.HANDLE, path: string, trusted: 'any' | readonly string[]): string | undefined {
  let owner: string;
  try {
    owner = ownerSid(handle);
  } catch (err) {
    if (trusted === 'any') return undefined;
    throw new PipeError({ code: 'EACCES', syscall: 'GetSecurityInfo', path, cause: err, message: `EACCES: cannot read the owner of ${path}` });
  }
  if (trusted === 'any') return owner;
  const set = new Set<string>();
  for (const sid of trusted) {
    if (sid === 'default') for (const d of defaultTrustedOwners()) set.add(d);
    else set.add(sid.toUpperCase());
  }
  if (!set.has(owner.toUpperCase())) {
    throw new PipeError({ code: 'EACCES', syscall: 'connect', path, message: `EACCES: ${path} is served by ${owner}, which is not a trusted owner (see trustedServerOwners)` });
  }
  return owner;
}
