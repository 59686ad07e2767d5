/**
 * The garbage-collection safety net of a pipe end ({@link PipeEnd}, src/end.ts): what it keeps of
 * an end, what it does with an end dropped unclosed, and when a new end is registered with it.
 */
import type { Backend, RawEnd } from './backend.js';
import { SafetyNet } from './gc.js';

/** What the safety net needs; `identity` is set once the fd number has been handed out. */
export interface Held {
  backend: Backend;
  raw: RawEnd;
  identity: string | undefined;
  /** The other end of the same pipe, where the backend says both have one identity. */
  twin: Held | undefined;
  /** True once registered with the finalizer (see {@link ArmQueue}). */
  armed: boolean;
}

/** True when a live stream of this process (a `net.Socket({ fd })`, say) has `fd` open. */
function streamOnFd(fd: number): boolean {
  const active = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles?.() ?? [];
  return active.some((h) => (h as { _handle?: { fd?: unknown } } | null)?._handle?.fd === fd);
}

// An end the user dropped without closing: warn (as Node does for a FileHandle) and close it,
// so a forgotten end cannot hold a pipe open forever. Once its number was handed out (`fd`,
// `handle`), something else may own the descriptor now (`new net.Socket({ fd })` without
// detach()): closing it would pull it from under that owner, and the owner's next writes would
// land in whatever file reuses the number. Where that can be seen, leak it instead (and say so).
export const finalizer = new SafetyNet<Held>(({ backend, raw, identity }) => {
  let owned = true;
  try {
    owned = identity === undefined || (backend.unadopted(raw, identity) && !streamOnFd(raw.fd));
  } catch {
    owned = false;
  }
  process.emitWarning(
    owned
      ? `winpipe: closing pipe end fd ${raw.fd} on garbage collection; close() it explicitly`
      : `winpipe: pipe end fd ${raw.fd} was garbage-collected while something else uses its descriptor; left open (detach() an fd you give away)`,
    { type: 'Warning', code: owned ? 'WINPIPE_END_GC' : 'WINPIPE_END_GC_ADOPTED' },
  );
  if (!owned) return;
  backend.close(raw);
});

/** Bounds what a long synchronous loop of createPipe() keeps alive before its ends are registered. */
const UNARMED_MAX = 256;

/**
 * Ends created since the last microtask checkpoint whose safety net is not registered yet. An
 * end is registered with the finalizer only if it is still open (and still ours) when the queue
 * is flushed: at the next microtask checkpoint, or when it reaches {@link UNARMED_MAX} entries.
 * An end created and closed in between (a create-and-close loop, `using` blocks) never touches the registry:
 * `register` + `unregister` with a token were most of what a pair cost beyond the system calls.
 *
 * The net is the same: until the flush the queue holds the end strongly, so it cannot be collected
 * unregistered, and finalization callbacks only ever run in a later task, after the flush.
 *
 * `arm` decides and registers; the owner's class gives it, since only the class sees whether an
 * end still owns its raw end.
 */
export class ArmQueue<T> {
  readonly #waiting: T[] = [];
  #scheduled = false;
  readonly #arm: (item: T) => void;
  readonly #flush = (): void => {
    this.#scheduled = false;
    const items = this.#waiting.splice(0);
    for (let i = 0; i < items.length; i++) this.#arm(items[i]!);
  };

  constructor(arm: (item: T) => void) {
    this.#arm = arm;
  }

  add(item: T): void {
    if (this.#waiting.push(item) >= UNARMED_MAX) this.#flush();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#flush);
    }
  }
}
