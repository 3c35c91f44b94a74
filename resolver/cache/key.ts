/**
 * Cache keys: lower-cased name, type, class, DO and CD bits (STYLE.md, from
 * CoreDNS `plugin/cache`). Branded so that a raw string is never a key by accident.
 */
import type { Query } from '../wire/query.js';

declare const cacheKeyBrand: unique symbol;
/** A cache key. */
export type CacheKey = string & { readonly [cacheKeyBrand]: true };

/** The key of `query` (its name is already lower-cased by the parser). */
export function cacheKey(query: Query): CacheKey {
  const d = query.edns?.dnssecOk ? 1 : 0;
  const c = query.checkingDisabled ? 1 : 0;
  return `${query.name}|${query.type}|${query.class}|${d}${c}` as CacheKey;
}
