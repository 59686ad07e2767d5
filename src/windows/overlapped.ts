/**
 * Overlapped I/O completed on the JS thread without holding a thread-pool thread per operation.
 *
 * The engine (docs/architecture.md, "How named pipes work on Windows"): one I/O completion port for the whole process.
 * - Every handle a slot serves is associated with the port once, with
 *   `FILE_SKIP_COMPLETION_PORT_ON_SUCCESS | FILE_SKIP_SET_EVENT_ON_HANDLE`: an operation that
 *   completes at once costs its one system call and nothing else (no event, no packet, no wait).
 * - Operations that go pending are completed by one koffi `.async` `GetQueuedCompletionStatusEx`
 *   call, which takes up to {@link BATCH} completions per return. It holds exactly one libuv
 *   thread-pool thread for the process while any port operation is pending, whatever their
 *   number, and none when nothing is pending.
 * - A handle that cannot join the port (it already belongs to another one, e.g. a handle a child
 *   inherited from a parent that associated it), or one that must not (a byte-mode instance that
 *   libuv's own port takes once connected), is served as before: an auto-reset event and a
 *   one-shot `RegisterWaitForSingleObject` with one koffi callback shared by the process (koffi
 *   allows 8192 registrations). Its OVERLAPPED's hEvent carries the low bit, so that no packet is
 *   queued to a port it may belong to.
 *
 * Lifetime rules (a violation is a crash, not an exception): an OVERLAPPED, its event and any I/O
 * buffer stay allocated until the operation has completed and its packet or wait was seen. Cancel
 * with `CancelIoEx`; the completion (ERROR_OPERATION_ABORTED) still arrives, and only then may the
 * slot be freed. The wait callback is never unregistered; the port is never closed.
 */
import koffi from 'koffi';
import { WIN32_ERRORS, win32Error } from '../errors.js';
import * as k32 from './kernel32.js';

/** sizeof(OVERLAPPED) on 64-bit Windows: Internal (the NTSTATUS), InternalHigh (bytes), Offset/OffsetHigh, hEvent. */
const OVERLAPPED_SIZE = 32;
const INTERNAL_HIGH_OFFSET = 8;
const HEVENT_OFFSET = 24;
/** NTSTATUS values of a finished operation that map to a Win32 result without a call. */
const STATUS_SUCCESS = 0;
const STATUS_BUFFER_OVERFLOW = 0x8000_0005;
/** Completions taken per GetQueuedCompletionStatusEx return. */
const BATCH = 64;
/** Completion key of the packets we post ourselves to wake the drain. */
const WAKE_KEY = 1n;
/** The drain's timeout while a ref'd operation is pending: bounds how long a pool thread stays blocked after exit starts. */
const DRAIN_MS_REFED = 1000;
/** The drain's timeout while only unref'd operations are pending: the process may exit after at most this. */
const DRAIN_MS_UNREFED = 50;

/** The outcome of one operation: `error` is the Win32 error (0 for success), `bytes` the count. */
export interface Completion {
  error: number;
  bytes: number;
}

// --- keep-alive ------------------------------------------------------------------------------------

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
  if (--refs === 0) {
    keepAlive?.unref();
    // A drain armed with the long timeout would hold the process: wake it to re-arm unref'd. Not
    // at once: a caller that refs only while a call is pending (winpipe/connection's recv) drops
    // to 0 and back between two messages, and a wake per message costs a packet and a pool-thread
    // round of its own. One loop turn later, still 0, it is for real.
    if (draining && !wakeCheck) {
      wakeCheck = setImmediate(() => {
        wakeCheck = undefined;
        if (refs === 0 && draining) wake();
      });
      // Kept ref'd: an unref'd immediate would not keep the loop from blocking in its poll until
      // the drain's long timeout, which is what the wake is there to cut short.
    }
  }
}
let wakeCheck: NodeJS.Immediate | undefined;

// --- the registered-wait fallback ------------------------------------------------------------------

