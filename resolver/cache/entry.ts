/**
 * Cache entries: an upstream reply kept as encoded bytes, ready to be patched
 * per hit (ID, RD/CD, the client's question, decremented TTLs, our OPT) with no
 * dns2 encode (STYLE.md). What may be stored follows CoreDNS `plugin/cache`:
 * no truncated replies, no SERVFAIL/REFUSED as data, no negative answer without
 * an SOA (RFC 2308 §5), OPT stripped before storing; positive and negative TTLs
 * are clamped separately.
 */
import { Rcode, RRType } from '../wire/constants.js';
import type { Query } from '../wire/query.js';
import { Flag, renderTemplate } from '../wire/reply.js';
import type { MessageLayout } from '../wire/walk.js';

/** TTL clamps, in seconds. */
export interface TtlLimits {
  readonly minTtl: number;
  readonly maxTtl: number;
  readonly negativeMinTtl: number;
  readonly negativeMaxTtl: number;
}

/** A stored answer. Times are milliseconds on the cache's clock. */
export interface CacheEntry {
  /** The reply without OPT, ID 0, AA cleared. */
  readonly body: Buffer;
  /** Offsets of every record's TTL field in `body`. */
  readonly ttlOffsets: readonly number[];
  readonly rcode: number;
  /** NXDOMAIN or NODATA (RFC 2308). */
  readonly negative: boolean;
  /** TTL given to the entry after clamping, seconds. */
  readonly ttl: number;
  readonly storedAt: number;
  readonly expiresAt: number;
  /** Beyond this, not even a stale answer is given (RFC 8767 max-stale). */
  readonly staleUntil: number;
  /** After this, a hit on a popular entry triggers a refresh (jittered per entry). */
  readonly prefetchAt: number;
  /** The query that fetched it, reused to refresh it. */
  readonly query: Query;
  /** Hits since stored. */
  hits: number;
  /** When the last refresh failed (failure-recheck timer), if it did. */
  failedAt: number | undefined;
}

/** Why a reply is not stored. */
export type Uncacheable = 'truncated' | 'rcode' | 'no-soa' | 'zero-ttl' | 'opt-not-last';

/** Options of {@link makeEntry}. */
export interface EntryOptions {
  readonly limits: TtlLimits;
  readonly now: number;
  readonly serveStaleMs: number;
  /** A number in [0, 1) choosing where in the prefetch window this entry refreshes. */
  readonly jitter: number;
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

/** SOA MINIMUM: the last 32 bits of the SOA RDATA (RFC 1035 §3.3.13). */
function soaMinimum(reply: Buffer, recordEnd: number): number {
  return reply.readUInt32BE(recordEnd - 4);
}

/**
 * A copy of `bytes` in memory of its own. An entry lives long: a slice of Node's
 * shared 8 KiB allocation pool, or of a TCP read holding many queries, would keep
 * all of that memory alive, unseen by the byte bound (found by the wire fuzzer).
 */
function ownCopy(bytes: Buffer): Buffer {
  const out = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(out);
  return out;
}

/**
 * Turns a validated upstream reply into an entry, or says why it cannot be one.
 * Positive: TTL = smallest record TTL. Negative: min(SOA TTL, SOA MINIMUM) (RFC 2308 §5).
 */
export function makeEntry(reply: Buffer, layout: MessageLayout, query: Query, options: EntryOptions): CacheEntry | Uncacheable {
  const flags = reply.readUInt16BE(2);
  if (flags & Flag.TC) return 'truncated';
  const rcode = flags & 0xf;
  if (rcode !== Rcode.NOERROR && rcode !== Rcode.NXDOMAIN) return 'rcode';
  const records = layout.records;
  const optIndex = records.findIndex((r) => r.type === RRType.OPT);
  if (optIndex >= 0 && optIndex !== records.length - 1) return 'opt-not-last';
  const kept = optIndex >= 0 ? records.slice(0, optIndex) : records;
  const answers = kept.filter((r) => r.section === 'answer').length;
  const negative = rcode === Rcode.NXDOMAIN || answers === 0;
  let ttl: number;
  if (negative) {
    const soa = kept.find((r) => r.section === 'authority' && r.type === RRType.SOA);
    if (!soa) return 'no-soa';
    ttl = clamp(Math.min(reply.readUInt32BE(soa.ttlOffset), soaMinimum(reply, soa.end)), options.limits.negativeMinTtl, options.limits.negativeMaxTtl);
  } else {
    ttl = clamp(Math.min(...kept.map((r) => reply.readUInt32BE(r.ttlOffset))), options.limits.minTtl, options.limits.maxTtl);
  }
  if (ttl <= 0) return 'zero-ttl';
  const end = optIndex >= 0 ? (records[optIndex]?.start ?? reply.length) : reply.length;
  const body = ownCopy(reply.subarray(0, end));
  body.writeUInt16BE(0, 0);
  body[2] = (body[2] as number) & ~(Flag.AA >> 8); // a cache is not the authority
  if (optIndex >= 0) body.writeUInt16BE(body.readUInt16BE(10) - 1, 10);
  const ttlMs = ttl * 1000;
  const expiresAt = options.now + ttlMs;
  return {
    body,
    ttlOffsets: kept.map((r) => r.ttlOffset),
    rcode,
    negative,
    ttl,
    storedAt: options.now,
    expiresAt,
    staleUntil: expiresAt + options.serveStaleMs,
    // Refresh somewhere in the last 5–15 % of the TTL, so entries stored together
    // are not refreshed together.
    prefetchAt: expiresAt - Math.round(ttlMs * (0.05 + 0.1 * options.jitter)),
    query: query.raw.length === query.raw.buffer.byteLength ? query : { ...query, raw: ownCopy(query.raw) },
    hits: 0,
    failedAt: undefined,
  };
}

/**
 * The reply to `query` from `entry`: the client's ID, RD and CD, its question
 * (its case) and our OPT when the query had one (renderTemplate), AA cleared
 * (done once, when the entry was made), every TTL set to `ttl`.
 */
export function renderEntry(entry: CacheEntry, query: Query, ttl: number): Buffer {
  const out = renderTemplate(entry.body, query);
  // Byte by byte rather than writeUInt32BE(), as in renderTemplate (per query).
  for (const offset of entry.ttlOffsets) {
    out[offset] = ttl >>> 24;
    out[offset + 1] = (ttl >>> 16) & 0xff;
    out[offset + 2] = (ttl >>> 8) & 0xff;
    out[offset + 3] = ttl & 0xff;
  }
  return out;
}

/** The TTL to send at `now`: the entry's TTL less the whole seconds it has been stored (0 once expired), as CoreDNS does. */
export function remainingTtl(entry: CacheEntry, now: number): number {
  return Math.max(0, entry.ttl - Math.floor((now - entry.storedAt) / 1000));
}
