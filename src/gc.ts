/**
 * The safety net for an OS resource the user drops without closing, for both kinds of end
 * (`PipeReader`/`PipeWriter`, through src/end-gc.ts, a channel `Connection` in src/channel/connection.ts):
 * when the owner is garbage-collected, `reclaim` runs with what was registered. It warns, as Node
 * does for a FileHandle, and closes the resource (or, where it can see that something else uses
 * the descriptor now, leaves it open), so a forgotten end cannot hold a pipe open for ever.
 *
 * @example
 * ```ts
 * const net = new SafetyNet<number>((fd) => { process.emitWarning(`closing fd ${fd}`); closeSync(fd); });
 * net.register(end, fd);   // ...and on close(): net.unregister(end)
 * ```
 */
export class SafetyNet<T> {
  readonly #registry: FinalizationRegistry<T>;

  constructor(reclaim: (held: T) => void) {
    this.#registry = new FinalizationRegistry<T>((held) => {
      try {
        reclaim(held);
      } catch {
        // Nothing useful can be done with an error from a finalizer.
      }
    });
  }

  /** `held` must not reference `owner`, or the owner is never collected. */
  register(owner: object, held: T): void {
    this.#registry.register(owner, held, owner);
  }

  unregister(owner: object): void {
    this.#registry.unregister(owner);
  }
}