const waits = new Map<number, { signalled(): void }>();
let nextId = 1;
let callbackPtr: bigint | undefined;

/**
 * Every registered wait this process holds (the lent events' and the pending ObjectWaits'). At
 * 'exit' they are all unregistered: a wait that fires while Node tears the process down (a child
 * ended by a kill-on-close job, say) would have koffi post its call to a libuv async handle that
 * is already closing, and node.exe aborts (libuv's `!(handle->flags & UV_HANDLE_CLOSING)`
 * assertion, seen once on node.exe 26 under Wine 10).
 */
const registeredWaits = new Set<k32.HANDLE>();
let exitHookSet = false;
function trackWait(wait: k32.HANDLE): void {
  registeredWaits.add(wait);
  if (exitHookSet) return;
  exitHookSet = true;
  process.once('exit', () => {
    // Non-blocking (no completion event): a callback blocked on the JS thread must not be waited for here.
    for (const w of registeredWaits) k32.UnregisterWaitEx(w, null);
    registeredWaits.clear();
  });
}
function untrackWait(wait: k32.HANDLE): void {
  registeredWaits.delete(wait);
}

function callback(): bigint {
  if (callbackPtr === undefined) {
    k32.defineTypes();
    const proto = koffi.proto(k32.WAITORTIMERCALLBACK);
    callbackPtr = koffi.register((context: bigint | number) => {
      const id = Number(context);
      const once = waits.get(id);
      if (once) {
        waits.delete(id);
        once.signalled();
        return;
      }
      events.get(id)?.slot?.signalled();
    }, koffi.pointer(proto)) as bigint;
  }
  return callbackPtr;
}

/**
 * An auto-reset event of the wait fallback with its own persistent registered wait (not
 * WT_EXECUTEONLYONCE), kept for the life of the process and lent to one slot at a time. Why: every
 * byte-mode accept runs on the fallback, and a fresh event and one-shot wait per operation cost
 * CreateEventW, RegisterWaitForSingleObject, UnregisterWaitEx and CloseHandle, each a wineserver
 * request under Wine (with the wait thread woken twice to take the wait up and drop it). A lent
 * event costs nothing until its operation completes.
 *
 * The wait fires for every signal of the event, also one that no pending operation of the
 * current slot caused: a synchronous completion sets the event too (here or under its previous
 * slot). A one-shot wait registered per pending operation never saw those, since each I/O call
 * resets its event when it starts; a persistent wait may take the stray signal after that reset
 * instead. So the slot settles only once its OVERLAPPED is no longer STATUS_PENDING. That status is
 * written by the thread that issued the I/O (ours: the I/O manager's completion APC, Wine's
 * APC_ASYNC_IO), so it is never read half-written. Ownership: the pool owns the events; a slot
 * only borrows one, from its constructor until free().
 */
interface LentEvent {
  readonly event: k32.HANDLE;
  readonly id: number;
  /** The slot whose pending operation the next signal may complete. */
  slot: OverlappedSlot | undefined;
}
const events = new Map<number, LentEvent>();
const idleEvents: LentEvent[] = [];
/** Slots waiting on a lent event right now (for overlappedStats). */
let boundEvents = 0;
/** STATUS_PENDING: the OVERLAPPED's status while its operation is outstanding. */
const STATUS_PENDING = 0x103;

function lendEvent(): LentEvent {
  const idle = idleEvents.pop();
  if (idle) return idle;
  const event = k32.CreateEventW(null, false, false, null);
  if (!event) throw win32Error(k32.GetLastError(), 'CreateEventW');
  const id = nextId++;
  const wait: k32.Out<k32.HANDLE> = [0n];
  // WT_EXECUTEINWAITTHREAD: the callback runs on the wait thread itself (one per 63 waits), so
  // at most ceil(waits / 63) threads call into koffi at once. By default each callback gets
  // its own worker thread, and a burst of hundreds of completions overflows koffi's queue of
  // cross-thread calls (max_async_calls, 256): node.exe then dies with a page fault.
  if (!k32.RegisterWaitForSingleObject(wait, event, callback(), BigInt(id), k32.INFINITE, k32.WT_EXECUTEINWAITTHREAD)) {
    const e = k32.GetLastError();
    k32.CloseHandle(event);
    throw win32Error(e, 'RegisterWaitForSingleObject');
  }
  trackWait(wait[0]);
  const lent: LentEvent = { event, id, slot: undefined };
  events.set(id, lent);
  return lent;
}

