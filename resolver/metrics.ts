/**
 * The resolver's Prometheus metrics (prom-client, a registry of its own).
 * Names follow `holdfast_<subsystem>_<name>_<unit>`; labels come from fixed sets
 * (qtype from a list plus `other`), never from a query name. Gauges that describe
 * state (snapshot age) are computed at scrape time.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Metric } from 'prom-client';
import { CellHistogram, CounterCells } from './metric-cells.js';
import { QTYPE_NAMES, RCODE_NAMES } from './wire/constants.js';

/** Why a packet was dropped without a reply. */
const DROP_REASONS = ['short', 'response', 'overload', 'ratelimit', 'acl'] as const;
export type DropReason = (typeof DROP_REASONS)[number];

/** Why the resolver closed a client TCP connection (`server/tcp.ts`). */
export type TcpCloseReason = 'idle' | 'slow' | 'backpressure' | 'cap' | 'bad_length' | 'error';

/** What a TCP listener reports at scrape time. */
export interface TcpListenerState {
  readonly connections: () => number;
  readonly bufferedBytes: () => number;
}

/** What the cache reports at scrape time. */
export interface CacheState {
  readonly entries: number;
  readonly negative: number;
  readonly bytes: number;
  readonly inflight: number;
  /** Client queries waiting for an upstream answer. */
  readonly waiting: number;
}

type Transport = 'udp' | 'tcp';
const TRANSPORTS: readonly Transport[] = ['udp', 'tcp'];
/** Label values of `qtype` and `rcode`, `other` last; the slot of each number, every other number in `other`'s. */
const QTYPES = [...Object.values(QTYPE_NAMES), 'other'];
const RCODES = [...Object.values(RCODE_NAMES), 'other'];
const slots = (size: number, names: Readonly<Record<number, string>>, labels: readonly string[]) => {
  const table = new Uint8Array(size).fill(labels.length - 1);
  for (const [code, name] of Object.entries(names)) table[Number(code)] = labels.indexOf(name);
  return table;
};
/** qtype (16 bits) → index in QTYPES; rcode (12 bits with EDNS) → index in RCODES. */
const QTYPE_SLOT = slots(0x10000, QTYPE_NAMES, QTYPES);
const RCODE_SLOT = slots(0x1000, RCODE_NAMES, RCODES);
/** The cell of `holdfast_dns_requests_total` for a transport, qtype and rcode. */
const requestCell = (t: number, qtype: number, rcode: number) => (t * QTYPES.length + (QTYPE_SLOT[qtype & 0xffff] as number)) * RCODES.length + (RCODE_SLOT[rcode & 0xfff] as number);
const REQUEST_LABELS = TRANSPORTS.flatMap((transport) => QTYPES.flatMap((qtype) => RCODES.map((rcode) => ({ transport, qtype, rcode }))));
/** Index of each `holdfast_cache_hits_total` type. */
const HIT_TYPES = ['success', 'denial'] as const;
/** Label sets of `holdfast_dns_dropped_total` (transport-major) and `holdfast_dns_refused_total` (by transport). */
const DROP_LABELS = TRANSPORTS.flatMap((transport) => DROP_REASONS.map((reason) => ({ transport, reason })));
const REFUSED_LABELS = TRANSPORTS.map((transport) => ({ transport, reason: 'acl' }));

