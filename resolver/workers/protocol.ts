/**
 * Messages between the resolver's main thread (`pool.ts`) and its worker
 * threads (`thread.ts`). Everything is plain data (structured clone); a zone
 * travels as its packed image, whose typed arrays live in SharedArrayBuffers,
 * so every worker reads the same memory and nothing is copied per worker.
 */
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { ResolverConfig } from '../config.js';
import type { HostPort } from '../server/address.js';
import type { ZoneImage } from '../zone/table.js';

/** A registry's metrics as `getMetricsAsJSON()` gives them (what `AggregatorRegistry.aggregate` takes). */
export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/** What a worker starts with (`workerData`). */
export interface WorkerInit {
  /** 0 … N-1, a label in logs and metrics; a restarted worker keeps its index. */
  readonly index: number;
  readonly config: ResolverConfig;
  /** Where to listen: the configured addresses, any port 0 already resolved. */
  readonly addresses: readonly HostPort[];
  /** The zone served now, if any. */
  readonly zone: ZoneImage | undefined;
}

/** Main thread → worker. */
export type ToWorker =
  /** Serve this zone from now on (a new snapshot, or a new TTL). */
  | { readonly type: 'zone'; readonly image: ZoneImage }
  /** SIGHUP: the new configuration (upstreams, timeouts, cache settings, log level). */
  | { readonly type: 'reload'; readonly config: ResolverConfig }
  /** Send your registry's metrics (a scrape of /metrics). */
  | { readonly type: 'metrics'; readonly id: number }
  /** Stop accepting (after a hand-over when `handOver`), finish queries in progress within `graceMs`, close, say 'stopped'. */
  | { readonly type: 'stop'; readonly graceMs: number; readonly handOver?: boolean };

/** Worker → main thread. */
export type FromWorker =
  | { readonly type: 'listening'; readonly addresses: readonly HostPort[] }
  /** Could not bind; the worker ends. `code` is the system error's (EADDRINUSE...). */
  | { readonly type: 'failed'; readonly message: string; readonly code: string | undefined }
  | { readonly type: 'metrics'; readonly id: number; readonly metrics: MetricsJson }
  /** One JSON log line, written by the main thread's logger destination. */
  | { readonly type: 'log'; readonly line: string }
  | { readonly type: 'stopped' };