// --- the completion port ---------------------------------------------------------------------------

let port: k32.HANDLE | null | undefined;
/** Pending port operations by OVERLAPPED address. */
const inFlight = new Map<number, OverlappedSlot>();
/** OVERLAPPEDs retired after a synchronous warning status (ERROR_MORE_DATA) that may still get a packet. */
const strays = new Set<number>();
/** Handle values this process associated with the port (an association lasts as long as the handle). */
const associated = new Set<bigint>();
let draining = false;
let entries: bigint | undefined;
let entriesView: DataView | undefined;

function thePort(): k32.HANDLE | null {
  if (port === undefined) {
    port = k32.CreateIoCompletionPort(k32.INVALID_HANDLE_VALUE, null, 0n, 1) || null;
    if (port) {
      // Ownership: the port lives as long as the process; the slot that entries + 4 bytes hold.
      entries = koffi.alloc('uint8_t', BATCH * k32.OVERLAPPED_ENTRY_SIZE + 8) as bigint;
      entriesView = new DataView(koffi.view(entries, BATCH * k32.OVERLAPPED_ENTRY_SIZE + 8));
      // A pool thread blocked in the drain must not hold up libuv's shutdown.
      process.once('exit', () => {
        if (draining) wake();
      });
    }
  }
  return port;
}

/** Joins `handle` to the port; false if it cannot (it belongs to another port). */
function associate(handle: k32.HANDLE): boolean {
  const p = thePort();
  if (!p) return false;
  if (k32.CreateIoCompletionPort(handle, p, 0n, 0)) {
    associated.add(handle);
    k32.SetFileCompletionNotificationModes(handle, k32.FILE_SKIP_COMPLETION_PORT_ON_SUCCESS | k32.FILE_SKIP_SET_EVENT_ON_HANDLE);
    return true;
  }
  // Already ours: the same handle served again (an accepted instance becoming a connection).
  return associated.has(handle);
}

function wake(): void {
  if (port) k32.PostQueuedCompletionStatus(port, 0, WAKE_KEY, null);
}

/** A poll of the port on the JS thread is scheduled (setImmediate): the drain is not armed meanwhile. */
let polling = false;
/** Looks at the port scheduled on the JS thread since the process started. */
let polls = 0;

/**
 * Waits for completions: on the JS thread first while they keep coming, else on the pool thread.
 *
 * Why both: a completion that reaches JS through the pool thread costs two thread hops (the
 * pool thread wakes, then wakes the loop through libuv), and under load each hop waits for a
 * time slice. While completions keep arriving (a busy fan-in), one non-blocking
 * GetQueuedCompletionStatusEx per loop turn takes whatever is there with no hop at all. The first
 * poll that finds nothing hands over to the blocking drain, so an idle process never spins.
 *
 * What must hold: while an operation is in flight, something looks at the port within a bounded
 * time, whatever state earlier operations left behind. That is the drain (woken by any packet),
 * a scheduled poll (a ref'd immediate: it runs on the next loop turn), or, while only unref'd
 * operations are pending, an unref'd timer that arms the drain (libuv's poll phase wakes for any
 * due timer, ref'd or not). Nothing else wakes the loop for us: a packet in our port is invisible
 * to libuv, which blocks in its own port meanwhile.
 */
