/**
 * Named-pipe instances, for both stacks on Windows (`createServer` in src/windows/server.ts and
 * the `winpipe/connection` Listener and `Pipe()` in src/channel/windows.ts): whether a name is
 * served, how an instance is created, and when its accept (`ConnectNamedPipe`) has a client.
 * The accept itself is one {@link AcceptPool} per server. Where an instance's handle goes
 * afterwards (libuv's completion port for a byte-mode instance, ours for a message-mode one: a
 * handle joins one port only) is the caller's choice, made per pool with `slot.port`.
 */
import { PipeError, WIN32_ERRORS as E, win32Error } from '../errors.js';
import { win32OpenPath } from '../names.js';
import * as k32 from './kernel32.js';
import { OverlappedSlot, type Completion, type OverlappedSlotOptions } from './overlapped.js';

/** True when an instance of `path` is waiting for a client right now. Waits at most 1 ms. */
export function someoneListens(path: string): boolean {
  return k32.WaitNamedPipeW(win32OpenPath(path), 1);
}

/**
 * True when someone serves `path` (an instance is free, or all are busy). Waits at most 1 ms.
 * `FILE_FLAG_FIRST_PIPE_INSTANCE` alone does not tell: Wine does not enforce it.
 */
export function nameInUse(path: string): boolean {
  if (k32.WaitNamedPipeW(win32OpenPath(path), 1)) return true;
  const e = k32.GetLastError();
  return e === E.ERROR_SEM_TIMEOUT || e === E.ERROR_PIPE_BUSY;
}

/**
 * Did an accept's completion bring a client? ERROR_PIPE_CONNECTED: the client came before the
 * accept. ERROR_NO_DATA: it came, wrote and left; what it wrote is still readable, then end of
 * file (CPython handles it the same way).
 */
export function acceptedClient(error: number): boolean {
  return error === 0 || error === E.ERROR_PIPE_CONNECTED || error === E.ERROR_NO_DATA;
}

export interface InstanceSpec {
  path: string;
  openMode: number;
  pipeMode: number;
  maxInstances: number;
  outBufferSize: number;
  inBufferSize: number;
  /** SECURITY_ATTRIBUTES bytes, or null for the default DACL. */
  security: Uint8Array | null;
}

/**
 * Creates one instance. Ownership: the caller owns the returned handle.
 *
 * - `first` (the listen itself): a name someone else serves (`ERROR_ACCESS_DENIED` under
 *   `FILE_FLAG_FIRST_PIPE_INSTANCE`, or `ERROR_PIPE_BUSY`) throws PipeError `EADDRINUSE`.
 * - otherwise those two return `undefined`, "not now": the instance limit is reached, or, with
 *   `exclusive`, an instance we closed lingers until its client closes too.
 *
 * @throws PipeError for any other failure of `CreateNamedPipeW`.
 */
export function createInstance(spec: InstanceSpec, first: boolean, exclusive = first): k32.HANDLE | undefined {
  const handle = k32.CreateNamedPipeW(win32OpenPath(spec.path), spec.openMode, spec.pipeMode, spec.maxInstances, spec.outBufferSize, spec.inBufferSize, 0, spec.security);
  if (handle !== k32.INVALID_HANDLE_VALUE) return handle;
  const e = k32.GetLastError();
  if (first && (e === E.ERROR_ACCESS_DENIED || e === E.ERROR_PIPE_BUSY)) {
    throw new PipeError({ code: 'EADDRINUSE', syscall: 'CreateNamedPipeW', path: spec.path, win32Errno: e });
  }
  if (e === E.ERROR_PIPE_BUSY || (exclusive && e === E.ERROR_ACCESS_DENIED)) return undefined;
  throw win32Error(e, 'CreateNamedPipeW', spec.path);
}

/** An instance waiting in `ConnectNamedPipe`. */
export interface WaitingInstance {
  readonly handle: k32.HANDLE;
  readonly slot: OverlappedSlot;
  /** {@link AcceptPool.cancel} closed the handle; the accept's completion is still to come. */
  handleClosed?: boolean;
}

/**
 * The accept loop of one server, for both stacks: instances waiting in an overlapped
 * `ConnectNamedPipe`, each completion handed to `onAccept` once, with the instance already out of
 * the pool and its slot freed. How many wait, and what a client becomes, is the server's.
 *
 * @example
 * ```ts
 * const pool = new AcceptPool((inst, c) => (acceptedClient(c.error) ? serve(inst.handle) : k32.CloseHandle(inst.handle)));
 * pool.add(spec, true, true, { port: true }, true);
 * ```
 * Ownership: the pool owns a waiting instance's handle; `onAccept` takes it (unless `handleClosed`).
 */
export class AcceptPool {
  readonly #waiting = new Set<WaitingInstance>();
  readonly #onAccept: (inst: WaitingInstance, c: Completion) => void;

  constructor(onAccept: (inst: WaitingInstance, c: Completion) => void) {
    this.#onAccept = onAccept;
  }

  /** Instances waiting now. */
  get size(): number {
    return this.#waiting.size;
  }

  /** One waiting instance, if any (to read the pipe's security back). */
  any(): WaitingInstance | undefined {
    return this.#waiting.values().next().value;
  }

  /**
   * Creates one instance (see {@link createInstance} for `first` and `exclusive`) and starts its
   * accept. Returns when the completion has been handled, or undefined for "not now".
   * `slot`: where the handle's completions go (`port: false` for a handle libuv takes later).
   */
  add(spec: InstanceSpec, first: boolean, exclusive: boolean, slot: OverlappedSlotOptions, refed: boolean): Promise<void> | undefined {
    const handle = createInstance(spec, first, exclusive);
    if (handle === undefined) return undefined;
    // Ownership: the pool owns `handle` until onAccept takes it or it is closed below.
    let ovSlot: OverlappedSlot;
    try {
      ovSlot = new OverlappedSlot(handle, slot);
    } catch (err) {
      k32.CloseHandle(handle);
      throw err;
    }
    ovSlot.ref(refed);
    const inst: WaitingInstance = { handle, slot: ovSlot };
    this.#waiting.add(inst);
    try {
      return ovSlot
        .start('ConnectNamedPipe', (ov) => k32.ConnectNamedPipe(handle, ov))
        .then((c) => {
          this.#waiting.delete(inst);
          inst.slot.free();
          this.#onAccept(inst, c);
        });
    } catch (err) {
      this.#waiting.delete(inst);
      ovSlot.free();
      k32.CloseHandle(handle);
      throw err;
    }
  }

  /** Whether the waiting accepts keep the process alive. */
  ref(refed: boolean): void {
    for (const inst of this.#waiting) inst.slot.ref(refed);
  }

  /**
   * Cancels every waiting accept; their completions still come to `onAccept`. `closeHandles`:
   * close the instances now too, so that the name is gone at once (the cancelled accept completes
   * through the slot, which never touches the file handle, and the slot is freed only then).
   */
  cancel(closeHandles: boolean): void {
    for (const inst of this.#waiting) {
      inst.slot.cancel();
      if (!closeHandles) continue;
      inst.handleClosed = true;
      k32.CloseHandle(inst.handle);
    }
  }
}
