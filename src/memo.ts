/**
 * A small, bounded map whose answers expire: what a lookup that is slow and rarely changes keeps
 * between calls (Windows: a SID's account name, asked at every accept; src/windows/trust.ts).
 */

/**
 * Remembers up to `capacity` answers, each for `ttlMs` milliseconds after it was computed. The
 * oldest answer goes first when it is full. `undefined` is remembered like any answer: a lookup
 * that finds nothing is often the slowest (Windows asks a domain controller before it gives up).
 *
 * @example
 * ```ts
 * const names = new ExpiringMemo<string, string | undefined>(256, 60_000);
 * const user = names.get(sid, () => slowLookup(sid));
 * ```
 */
export class ExpiringMemo<K, V> {
  readonly #entries = new Map<K, { value: V; expires: number }>();

  /** `now`: the clock, in milliseconds (monotonic; a test passes its own). */
  constructor(
    readonly capacity: number,
    readonly ttlMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The answer for `key`: the remembered one while it is fresh, else `compute()`'s, remembered. A throw from `compute` is not remembered. */
  get(key: K, compute: () => V): V {
    const t = this.now();
    const hit = this.#entries.get(key);
    if (hit !== undefined) {
      if (t < hit.expires) return hit.value;
      this.#entries.delete(key);
    }
    const value = compute();
    if (this.#entries.size >= this.capacity) {
      // Map keeps insertion order: the first key is the oldest answer.
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, { value, expires: t + this.ttlMs });
    return value;
  }

  /** How many answers are remembered (expired ones included until they are asked for again). */
  get size(): number {
    return this.#entries.size;
  }
}
