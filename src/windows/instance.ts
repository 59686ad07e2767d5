/**
 * Named-pipe instances, for both stacks on Windows (`createServer` in src/windows/server.ts and
 * the `winpipe/connection` Listener and `Pipe()` in src/channel/windows.ts): whether a name is
 * served, how an instance is created, and when its accept (`ConnectNamedPipe`) has a client.
 * The accept itself, and how many instances wait, is one {@link AcceptPool} per server, kept by
 * the {@link InstancePolicy} the server passes. Where an instance's handle goes
 * afterwards (libuv's completion port for a byte-mode instance, ours for a message-mode one: a
 * handle joins one port only) is the caller's choice, made per pool with `slot.port`.
 */
import { PipeError, WIN32_ERRORS as E, win32Error } from '../errors.js';
import { win32OpenPath } from '../names.js';
import { Backoff } from '../retry.js';
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
 * How one server keeps its instances; the mechanics (the loop, the retry timer, the gap guard) are
 * {@link AcceptPool}'s. Each server keeps its own documented numbers: `createServer` its
 * `pendingInstances` within `maxInstances` and `maxConnections`, the Listener its backlog (1–4)
 * within `maxPendingConnections`.
 */
export interface InstancePolicy {
  /** Instances to keep waiting in `ConnectNamedPipe`. */
  readonly waiting: number;
  /**
   * Waiting instances plus {@link InstancePolicy.live} never exceed this (an instance waiting now
   * is a connection later): at the bound no instance waits, so a new client finds the pipe busy
   * and waits (in the kernel, or in its retry) until a slot frees.
   */
  readonly cap: number;
  /** Connected clients that count against `cap`. */
  live(): number;
  /** Accepted instances whose handle is still open (default: {@link InstancePolicy.live}). */
  held?(): number;
  /** Whether the server still wants instances (false once it closes). */
  running(): boolean;
  /** The instance to create; `exclusive` asks for the name's first instance (see `guardGap`). */
  spec(exclusive: boolean): InstanceSpec;
  /** Where each instance's completions go (see {@link AcceptPool.add}). */
  readonly slot: OverlappedSlotOptions;
  /**
   * The gap: no instance of ours is waiting or held, so the name is free for anyone. With
   * `guardGap` the next instance is created exclusively, so that a squatter who took the name in
   * the gap is found, never joined (joined, our instance would take the squatter's DACL and owner).
   */
  readonly guardGap: boolean;
  /**
   * At the gap, ask first whether an instance of the name is listening: while we have none it is
   * someone else's, so the server cannot go on (`EADDRINUSE`). `FILE_FLAG_FIRST_PIPE_INSTANCE`
   * alone is not enough where it is not enforced (Wine).
   */
  readonly askAtGap: boolean;
  /**
   * When `CreateNamedPipeW` says "not now" (the instance limit is reached, or an exclusive create
   * finds an instance we closed still lingering until its client closes): `'retry'` on a timer
   * (1 ms, doubling up to 50 ms) until it works, `'error'` to report it through `fail`.
   */
  readonly notNow: 'retry' | 'error';
  /** An instance could not be made, or another party serves the name: the server decides what follows. */
  fail(err: unknown): void;
}

/**
 * The accept loop of one server, for both stacks: instances waiting in an overlapped
 * `ConnectNamedPipe`, each completion handed to `onAccept` once, with the instance already out of
 * the pool and its slot freed. How many wait is the server's {@link InstancePolicy}, kept by
 * {@link AcceptPool.replenish}; what a client becomes is the server's.
 *
 * @example
 * ```ts
 * const pool = new AcceptPool((inst, c) => (acceptedClient(c.error) ? serve(inst.handle) : k32.CloseHandle(inst.handle)), policy, true);
 * pool.start(); // the first instance: EADDRINUSE if the name is served
 * ```
 * Ownership: the pool owns a waiting instance's handle; `onAccept` takes it (unless `handleClosed`).
 */
export class AcceptPool {
  readonly #waiting = new Set<WaitingInstance>();
  readonly #onAccept: (inst: WaitingInstance, c: Completion) => void;
  readonly #policy: InstancePolicy;
  /** Accepts not yet handled, for {@link AcceptPool.settled}. */
  readonly #settling = new Set<Promise<void>>();
  #refed: boolean;
  /** A retry of {@link AcceptPool.replenish} after a "not now". */
  #retry: NodeJS.Timeout | undefined;
  /** How long until the next try to make an instance after one could not be made. */
  readonly #retryDelay = new Backoff(1, 50);

