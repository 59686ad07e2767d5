/**
 * Access presets: the `security: { allow, integrity }` form of `createServer`, checked before any
 * system call, and what it means on each platform: a Windows security descriptor (SDDL, built
 * here as a pure function so that both paths can test it) or, on POSIX, a socket directory, a
 * socket mode and a rule for the peer's credentials. docs/access.md has the table of cases.
 */
import { PipeError, invalidArgType, invalidArgValue } from './errors.js';

/**
 * One party a preset lets connect.
 *
 * - `'current-user'`: the user the server runs as (always allowed; listed for clarity).
 * - `'everyone'`: every local user (Windows `WD`, POSIX any uid). Network logons stay refused.
 * - `'interactive'` (`IU`), `'authenticated'` (`AU`), `'administrators'` (`BA`), `'system'`
 *   (`SY`; POSIX: root), `'services'` (`SU`, every service process), `'all-app-packages'` (`AC`,
 *   every AppContainer): Windows groups.
 * - `{ sid }`: a user, group or package SID, `S-1-…` (a package SID is `S-1-15-2-…`). Windows.
 * - `{ account }`: an account or group name, `DOMAIN\name` or `name`, looked up when `listen`
 *   runs (LookupAccountNameW; an unknown name rejects `listen` with `ENOENT`). Windows.
 * - `{ uid }`, `{ gid }`: a POSIX user, or every member of a group (primary or supplementary,
 *   as the kernel reports them for the peer). POSIX.
 */
export type AccessPrincipal =
  | 'current-user'
  | 'everyone'
  | 'interactive'
  | 'authenticated'
  | 'administrators'
  | 'system'
  | 'services'
  | 'all-app-packages'
  | { sid: string }
  | { account: string }
  | { uid: number }
  | { gid: number };

/** The mandatory integrity label of a Windows pipe (no-write-up): a client below it may not write. */
export type IntegrityLevel = 'low' | 'medium' | 'high' | 'system';

/**
 * A `security` preset: who may connect, and (Windows) the pipe's integrity label.
 *
 * - Windows: a protected DACL that gives the server's own user full control (it must be able to
 *   create further instances), each listed party connect/read/write without the right to create
 *   instances, and first of all a deny entry for `NT AUTHORITY\NETWORK`, so a remote client is
 *   refused by the descriptor as well as by `rejectRemoteClients`. `integrity` adds a mandatory
 *   label (`S:(ML;;NW;;;LW)` and so on); without it the pipe gets the creator's default label
 *   (Medium for a normal user, High for an elevated one). Only an elevated server can set
 *   `'high'`, only SYSTEM `'system'` (listen then fails with `EACCES`/`EPERM`).
 * - POSIX: see {@link posixAccess}. What has no POSIX meaning throws `ENOTSUP` from `createServer`.
 *
 * @example
 * ```ts
 * // An elevated server that the same user's unelevated app may use:
 * createServer({ security: { allow: ['current-user'], integrity: 'medium' } });
 * // A service (SYSTEM) that the desktop user's app may use:
 * createServer({ security: { allow: ['interactive'] } });
 * ```
 */
export interface AccessPolicy {
  allow: readonly AccessPrincipal[];
  integrity?: IntegrityLevel;
}

const GROUPS: Record<string, string> = {
  everyone: 'WD',
  interactive: 'IU',
  authenticated: 'AU',
  administrators: 'BA',
  system: 'SY',
  services: 'SU',
  'all-app-packages': 'AC',
};
const NAMED = ['current-user', ...Object.keys(GROUPS)];
const LABELS: Record<IntegrityLevel, string> = { low: 'LW', medium: 'ME', high: 'HI', system: 'SI' };
const SID = /^S-1-\d+(-\d+)+$/i;