/** All resolver metrics. One instance per resolver. */
export class ResolverMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'transport' | 'qtype' | 'rcode'>;
  readonly duration: CellHistogram<'transport'>;
  readonly dropped: Counter<'transport' | 'reason'>;
  readonly refused: Counter<'transport' | 'reason'>;
  readonly rateLimitSlipped: Counter;
  readonly tcpRejected: Counter;
  readonly tcpClosed: Counter<'reason'>;
  readonly snapshotGeneration: Gauge;
  readonly snapshotAge: Gauge;
  readonly snapshotLoads: Counter<'source' | 'result'>;
  readonly snapshotRecords: Gauge;
  readonly snapshotApplySeconds: Gauge;
  readonly snapshotApplyLoopDelay: Gauge;
  readonly snapshotBytes: Gauge;
  readonly snapshotSigningKey: Gauge<'key'>;
  readonly upstreamRequests: Counter<'upstream' | 'transport'>;
  readonly upstreamErrors: Counter<'upstream' | 'reason'>;
  readonly upstreamDuration: Histogram<'upstream'>;
  readonly ready: Gauge;
  readonly cacheHits: Counter<'type'>;
  readonly cacheMisses: Counter;
  readonly cacheStale: Counter<'reason'>;
  readonly cachePrefetches: Counter;
  readonly cacheCoalesced: Counter;
  readonly cacheEvictions: Counter;
  readonly cacheOverflow: Counter;
  readonly cacheWaitingOverflow: Counter;
  readonly cacheFailureHits: Counter;
  /** The TCP listeners: their connections and the bytes they hold, summed at scrape time. */
  private readonly tcpListeners = new Set<TcpListenerState>();
  private cacheState: () => CacheState = () => ({ entries: 0, negative: 0, bytes: 0, inflight: 0, waiting: 0 });
  private snapshotCreatedAt: number | undefined;
  private rateLimitClients: () => number = () => 0;
  /** Counted per query as plain numbers, handed to prom-client at scrape time (`metric-cells.ts`). */
  private readonly requestCells = new CounterCells<'transport' | 'qtype' | 'rcode'>(REQUEST_LABELS);
  private readonly hitCells = new CounterCells<'type'>(HIT_TYPES.map((type) => ({ type })));
  /** Drops and refusals too: they are what a flood costs, so they cost no label lookup either. */
  private readonly dropCells = new CounterCells<'transport' | 'reason'>(DROP_LABELS);
  private readonly refusedCells = new CounterCells<'transport' | 'reason'>(REFUSED_LABELS);

  /**
   * `defaultMetrics: false` leaves out prom-client's process and Node.js metrics:
   * worker threads (`workers/thread.ts`) count queries; the main thread describes the process.
   */
  constructor(now: () => number = Date.now, options: { readonly defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'holdfast_' });
    const self = this;
    this.requests = new Counter({
      name: 'holdfast_dns_requests_total',
      help: 'DNS queries answered, by transport, query type and response code.',
      labelNames: ['transport', 'qtype', 'rcode'],
      registers,
      collect() {
        self.requestCells.publish(this);
      },
    });
    this.duration = new CellHistogram({
      name: 'holdfast_dns_request_duration_seconds',
      help: 'Time from receiving a query to handing its reply to the transport.',
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      series: TRANSPORTS.map((transport) => ({ transport })),
    });
    this.registry.registerMetric(this.duration as unknown as Metric);
    this.dropped = new Counter({
      name: 'holdfast_dns_dropped_total',
      help: 'Packets dropped without a reply: shorter than a header, responses (QR=1), overload, over the per-client rate limit (ratelimit), malformed from outside --allow-from (acl).',
      labelNames: ['transport', 'reason'],
      registers,
      collect() {
        self.dropCells.publish(this);
      },
    });
    this.refused = new Counter({
      name: 'holdfast_dns_refused_total',
      help: 'Queries answered REFUSED by policy, by reason: acl (client outside --allow-from). Also counted in holdfast_dns_requests_total.',
      labelNames: ['transport', 'reason'],
      registers,
      collect() {
        self.refusedCells.publish(this);
      },
    });
    this.rateLimitSlipped = new Counter({
      name: 'holdfast_dns_ratelimit_slipped_total',
      help: 'UDP queries over the per-client rate limit answered with an empty TC=1 reply (every --rate-limit-slip-th) instead of dropped.',
      registers,
    });
    new Gauge({
      name: 'holdfast_dns_ratelimit_clients',
      help: 'Client addresses the rate limiter tracks (bounded; summed over worker threads).',
      registers,
      collect() {
        this.set(self.rateLimitClients());
      },
    });
    new Gauge({
      name: 'holdfast_dns_tcp_connections',
      help: 'Open TCP client connections.',
      registers,
      collect() {
        let connections = 0;
        for (const listener of self.tcpListeners) connections += listener.connections();
        this.set(connections);
      },
    });
    this.tcpRejected = new Counter({
      name: 'holdfast_dns_tcp_rejected_total',
      help: 'New TCP connections refused at the connection cap because every open one had a query in flight (otherwise the longest-waiting one is closed instead, reason="cap").',
      registers,
    });
    this.tcpClosed = new Counter({
      name: 'holdfast_dns_tcp_closed_total',
      help: 'Client TCP connections closed by the resolver, by reason: idle (no query within --tcp-idle-timeout), slow (a query begun but not finished by then), backpressure (replies left unread by then), cap (longest-waiting connection closed to admit a new one), bad_length (length prefix under 12), error (socket error).',
      labelNames: ['reason'],
      registers,
    });
    new Gauge({
      name: 'holdfast_dns_tcp_buffered_bytes',
      help: 'Bytes held for client TCP connections: replies not yet sent and queries not yet parsed.',
      registers,
      collect() {
        let bytes = 0;
        for (const listener of self.tcpListeners) bytes += listener.bufferedBytes();
        this.set(bytes);
      },
    });
    this.snapshotGeneration = new Gauge({
      name: 'holdfast_snapshot_generation',
      help: 'Generation of the snapshot being served (0 when none is loaded).',
      registers,
    });
    this.snapshotAge = new Gauge({
      name: 'holdfast_snapshot_age_seconds',
      help: 'Age of the snapshot being served, from its creation time (absent until one is loaded).',
      registers,
      collect() {
        if (self.snapshotCreatedAt !== undefined) this.set(Math.max(0, (now() - self.snapshotCreatedAt) / 1000));
      },
    });
    this.snapshotLoads = new Counter({
      name: 'holdfast_snapshot_loads_total',
      help: 'Snapshot load attempts by source (file, state, push, pull) and result (applied, unchanged, rejected_schema, rejected_signature, rejected_rollback, rejected_conflict, rejected_too_large, rejected_unreadable, rejected_other).',
      labelNames: ['source', 'result'],
      registers,
    });
    this.snapshotRecords = new Gauge({
      name: 'holdfast_snapshot_records',
      help: 'Resource records in the cluster zone built from the current snapshot.',
      registers,
    });
    this.snapshotApplySeconds = new Gauge({
      name: 'holdfast_snapshot_apply_duration_seconds',
      help: 'Wall time of the last applied snapshot, from its receipt (including any wait behind earlier ones) to the swap.',
      registers,
    });
    this.snapshotApplyLoopDelay = new Gauge({
      name: 'holdfast_snapshot_apply_max_loop_delay_seconds',
      help: 'Longest event-loop delay while the last applied snapshot was verified and built (1 ms resolution): how long queries could have waited because of it.',
      registers,
    });
    this.snapshotBytes = new Gauge({
      name: 'holdfast_snapshot_bytes',
      help: 'Size of the snapshot being served as it was received (gzip or JSON).',
      registers,
    });
    this.snapshotSigningKey = new Gauge({
      name: 'holdfast_snapshot_signing_key_info',
      help: 'Always 1, labelled with the key id of the key that signed the snapshot being served ("unsigned" with --allow-unsigned): during a key rotation, shows which nodes serve a snapshot signed by the new key.',
      labelNames: ['key'],
      registers,
    });
    this.upstreamRequests = new Counter({
      name: 'holdfast_upstream_requests_total',
      help: 'Queries sent to upstream resolvers, by upstream and transport.',
      labelNames: ['upstream', 'transport'],
      registers,
    });
    this.upstreamErrors = new Counter({
      name: 'holdfast_upstream_errors_total',
      help: 'Failed upstream exchanges and refused upstream replies by reason (timeout, network, malformed, overload, rcode, bailiwick; mismatch, late, duplicate, oversized for replies dropped without ending the exchange).',
      labelNames: ['upstream', 'reason'],
      registers,
    });
    this.upstreamDuration = new Histogram({
      name: 'holdfast_upstream_duration_seconds',
      help: 'Latency of successful upstream exchanges.',
      labelNames: ['upstream'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.ready = new Gauge({ name: 'holdfast_ready', help: '1 when the resolver is serving, else 0.', registers });
    this.cacheHits = new Counter({
      name: 'holdfast_cache_hits_total',
      help: 'Answers served from fresh cache entries, by type (success, denial).',
      labelNames: ['type'],
      registers,
      collect() {
        self.hitCells.publish(this);
      },
    });
    this.cacheMisses = new Counter({ name: 'holdfast_cache_misses_total', help: 'Queries with nothing usable in the cache.', registers });
    this.cacheStale = new Counter({
      name: 'holdfast_cache_stale_served_total',
      help: 'Stale answers served (RFC 8767), by reason: client_timeout, refresh_failed, recheck, upstream_down, upstream_failing, overflow, kept_positive.',
      labelNames: ['reason'],
      registers,
    });
    this.cachePrefetches = new Counter({ name: 'holdfast_cache_prefetches_total', help: 'Refreshes of popular entries started before expiry.', registers });
    this.cacheCoalesced = new Counter({
      name: 'holdfast_cache_coalesced_total',
      help: 'Queries that joined an upstream query already in flight for the same key instead of sending their own.',
      registers,
    });
    this.cacheEvictions = new Counter({ name: 'holdfast_cache_evictions_total', help: 'Entries evicted by the entry or byte bound.', registers });
    this.cacheOverflow = new Counter({
      name: 'holdfast_cache_overflow_total',
      help: 'Queries that needed the upstream when --max-upstream-inflight queries were already in flight (answered stale or SERVFAIL).',
      registers,
    });
    this.cacheWaitingOverflow = new Counter({
      name: 'holdfast_cache_waiting_overflow_total',
      help: 'Queries that would have waited for an upstream answer when --max-waiting-clients were already waiting (answered stale or SERVFAIL at once).',
      registers,
    });
    this.cacheFailureHits = new Counter({
      name: 'holdfast_cache_servfail_hits_total',
      help: 'SERVFAIL answers given from a recent upstream failure for an uncached name, without asking again.',
      registers,
    });
    new Gauge({
      name: 'holdfast_cache_entries',
      help: 'Entries in the cache, by type: success (positive answers) and denial (NXDOMAIN/NODATA).',
      labelNames: ['type'],
      registers,
      collect() {
        const state = self.cacheState();
        this.set({ type: 'success' }, state.entries - state.negative);
        this.set({ type: 'denial' }, state.negative);
      },
    });
    new Gauge({
      name: 'holdfast_cache_bytes',
      help: 'Bytes counted toward --cache-max-bytes.',
      registers,
      collect() {
        this.set(self.cacheState().bytes);
      },
    });
    new Gauge({
      name: 'holdfast_cache_waiting_clients',
      help: 'Client queries waiting for an upstream answer (on a miss or a stale refresh), bounded by --max-waiting-clients.',
      registers,
      collect() {
        this.set(self.cacheState().waiting);
      },
    });
    new Gauge({
      name: 'holdfast_cache_upstream_inflight',
      help: 'Upstream queries the cache has in flight (after coalescing).',
      registers,
      collect() {
        this.set(self.cacheState().inflight);
      },
    });
  }

  /** Adds a TCP listener to `holdfast_dns_tcp_connections` and `_buffered_bytes` (every listen address has one); returns its removal. */
  addTcpListener(listener: TcpListenerState): () => void {
    this.tcpListeners.add(listener);
    return () => this.tcpListeners.delete(listener);
  }

  /** Where the cache gauges read their values at scrape time. */
  setCacheState(provider: () => CacheState): void {
    this.cacheState = provider;
  }

  /** Where the rate-limiter gauge reads the number of tracked clients at scrape time. */
  setRateLimitClients(provider: () => number): void {
    this.rateLimitClients = provider;
  }

  /** Records the snapshot now being served. */
  setSnapshot(generation: number, createdAt: number, records: number): void {
    this.snapshotGeneration.set(generation);
    this.snapshotCreatedAt = createdAt;
    this.snapshotRecords.set(records);
  }

  /** Records the key id that signed the snapshot now served (undefined: unsigned). */
  setSigningKey(keyId: string | undefined): void {
    this.snapshotSigningKey.reset();
    this.snapshotSigningKey.set({ key: keyId ?? 'unsigned' }, 1);
  }

  /** Records how the last snapshot was applied: wall time, longest event-loop delay meanwhile (s), received size. */
  setApply(seconds: number, maxLoopDelaySeconds: number, bytes: number): void {
    this.snapshotApplySeconds.set(seconds);
    this.snapshotApplyLoopDelay.set(maxLoopDelaySeconds);
    this.snapshotBytes.set(bytes);
  }

  /** Counts one answered query (this runs per query: two additions to typed arrays, no label lookup). */
  countRequest(transport: Transport, qtype: number, rcode: number, seconds: number): void {
    const t = transport === 'udp' ? 0 : 1;
    this.requestCells.inc(requestCell(t, qtype, rcode));
    this.duration.observe(t, seconds);
  }

  /** Counts one packet dropped without a reply (`holdfast_dns_dropped_total`), per packet like {@link countRequest}. */
  countDrop(transport: Transport, reason: DropReason): void {
    this.dropCells.inc((transport === 'udp' ? 0 : DROP_REASONS.length) + DROP_REASONS.indexOf(reason));
  }

  /** Counts one query refused by --allow-from (`holdfast_dns_refused_total{reason="acl"}`). */
  countRefused(transport: Transport): void {
    this.refusedCells.inc(transport === 'udp' ? 0 : 1);
  }

  /** Counts one answer from a fresh cache entry (`holdfast_cache_hits_total`), per query like {@link countRequest}. */
  countCacheHit(negative: boolean): void {
    this.hitCells.inc(negative ? 1 : 0);
  }
}
