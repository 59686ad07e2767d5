/**
 * The advapi32 calls winpipe makes for named-pipe security, declared in one place next to their
 * C signatures. They bind lazily; off Windows they throw `ERR_UNSUPPORTED_PLATFORM`.
 *
 * @module
 */
import koffi from 'koffi';
import { PipeError } from '../errors.js';
import { defineTypes, type HANDLE, type Out } from './kernel32.js';

let lib: ReturnType<typeof koffi.load> | undefined;
function advapi32(): ReturnType<typeof koffi.load> {
  if (process.platform !== 'win32') throw new PipeError({ code: 'ERR_UNSUPPORTED_PLATFORM', message: 'advapi32 is only available on Windows' });
  if (!lib) {
    defineTypes();
    lib = koffi.load('advapi32.dll');
  }
  return lib;
}

// biome-ignore lint/suspicious/noExplicitAny: the constraint "any function"; with unknown parameters, no typed prototype would fit it
function bind<F extends (...args: any[]) => any>(proto: string): F {
  let fn: F | undefined;
  return ((...args: unknown[]) => (fn ??= advapi32().func(proto) as unknown as F)(...args)) as F;
}

export const SDDL_REVISION_1 = 1;
export const TOKEN_QUERY = 0x8;
export const TokenUser = 1;
/** TOKEN_INFORMATION_CLASS TokenOwner: the SID given as owner to objects this token creates. */
export const TokenOwner = 4;
/** TOKEN_INFORMATION_CLASS values read from a client's token (src/windows/identity.ts). */
export const TokenGroups = 2;
export const TokenStatistics = 10;
export const TokenElevation = 20;
export const TokenIntegrityLevel = 25;
export const TokenIsAppContainer = 29;
export const TokenAppContainerSid = 31;
/** SID_AND_ATTRIBUTES.Attributes of a group that counts for access (not deny-only). */
export const SE_GROUP_ENABLED = 0x4;
export const SE_GROUP_USE_FOR_DENY_ONLY = 0x10;
export const SE_KERNEL_OBJECT = 6;
export const SE_FILE_OBJECT = 1;
export const OWNER_SECURITY_INFORMATION = 0x1;
export const DACL_SECURITY_INFORMATION = 0x4;
/** The mandatory integrity label (SACL's ML entry); reading it needs no privilege, unlike the rest of the SACL. */
export const LABEL_SECURITY_INFORMATION = 0x10;

/** `BOOL ConvertStringSecurityDescriptorToSecurityDescriptorW(LPCWSTR StringSecurityDescriptor, DWORD StringSDRevision, PSECURITY_DESCRIPTOR *SecurityDescriptor, PULONG SecurityDescriptorSize)`. Free the result with LocalFree. */
export const ConvertStringSecurityDescriptorToSecurityDescriptorW: (sddl: string, revision: number, sd: Out<bigint>, size: Out<number> | null) => boolean = bind(
  'bool __stdcall ConvertStringSecurityDescriptorToSecurityDescriptorW(const char16_t *StringSecurityDescriptor, uint32_t StringSDRevision, _Out_ void **SecurityDescriptor, _Out_ uint32_t *SecurityDescriptorSize)',
);

/** `BOOL ConvertSecurityDescriptorToStringSecurityDescriptorW(PSECURITY_DESCRIPTOR SecurityDescriptor, DWORD RequestedStringSDRevision, SECURITY_INFORMATION SecurityInformation, LPWSTR *StringSecurityDescriptor, PULONG StringSecurityDescriptorLen)`. Free the string with LocalFree. */
export const ConvertSecurityDescriptorToStringSecurityDescriptorW: (sd: bigint, revision: number, info: number, out: Out<bigint>, len: Out<number> | null) => boolean = bind(
  'bool __stdcall ConvertSecurityDescriptorToStringSecurityDescriptorW(void *SecurityDescriptor, uint32_t RequestedStringSDRevision, uint32_t SecurityInformation, _Out_ void **StringSecurityDescriptor, _Out_ uint32_t *StringSecurityDescriptorLen)',
);

/** `BOOL OpenProcessToken(HANDLE ProcessHandle, DWORD DesiredAccess, PHANDLE TokenHandle)`. */
export const OpenProcessToken: (process: HANDLE, access: number, token: Out<HANDLE>) => boolean = bind(
  'bool __stdcall OpenProcessToken(HANDLE ProcessHandle, uint32_t DesiredAccess, _Out_ HANDLE *TokenHandle)',
);

/** `BOOL GetTokenInformation(HANDLE TokenHandle, TOKEN_INFORMATION_CLASS TokenInformationClass, LPVOID TokenInformation, DWORD TokenInformationLength, PDWORD ReturnLength)`. */
export const GetTokenInformation: (token: HANDLE, infoClass: number, info: bigint, length: number, returnLength: Out<number>) => boolean = bind(
  'bool __stdcall GetTokenInformation(HANDLE TokenHandle, int TokenInformationClass, void *TokenInformation, uint32_t TokenInformationLength, _Out_ uint32_t *ReturnLength)',
);

