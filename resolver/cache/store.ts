/**
 * The bounded store behind the cache (lru-cache): a cap on entries and on bytes,
 * least recently used evicted first. Expiry is not left to lru-cache: entries
 * outlive their TTL on purpose, to be served stale (RFC 8767), and the cache
 * handler decides with its own clock when they are too old.
 */
import { LRUCache } from 'lru-cache';
import type { CacheEntry } from './entry.js';
import type { CacheKey } from './key.js';

/**
 * Per-entry overhead beyond the reply and query bytes (entry, query and Buffer objects,
 * key, offsets, lru-cache's slots), counted toward the byte bound. Measured by the wire
 * fuzzer (bench/fuzz): ~950 bytes of heap per entry after a full collection, for
 * 19,000 entries; it was 200, so a full cache used about three times its bound.
 */
const ENTRY_OVERHEAD = 1000;

/** Entries by key, bounded by count and bytes. */
export class CacheStore {
  private readonly lru: LRUCache<CacheKey, CacheEntry>;
  /** Entries pushed out by the bounds (not replaced, not deleted). */
  evictions = 0;
  /** Negative (NXDOMAIN/NODATA) entries among them, for the entries-by-type gauge. */
  negatives = 0;

  constructor(maxEntries: number, maxBytes: number, onEvict: () => void = () => {}) {
    this.lru = new LRUCache<CacheKey, CacheEntry>({
      max: maxEntries,
      maxSize: maxBytes,
      sizeCalculation: (entry, key) => entry.body.length + entry.query.raw.length + key.length + entry.ttlOffsets.length * 8 + ENTRY_OVERHEAD,
      dispose: (entry, _key, reason) => {
        if (entry.negative) this.negatives--;
        if (reason === 'evict') {
          this.evictions++;
          onEvict();
        }
      },
    });
  }

  get(key: CacheKey): CacheEntry | undefined {
    return this.lru.get(key);
  }

  set(key: CacheKey, entry: CacheEntry): void {
    this.lru.set(key, entry);
    if (entry.negative && this.lru.peek(key) === entry) this.negatives++;
  }

  delete(key: CacheKey): void {
    this.lru.delete(key);
  }

  /** Number of entries. */
  get size(): number {
    return this.lru.size;
  }

  /** Bytes counted toward the byte bound. */
  get bytes(): number {
    return this.lru.calculatedSize;
  }
}
