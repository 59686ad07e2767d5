/**
 * Overlapped I/O completed on the JS thread without holding any thread-pool thread while it waits.
 *
 * Each operation slot ({@link OverlappedSlot}) owns a native OVERLAPPED and an auto-reset
 * event. A pending operation registers a one-shot wait (`RegisterWaitForSingleObject`,
 * WT_EXECUTEONLYONCE) on the event; the Windows wait thread calls one koffi-registered callback,
 * shared by the whole process (koffi allows 8192), which koffi runs on the JS thread. There,
 * `GetOverlappedResult(..., FALSE)` gives the result.
 *
 * Lifetime rules (a violation is a crash, not an exception): the OVERLAPPED, the event and any
 * I/O buffer stay allocated until the operation has completed and its wait has fired. Cancel with
 * `CancelIoEx`; the completion (ERROR_OPERATION_ABORTED) still arrives through the callback, and
 * only then may the slot be freed. The callback is never unregistered.
 */
import koffi from 'koffi';
import { WIN32_ERRORS, win32Error } from '../errors.js';
import * as k32 from './kernel32.js';

/** sizeof(OVERLAPPED) on 64-bit Windows; hEvent is the last pointer. */
const OVERLAPPED_SIZE = 32;
const HEVENT_OFFSET = 24;

/** The outcome of one operation: `error` is the Win32 error (0 for success), `bytes` the count. */
export interface Completion {
  error: number;
  bytes: number;
}

// --- the process-wide callback and keep-alive -----------------------------------------------------

const pending = new Map<number, OverlappedSlot>();
let nextId = 1;
let callbackPtr: bigint | undefined;

function callback(): bigint {
  if (callbackPtr === undefined) {
    k32.defineTypes();
    const proto = koffi.proto(k32.WAITORTIMERCALLBACK);
    callbackPtr = koffi.register((context: bigint | number) => {
      const slot = pending.get(Number(context));
      if (slot) {
        pending.delete(Number(context));
        slot.signalled();
      }
    }, koffi.pointer(proto)) as bigint;
  }
  return callbackPtr;
}

// koffi's callback broker does not keep Node alive; this timer does, while a ref'd operation waits.
let refs = 0;
let keepAlive: NodeJS.Timeout | undefined;
function addRef(): void {
  if (refs++ === 0) {
    keepAlive ??= setInterval(() => {}, 0x3fff_ffff);
    keepAlive.ref();
  }
}
function dropRef(): void {
  if (--refs === 0) keepAlive?.unref();
}

/** Live counts, for leak checks in tests. */
export function overlappedStats(): { pendingWaits: number; keepAliveRefs: number } {
  return { pendingWaits: pending.size, keepAliveRefs: refs };
}

// --- one operation slot ----------------------------------------------------------------------------

/**
 * One reusable place for a single outstanding overlapped operation on `handle`.
 * Ownership: the slot owns its OVERLAPPED and event (freed by {@link OverlappedSlot.free});
 * it never owns `handle`.
 */
export class OverlappedSlot {
  readonly ov: bigint;
  readonly #event: k32.HANDLE;
  readonly #handle: k32.HANDLE;
  #wait: k32.HANDLE = 0n;
  #settle: ((c: Completion) => void) | undefined;
  #refed = true;
  #counted = false;
  #freed = false;
  #freeWhenDone = false;

  constructor(handle: k32.HANDLE) {
    this.#handle = handle;
    const event = k32.CreateEventW(null, false, false, null);
    if (!event) throw win32Error(k32.GetLastError(), 'CreateEventW');
    this.#event = event;
    this.ov = koffi.alloc('uint8_t', OVERLAPPED_SIZE) as bigint;
  }

  /** True while an operation is outstanding. */
  get busy(): boolean {
    return this.#settle !== undefined;
  }

