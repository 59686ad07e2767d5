// Access presets (`security: { allow, integrity }`), admission (`admit`), identity read at accept,
// and rendezvous names: the contract on both paths. The cross-user halves are in
// test/posix/access.test.ts (two real users) and test/windows/access.test.ts.
import { lstatSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type CreateServerOptions, type PipeServer } from '../src/index.js';
import { presetSddl, validateAccessPolicy, type AccessPolicy } from '../src/access.js';
import { isWindows, underWine, uniqueName } from './helpers/index.js';

const servers: PipeServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function listen(options: CreateServerOptions, name = uniqueName()): Promise<PipeServer> {
  const server = createServer(options);
  servers.push(server);
  await server.listen(name);
  return server;
}

const ME = 'S-1-5-21-1-2-3-1001';
const DENY_NETWORK = '(D;;GA;;;NU)';
const RW = '0x12019b';

describe('access presets: the SDDL each one builds (the builder is pure: checked on every platform)', () => {
  const cases: [string, AccessPolicy, string][] = [
    ['same user only', { allow: ['current-user'] }, `D:P${DENY_NETWORK}(A;;GA;;;${ME})`],
    ['service to desktop: interactive users', { allow: ['interactive'] }, `D:P${DENY_NETWORK}(A;;GA;;;${ME})(A;;${RW};;;IU)`],
    ['authenticated users', { allow: ['authenticated'] }, `D:P${DENY_NETWORK}(A;;GA;;;${ME})(A;;${RW};;;AU)`],
    ['administrators', { allow: ['administrators'] }, `D:P${DENY_NETWORK}(A;;GA;;;${ME})(A;;${RW};;;BA)`],
    ['SYSTEM and services', { allow: ['system', 'services'] }, `D:P${DENY_NETWORK}(A;;GA;;;${ME})(A;;${RW};;;SY)(A;;${RW};;;SU)`],
    ['every local user, never the network', { allow: ['everyone'] }, `D:P${DENY_NETWORK}(A;;GA;;;${ME})(A;;${RW};;;WD)`],
    [
      'sandboxed: all app packages at low integrity',
      { allow: ['current-user', 'all-app-packages'], integrity: 'low' },
      `D:P${DENY_NETWORK}(A;;GA;;;${ME})(A;;${RW};;;AC)S:(ML;;NW;;;LW)`,
    ],
    [
      'one package SID',
      { allow: [{ sid: 's-1-15-2-1-2-3-4-5-6-7' }], integrity: 'low' },
      `D:P${DENY_NETWORK}(A;;GA;;;${ME})(A;;${RW};;;S-1-15-2-1-2-3-4-5-6-7)S:(ML;;NW;;;LW)`,
    ],
    ['elevated to unelevated: a medium label', { allow: ['current-user'], integrity: 'medium' }, `D:P${DENY_NETWORK}(A;;GA;;;${ME})S:(ML;;NW;;;ME)`],
    ['a high label', { allow: ['current-user'], integrity: 'high' }, `D:P${DENY_NETWORK}(A;;GA;;;${ME})S:(ML;;NW;;;HI)`],
    ['a system label', { allow: ['system'], integrity: 'system' }, `D:P${DENY_NETWORK}(A;;GA;;;${ME})(A;;${RW};;;SY)S:(ML;;NW;;;SI)`],
    ['our own SID and a repeat are listed once', { allow: [{ sid: ME }, 'interactive', 'interactive'] }, `D:P${DENY_NETWORK}(A;;GA;;;${ME})(A;;${RW};;;IU)`],
  ];
  it.each(cases)('%s', (_what, policy, sddl) => {
    validateAccessPolicy(policy, 'security', 'win32');
    expect(presetSddl(policy, ME)).toBe(sddl);
  });

  it('an { account } gets the SID it was looked up as, in order', () => {
    const policy: AccessPolicy = { allow: [{ account: 'PC\\ann' }, 'interactive', { account: 'Users' }] };
    validateAccessPolicy(policy, 'security', 'win32');
    expect(presetSddl(policy, ME, ['S-1-5-21-9-9-9-1002', 'S-1-5-32-545'])).toBe(
      `D:P${DENY_NETWORK}(A;;GA;;;${ME})(A;;${RW};;;S-1-5-21-9-9-9-1002)(A;;${RW};;;IU)(A;;${RW};;;S-1-5-32-545)`,
    );
  });
});