function arm(): void {
  if (draining || polling || inFlight.size === 0 || !port) return;
  draining = true;
  const removed = entries! + BigInt(BATCH * k32.OVERLAPPED_ENTRY_SIZE);
  k32.GetQueuedCompletionStatusExAsync(port, entries!, BATCH, removed, refs > 0 ? DRAIN_MS_REFED : DRAIN_MS_UNREFED, onDrained);
}

function onDrained(err: unknown, ok: boolean): void {
  draining = false;
  const n = !err && ok ? entriesView!.getUint32(BATCH * k32.OVERLAPPED_ENTRY_SIZE, true) : 0;
  next(dispatch(n));
}

/** One non-blocking look at the port, on the JS thread. */
function poll(): void {
  polling = false;
  if (draining) return;
  if (inFlight.size === 0) {
    // Polling ends here too, not only at an empty look: a streak left standing would send the
    // next single completion, of whatever connection comes later, back into polling.
    pollStreak = 0;
    return;
  }
  const removed = entries! + BigInt(BATCH * k32.OVERLAPPED_ENTRY_SIZE);
  const ok = k32.GetQueuedCompletionStatusEx(port!, entries!, BATCH, removed, 0, false);
  next(ok ? dispatch(entriesView!.getUint32(BATCH * k32.OVERLAPPED_ENTRY_SIZE, true)) : 0);
}

/** After a batch of `got` completions of ours: poll again next turn while they come, else block. */
function next(got: number): void {
  // Not "nothing in flight, stop" before polling: the slots just settled re-issue their operations
  // in microtasks that run after this returns; their arm() finds `polling` set and leaves it to poll().
  if (got > 1 || (got === 1 && pollStreak > 0)) {
    // Two or more at once means several operations are in flight and busy: keep polling. One at
    // a time (a ping-pong) goes back to the blocking drain at once, where it costs no extra call.
    pollStreak++;
    polling = true;
    polls++;
    // Always ref'd, even while no ref'd operation is pending. An unref'd immediate does not keep
    // libuv's poll phase from blocking: scheduled from a poll (the check phase), it would wait
    // for whatever else wakes the loop next, seconds later, while the operations re-issued
    // meanwhile find `polling` set and arm nothing. Nor can `refs` decide it here: it reads 0
    // between a batch and the re-issues that follow in microtasks. A ref'd immediate holds the
    // process one turn past the last completion: the first poll that finds nothing goes on below,
    // where unref'd operations arm the drain by an unref'd timer.
    setImmediate(poll);
    return;
  }
  pollStreak = 0;
  if (inFlight.size === 0) return;
  if (refs > 0) arm();
  else setTimeout(arm, 0).unref();
}
let pollStreak = 0;

/** Settles the slots of the first `n` entries; returns how many were ours. */
function dispatch(n: number): number {
  const view = entriesView!;
  let got = 0;
  for (let i = 0; i < n; i++) {
    const at = i * k32.OVERLAPPED_ENTRY_SIZE;
    if (view.getBigUint64(at, true) === WAKE_KEY) continue;
    const ov = Number(view.getBigUint64(at + 8, true));
    const slot = inFlight.get(ov);
    if (slot) {
      inFlight.delete(ov);
      got++;
      slot.completed(view.getUint32(at + 24, true));
    } else if (strays.delete(ov)) {
      koffi.free(BigInt(ov));
    }
    // Anything else is not ours (a packet for I/O another process issued on a shared file object).
  }
  return got;
}

/**
 * How many non-blocking looks at the port the JS thread has scheduled, for tests: a single
 * completion after the engine went idle must schedule none (the drain serves it at no extra call).
 */
export function overlappedPolls(): number {
  return polls;
}

/** Live counts, for leak checks in tests: pending operations (waits and port) and keep-alive refs. */
export function overlappedStats(): { pendingWaits: number; keepAliveRefs: number } {
  return { pendingWaits: waits.size + boundEvents + inFlight.size, keepAliveRefs: refs };
}

// --- one operation slot ----------------------------------------------------------------------------

