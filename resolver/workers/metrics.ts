/**
 * `/metrics` with worker threads. Each worker counts its queries in its own
 * registry; a scrape asks every worker for its metrics (JSON) and sums them with
 * prom-client's `AggregatorRegistry.aggregate` (counters and histograms add up;
 * gauges add up too: TCP connections, cache entries and bytes over all the
 * per-worker caches; an upstream's circuit gauge takes the maximum: 1 when any
 * worker has it open). The main thread's own metrics (snapshot, readiness,
 * process) are shown as they are. The serving metrics are those named
 * `holdfast_dns_*`, `holdfast_upstream_*`, `holdfast_cache_*` and `coredns_*`.
 *
 * A worker that dies takes its counts with it; the counters and histograms it
 * had at the last scrape are kept and added in, so the sums never go down
 * (Prometheus would read a decrease as a counter reset). Its own metrics are
 * added: `holdfast_workers`, `holdfast_workers_serving`,
 * `holdfast_worker_restarts_total{worker}` and
 * `holdfast_worker_dns_requests_total{worker}` (queries answered per worker:
 * how the kernel spread them).
 */
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';
import type { Metric } from 'prom-client';
import type { MetricsJson } from './protocol.js';
import { UDP_DROPS_METRIC } from '../server/udp-drops.js';

export type { MetricsJson } from './protocol.js';

const SERVING_PREFIXES = ['holdfast_dns_', 'holdfast_upstream_', 'holdfast_cache_', 'coredns_'];

/** True for the metrics the workers count (and the main thread does not); kernel UDP drops are read once for the whole process, on the main thread. */
export function isServingMetric(name: string): boolean {
  return name !== UDP_DROPS_METRIC && SERVING_PREFIXES.some((prefix) => name.startsWith(prefix));
}

/** Sums `inputs` metric by metric (each metric's own aggregator). */
function sum(inputs: readonly MetricsJson[]): Registry {
  return AggregatorRegistry.aggregate(inputs as MetricsJson[]);
}

/** The total of `holdfast_dns_requests_total` in `metrics`. */
function requestTotal(metrics: MetricsJson | undefined): number {
  const requests = metrics?.find((m) => m.name === 'holdfast_dns_requests_total');
  return requests ? requests.values.reduce((n, v) => n + v.value, 0) : 0;
}

/** The pool's own metrics, and the sum over the workers. */
export class PoolMetrics {
  private readonly restarts: Counter<'worker'>;
  /** Per worker index: its queries at the last scrape, and those of its dead predecessors. */
  private readonly requests: number[];
  private readonly retiredRequests: number[];
  /** Counters and histograms of dead workers, summed. */
  private retired: Promise<MetricsJson> | undefined;

  constructor(registry: Registry, workers: number, serving: () => number) {
    const registers = [registry];
    this.requests = new Array<number>(workers).fill(0);
    this.retiredRequests = new Array<number>(workers).fill(0);
    new Gauge({ name: 'holdfast_workers', help: 'Worker threads serving DNS, as configured (--workers).', registers }).set(workers);
    new Gauge({
      name: 'holdfast_workers_serving',
      help: 'Worker threads serving DNS now (fewer while one that died is started again).',
      registers,
      collect() {
        this.set(serving());
      },
    });
    this.restarts = new Counter({
      name: 'holdfast_worker_restarts_total',
      help: 'Worker threads that ended without being asked to (an uncaught exception, terminated) and were started again, by worker index.',
      labelNames: ['worker'],
      registers,
    });
    const self = this;
    new Counter({
      name: 'holdfast_worker_dns_requests_total',
      help: 'DNS queries answered per worker thread (the kernel spreads clients over workers by address and port), as of the scrape.',
      labelNames: ['worker'],
      registers,
      collect() {
        this.reset();
        self.requests.forEach((n, worker) => this.inc({ worker: String(worker) }, n + (self.retiredRequests[worker] ?? 0)));
      },
    });
  }

  /** Worker `index` died; `last` is what it reported at the last scrape. */
  died(index: number, last: MetricsJson | undefined): void {
    this.restarts.inc({ worker: String(index) });
    this.retiredRequests[index] = (this.retiredRequests[index] ?? 0) + requestTotal(last);
    this.requests[index] = 0;
    if (!last) return;
    const counts = last.filter((m) => isServingMetric(m.name) && ((m.type as unknown) === 'counter' || (m.type as unknown) === 'histogram'));
    const before = this.retired;
    this.retired = before ? before.then((kept) => sum([kept, counts]).getMetricsAsJSON() as Promise<MetricsJson>) : Promise.resolve(counts);
  }

  /**
   * The exposition text of a scrape: `main`'s metrics but the serving ones, and
   * the serving metrics of the workers (`collected`, by index; undefined for a
   * worker that did not answer), summed with those kept from dead workers.
   */
  async text(main: Registry, collected: readonly (MetricsJson | undefined)[]): Promise<string> {
    collected.forEach((metrics, index) => {
      if (metrics) this.requests[index] = requestTotal(metrics);
    });
    const own = new Registry();
    for (const metric of main.getMetricsAsArray()) if (!isServingMetric(metric.name)) own.registerMetric(metric as unknown as Metric);
    const inputs = collected.filter((m): m is MetricsJson => m !== undefined).map((m) => m.filter((metric) => isServingMetric(metric.name)));
    if (this.retired) inputs.push(await this.retired);
    return Registry.merge([own, sum(inputs)]).metrics();
  }
}
