/**
 * The forwarding cache: the last handler of the chain. It answers from cached
 * bytes, serves stale data when upstreams fail (RFC 8767), and never multiplies
 * upstream load (DESIGN.md lesson 4):
 *
 * - fresh hit → cached bytes with decremented TTLs; popular entries are refreshed
 *   shortly before expiry, at a jittered point, in the background;
 * - stale hit → refresh, but the client gets the stale answer (TTL
 *   --stale-answer-ttl) as soon as the refresh fails, the client-response timer
 *   (--client-timeout) fires, every upstream is known down (circuits open) or
 *   the last upstream exchange failed (then the refresh goes on in the
 *   background), or a refresh of this name failed less than --failure-recheck
 *   ago (then the upstream is not asked at all);
 * - miss → one upstream query per key however many clients ask (single flight);
 *   at most --max-upstream-inflight upstream queries at once, the overflow is
 *   answered stale or SERVFAIL, never queued; at most --max-waiting-clients
 *   client queries wait for upstream answers (on all flights together), the
 *   others are answered stale or SERVFAIL at once: what a burst of queries
 *   for a slow upstream can hold in memory is bounded;
 * - last known good: SERVFAIL, REFUSED or a timeout never replaces a cached
 *   answer; NXDOMAIN/NODATA from a responsive upstream does, unless
 *   --stale-on-nxdomain keeps a positive answer (CoreDNS `prefer_positive`);
 * - an upstream failure for a name with nothing cached is answered SERVFAIL for
 *   --servfail-ttl without asking again (CoreDNS caches SERVFAIL 5 s too).
 */
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { CacheConfig } from '../config.js';
import type { Clock } from '../clock.js';
import type { UpstreamOutcome } from '../forward/forwarder.js';
import type { ResolverMetrics } from '../metrics.js';
import type { Handler } from '../pipeline.js';
import { Rcode } from '../wire/constants.js';
import type { Query } from '../wire/query.js';
import { relayReply } from '../wire/relay.js';
import { composeReply, EMPTY_SECTIONS } from '../wire/reply.js';
import type { MessageLayout } from '../wire/walk.js';
import { makeEntry, remainingTtl, renderEntry } from './entry.js';
import type { CacheEntry } from './entry.js';
import { cacheKey } from './key.js';
import type { CacheKey } from './key.js';
import { CacheStore } from './store.js';

/** What the cache needs from the upstream side (the Forwarder). */
export interface Upstreams {
  exchange(query: Query): Promise<UpstreamOutcome>;
  /** False when every upstream is known to be failing. */
  healthy(): boolean;
}

/** The outcome of one upstream fetch, shared by every client that waited for it. */
type FetchResult =
  | { readonly kind: 'entry'; readonly entry: CacheEntry }
  /** Not storable (truncated, no SOA, TTL 0...): relayed to the waiting clients as it came. */
  | { readonly kind: 'relay'; readonly reply: Buffer; readonly layout: MessageLayout }
  /** Negative answer while --stale-on-nxdomain keeps the positive one. */
  | { readonly kind: 'kept' }
  /** Upstream failed (timeout, network: rcode SERVFAIL) or answered SERVFAIL/REFUSED (that rcode). */
  | { readonly kind: 'failed'; readonly rcode: number };

/** Settings besides the cache configuration. */
export interface CacheHandlerOptions {
  readonly config: CacheConfig;
  readonly clock: Clock;
  /** Picks the upstreams for a name (kube-dns for the cluster zone when configured). */
  readonly route: (query: Query) => Upstreams;
  /** Random numbers in [0, 1) for prefetch jitter; injectable for tests. */
  readonly random?: () => number;
}

/** The forwarding cache handler. */
export class CacheHandler implements Handler {
  readonly name = 'cache';
  private readonly store: CacheStore;
  private readonly flights = new Map<CacheKey, Promise<FetchResult>>();
  /** Keys whose last fetch failed with nothing cached, until when (clock ms). */
  private readonly failures: LRUCache<CacheKey, number>;
  private config: CacheConfig;
  private readonly clock: Clock;
  private readonly route: (query: Query) => Upstreams;
  private readonly random: () => number;
  /** Upstream sets whose most recent exchange failed (timeout, network, SERVFAIL, REFUSED). */
  private readonly failing = new WeakSet<Upstreams>();
  /** Client queries waiting for a flight (bounded by --max-waiting-clients). */
  private waiting = 0;

