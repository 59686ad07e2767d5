/**
 * `winpipe/win32`: the kernel32 calls winpipe makes, typed and declared in one place, each next
 * to its C signature (as go-winio declares its syscalls). The pywin32 `win32pipe` of Node.
 *
 * Functions bind lazily on first call, so importing this module elsewhere is harmless; calling
 * one off Windows throws `ERR_UNSUPPORTED_PLATFORM`. They are raw: a `BOOL` comes back as a
 * boolean, and on failure {@link GetLastError} (called right after) tells why. `HANDLE`s are
 * bigints (koffi 3). `_Out_` parameters take a one-element array that receives the value.
 *
 * @example
 * ```ts
 * import { CreatePipe, CloseHandle, GetLastError } from 'winpipe/win32';
 * const r = [0n], w = [0n];
 * if (!CreatePipe(r, w, null, 0)) throw new Error(`CreatePipe failed: ${GetLastError()}`);
 * CloseHandle(r[0]); CloseHandle(w[0]);
 * ```
 *
 * @module
 */
import koffi from 'koffi';
import { PipeError } from '../errors.js';

export { WIN32_ERRORS } from '../errors.js';

/** A Windows HANDLE: a pointer-sized value, a bigint in koffi 3. */
export type HANDLE = bigint;
/** One-element array that receives an `_Out_` value. */
export type Out<T> = [T];

let lib: ReturnType<typeof koffi.load> | undefined;
function kernel32(): ReturnType<typeof koffi.load> {
  if (process.platform !== 'win32') {
    throw new PipeError({ code: 'ERR_UNSUPPORTED_PLATFORM', message: 'winpipe/win32 is only available on Windows; use winpipe/posix' });
  }
  if (!lib) {
    defineTypes();
    lib = koffi.load('kernel32.dll');
  }
  return lib;
}

/** Declares the Win32 type names once per process (the ESM and CJS builds may both be loaded). */
export function defineTypes(): void {
  try {
    koffi.alias('HANDLE', 'void *');
  } catch {
    // Already declared by another copy of this module.
  }
}

/** Binds `proto` on first call; later calls go straight to the koffi function. */
// biome-ignore lint/suspicious/noExplicitAny: the constraint "any function"; with unknown parameters, no typed prototype would fit it
function bind<F extends (...args: any[]) => any>(proto: string): F {
  let fn: F | undefined;
  return ((...args: unknown[]) => (fn ??= kernel32().func(proto) as unknown as F)(...args)) as F;
}

// --- constants ---------------------------------------------------------------------------------

export const INVALID_HANDLE_VALUE = 0xffff_ffff_ffff_ffffn;
export const HANDLE_FLAG_INHERIT = 0x1;
export const HANDLE_FLAG_PROTECT_FROM_CLOSE = 0x2;

export const PIPE_ACCESS_INBOUND = 0x1;
export const PIPE_ACCESS_OUTBOUND = 0x2;
export const PIPE_ACCESS_DUPLEX = 0x3;
export const FILE_FLAG_FIRST_PIPE_INSTANCE = 0x0008_0000;
export const FILE_FLAG_WRITE_THROUGH = 0x8000_0000;
export const FILE_FLAG_OVERLAPPED = 0x4000_0000;
export const WRITE_DAC = 0x0004_0000;
export const WRITE_OWNER = 0x0008_0000;

export const PIPE_TYPE_BYTE = 0x0;
export const PIPE_TYPE_MESSAGE = 0x4;
export const PIPE_READMODE_BYTE = 0x0;
export const PIPE_READMODE_MESSAGE = 0x2;
export const PIPE_WAIT = 0x0;
export const PIPE_NOWAIT = 0x1;
export const PIPE_ACCEPT_REMOTE_CLIENTS = 0x0;
export const PIPE_REJECT_REMOTE_CLIENTS = 0x8;
export const PIPE_UNLIMITED_INSTANCES = 255;
export const NMPWAIT_USE_DEFAULT_WAIT = 0;
export const NMPWAIT_WAIT_FOREVER = 0xffff_ffff;

export const GENERIC_READ = 0x8000_0000;
export const GENERIC_WRITE = 0x4000_0000;
export const FILE_READ_ATTRIBUTES = 0x80;
export const FILE_WRITE_ATTRIBUTES = 0x100;
export const OPEN_EXISTING = 3;
export const FILE_SHARE_READ = 0x1;
export const FILE_SHARE_WRITE = 0x2;
export const FILE_SHARE_DELETE = 0x4;
/** CreateFileW: fail if the file exists. */
export const CREATE_NEW = 1;
/** Access right to read an object's security descriptor (owner, DACL, label). */
export const READ_CONTROL = 0x0002_0000;
export const SECURITY_SQOS_PRESENT = 0x0010_0000;
export const SECURITY_IDENTIFICATION = 0x0001_0000;

