/**
 * The ntdll calls winpipe makes, declared in one place next to their C signatures. kernel32 has
 * no call that tells whether a pipe's other end has gone away; `NtQueryInformationFile` does
 * (libuv uses the same call on pipes). They bind lazily; off Windows they throw
 * `ERR_UNSUPPORTED_PLATFORM`.
 *
 * @module
 */
import koffi from 'koffi';
import { PipeError } from '../errors.js';
import { defineTypes, type HANDLE } from './kernel32.js';

let lib: ReturnType<typeof koffi.load> | undefined;
function ntdll(): ReturnType<typeof koffi.load> {
  if (process.platform !== 'win32') throw new PipeError({ code: 'ERR_UNSUPPORTED_PLATFORM', message: 'ntdll is only available on Windows' });
  if (!lib) {
    defineTypes();
    lib = koffi.load('ntdll.dll');
  }
  return lib;
}

// biome-ignore lint/suspicious/noExplicitAny: the constraint "any function"; with unknown parameters, no typed prototype would fit it
function bind<F extends (...args: any[]) => any>(proto: string): F {
  let fn: F | undefined;
  return ((...args: unknown[]) => (fn ??= ntdll().func(proto) as unknown as F)(...args)) as F;
}

/** FILE_INFORMATION_CLASS FilePipeLocalInformation: a FILE_PIPE_LOCAL_INFORMATION. Needs FILE_READ_ATTRIBUTES only. */
export const FilePipeLocalInformation = 24;
/** sizeof(FILE_PIPE_LOCAL_INFORMATION): ten ULONGs. */
export const FILE_PIPE_LOCAL_INFORMATION_SIZE = 40;
/** Byte offset of `ULONG NamedPipeState` in FILE_PIPE_LOCAL_INFORMATION. */
export const NAMED_PIPE_STATE_OFFSET = 32;
/** NamedPipeState: the other end has closed its last handle (writes fail with ERROR_NO_DATA). */
export const FILE_PIPE_CLOSING_STATE = 4;
/** sizeof(IO_STATUS_BLOCK) on 64-bit Windows: a status/pointer union and a ULONG_PTR. */
export const IO_STATUS_BLOCK_SIZE = 16;

/**
 * `NTSTATUS NtQueryInformationFile(HANDLE FileHandle, PIO_STATUS_BLOCK IoStatusBlock, PVOID FileInformation, ULONG Length, FILE_INFORMATION_CLASS FileInformationClass)`.
 * Returns the NTSTATUS (0 = STATUS_SUCCESS); it does not set the thread's last error.
 */
export const NtQueryInformationFile: (handle: HANDLE, ioStatusBlock: Uint8Array, info: Uint8Array, length: number, infoClass: number) => number = bind(
  'int32_t __stdcall NtQueryInformationFile(HANDLE FileHandle, _Out_ uint8_t *IoStatusBlock, _Out_ uint8_t *FileInformation, uint32_t Length, int FileInformationClass)',
);

/** NTSTATUS STATUS_BUFFER_TOO_SMALL, as the int32 the binding returns: the buffer cannot hold the descriptor; `LengthNeeded` says what can. */
export const STATUS_BUFFER_TOO_SMALL = 0xc000_0023 | 0;

/**
 * `NTSTATUS NtQuerySecurityObject(HANDLE Handle, SECURITY_INFORMATION SecurityInformation, PSECURITY_DESCRIPTOR SecurityDescriptor, ULONG Length, PULONG LengthNeeded)`.
 * Writes the object's security descriptor (self-relative) into native memory at `sd`.
 * Returns the NTSTATUS; it does not set the thread's last error.
 */
export const NtQuerySecurityObject: (handle: HANDLE, info: number, sd: bigint, length: number, needed: [number]) => number = bind(
  'int32_t __stdcall NtQuerySecurityObject(HANDLE Handle, uint32_t SecurityInformation, void *SecurityDescriptor, uint32_t Length, _Out_ uint32_t *LengthNeeded)',
);

/** `ULONG RtlNtStatusToDosError(NTSTATUS Status)`: the Win32 error of an NTSTATUS (no system call). */
export const RtlNtStatusToDosError: (status: number) => number = bind('uint32_t __stdcall RtlNtStatusToDosError(int32_t Status)');

/** FILE_INFORMATION_CLASS FileAccessInformation: a FILE_ACCESS_INFORMATION, the handle's granted `ACCESS_MASK` (one ULONG). Needs no access. */
export const FileAccessInformation = 8;
/** FILE_INFORMATION_CLASS FileModeInformation: a FILE_MODE_INFORMATION, the handle's create options (one ULONG). Needs no access. */
export const FileModeInformation = 16;
/** `ACCESS_MASK` bits of a pipe handle: it may read (`FILE_READ_DATA`), write (`FILE_WRITE_DATA`). */
export const FILE_READ_DATA = 0x1;
export const FILE_WRITE_DATA = 0x2;
/** FILE_MODE_INFORMATION bits: the handle is synchronous (opened without `FILE_FLAG_OVERLAPPED`). */
export const FILE_SYNCHRONOUS_IO_ALERT = 0x10;
export const FILE_SYNCHRONOUS_IO_NONALERT = 0x20;