  /** `refed`: whether waiting accepts (and a retry) keep the process alive, until {@link AcceptPool.ref}. */
  constructor(onAccept: (inst: WaitingInstance, c: Completion) => void, policy: InstancePolicy, refed: boolean) {
    this.#onAccept = onAccept;
    this.#policy = policy;
    this.#refed = refed;
  }

  /** Instances waiting now. */
  get size(): number {
    return this.#waiting.size;
  }

  /** One waiting instance, if any (to read the pipe's security back). */
  any(): WaitingInstance | undefined {
    return this.#waiting.values().next().value;
  }

  /** Resolves once every accept started so far has been handled. */
  settled(): Promise<void> {
    return Promise.all([...this.#settling]).then(() => undefined);
  }

  /**
   * The listen itself: creates the name's first instance (`EADDRINUSE` if someone serves it, see
   * {@link createInstance}), then fills the pool.
   * @throws PipeError when the first instance cannot be made.
   */
  start(): void {
    this.#track(this.#add(this.#policy.spec(true), true, true));
    this.replenish();
  }

  /**
   * Keeps the policy's instances waiting, within its cap. Never stops silently: while the OS says
   * "not now" it retries on a timer (or fails, as the policy says); when an instance cannot be
   * made, or another party serves the name in the gap, it tells the server (`policy.fail`).
   */
  replenish(): void {
    const p = this.#policy;
    while (p.running()) {
      const live = p.live();
      if (this.size >= p.waiting || this.size + live >= p.cap) break;
      const gap = p.guardGap && this.size + (p.held?.() ?? live) === 0;
      const spec = p.spec(gap);
      // A listening instance of the name while we have none is someone else's. (A busy one may be
      // our own last instance, which Windows keeps until its client closes: that is retried.)
      if (gap && p.askAtGap && someoneListens(spec.path)) {
        p.fail(new PipeError({ code: 'EADDRINUSE', syscall: 'CreateNamedPipeW', path: spec.path, message: `EADDRINUSE: another server took ${spec.path} between two instances` }));
        return;
      }
      let made: Promise<void> | undefined;
      try {
        made = this.#add(spec, false, gap);
      } catch (err) {
        p.fail(err);
        return;
      }
      if (made === undefined) {
        if (p.notNow === 'error') p.fail(win32Error(E.ERROR_PIPE_BUSY, 'CreateNamedPipeW', spec.path));
        else this.#scheduleRetry();
        return;
      }
      this.#track(made);
    }
    this.#retryDelay.reset();
  }

  #scheduleRetry(): void {
    if (this.#retry) return;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.replenish();
    }, this.#retryDelay.next());
    if (!this.#refed) this.#retry.unref();
  }

  #track(settled: Promise<void> | undefined): void {
    if (settled === undefined) return;
    this.#settling.add(settled);
    void settled.finally(() => this.#settling.delete(settled));
  }

  /**
   * Creates one instance (see {@link createInstance} for `first` and `exclusive`) and starts its
   * accept. Returns when the completion has been handled, or undefined for "not now". Its
   * completions go where the policy's `slot` says (`port: false` for a handle libuv takes later).
   */
  #add(spec: InstanceSpec, first: boolean, exclusive: boolean): Promise<void> | undefined {
    const handle = createInstance(spec, first, exclusive);
    if (handle === undefined) return undefined;
    // Ownership: the pool owns `handle` until onAccept takes it or it is closed below.
    let ovSlot: OverlappedSlot;
    try {
      ovSlot = new OverlappedSlot(handle, this.#policy.slot);
    } catch (err) {
      k32.CloseHandle(handle);
      throw err;
    }
    ovSlot.ref(this.#refed);
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

  /** Whether the waiting accepts, a pending retry, and instances made from now on keep the process alive. */
  ref(refed: boolean): void {
    this.#refed = refed;
    if (refed) this.#retry?.ref();
    else this.#retry?.unref();
    for (const inst of this.#waiting) inst.slot.ref(refed);
  }

  /**
   * Stops a pending retry and cancels every waiting accept; their completions still come to
   * `onAccept`. `closeHandles`: close the instances now too, so that the name is gone at once (the
   * cancelled accept completes through the slot, which never touches the file handle, and the
   * slot is freed only then).
   */
  cancel(closeHandles: boolean): void {
    clearTimeout(this.#retry);
    this.#retry = undefined;
    for (const inst of this.#waiting) {
      inst.slot.cancel();
      if (!closeHandles) continue;
      inst.handleClosed = true;
      k32.CloseHandle(inst.handle);
    }
  }
}