export const FILE_TYPE_UNKNOWN = 0x0;
export const FILE_TYPE_DISK = 0x1;
export const FILE_TYPE_CHAR = 0x2;
export const FILE_TYPE_PIPE = 0x3;

export const DUPLICATE_CLOSE_SOURCE = 0x1;
export const DUPLICATE_SAME_ACCESS = 0x2;

// --- functions ---------------------------------------------------------------------------------

/** `BOOL CreatePipe(PHANDLE hReadPipe, PHANDLE hWritePipe, LPSECURITY_ATTRIBUTES lpPipeAttributes, DWORD nSize)`. Pass `null` attributes for non-inheritable handles. */
export const CreatePipe: (hReadPipe: Out<HANDLE>, hWritePipe: Out<HANDLE>, lpPipeAttributes: null, nSize: number) => boolean = bind(
  'bool __stdcall CreatePipe(_Out_ HANDLE *hReadPipe, _Out_ HANDLE *hWritePipe, void *lpPipeAttributes, uint32_t nSize)',
);

/** `HANDLE CreateNamedPipeW(LPCWSTR lpName, DWORD dwOpenMode, DWORD dwPipeMode, DWORD nMaxInstances, DWORD nOutBufferSize, DWORD nInBufferSize, DWORD nDefaultTimeOut, LPSECURITY_ATTRIBUTES lpSecurityAttributes)`. */
export const CreateNamedPipeW: (
  lpName: string,
  dwOpenMode: number,
  dwPipeMode: number,
  nMaxInstances: number,
  nOutBufferSize: number,
  nInBufferSize: number,
  nDefaultTimeOut: number,
  lpSecurityAttributes: bigint | Uint8Array | null,
) => HANDLE = bind(
  'HANDLE __stdcall CreateNamedPipeW(const char16_t *lpName, uint32_t dwOpenMode, uint32_t dwPipeMode, uint32_t nMaxInstances, uint32_t nOutBufferSize, uint32_t nInBufferSize, uint32_t nDefaultTimeOut, void *lpSecurityAttributes)',
);

/** `BOOL ConnectNamedPipe(HANDLE hNamedPipe, LPOVERLAPPED lpOverlapped)`. */
export const ConnectNamedPipe: (hNamedPipe: HANDLE, lpOverlapped: bigint | null) => boolean = bind('bool __stdcall ConnectNamedPipe(HANDLE hNamedPipe, void *lpOverlapped)');

/** `BOOL DisconnectNamedPipe(HANDLE hNamedPipe)`. */
export const DisconnectNamedPipe: (hNamedPipe: HANDLE) => boolean = bind('bool __stdcall DisconnectNamedPipe(HANDLE hNamedPipe)');

/** `BOOL WaitNamedPipeW(LPCWSTR lpNamedPipeName, DWORD nTimeOut)`. Blocks; there is no async form. */
export const WaitNamedPipeW: (lpNamedPipeName: string, nTimeOut: number) => boolean = bind('bool __stdcall WaitNamedPipeW(const char16_t *lpNamedPipeName, uint32_t nTimeOut)');

/** `HANDLE CreateFileW(LPCWSTR lpFileName, DWORD dwDesiredAccess, DWORD dwShareMode, LPSECURITY_ATTRIBUTES lpSecurityAttributes, DWORD dwCreationDisposition, DWORD dwFlagsAndAttributes, HANDLE hTemplateFile)`. */
export const CreateFileW: (
  lpFileName: string,
  dwDesiredAccess: number,
  dwShareMode: number,
  lpSecurityAttributes: bigint | Uint8Array | null,
  dwCreationDisposition: number,
  dwFlagsAndAttributes: number,
  hTemplateFile: HANDLE | null,
) => HANDLE = bind(
  'HANDLE __stdcall CreateFileW(const char16_t *lpFileName, uint32_t dwDesiredAccess, uint32_t dwShareMode, void *lpSecurityAttributes, uint32_t dwCreationDisposition, uint32_t dwFlagsAndAttributes, HANDLE hTemplateFile)',
);

/** `BOOL ReadFile(HANDLE hFile, LPVOID lpBuffer, DWORD nNumberOfBytesToRead, LPDWORD lpNumberOfBytesRead, LPOVERLAPPED lpOverlapped)`. */
export const ReadFile: (hFile: HANDLE, lpBuffer: Uint8Array | bigint, nNumberOfBytesToRead: number, lpNumberOfBytesRead: Out<number>, lpOverlapped: bigint | null) => boolean = bind(
  'bool __stdcall ReadFile(HANDLE hFile, void *lpBuffer, uint32_t nNumberOfBytesToRead, _Out_ uint32_t *lpNumberOfBytesRead, void *lpOverlapped)',
);