  /**
   * Starts one operation: `issue(ov)` must call the overlapped API with this slot's OVERLAPPED
   * and return its BOOL. Resolves with the completion; never rejects for I/O errors (they are in
   * `error`), only throws synchronously if the slot is busy or the wait cannot be registered.
   */
  start(syscall: string, issue: (ov: bigint) => boolean): Promise<Completion> {
    if (this.#settle || this.#freed) throw new Error(`winpipe internal: ${syscall} on a busy or freed slot`);
    const view = new DataView(koffi.view(this.ov, OVERLAPPED_SIZE));
    for (let i = 0; i < HEVENT_OFFSET; i += 8) view.setBigUint64(i, 0n, true);
    view.setBigUint64(HEVENT_OFFSET, this.#event, true);

    const ok = issue(this.ov);
    const error = ok ? 0 : k32.GetLastError();
    if (error !== WIN32_ERRORS.ERROR_IO_PENDING) {
      // Finished at once (success, ERROR_MORE_DATA, ERROR_PIPE_CONNECTED or a failure). The event
      // may be signalled; the next operation resets it when it starts.
      const bytes: k32.Out<number> = [0];
      if (ok || error === WIN32_ERRORS.ERROR_MORE_DATA) k32.GetOverlappedResult(this.#handle, this.ov, bytes, false);
      return Promise.resolve({ error, bytes: bytes[0] });
    }
    return new Promise<Completion>((resolve) => {
      this.#settle = resolve;
      const id = nextId++;
      const wait: k32.Out<k32.HANDLE> = [0n];
      pending.set(id, this);
      // WT_EXECUTEINWAITTHREAD: the callback runs on the wait thread itself (one per 63 waits), so
      // at most ceil(waits / 63) threads call into koffi at once. By default each callback gets
      // its own worker thread, and a burst of hundreds of completions overflows koffi's queue of
      // cross-thread calls (max_async_calls, 256): node.exe then dies with a page fault.
      const flags = k32.WT_EXECUTEONLYONCE | k32.WT_EXECUTEINWAITTHREAD;
      if (!k32.RegisterWaitForSingleObject(wait, this.#event, callback(), BigInt(id), k32.INFINITE, flags)) {
        const e = k32.GetLastError();
        pending.delete(id);
        // The I/O is in flight and nobody will hear of it: cancel it and wait for it blockingly,
        // the only way to know the kernel is done with the OVERLAPPED. This path is for
        // resource exhaustion only.
        k32.CancelIoEx(this.#handle, this.ov);
        k32.GetOverlappedResult(this.#handle, this.ov, [0], true);
        this.#settle = undefined;
        throw win32Error(e, 'RegisterWaitForSingleObject');
      }
      this.#wait = wait[0];
      this.#count(true);
    });
  }

  /** Requests cancellation of the outstanding operation; its completion still arrives. */
  cancel(): void {
    if (this.#settle) k32.CancelIoEx(this.#handle, this.ov);
  }

  /** Whether a pending operation keeps the process alive. */
  ref(refed: boolean): void {
    this.#refed = refed;
    if (this.#settle) this.#count(refed);
  }

  /** Frees the OVERLAPPED and event, now or, if an operation is outstanding, once it completes. */
  free(): void {
    if (this.#freed) return;
    if (this.#settle) {
      this.#freeWhenDone = true;
      return;
    }
    this.#freed = true;
    k32.CloseHandle(this.#event);
    koffi.free(this.ov);
  }

  /** @internal Called by the shared callback, on the JS thread, after the event fired. */
  signalled(): void {
    // Non-blocking unregister: this very wait is the one calling us, so a blocking one would deadlock.
    k32.UnregisterWaitEx(this.#wait, null);
    this.#wait = 0n;
    const bytes: k32.Out<number> = [0];
    const ok = k32.GetOverlappedResult(this.#handle, this.ov, bytes, false);
    const completion = { error: ok ? 0 : k32.GetLastError(), bytes: bytes[0] };
    const settle = this.#settle!;
    this.#settle = undefined;
    this.#count(false);
    if (this.#freeWhenDone) this.free();
    settle(completion);
  }

  #count(on: boolean): void {
    const want = on && this.#refed;
    if (want === this.#counted) return;
    this.#counted = want;
    if (want) addRef();
    else dropRef();
  }
}

/** Native memory for an I/O buffer that must outlive the JS call that started the I/O. */
export class NativeBuffer {
  readonly ptr: bigint;
  readonly size: number;
  #freed = false;
  constructor(size: number) {
    this.size = size;
    this.ptr = koffi.alloc('uint8_t', Math.max(1, size)) as bigint;
  }
  /** Copies `bytes` in at `offset`. */
  write(bytes: Uint8Array, offset = 0): void {
    if (bytes.byteLength) new Uint8Array(koffi.view(this.ptr, this.size)).set(bytes, offset);
  }
  /** A copy of the first `n` bytes, as a Buffer the GC owns. */
  read(n: number): Buffer {
    return n === 0 ? Buffer.alloc(0) : Buffer.from(new Uint8Array(koffi.view(this.ptr, n)));
  }
  /** Only once no I/O can touch it any more. */
  free(): void {
    if (!this.#freed) {
      this.#freed = true;
      koffi.free(this.ptr);
    }
  }
}
