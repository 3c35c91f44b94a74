/**
 * Namespace-filtered snapshots served on `GET /v1/snapshot?namespaces=a,b`
 * (`snapshot/view.ts`): built from the latest snapshot on first request, signed
 * with the publisher's key, and kept per namespace set until the next generation.
 *
 * The cache is bounded in entries and in bytes and drops the least recently
 * used view first; a new generation empties it (views of an older generation
 * are never served). A view carries the generation of the snapshot it was cut
 * from, so its ETag, `"<generation>"`, is the full snapshot's.
 */
import type { KeyObject } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { signSnapshot } from '../snapshot/sign.js';
import type { SnapshotV1 } from '../snapshot/types.js';
import { filterSnapshot, namespaceList, viewKey } from '../snapshot/view.js';
import type { PublisherMetrics } from './metrics.js';

/** Views kept at most. */
export const MAX_VIEWS = 128;
/** Bytes (gzip) of views kept at most. */
export const MAX_VIEW_BYTES = 64 * 1024 * 1024;

/** One built view. */
export interface View {
  readonly gzip: Buffer;
  json?: Buffer;
}

/**
 * The namespace list asked for by a request's query string, undefined when it
 * asks for none (the whole cluster), or an error naming what is wrong: any
 * parameter but `namespaces`, a name that is not a namespace name, too many.
 * `namespaces` may repeat and holds comma-separated names.
 */
export function requestedNamespaces(search: URLSearchParams): readonly string[] | undefined | { readonly error: string } {
  const unknown = [...new Set(search.keys())].filter((key) => key !== 'namespaces');
  if (unknown.length > 0) return { error: `unknown query parameter ${unknown.map((key) => JSON.stringify(key.slice(0, 40))).join(', ')} (only "namespaces" is known)` };
  const values = search.getAll('namespaces');
  if (values.length === 0) return undefined;
  const list = namespaceList(values.flatMap((value) => value.split(',')));
  return 'error' in list ? { error: `namespaces: ${list.error}` } : list.namespaces;
}

/** The views of the latest snapshot, built on demand. */
export class ViewCache {
  private readonly views = new Map<string, View>();
  private generation: number | undefined;
  private bytes = 0;

  constructor(
    private readonly key: KeyObject,
    private readonly metrics: PublisherMetrics,
  ) {
    metrics.viewCacheEntries.set(0);
  }

  /** The view of `snapshot` holding `namespaces` (a canonical list), from the cache or built now. */
  get(snapshot: SnapshotV1, namespaces: readonly string[]): View {
    if (this.generation !== snapshot.generation) this.clear(snapshot.generation);
    const key = viewKey(namespaces);
    const cached = this.views.get(key);
    if (cached) {
      this.views.delete(key); // re-inserted: most recently used last
      this.views.set(key, cached);
      return cached;
    }
    const view = filterSnapshot(snapshot, namespaces);
    const json = Buffer.from(JSON.stringify(signSnapshot(view, this.key)));
    const built: View = { gzip: gzipSync(json) };
    this.metrics.viewBuilds.inc();
    this.views.set(key, built);
    this.bytes += built.gzip.length;
    for (const [oldest, entry] of this.views) {
      if (this.views.size <= MAX_VIEWS && this.bytes <= MAX_VIEW_BYTES) break;
      if (oldest === key) break; // the one asked for stays, however large
      this.views.delete(oldest);
      this.bytes -= entry.gzip.length;
    }
    this.metrics.viewCacheEntries.set(this.views.size);
    return built;
  }

  /** The JSON form of `view` (gzip is what is kept once the first JSON request has passed). */
  static json(view: View): Buffer {
    return (view.json ??= gunzipSync(view.gzip));
  }

  private clear(generation: number): void {
    this.views.clear();
    this.bytes = 0;
    this.generation = generation;
    this.metrics.viewCacheEntries.set(0);
  }
}