/** `BOOL WriteFile(HANDLE hFile, LPCVOID lpBuffer, DWORD nNumberOfBytesToWrite, LPDWORD lpNumberOfBytesWritten, LPOVERLAPPED lpOverlapped)`. */
export const WriteFile: (hFile: HANDLE, lpBuffer: Uint8Array | bigint, nNumberOfBytesToWrite: number, lpNumberOfBytesWritten: Out<number>, lpOverlapped: bigint | null) => boolean = bind(
  'bool __stdcall WriteFile(HANDLE hFile, const void *lpBuffer, uint32_t nNumberOfBytesToWrite, _Out_ uint32_t *lpNumberOfBytesWritten, void *lpOverlapped)',
);

/** `BOOL PeekNamedPipe(HANDLE hNamedPipe, LPVOID lpBuffer, DWORD nBufferSize, LPDWORD lpBytesRead, LPDWORD lpTotalBytesAvail, LPDWORD lpBytesLeftThisMessage)`. */
export const PeekNamedPipe: (
  hNamedPipe: HANDLE,
  lpBuffer: Uint8Array | null,
  nBufferSize: number,
  lpBytesRead: Out<number> | null,
  lpTotalBytesAvail: Out<number> | null,
  lpBytesLeftThisMessage: Out<number> | null,
) => boolean = bind(
  'bool __stdcall PeekNamedPipe(HANDLE hNamedPipe, void *lpBuffer, uint32_t nBufferSize, _Out_ uint32_t *lpBytesRead, _Out_ uint32_t *lpTotalBytesAvail, _Out_ uint32_t *lpBytesLeftThisMessage)',
);

/** `BOOL SetNamedPipeHandleState(HANDLE hNamedPipe, LPDWORD lpMode, LPDWORD lpMaxCollectionCount, LPDWORD lpCollectDataTimeout)`. */
export const SetNamedPipeHandleState: (hNamedPipe: HANDLE, lpMode: [number] | null, lpMaxCollectionCount: null, lpCollectDataTimeout: null) => boolean = bind(
  'bool __stdcall SetNamedPipeHandleState(HANDLE hNamedPipe, _Inout_ uint32_t *lpMode, void *lpMaxCollectionCount, void *lpCollectDataTimeout)',
);

/** `BOOL GetNamedPipeClientProcessId(HANDLE Pipe, PULONG ClientProcessId)`. */
export const GetNamedPipeClientProcessId: (pipe: HANDLE, clientProcessId: Out<number>) => boolean = bind('bool __stdcall GetNamedPipeClientProcessId(HANDLE Pipe, _Out_ uint32_t *ClientProcessId)');

/** `BOOL GetNamedPipeServerProcessId(HANDLE Pipe, PULONG ServerProcessId)`. */
export const GetNamedPipeServerProcessId: (pipe: HANDLE, serverProcessId: Out<number>) => boolean = bind('bool __stdcall GetNamedPipeServerProcessId(HANDLE Pipe, _Out_ uint32_t *ServerProcessId)');

/** `BOOL GetNamedPipeClientSessionId(HANDLE Pipe, PULONG ClientSessionId)`: the Terminal Services session of the client. */
export const GetNamedPipeClientSessionId: (pipe: HANDLE, sessionId: Out<number>) => boolean = bind('bool __stdcall GetNamedPipeClientSessionId(HANDLE Pipe, _Out_ uint32_t *ClientSessionId)');

/** `BOOL GetNamedPipeServerSessionId(HANDLE Pipe, PULONG ServerSessionId)`: the Terminal Services session of the server. */
export const GetNamedPipeServerSessionId: (pipe: HANDLE, sessionId: Out<number>) => boolean = bind('bool __stdcall GetNamedPipeServerSessionId(HANDLE Pipe, _Out_ uint32_t *ServerSessionId)');

/** `BOOL ProcessIdToSessionId(DWORD dwProcessId, DWORD *pSessionId)`: the Terminal Services session of a process. */
export const ProcessIdToSessionId: (pid: number, sessionId: Out<number>) => boolean = bind('bool __stdcall ProcessIdToSessionId(uint32_t dwProcessId, _Out_ uint32_t *pSessionId)');

/** `BOOL CloseHandle(HANDLE hObject)`. Never on a handle that has a Node fd: close the fd instead. */
export const CloseHandle: (hObject: HANDLE) => boolean = bind('bool __stdcall CloseHandle(HANDLE hObject)');

/** `BOOL SetHandleInformation(HANDLE hObject, DWORD dwMask, DWORD dwFlags)`. */
export const SetHandleInformation: (hObject: HANDLE, dwMask: number, dwFlags: number) => boolean = bind('bool __stdcall SetHandleInformation(HANDLE hObject, uint32_t dwMask, uint32_t dwFlags)');