/**
 * FILE_GENERIC_READ | FILE_WRITE_DATA | FILE_WRITE_ATTRIBUTES | FILE_WRITE_EA | SYNCHRONIZE:
 * connect, read and write, but not FILE_CREATE_PIPE_INSTANCE, so an allowed client still cannot
 * create instances of the name (.NET's PipeAccessRights.ReadWrite).
 */
export const CLIENT_READ_WRITE = '0x12019b';

/** True for the object form with `allow` (the `{ sddl }` form is not a preset). */
export function isAccessPolicy(security: unknown): security is AccessPolicy {
  return security !== null && typeof security === 'object' && 'allow' in security;
}

/**
 * Checks a preset's shape, and that it means something on `platform`: a TypeError
 * (`ERR_INVALID_ARG_TYPE` / `ERR_INVALID_ARG_VALUE`) for a malformed one, `ENOTSUP` for a party or
 * label the platform cannot express. No system call.
 */
export function validateAccessPolicy(policy: unknown, name: string, platform: NodeJS.Platform = process.platform): asserts policy is AccessPolicy {
  if (policy === null || typeof policy !== 'object' || Array.isArray(policy)) throw invalidArgType(name, 'of type object', policy);
  const p = policy as { allow?: unknown; integrity?: unknown };
  for (const key of Object.keys(p))
    if (key !== 'allow' && key !== 'integrity') throw invalidArgValue(`${name}.${key}`, (p as Record<string, unknown>)[key], 'is not a preset field (allow, integrity)');
  if (!Array.isArray(p.allow)) throw invalidArgType(`${name}.allow`, 'an array', p.allow);
  if (p.allow.length === 0) throw invalidArgValue(`${name}.allow`, p.allow, 'must name at least one party');
  const windows = platform === 'win32';
  p.allow.forEach((entry: unknown, i) => {
    const at = `${name}.allow[${i}]`;
    if (typeof entry === 'string') {
      if (!NAMED.includes(entry)) throw invalidArgValue(at, entry, `must be one of ${NAMED.map((n) => `'${n}'`).join(', ')}, or { sid } / { account } / { uid } / { gid }`);
      if (!windows && entry !== 'current-user' && entry !== 'everyone' && entry !== 'system') throw notSupported(at, `'${entry}' is a Windows group with no POSIX equivalent (use { uid } or { gid })`);
      return;
    }
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) throw invalidArgType(at, 'a string or an object', entry);
    const keys = Object.keys(entry);
    if (keys.length !== 1) throw invalidArgValue(at, entry, 'must have exactly one of sid, account, uid, gid');
    const key = keys[0]!;
    const value = (entry as Record<string, unknown>)[key];
    if (key === 'sid') {
      if (typeof value !== 'string') throw invalidArgType(`${at}.sid`, 'of type string', value);
      if (!SID.test(value)) throw invalidArgValue(`${at}.sid`, value, "must be a SID string such as 'S-1-5-21-…'");
      if (!windows) throw notSupported(at, 'a SID has no POSIX meaning (use { uid } or { gid })');
    } else if (key === 'account') {
      if (typeof value !== 'string') throw invalidArgType(`${at}.account`, 'of type string', value);
      if (value.length === 0 || value.length > 512 || value.includes('\0')) throw invalidArgValue(`${at}.account`, value, 'must be a non-empty account name without NUL');
      if (!windows) throw notSupported(at, 'an account name is looked up on Windows only (use { uid } or { gid })');
    } else if (key === 'uid' || key === 'gid') {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffff_ffff) throw invalidArgValue(`${at}.${key}`, value, 'must be an integer from 0 to 2^32-1');
      if (windows) throw notSupported(at, `a ${key} has no Windows meaning (use { sid } or { account })`);
    } else throw invalidArgValue(at, entry, 'must have exactly one of sid, account, uid, gid');
  });
  if (p.integrity !== undefined) {
    if (typeof p.integrity !== 'string' || !(p.integrity in LABELS)) throw invalidArgValue(`${name}.integrity`, p.integrity, "must be 'low', 'medium', 'high' or 'system'");
    if (!windows) throw notSupported(`${name}.integrity`, 'integrity labels exist on Windows only');
  }
}

