/**
 * Cache keys: lower-cased name, type, class, DO and CD bits (STYLE.md, from
 * CoreDNS `plugin/cache`). Branded so that a raw string is never a key by accident.
 *
 * The key is the question as it came on the wire, with ASCII letters lower-cased
 * (as the parser folds the name, RFC 4343), followed by one character for DO
 * and CD: built in one copy, one string, where joining the name's text with
 * the numbers costs several and the joined string must be copied again to be
 * hashed. Wire names are length-prefixed, so two different questions never
 * make the same key. Not for display.
 */
import type { Query } from '../wire/query.js';
import { HEADER_SIZE, MAX_NAME_OCTETS } from '../wire/constants.js';

declare const cacheKeyBrand: unique symbol;
/** A cache key. */
export type CacheKey = string & { readonly [cacheKeyBrand]: true };

/** Where keys are assembled: a question (name, type, class) and one character. */
const scratch = Buffer.allocUnsafe(MAX_NAME_OCTETS + 5);

/** The key of `query`, whose question the parser has checked (an uncompressed name of at most 255 octets). */
export function cacheKey(query: Query): CacheKey {
  const raw = query.raw;
  let length = 0;
  for (let i = HEADER_SIZE; i < query.questionEnd; i++) {
    const c = raw[i] as number;
    scratch[length++] = c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
  }
  scratch[length++] = 0x30 + (query.edns?.dnssecOk ? 2 : 0) + (query.checkingDisabled ? 1 : 0);
  return scratch.toString('latin1', 0, length) as CacheKey;
}