/** `BOOL GetHandleInformation(HANDLE hObject, LPDWORD lpdwFlags)`. */
export const GetHandleInformation: (hObject: HANDLE, lpdwFlags: Out<number>) => boolean = bind('bool __stdcall GetHandleInformation(HANDLE hObject, _Out_ uint32_t *lpdwFlags)');

/** `DWORD GetFileType(HANDLE hFile)`. */
export const GetFileType: (hFile: HANDLE) => number = bind('uint32_t __stdcall GetFileType(HANDLE hFile)');

/** `BOOL DuplicateHandle(HANDLE hSourceProcessHandle, HANDLE hSourceHandle, HANDLE hTargetProcessHandle, LPHANDLE lpTargetHandle, DWORD dwDesiredAccess, BOOL bInheritHandle, DWORD dwOptions)`. */
export const DuplicateHandle: (
  hSourceProcessHandle: HANDLE,
  hSourceHandle: HANDLE,
  hTargetProcessHandle: HANDLE,
  lpTargetHandle: Out<HANDLE>,
  dwDesiredAccess: number,
  bInheritHandle: boolean,
  dwOptions: number,
) => boolean = bind(
  'bool __stdcall DuplicateHandle(HANDLE hSourceProcessHandle, HANDLE hSourceHandle, HANDLE hTargetProcessHandle, _Out_ HANDLE *lpTargetHandle, uint32_t dwDesiredAccess, bool bInheritHandle, uint32_t dwOptions)',
);

/** `HANDLE GetCurrentProcess(void)`: the pseudo-handle -1. */
export const GetCurrentProcess: () => HANDLE = bind('HANDLE __stdcall GetCurrentProcess()');
/** `BOOL CreateDirectoryW(LPCWSTR lpPathName, LPSECURITY_ATTRIBUTES lpSecurityAttributes)`. */
export const CreateDirectoryW: (path: string, sa: Uint8Array | null) => boolean = bind('bool __stdcall CreateDirectoryW(const char16_t *lpPathName, void *lpSecurityAttributes)');
/** `HANDLE GetCurrentThread(void)`: the pseudo-handle -2 (needs no close). */
export const GetCurrentThread: () => HANDLE = bind('HANDLE __stdcall GetCurrentThread()');

export const PROCESS_QUERY_LIMITED_INFORMATION = 0x1000;
/** `PROCESS_DUP_HANDLE`: what {@link DuplicateHandle} needs on a process handle to duplicate into (or out of) that process. */
export const PROCESS_DUP_HANDLE = 0x0040;
export const PROCESS_QUERY_INFORMATION = 0x0400;

/** `HANDLE OpenProcess(DWORD dwDesiredAccess, BOOL bInheritHandle, DWORD dwProcessId)`. Returns NULL (0n) on failure. */
export const OpenProcess: (dwDesiredAccess: number, bInheritHandle: boolean, dwProcessId: number) => HANDLE = bind(
  'HANDLE __stdcall OpenProcess(uint32_t dwDesiredAccess, bool bInheritHandle, uint32_t dwProcessId)',
);

/** `DWORD GetCurrentProcessId(void)`. */
export const GetCurrentProcessId: () => number = bind('uint32_t __stdcall GetCurrentProcessId()');

/** `BOOL GetProcessHandleCount(HANDLE hProcess, PDWORD pdwHandleCount)`. Wine 8 and 10 always answer 0. */
export const GetProcessHandleCount: (hProcess: HANDLE, pdwHandleCount: Out<number>) => boolean = bind('bool __stdcall GetProcessHandleCount(HANDLE hProcess, _Out_ uint32_t *pdwHandleCount)');

/** `HANDLE CreateEventW(LPSECURITY_ATTRIBUTES lpEventAttributes, BOOL bManualReset, BOOL bInitialState, LPCWSTR lpName)`. */
export const CreateEventW: (lpEventAttributes: null, bManualReset: boolean, bInitialState: boolean, lpName: string | null) => HANDLE = bind(
  'HANDLE __stdcall CreateEventW(void *lpEventAttributes, bool bManualReset, bool bInitialState, const char16_t *lpName)',
);

/** `BOOL CancelIoEx(HANDLE hFile, LPOVERLAPPED lpOverlapped)`: cancels one overlapped operation (or all with NULL). */
export const CancelIoEx: (hFile: HANDLE, lpOverlapped: bigint | null) => boolean = bind('bool __stdcall CancelIoEx(HANDLE hFile, void *lpOverlapped)');