/** Options of {@link OverlappedSlot}. */
export interface OverlappedSlotOptions {
  /**
   * Serve the handle through the process's completion port (default true). Pass false for a
   * handle another port must take later (a byte-mode instance handed to libuv once connected).
   */
  port?: boolean;
}

/**
 * One reusable place for a single outstanding overlapped operation on `handle`.
 * Ownership: the slot owns its OVERLAPPED (and, in the wait fallback, its event), freed by
 * {@link OverlappedSlot.free}; it never owns `handle`.
 */
export class OverlappedSlot {
  ov: bigint;
  readonly #handle: k32.HANDLE;
  readonly #port: boolean;
  readonly #lent: LentEvent | undefined;
  /** The hEvent value the OVERLAPPED carries: 0 on the port, the event with the low bit set otherwise. */
  readonly #hEvent: bigint = 0n;
  #settle: ((c: Completion) => void) | undefined;
  #refed = true;
  #counted = false;
  #freed = false;
  #freeWhenDone = false;
  /** A view of the OVERLAPPED: its status and byte count are read there, with no call. */
  #view: DataView;

  constructor(handle: k32.HANDLE, options: OverlappedSlotOptions = {}) {
    this.#handle = handle;
    this.#port = options.port !== false && associate(handle);
    if (!this.#port) {
      this.#lent = lendEvent();
      const event = this.#lent.event;
      // Low bit: no completion packet, should the file belong to some port (ours or another's).
      this.#hEvent = options.port === false ? event : event | 1n;
    }
    this.ov = 0n;
    this.#view = undefined as unknown as DataView;
    this.#setOverlapped(koffi.alloc('uint8_t', OVERLAPPED_SIZE) as bigint);
  }

