/**
 * A map that keeps at most a fixed number of entries, forgetting those not used
 * for longest, in O(1) per call without walking anything: two generations
 * (the approach of `quick-lru`). Entries live in `current` until it holds half
 * the bound; then it becomes `previous` and the old `previous` is dropped whole.
 * An entry read from `previous` moves back to `current`. So an entry is forgotten
 * only after at least half the bound of other keys were used since it last was.
 *
 * (A Map kept in recency order by delete-and-set, evicting its first key, is
 * not O(1) in V8: deleted slots stay until the table is rebuilt, and finding the
 * first live key walks over them: 15 µs per new key when full, against 0.5 µs
 * here, measured with `bench/access.ts`.)
 */
export class RecentMap<V> {
  private current = new Map<string, V>();
  private previous = new Map<string, V>();
  private readonly half: number;

  /** `bound`: entries kept at most (at least 2). */
  constructor(bound: number) {
    this.half = Math.max(1, Math.floor(bound / 2));
  }

  /** Entries held now. */
  get size(): number {
    return this.current.size + this.previous.size;
  }

  /** The value of `key`, marking it used; undefined when absent or forgotten. */
  get(key: string): V | undefined {
    const value = this.current.get(key);
    if (value !== undefined) return value;
    const old = this.previous.get(key);
    if (old === undefined) return undefined;
    this.previous.delete(key);
    this.add(key, old);
    return old;
  }

  /** Adds `key` (absent: {@link get} returned undefined for it). */
  add(key: string, value: V): void {
    this.current.set(key, value);
    if (this.current.size >= this.half) {
      this.previous = this.current;
      this.current = new Map();
    }
  }
}