/** `BOOL GetOverlappedResult(HANDLE hFile, LPOVERLAPPED lpOverlapped, LPDWORD lpNumberOfBytesTransferred, BOOL bWait)`. */
export const GetOverlappedResult: (hFile: HANDLE, lpOverlapped: bigint, lpNumberOfBytesTransferred: Out<number>, bWait: boolean) => boolean = bind(
  'bool __stdcall GetOverlappedResult(HANDLE hFile, void *lpOverlapped, _Out_ uint32_t *lpNumberOfBytesTransferred, bool bWait)',
);

/** `VOID CALLBACK WaitOrTimerCallback(PVOID lpParameter, BOOLEAN TimerOrWaitFired)`: the callback type for {@link RegisterWaitForSingleObject}. */
export const WAITORTIMERCALLBACK = 'void __stdcall WaitOrTimerCallback(void *lpParameter, uint8_t TimerOrWaitFired)';

/** `BOOL RegisterWaitForSingleObject(PHANDLE phNewWaitObject, HANDLE hObject, WAITORTIMERCALLBACK Callback, PVOID Context, ULONG dwMilliseconds, ULONG dwFlags)`. `Callback` is a `koffi.register`-ed pointer. */
export const RegisterWaitForSingleObject: (phNewWaitObject: Out<HANDLE>, hObject: HANDLE, callback: bigint, context: bigint, dwMilliseconds: number, dwFlags: number) => boolean = bind(
  'bool __stdcall RegisterWaitForSingleObject(_Out_ HANDLE *phNewWaitObject, HANDLE hObject, void *Callback, void *Context, uint32_t dwMilliseconds, uint32_t dwFlags)',
);

/** `BOOL UnregisterWaitEx(HANDLE WaitHandle, HANDLE CompletionEvent)`. Pass `null` (never INVALID_HANDLE_VALUE from JS: that blocks on a callback that needs this thread). */
export const UnregisterWaitEx: (waitHandle: HANDLE, completionEvent: HANDLE | null) => boolean = bind('bool __stdcall UnregisterWaitEx(HANDLE WaitHandle, HANDLE CompletionEvent)');

/** `HLOCAL LocalFree(HLOCAL hMem)`. */
export const LocalFree: (hMem: bigint) => bigint = bind('void * __stdcall LocalFree(void *hMem)');

export const INFINITE = 0xffff_ffff;
export const WT_EXECUTEONLYONCE = 0x8;
export const WT_EXECUTEINWAITTHREAD = 0x4;

/** `DWORD GetLastError(void)`: call it right after the failing call, before any other. */
export const GetLastError: () => number = bind('uint32_t __stdcall GetLastError()');

// --- I/O completion port (src/windows/overlapped.ts) ----------------------------------------------

/** `HANDLE CreateIoCompletionPort(HANDLE FileHandle, HANDLE ExistingCompletionPort, ULONG_PTR CompletionKey, DWORD NumberOfConcurrentThreads)`: NULL on failure. */
export const CreateIoCompletionPort: (fileHandle: HANDLE, existingPort: HANDLE | null, completionKey: bigint, threads: number) => HANDLE | null = bind(
  'HANDLE __stdcall CreateIoCompletionPort(HANDLE FileHandle, HANDLE ExistingCompletionPort, uintptr_t CompletionKey, uint32_t NumberOfConcurrentThreads)',
);

/** `BOOL SetFileCompletionNotificationModes(HANDLE FileHandle, UCHAR Flags)`. */
export const SetFileCompletionNotificationModes: (fileHandle: HANDLE, flags: number) => boolean = bind('bool __stdcall SetFileCompletionNotificationModes(HANDLE FileHandle, uint8_t Flags)');

/** `BOOL PostQueuedCompletionStatus(HANDLE CompletionPort, DWORD dwNumberOfBytesTransferred, ULONG_PTR dwCompletionKey, LPOVERLAPPED lpOverlapped)`. */
export const PostQueuedCompletionStatus: (port: HANDLE, bytes: number, key: bigint, overlapped: bigint | null) => boolean = bind(
  'bool __stdcall PostQueuedCompletionStatus(HANDLE CompletionPort, uint32_t dwNumberOfBytesTransferred, uintptr_t dwCompletionKey, void *lpOverlapped)',
);

/**
 * `BOOL GetQueuedCompletionStatusEx(HANDLE CompletionPort, LPOVERLAPPED_ENTRY lpCompletionPortEntries, ULONG ulCount, PULONG ulNumEntriesRemoved, DWORD dwMilliseconds, BOOL fAlertable)`,
 * run with koffi's `.async` on one libuv thread-pool thread: `done(err, ok)` runs on the JS thread.
 * `entries` and `removed` are native memory (koffi.alloc) that lives until `done` has run.
 */