  constructor(
    options: CacheHandlerOptions,
    private readonly metrics: ResolverMetrics,
    private readonly log: Logger,
  ) {
    this.config = options.config;
    this.clock = options.clock;
    this.route = options.route;
    this.random = options.random ?? Math.random;
    this.store = new CacheStore(options.config.maxEntries, options.config.maxBytes, () => metrics.cacheEvictions.inc());
    this.failures = new LRUCache({ max: 10_000 });
    metrics.setCacheState(() => ({ entries: this.store.size, negative: this.store.negatives, bytes: this.store.bytes, inflight: this.flights.size, waiting: this.waiting }));
  }

  /** Applies reloadable settings (TTL limits, stale timers, in-flight bound); sizes need a restart. */
  reconfigure(config: CacheConfig): void {
    this.config = { ...config, maxEntries: this.config.maxEntries, maxBytes: this.config.maxBytes };
  }

  serve(query: Query): Buffer | Promise<Buffer> {
    const key = cacheKey(query);
    const now = this.clock.now();
    const entry = this.store.get(key);
    if (entry) {
      if (now < entry.expiresAt) return this.freshHit(key, entry, query, now);
      if (now < entry.staleUntil) return this.staleHit(key, entry, query, now);
      this.store.delete(key); // older than --serve-stale allows
    }
    const failedUntil = this.failures.get(key);
    if (failedUntil !== undefined && now < failedUntil) {
      this.metrics.cacheFailureHits.inc();
      return servfail(query);
    }
    this.metrics.cacheMisses.inc();
    if (this.waiting >= this.config.maxWaitingClients) {
      this.metrics.cacheWaitingOverflow.inc();
      return servfail(query);
    }
    const flight = this.fetch(key, query);
    if (!flight) return servfail(query);
    this.waiting++;
    return flight.then((result) => {
      this.waiting--;
      return this.answerFetched(result, query, undefined);
    });
  }

  private freshHit(key: CacheKey, entry: CacheEntry, query: Query, now: number): Buffer {
    this.metrics.countCacheHit(entry.negative);
    entry.hits++;
    const prefetch = this.config.prefetchHits;
    if (prefetch > 0 && entry.hits >= prefetch && now >= entry.prefetchAt && !this.flights.has(key) && entry.failedAt === undefined) {
      if (this.fetch(key, entry.query)) this.metrics.cachePrefetches.inc();
    }
    return renderEntry(entry, query, remainingTtl(entry, now));
  }

  private staleHit(key: CacheKey, entry: CacheEntry, query: Query, now: number): Buffer | Promise<Buffer> {
    const upstreams = this.route(query);
    if (!upstreams.healthy()) return this.stale(entry, query, 'upstream_down');
    if (entry.failedAt !== undefined && now - entry.failedAt < this.config.failureRecheckMs) return this.stale(entry, query, 'recheck');
    const flight = this.fetch(key, query);
    if (!flight) return this.stale(entry, query, 'overflow');
    // The last exchange with these upstreams failed: refresh in the background, but do
    // not make the client wait for an upstream that is probably down (RFC 8767 §5).
    if (this.failing.has(upstreams)) return this.stale(entry, query, 'upstream_failing');
    if (this.waiting >= this.config.maxWaitingClients) {
      this.metrics.cacheWaitingOverflow.inc();
      return this.stale(entry, query, 'overflow'); // the refresh goes on in the background
    }
    this.waiting++;
    return new Promise<Buffer>((resolve) => {
      let settled = false;
      const timer = this.clock.timer(this.config.clientTimeoutMs, () => {
        settled = true;
        this.waiting--;
        resolve(this.stale(entry, query, 'client_timeout'));
      });
      void flight.then((result) => {
        if (settled) return;
        timer.cancel();
        this.waiting--;
        resolve(this.answerFetched(result, query, entry));
      });
    });
  }

