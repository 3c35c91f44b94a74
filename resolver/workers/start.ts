/**
 * Where the resolver's serving path runs: on the main thread (`--workers 1`, a
 * {@link DnsService}) or in worker threads (`--workers N`, a {@link WorkerPool}),
 * and what `/metrics` serves in each case.
 */
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { ResolverConfig } from '../config.js';
import type { MetricsText } from '../http.js';
import type { SnapshotStore } from '../intake/store.js';
import type { ResolverMetrics } from '../metrics.js';
import { DnsService } from '../serving.js';
import type { Serving } from '../serving.js';
import { WorkerPool } from './pool.js';

/** What the serving path takes from the resolver. */
export interface StartDeps {
  readonly store: SnapshotStore;
  readonly metrics: ResolverMetrics;
  readonly log: Logger;
  readonly clock: Clock;
  readonly random: () => number;
}

/**
 * Starts serving on `config.listen`; resolves once every listener (of every worker)
 * is bound. Worker threads use the system clock and Math.random: an injected
 * `clock` or `random` (tests) applies with `--workers 1` only.
 */
export async function startServing(config: ResolverConfig, deps: StartDeps): Promise<Serving> {
  const { store, metrics, log } = deps;
  if (config.workers > 1) {
    return WorkerPool.start(config, { metrics, log: log.child({ part: 'workers' }), onZone: (listener) => store.onZone(listener), zone: store.current() });
  }
  const service = new DnsService(config, { metrics, log, clock: deps.clock, random: deps.random, zone: () => store.current() });
  try {
    await service.listen(config.listen, config.reusePort);
  } catch (error) {
    await service.close(0);
    throw error;
  }
  return service;
}

/** What /metrics serves: the registry, or with worker threads the sum over them (`metrics.ts`). */
export function metricsSource(metrics: ResolverMetrics, service: () => Serving | undefined): { readonly registry: MetricsText } {
  return {
    registry: {
      contentType: metrics.registry.contentType,
      metrics: () => {
        const current = service();
        return current instanceof WorkerPool ? current.metricsText() : metrics.registry.metrics();
      },
    },
  };
}