export function GetQueuedCompletionStatusExAsync(port: HANDLE, entries: bigint, count: number, removed: bigint, ms: number, done: (err: unknown, ok: boolean) => void): void {
  gqcsEx ??= kernel32().func(
    'bool __stdcall GetQueuedCompletionStatusEx(HANDLE CompletionPort, void *lpCompletionPortEntries, uint32_t ulCount, void *ulNumEntriesRemoved, uint32_t dwMilliseconds, bool fAlertable)',
  );
  gqcsEx.async(port, entries, count, removed, ms, false, done);
}
/** The same call, synchronous: with `ms` 0 it only takes what is already queued (a poll). */
export const GetQueuedCompletionStatusEx: (port: HANDLE, entries: bigint, count: number, removed: bigint, ms: number, alertable: boolean) => boolean = bind(
  'bool __stdcall GetQueuedCompletionStatusEx(HANDLE CompletionPort, void *lpCompletionPortEntries, uint32_t ulCount, void *ulNumEntriesRemoved, uint32_t dwMilliseconds, bool fAlertable)',
);
let gqcsEx: ReturnType<ReturnType<typeof koffi.load>['func']> | undefined;

export const FILE_SKIP_COMPLETION_PORT_ON_SUCCESS = 0x1;
export const FILE_SKIP_SET_EVENT_ON_HANDLE = 0x2;
/** sizeof(OVERLAPPED_ENTRY) on 64-bit Windows: lpCompletionKey, lpOverlapped, Internal, dwNumberOfBytesTransferred (+ padding). */
export const OVERLAPPED_ENTRY_SIZE = 32;
export const WAIT_TIMEOUT = 258;

// --- listing pipes (winpipe ls: src/cli/ls.ts) ------------------------------------------------------

/**
 * sizeof(WIN32_FIND_DATAW): dwFileAttributes, three FILETIMEs, nFileSizeHigh/Low (a pipe's current
 * instance count), two reserved DWORDs, `WCHAR cFileName[MAX_PATH]`, `WCHAR cAlternateFileName[14]`.
 */
export const WIN32_FIND_DATAW_SIZE = 592;
/** Byte offset of `cFileName` (260 UTF-16 units, NUL-terminated) in WIN32_FIND_DATAW. */
export const WIN32_FIND_DATAW_FILENAME = 44;
/** Byte offset of `nFileSizeLow` in WIN32_FIND_DATAW: for a pipe, how many instances it has. */
export const WIN32_FIND_DATAW_SIZE_LOW = 32;

/**
 * `HANDLE FindFirstFileW(LPCWSTR lpFileName, LPWIN32_FIND_DATAW lpFindFileData)`: INVALID_HANDLE_VALUE
 * on failure. `data` is a Buffer of {@link WIN32_FIND_DATAW_SIZE} bytes. `\\.\pipe\*` lists pipes
 * (Wine 8 and 10 fail it with ERROR_BAD_DEV_TYPE, 66).
 */
export const FindFirstFileW: (lpFileName: string, data: Buffer) => HANDLE = bind('HANDLE __stdcall FindFirstFileW(const char16_t *lpFileName, void *lpFindFileData)');

/** `BOOL FindNextFileW(HANDLE hFindFile, LPWIN32_FIND_DATAW lpFindFileData)`: FALSE with ERROR_NO_MORE_FILES at the end. */
export const FindNextFileW: (hFindFile: HANDLE, data: Buffer) => boolean = bind('bool __stdcall FindNextFileW(HANDLE hFindFile, void *lpFindFileData)');

/** `BOOL FindClose(HANDLE hFindFile)`: a find handle is closed with this, never CloseHandle. */
export const FindClose: (hFindFile: HANDLE) => boolean = bind('bool __stdcall FindClose(HANDLE hFindFile)');

// --- creating a child (src/windows/spawn.ts) --------------------------------------------------------

export const CREATE_SUSPENDED = 0x4;
export const CREATE_UNICODE_ENVIRONMENT = 0x400;
export const EXTENDED_STARTUPINFO_PRESENT = 0x0008_0000;
export const CREATE_NO_WINDOW = 0x0800_0000;
export const STARTF_USESHOWWINDOW = 0x1;
export const STARTF_USESTDHANDLES = 0x100;
export const SW_HIDE = 0;
export const SW_SHOWDEFAULT = 10;
export const STD_INPUT_HANDLE = -10;
export const STD_OUTPUT_HANDLE = -11;
export const STD_ERROR_HANDLE = -12;
export const PROC_THREAD_ATTRIBUTE_PARENT_PROCESS = 0x0002_0000n;
export const PROC_THREAD_ATTRIBUTE_HANDLE_LIST = 0x0002_0002n;
/** sizeof(STARTUPINFOW) on 64-bit Windows; STARTUPINFOEXW adds `lpAttributeList` at this offset. */
export const STARTUPINFOW_SIZE = 104;
export const STARTUPINFOEXW_SIZE = 112;
/** sizeof(PROCESS_INFORMATION) on 64-bit Windows: hProcess, hThread, dwProcessId, dwThreadId. */
export const PROCESS_INFORMATION_SIZE = 24;
export const STILL_ACTIVE = 259;