  /** Ownership: the slot takes `ov` (native memory of OVERLAPPED_SIZE bytes); one view of it, made once. */
  #setOverlapped(ov: bigint): void {
    this.ov = ov;
    this.#view = new DataView(koffi.view(ov, OVERLAPPED_SIZE));
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
    const c = this.issue(syscall, issue);
    return c instanceof Promise ? c : Promise.resolve(c);
  }

  /**
   * {@link OverlappedSlot.start}, but an operation that finished at once returns its completion
   * synchronously: a read or write loop then goes on without a promise or a microtask per message.
   */
  issue(syscall: string, issue: (ov: bigint) => boolean): Completion | Promise<Completion> {
    if (this.#settle || this.#freed) throw new Error(`winpipe internal: ${syscall} on a busy or freed slot`);
    const view = this.#view;
    // The wait fallback tells its completion from a stray signal by this status (see LentEvent);
    // the port reads it only after the packet.
    view.setBigUint64(0, this.#lent ? BigInt(STATUS_PENDING) : 0n, true);
    view.setBigUint64(8, 0n, true);
    view.setBigUint64(16, 0n, true);
    view.setBigUint64(HEVENT_OFFSET, this.#hEvent, true);

    const ok = issue(this.ov);
    const error = ok ? 0 : k32.GetLastError();
    if (error !== WIN32_ERRORS.ERROR_IO_PENDING) {
      // Finished at once (success, ERROR_MORE_DATA, ERROR_PIPE_CONNECTED or a failure): no packet
      // on success (skip-on-success) or failure. The byte count is in the OVERLAPPED itself
      // (InternalHigh, where the I/O manager puts it for a synchronous completion as well), so it
      // takes no GetOverlappedResult call. A warning status (ERROR_MORE_DATA) may still queue a
      // packet, so on the port that OVERLAPPED retires and the slot takes a fresh one.
      const bytes = ok || error === WIN32_ERRORS.ERROR_MORE_DATA ? Number(view.getBigUint64(INTERNAL_HIGH_OFFSET, true)) : 0;
      if (this.#port && error === WIN32_ERRORS.ERROR_MORE_DATA) {
        strays.add(Number(this.ov));
        this.#setOverlapped(koffi.alloc('uint8_t', OVERLAPPED_SIZE) as bigint);
      }
      return { error, bytes };
    }
    return new Promise<Completion>((resolve) => {
      this.#settle = resolve;
      if (this.#port) {
        inFlight.set(Number(this.ov), this);
        this.#count(true);
        arm();
        return;
      }
      // The lent event's wait completes it (see LentEvent).
      this.#lent!.slot = this;
      boundEvents++;
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
    // Ownership: the event goes back to the pool (signalled or not: see LentEvent).
    if (this.#lent) idleEvents.push(this.#lent);
    koffi.free(this.ov);
  }

  /** @internal Called by the shared wait callback, on the JS thread, after the lent event fired. */
  signalled(): void {
    // A signal of an earlier, synchronous completion: ours is still outstanding, and its own
    // completion sets the event again.
    if (this.#view.getUint32(0, true) === STATUS_PENDING) return;
    this.#lent!.slot = undefined;
    boundEvents--;
    this.completed();
  }

  /**
   * @internal The operation is done (its packet was dequeued, with `bytes` from the packet, or its
   * event fired): settle it. Success and ERROR_MORE_DATA are read from the OVERLAPPED's status;
   * only a failure asks GetOverlappedResult for its Win32 error.
   */
  completed(bytes?: number): void {
    const status = this.#view.getUint32(0, true);
    let completion: Completion;
    if (bytes !== undefined && status === STATUS_SUCCESS) completion = { error: 0, bytes };
    else if (bytes !== undefined && status === STATUS_BUFFER_OVERFLOW) completion = { error: WIN32_ERRORS.ERROR_MORE_DATA, bytes };
    else {
      const out: k32.Out<number> = [0];
      const ok = k32.GetOverlappedResult(this.#handle, this.ov, out, false);
      completion = { error: ok ? 0 : k32.GetLastError(), bytes: out[0] };
    }
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

/**
 * A one-shot wait for a kernel object (a process handle) to be signalled, on the same shared
 * registered-wait callback as the slots' fallback: no pool thread is held while it waits.
 * Ownership: it never owns `handle`, which must stay open until `onSignalled` has run or
 * {@link ObjectWait.cancel} has returned.
 */
export class ObjectWait {
  #wait: k32.HANDLE = 0n;
  #id = 0;
  #refed = true;
  #counted = false;
  readonly #onSignalled: () => void;

  constructor(handle: k32.HANDLE, onSignalled: () => void) {
    this.#onSignalled = onSignalled;
    const id = nextId++;
    const out: k32.Out<k32.HANDLE> = [0n];
    waits.set(id, this);
    if (!k32.RegisterWaitForSingleObject(out, handle, callback(), BigInt(id), k32.INFINITE, k32.WT_EXECUTEONLYONCE | k32.WT_EXECUTEINWAITTHREAD)) {
      const e = k32.GetLastError();
      waits.delete(id);
      throw win32Error(e, 'RegisterWaitForSingleObject');
    }
    this.#id = id;
    this.#wait = out[0];
    trackWait(this.#wait);
    this.#count(true);
  }

  /** Whether the pending wait keeps the process alive (default true). */
  ref(refed: boolean): void {
    this.#refed = refed;
    if (this.#wait) this.#count(refed);
  }

  /** Drops the wait without calling back (non-blocking; the callback, should it race, finds nothing). */
  cancel(): void {
    if (!this.#wait) return;
    waits.delete(this.#id);
    untrackWait(this.#wait);
    k32.UnregisterWaitEx(this.#wait, null);
    this.#wait = 0n;
    this.#count(false);
  }

  /** @internal Called by the shared wait callback on the JS thread. */
  signalled(): void {
    untrackWait(this.#wait);
    k32.UnregisterWaitEx(this.#wait, null);
    this.#wait = 0n;
    this.#count(false);
    this.#onSignalled();
  }

  #count(on: boolean): void {
    const want = on && this.#refed;
    if (want === this.#counted) return;
    this.#counted = want;
    if (want) addRef();
    else dropRef();
  }
}