/** `BOOL ConvertSidToStringSidW(PSID Sid, LPWSTR *StringSid)`. Free the string with LocalFree. */
export const ConvertSidToStringSidW: (sid: bigint, out: Out<bigint>) => boolean = bind('bool __stdcall ConvertSidToStringSidW(void *Sid, _Out_ void **StringSid)');

/** `DWORD GetSecurityInfo(HANDLE handle, SE_OBJECT_TYPE ObjectType, SECURITY_INFORMATION SecurityInfo, PSID *ppsidOwner, PSID *ppsidGroup, PACL *ppDacl, PACL *ppSacl, PSECURITY_DESCRIPTOR *ppSecurityDescriptor)`. Returns a Win32 error code (0 = success). */
export const GetSecurityInfo: (handle: HANDLE, type: number, info: number, owner: null, group: null, dacl: null, sacl: null, sd: Out<bigint>) => number = bind(
  'uint32_t __stdcall GetSecurityInfo(HANDLE handle, int ObjectType, uint32_t SecurityInfo, void *ppsidOwner, void *ppsidGroup, void *ppDacl, void *ppSacl, _Out_ void **ppSecurityDescriptor)',
);

/** `BOOL GetSecurityDescriptorOwner(PSECURITY_DESCRIPTOR pSecurityDescriptor, PSID *pOwner, LPBOOL lpbOwnerDefaulted)`: parses a descriptor in memory (no system call); `*pOwner` is NULL when it has no owner. */
export const GetSecurityDescriptorOwner: (sd: bigint, owner: Out<bigint>, defaulted: Out<number>) => boolean = bind(
  'bool __stdcall GetSecurityDescriptorOwner(void *pSecurityDescriptor, _Out_ void **pOwner, _Out_ int *lpbOwnerDefaulted)',
);

/** `BOOL IsValidSid(PSID pSid)`. */
export const IsValidSid: (sid: bigint) => boolean = bind('bool __stdcall IsValidSid(void *pSid)');

/**
 * `BOOL LookupAccountSidW(LPCWSTR lpSystemName, PSID Sid, LPWSTR Name, LPDWORD cchName, LPWSTR ReferencedDomainName, LPDWORD cchReferencedDomainName, PSID_NAME_USE peUse)`.
 * `Name` / `ReferencedDomainName` are UTF-16 buffers of `cch*` characters; on success the counts
 * are the lengths written, without the NUL.
 */
export const LookupAccountSidW: (system: null, sid: bigint, name: Uint16Array, cchName: [number], domain: Uint16Array, cchDomain: [number], use: Out<number>) => boolean = bind(
  'bool __stdcall LookupAccountSidW(const char16_t *lpSystemName, void *Sid, _Out_ void *Name, _Inout_ uint32_t *cchName, _Out_ void *ReferencedDomainName, _Inout_ uint32_t *cchReferencedDomainName, _Out_ int *peUse)',
);

/**
 * `BOOL LookupAccountNameW(LPCWSTR lpSystemName, LPCWSTR lpAccountName, PSID Sid, LPDWORD cbSid, LPWSTR ReferencedDomainName, LPDWORD cchReferencedDomainName, PSID_NAME_USE peUse)`.
 * `Sid` is a buffer of `cbSid` bytes (68 holds any SID); `ReferencedDomainName` UTF-16 of `cch` characters.
 */
export const LookupAccountNameW: (system: null, account: string, sid: Uint8Array, cbSid: [number], domain: Uint16Array, cchDomain: [number], use: Out<number>) => boolean = bind(
  'bool __stdcall LookupAccountNameW(const char16_t *lpSystemName, const char16_t *lpAccountName, _Out_ void *Sid, _Inout_ uint32_t *cbSid, _Out_ void *ReferencedDomainName, _Inout_ uint32_t *cchReferencedDomainName, _Out_ int *peUse)',
);

/** `BOOL ImpersonateNamedPipeClient(HANDLE hNamedPipe)`: this thread takes the pipe client's token (at the level the client allowed). */
export const ImpersonateNamedPipeClient: (pipe: HANDLE) => boolean = bind('bool __stdcall ImpersonateNamedPipeClient(HANDLE hNamedPipe)');

/** `BOOL RevertToSelf(void)`: ends this thread's impersonation. */
export const RevertToSelf: () => boolean = bind('bool __stdcall RevertToSelf()');

/** `BOOL OpenThreadToken(HANDLE ThreadHandle, DWORD DesiredAccess, BOOL OpenAsSelf, PHANDLE TokenHandle)`. */
export const OpenThreadToken: (thread: HANDLE, access: number, openAsSelf: boolean, token: Out<HANDLE>) => boolean = bind(
  'bool __stdcall OpenThreadToken(HANDLE ThreadHandle, uint32_t DesiredAccess, bool OpenAsSelf, _Out_ HANDLE *TokenHandle)',
);