/**
 * `BOOL CreateProcessW(LPCWSTR lpApplicationName, LPWSTR lpCommandLine, LPSECURITY_ATTRIBUTES lpProcessAttributes, LPSECURITY_ATTRIBUTES lpThreadAttributes, BOOL bInheritHandles, DWORD dwCreationFlags, LPVOID lpEnvironment, LPCWSTR lpCurrentDirectory, LPSTARTUPINFOW lpStartupInfo, LPPROCESS_INFORMATION lpProcessInformation)`.
 * `lpCommandLine` must be writable: a Buffer of NUL-terminated UTF-16.
 */
export const CreateProcessW: (
  lpApplicationName: string | null,
  lpCommandLine: Buffer,
  lpProcessAttributes: null,
  lpThreadAttributes: null,
  bInheritHandles: boolean,
  dwCreationFlags: number,
  lpEnvironment: Buffer | null,
  lpCurrentDirectory: string | null,
  lpStartupInfo: Buffer,
  lpProcessInformation: Buffer,
) => boolean = bind(
  'bool __stdcall CreateProcessW(const char16_t *lpApplicationName, void *lpCommandLine, void *lpProcessAttributes, void *lpThreadAttributes, bool bInheritHandles, uint32_t dwCreationFlags, void *lpEnvironment, const char16_t *lpCurrentDirectory, void *lpStartupInfo, void *lpProcessInformation)',
);

/** `BOOL InitializeProcThreadAttributeList(LPPROC_THREAD_ATTRIBUTE_LIST lpAttributeList, DWORD dwAttributeCount, DWORD dwFlags, PSIZE_T lpSize)`: call with NULL first for the size. */
export const InitializeProcThreadAttributeList: (lpAttributeList: bigint | null, dwAttributeCount: number, dwFlags: number, lpSize: [bigint]) => boolean = bind(
  'bool __stdcall InitializeProcThreadAttributeList(void *lpAttributeList, uint32_t dwAttributeCount, uint32_t dwFlags, _Inout_ uint64_t *lpSize)',
);

/** `BOOL UpdateProcThreadAttribute(LPPROC_THREAD_ATTRIBUTE_LIST lpAttributeList, DWORD dwFlags, DWORD_PTR Attribute, PVOID lpValue, SIZE_T cbSize, PVOID lpPreviousValue, PSIZE_T lpReturnSize)`. `lpValue` must live until the list is deleted. */
export const UpdateProcThreadAttribute: (lpAttributeList: bigint, dwFlags: number, attribute: bigint, lpValue: bigint, cbSize: bigint, lpPreviousValue: null, lpReturnSize: null) => boolean = bind(
  'bool __stdcall UpdateProcThreadAttribute(void *lpAttributeList, uint32_t dwFlags, uintptr_t Attribute, void *lpValue, uintptr_t cbSize, void *lpPreviousValue, void *lpReturnSize)',
);

/** `VOID DeleteProcThreadAttributeList(LPPROC_THREAD_ATTRIBUTE_LIST lpAttributeList)`. */
export const DeleteProcThreadAttributeList: (lpAttributeList: bigint) => void = bind('void __stdcall DeleteProcThreadAttributeList(void *lpAttributeList)');

/** `BOOL TerminateProcess(HANDLE hProcess, UINT uExitCode)`. */
export const TerminateProcess: (hProcess: HANDLE, uExitCode: number) => boolean = bind('bool __stdcall TerminateProcess(HANDLE hProcess, uint32_t uExitCode)');

/** `BOOL GetExitCodeProcess(HANDLE hProcess, LPDWORD lpExitCode)`: {@link STILL_ACTIVE} while it runs. */
export const GetExitCodeProcess: (hProcess: HANDLE, lpExitCode: Out<number>) => boolean = bind('bool __stdcall GetExitCodeProcess(HANDLE hProcess, _Out_ uint32_t *lpExitCode)');

/** `HANDLE GetStdHandle(DWORD nStdHandle)`: NULL or INVALID_HANDLE_VALUE when there is none. */
export const GetStdHandle: (nStdHandle: number) => HANDLE = bind('HANDLE __stdcall GetStdHandle(int32_t nStdHandle)');