function notSupported(name: string, why: string): PipeError {
  return new PipeError({ code: 'ENOTSUP', syscall: 'createServer', message: `ENOTSUP: ${name}: ${why}` });
}

/**
 * The SDDL of a Windows preset. `self`: the server's user SID; `accounts`: the SID each
 * `{ account }` resolved to (in order). Pure: no system call, so it is tested on every platform.
 *
 * @example
 * ```ts
 * presetSddl({ allow: ['interactive'], integrity: 'low' }, 'S-1-5-18', []);
 * // 'D:P(D;;GA;;;NU)(A;;GA;;;S-1-5-18)(A;;0x12019b;;;IU)S:(ML;;NW;;;LW)'
 * ```
 */
export function presetSddl(policy: AccessPolicy, self: string, accounts: readonly string[] = []): string {
  const aces = ['(D;;GA;;;NU)', `(A;;GA;;;${self})`];
  const seen = new Set<string>([self.toUpperCase()]);
  let account = 0;
  for (const entry of policy.allow) {
    let who: string;
    if (entry === 'current-user') continue;
    if (typeof entry === 'string') who = GROUPS[entry]!;
    else if ('sid' in entry) who = entry.sid.toUpperCase();
    else if ('account' in entry) {
      const sid = accounts[account++];
      if (sid === undefined) throw invalidArgValue('accounts', accounts, 'must hold one SID per { account }');
      who = sid.toUpperCase();
    } else continue;
    if (seen.has(who)) continue;
    seen.add(who);
    aces.push(`(A;;${CLIENT_READ_WRITE};;;${who})`);
  }
  const label = policy.integrity === undefined ? '' : `S:(ML;;NW;;;${LABELS[policy.integrity]})`;
  return `D:P${aces.join('')}${label}`;
}

/**
 * What a POSIX preset means: the socket goes in the private directory (0700, socket 0600) when
 * only our own user (and root) may connect, else in our public directory (0711, socket 0666); in
 * both cases every accepted client's credentials must then match {@link mayAcceptPolicy}, or it
 * is closed before `'connection'`.
 */
export interface PosixAccess {
  /** `'everyone'` when any local user may connect; `'others'` when some other uid/gid may; `'private'` for our user only. */
  reach: 'private' | 'others' | 'everyone';
  uids: readonly number[];
  gids: readonly number[];
}

/** The POSIX meaning of a validated preset. */
export function posixAccess(policy: AccessPolicy): PosixAccess {
  const uids: number[] = [];
  const gids: number[] = [];
  let everyone = false;
  for (const entry of policy.allow) {
    if (entry === 'everyone') everyone = true;
    else if (entry === 'system') uids.push(0);
    else if (typeof entry === 'object' && 'uid' in entry) uids.push(entry.uid);
    else if (typeof entry === 'object' && 'gid' in entry) gids.push(entry.gid);
  }
  return { reach: everyone ? 'everyone' : uids.some((u) => u !== 0) || gids.length > 0 ? 'others' : 'private', uids, gids };
}

/**
 * POSIX accept rule of a preset: our uid and root always; then any uid for `'everyone'`, a listed
 * uid, or a listed gid among the peer's primary and supplementary groups.
 */
export function mayAcceptPolicy(access: PosixAccess, peer: { uid: number; gid: number; groups?: readonly number[] } | undefined, ownUid: number): boolean {
  if (!peer) return false;
  if (peer.uid === ownUid || peer.uid === 0 || access.reach === 'everyone') return true;
  if (access.uids.includes(peer.uid)) return true;
  if (access.gids.includes(peer.gid)) return true;
  return peer.groups?.some((g) => access.gids.includes(g)) ?? false;
}