  /** A stale answer from `entry` (RFC 8767 §4: TTL --stale-answer-ttl). */
  private stale(entry: CacheEntry, query: Query, reason: string): Buffer {
    this.metrics.cacheStale.inc({ reason });
    return renderEntry(entry, query, this.config.staleAnswerTtl);
  }

  /** Turns a fetch result into the reply for one waiting client; `stale` is what it may fall back on. */
  private answerFetched(result: FetchResult, query: Query, stale: CacheEntry | undefined): Buffer {
    const now = this.clock.now();
    switch (result.kind) {
      case 'entry':
        return renderEntry(result.entry, query, remainingTtl(result.entry, now));
      case 'relay':
        return relayReply(result.reply, result.layout, query);
      case 'kept':
        return stale ? this.stale(stale, query, 'kept_positive') : servfail(query);
      case 'failed':
        if (stale) return this.stale(stale, query, 'refresh_failed');
        return composeReply(query, result.rcode, false, EMPTY_SECTIONS);
    }
  }

  /**
   * One upstream query per key (single flight), bounded in number. Returns
   * undefined when the bound is reached and no flight for the key exists.
   */
  private fetch(key: CacheKey, query: Query): Promise<FetchResult> | undefined {
    const existing = this.flights.get(key);
    if (existing) {
      this.metrics.cacheCoalesced.inc();
      return existing;
    }
    if (this.flights.size >= this.config.maxUpstreamInflight) {
      this.metrics.cacheOverflow.inc();
      return undefined;
    }
    const upstreams = this.route(query);
    const flight = upstreams
      .exchange(query)
      .then(
        (outcome) => {
          const rcode = outcome.ok ? outcome.reply.readUInt16BE(2) & 0xf : Rcode.SERVFAIL;
          if (rcode === Rcode.SERVFAIL || rcode === Rcode.REFUSED) this.failing.add(upstreams);
          else this.failing.delete(upstreams);
          return this.absorb(key, query, outcome);
        },
        (error: unknown): FetchResult => {
          this.log.error({ err: error }, 'upstream exchange threw');
          return this.failed(key, Rcode.SERVFAIL);
        },
      )
      .finally(() => this.flights.delete(key));
    this.flights.set(key, flight);
    return flight;
  }

  /** Stores what the upstream said, following the last-known-good rules. */
  private absorb(key: CacheKey, query: Query, outcome: UpstreamOutcome): FetchResult {
    if (!outcome.ok) return this.failed(key, Rcode.SERVFAIL);
    const rcode = outcome.reply.readUInt16BE(2) & 0xf;
    if (rcode === Rcode.SERVFAIL || rcode === Rcode.REFUSED) return this.failed(key, rcode);
    const now = this.clock.now();
    const made = makeEntry(outcome.reply, outcome.layout, query, {
      limits: this.config,
      now,
      serveStaleMs: this.config.serveStaleMs,
      jitter: this.random(),
    });
    const previous = this.store.get(key);
    if (typeof made === 'string') {
      this.log.debug({ why: made }, 'reply not cached');
      return { kind: 'relay', reply: outcome.reply, layout: outcome.layout };
    }
    this.failures.delete(key);
    if (made.negative && previous && !previous.negative && this.config.staleOnNxdomain) {
      previous.failedAt = now;
      return { kind: 'kept' };
    }
    this.store.set(key, made);
    return { kind: 'entry', entry: made };
  }

  /** A failed fetch: mark the cached entry (failure-recheck) or remember the failure (servfail-ttl). */
  private failed(key: CacheKey, rcode: number): FetchResult {
    const now = this.clock.now();
    const previous = this.store.get(key);
    if (previous) previous.failedAt = now;
    else if (this.config.servfailTtlMs > 0) this.failures.set(key, now + this.config.servfailTtlMs);
    return { kind: 'failed', rcode };
  }
}

function servfail(query: Query): Buffer {
  return composeReply(query, Rcode.SERVFAIL, false, EMPTY_SECTIONS);
}