describe('access presets: bad input is refused before any system call', () => {
  const bad: [string, unknown, string][] = [
    ['not an object', 'interactive-users', 'ERR_INVALID_ARG_VALUE'],
    ['allow missing (and no sddl)', { integrity: 'low' }, 'ERR_INVALID_ARG_TYPE'],
    ['allow not an array', { allow: 'interactive' }, 'ERR_INVALID_ARG_TYPE'],
    ['allow empty', { allow: [] }, 'ERR_INVALID_ARG_VALUE'],
    ['an unknown party', { allow: ['friends'] }, 'ERR_INVALID_ARG_VALUE'],
    ['a malformed SID', { allow: [{ sid: 'S-1-x' }] }, 'ERR_INVALID_ARG_VALUE'],
    ['two keys in one entry', { allow: [{ sid: 'S-1-5-18', uid: 0 }] }, 'ERR_INVALID_ARG_VALUE'],
    ['an unknown integrity', { allow: ['current-user'], integrity: 'very-high' }, 'ERR_INVALID_ARG_VALUE'],
    ['an unknown field', { allow: ['current-user'], remote: true }, 'ERR_INVALID_ARG_VALUE'],
    ['a negative uid', { allow: [{ uid: -1 }] }, 'ERR_INVALID_ARG_VALUE'],
  ];
  it.each(bad)('%s: createServer throws %s', (_what, security, code) => {
    expect(() => createServer({ security: security as AccessPolicy })).toThrow(expect.objectContaining({ code }));
  });

  const windowsOnly: AccessPolicy[] = [
    { allow: ['interactive'] },
    { allow: ['authenticated'] },
    { allow: ['administrators'] },
    { allow: ['services'] },
    { allow: ['all-app-packages'] },
    { allow: [{ sid: 'S-1-5-18' }] },
    { allow: [{ account: 'ann' }] },
    { allow: ['current-user'], integrity: 'low' },
  ];
  it.each(windowsOnly)('POSIX: %j has no meaning there: ENOTSUP', (policy) => {
    expect(() => validateAccessPolicy(policy, 'security', 'linux')).toThrow(expect.objectContaining({ code: 'ENOTSUP' }));
    expect(() => validateAccessPolicy(policy, 'security', 'win32')).not.toThrow();
    if (!isWindows) expect(() => createServer({ security: policy })).toThrow(expect.objectContaining({ code: 'ENOTSUP' }));
  });

  it.each([{ allow: [{ uid: 1000 }] }, { allow: [{ gid: 100 }] }] as AccessPolicy[])('Windows: %j has no meaning there: ENOTSUP', (policy) => {
    expect(() => validateAccessPolicy(policy, 'security', 'win32')).toThrow(expect.objectContaining({ code: 'ENOTSUP' }));
    expect(() => validateAccessPolicy(policy, 'security', 'linux')).not.toThrow();
    if (isWindows) expect(() => createServer({ security: policy })).toThrow(expect.objectContaining({ code: 'ENOTSUP' }));
  });
});

describe.runIf(isWindows)('access presets on Windows: the descriptor read back from the pipe, label included', () => {
  it.each([
    [{ allow: ['current-user'] }, []],
    [{ allow: ['interactive', 'services'] }, ['IU', 'SU']],
    [{ allow: ['everyone'] }, ['WD']],
    [{ allow: ['current-user', 'all-app-packages'], integrity: 'low' }, ['AC']],
  ] as [AccessPolicy, string[]][])('%j', async (policy, groups) => {
    const server = await listen({ security: policy });
    const sd = server.securityDescriptor();
    const dacl = sd.slice(sd.indexOf('D:'), sd.includes('S:') ? sd.indexOf('S:') : undefined);
    expect(dacl.startsWith('D:P')).toBe(true);
    // The network is refused by the descriptor itself, ahead of every allow entry.
    expect(dacl).toMatch(/^D:P(AI)?\(D;;(GA|FA|0x1f01ff);;;(NU|S-1-5-2)\)/);
    for (const g of groups) expect(dacl).toMatch(new RegExp(`\\(A;;0x12019b;;;${g}\\)`));
    expect(dacl).not.toContain(';AN)');
    if (policy.integrity === undefined) expect(sd).not.toMatch(/ML;/);
  });

  it.skipIf(underWine)("integrity: 'low' reads back as the pipe's mandatory label (Wine 8 keeps no mandatory label on a pipe: it reads back no S: part)", async () => {
    const server = await listen({ security: { allow: ['current-user', 'all-app-packages'], integrity: 'low' } });
    expect(server.securityDescriptor()).toMatch(/S:(\w*)\(ML;;NW;;;LW\)/);
  });

  it('an { account } is looked up: BUILTIN\\Users becomes S-1-5-32-545 (BU)', async () => {
    const server = await listen({ security: { allow: [{ account: 'BUILTIN\\Users' }] } });
    expect(server.securityDescriptor()).toMatch(/\(A;;0x12019b;;;(BU|S-1-5-32-545)\)/);
  });

  it('an unknown { account } rejects listen with ENOENT', async () => {
    const server = createServer({ security: { allow: [{ account: `nobody-${uniqueName()}` }] } });
    await expect(server.listen(uniqueName())).rejects.toMatchObject({ code: 'ENOENT', syscall: 'LookupAccountNameW' });
  });
});

describe.runIf(!isWindows)('access presets on POSIX: the directory, the mode', () => {
  it("{ allow: ['current-user'] } is the private directory and a 0600 socket", async () => {
    const server = await listen({ security: { allow: ['current-user'] } });
    const path = server.address()!;
    expect(lstatSync(path).mode & 0o777).toBe(0o600);
    expect(lstatSync(dirname(path)).mode & 0o777).toBe(0o700);
  });

  it.each([{ allow: ['everyone'] }, { allow: [{ uid: 4242 }] }, { allow: [{ gid: 4242 }] }] as AccessPolicy[])('%j is our public directory (0711) and a 0666 socket', async (security) => {
    const server = await listen({ security });
    const path = server.address()!;
    expect(lstatSync(path).mode & 0o777).toBe(0o666);
    expect(lstatSync(dirname(path)).mode & 0o777).toBe(0o711);
    expect(lstatSync(dirname(path)).uid).toBe(process.getuid!());
  });

  it('securityDescriptor() is Windows-only: ENOTSUP', async () => {
    const server = await listen({});
    expect(() => server.securityDescriptor()).toThrow(expect.objectContaining({ code: 'ENOTSUP' }));
  });
});