/** `DWORD GetConsoleProcessList(LPDWORD lpdwProcessList, DWORD dwProcessCount)`: 0 when this process is attached to no console. */
export const GetConsoleProcessList: (lpdwProcessList: Out<number>, dwProcessCount: number) => number = bind(
  'uint32_t __stdcall GetConsoleProcessList(_Out_ uint32_t *lpdwProcessList, uint32_t dwProcessCount)',
);

/** `HMODULE GetModuleHandleW(LPCWSTR lpModuleName)`: a module already loaded, not referenced again; 0 if none. */
export const GetModuleHandleW: (lpModuleName: string) => HANDLE = bind('HANDLE __stdcall GetModuleHandleW(const char16_t *lpModuleName)');

/** `FARPROC GetProcAddress(HMODULE hModule, LPCSTR lpProcName)`: 0 if the module has no such export. */
export const GetProcAddress: (hModule: HANDLE, lpProcName: string) => bigint = bind('HANDLE __stdcall GetProcAddress(HANDLE hModule, const char *lpProcName)');

// --- kill-on-close jobs (src/windows/spawn.ts) ------------------------------------------------------

/** `JOBOBJECTINFOCLASS JobObjectExtendedLimitInformation`: a JOBOBJECT_EXTENDED_LIMIT_INFORMATION. */
export const JobObjectExtendedLimitInformation = 9;
/** sizeof(JOBOBJECT_EXTENDED_LIMIT_INFORMATION) on 64-bit Windows; `LimitFlags` is the DWORD at {@link JOB_LIMIT_FLAGS_OFFSET}. */
export const JOBOBJECT_EXTENDED_LIMIT_INFORMATION_SIZE = 144;
export const JOB_LIMIT_FLAGS_OFFSET = 16;
/** Every process in the job is terminated when its last handle closes. */
export const JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE = 0x2000;
/** A process in the job may create a child outside it, by asking (`CREATE_BREAKAWAY_FROM_JOB`). */
export const JOB_OBJECT_LIMIT_BREAKAWAY_OK = 0x800;
/** `PROCESS_ALL_ACCESS`-free rights `OpenProcess` needs for {@link AssignProcessToJobObject}. */
export const PROCESS_SET_QUOTA = 0x0100;
export const PROCESS_TERMINATE = 0x0001;
export const SYNCHRONIZE = 0x0010_0000;

/** `HANDLE CreateJobObjectW(LPSECURITY_ATTRIBUTES lpJobAttributes, LPCWSTR lpName)`: NULL (0n) on failure. Pass `null` attributes for a non-inheritable handle. */
export const CreateJobObjectW: (lpJobAttributes: null, lpName: string | null) => HANDLE = bind('HANDLE __stdcall CreateJobObjectW(void *lpJobAttributes, const char16_t *lpName)');

/** `BOOL SetInformationJobObject(HANDLE hJob, JOBOBJECTINFOCLASS JobObjectInformationClass, LPVOID lpJobObjectInformation, DWORD cbJobObjectInformationLength)`. */
export const SetInformationJobObject: (hJob: HANDLE, infoClass: number, info: Buffer, length: number) => boolean = bind(
  'bool __stdcall SetInformationJobObject(HANDLE hJob, int JobObjectInformationClass, void *lpJobObjectInformation, uint32_t cbJobObjectInformationLength)',
);

/** `BOOL AssignProcessToJobObject(HANDLE hJob, HANDLE hProcess)`: the process needs `PROCESS_SET_QUOTA | PROCESS_TERMINATE`. */
export const AssignProcessToJobObject: (hJob: HANDLE, hProcess: HANDLE) => boolean = bind('bool __stdcall AssignProcessToJobObject(HANDLE hJob, HANDLE hProcess)');

/** `BOOL IsProcessInJob(HANDLE ProcessHandle, HANDLE JobHandle, PBOOL Result)`. */
export const IsProcessInJob: (hProcess: HANDLE, hJob: HANDLE, result: Out<number>) => boolean = bind('bool __stdcall IsProcessInJob(HANDLE ProcessHandle, HANDLE JobHandle, _Out_ int *Result)');

/** `DWORD ResumeThread(HANDLE hThread)`: the previous suspend count, or `0xFFFFFFFF` on failure. */
export const ResumeThread: (hThread: HANDLE) => number = bind('uint32_t __stdcall ResumeThread(HANDLE hThread)');

/** `DWORD WaitForSingleObject(HANDLE hHandle, DWORD dwMilliseconds)`: `WAIT_OBJECT_0` (0), {@link WAIT_TIMEOUT}, or `WAIT_FAILED`. Blocks the calling thread. */
export const WaitForSingleObject: (hHandle: HANDLE, dwMilliseconds: number) => number = bind('uint32_t __stdcall WaitForSingleObject(HANDLE hHandle, uint32_t dwMilliseconds)');
