/**
 * `--coredns-compatible-metrics`: the figures node-local-dns (CoreDNS) dashboards
 * and alerts read, under CoreDNS's names and labels, so they keep working after
 * the migration. They are views of holdfast's own metrics computed at scrape
 * time: nothing is counted twice on the query path.
 *
 * Label values CoreDNS has and holdfast does not track are fixed: `zone` is ".",
 * `view` is "", `family` is "1", `plugin` is "" (documented in the README).
 */
import type { Metric, Registry } from 'prom-client';

type Labels = Record<string, string | number>;
interface Value {
  labels: Labels;
  value: number;
  metricName?: string;
}

/** One mirrored metric: reads `source`, regroups and renames its series. */
interface Mirror {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly source: string;
  /** New labels for a source series; series that map to the same labels are summed. */
  readonly labels: (source: Labels) => Labels;
}

/** Registers the CoreDNS-named views in `registry`. `server` is e.g. `dns://127.0.0.1:53`. */
export function registerCorednsMetrics(registry: Registry, server: string): void {
  const common = { server, zone: '.', view: '' };
  const mirrors: Mirror[] = [
    {
      name: 'coredns_dns_requests_total',
      help: 'Counter of DNS requests made per zone, protocol and family.',
      type: 'counter',
      source: 'holdfast_dns_requests_total',
      labels: (l) => ({ ...common, proto: String(l['transport']), family: '1', type: String(l['qtype']) }),
    },
    {
      name: 'coredns_dns_responses_total',
      help: 'Counter of response status codes.',
      type: 'counter',
      source: 'holdfast_dns_requests_total',
      labels: (l) => ({ ...common, rcode: String(l['rcode']), plugin: '' }),
    },
    {
      name: 'coredns_dns_request_duration_seconds',
      help: 'Histogram of the time (in seconds) each request took.',
      type: 'histogram',
      source: 'holdfast_dns_request_duration_seconds',
      labels: (l) => ({ ...common, ...(l['le'] !== undefined ? { le: l['le'] } : {}) }),
    },
    {
      name: 'coredns_cache_hits_total',
      help: 'The count of cache hits.',
      type: 'counter',
      source: 'holdfast_cache_hits_total',
      labels: (l) => ({ server, view: '', zones: '.', type: String(l['type']) }),
    },
    {
      name: 'coredns_cache_misses_total',
      help: 'The count of cache misses.',
      type: 'counter',
      source: 'holdfast_cache_misses_total',
      labels: () => ({ server, view: '', zones: '.' }),
    },
    {
      name: 'coredns_cache_served_stale_total',
      help: 'The number of requests served from stale cache entries.',
      type: 'counter',
      source: 'holdfast_cache_stale_served_total',
      labels: () => ({ server, view: '', zones: '.' }),
    },
    {
      name: 'coredns_cache_prefetch_total',
      help: 'The number of times the cache has prefetched a cached item.',
      type: 'counter',
      source: 'holdfast_cache_prefetches_total',
      labels: () => ({ server, view: '', zones: '.' }),
    },
    {
      name: 'coredns_cache_evictions_total',
      help: 'The count of cache evictions.',
      type: 'counter',
      source: 'holdfast_cache_evictions_total',
      labels: () => ({ server, view: '', zones: '.', type: 'success' }),
    },
    {
      name: 'coredns_cache_entries',
      help: 'The number of elements in the cache.',
      type: 'gauge',
      source: 'holdfast_cache_entries',
      labels: (l) => ({ server, view: '', zones: '.', type: String(l['type']) }),
    },
    {
      name: 'coredns_forward_requests_total',
      help: 'Counter of requests made per upstream.',
      type: 'counter',
      source: 'holdfast_upstream_requests_total',
      labels: (l) => ({ to: String(l['upstream']) }),
    },
    {
      name: 'coredns_forward_request_duration_seconds',
      help: 'Histogram of the time each request took.',
      type: 'histogram',
      source: 'holdfast_upstream_duration_seconds',
      labels: (l) => ({ to: String(l['upstream']), ...(l['le'] !== undefined ? { le: l['le'] } : {}) }),
    },
  ];
  for (const mirror of mirrors) registry.registerMetric(mirrorMetric(registry, mirror) as unknown as Metric);
}

function mirrorMetric(registry: Registry, mirror: Mirror) {
  return {
    name: mirror.name,
    help: mirror.help,
    type: mirror.type,
    async get() {
      const source = registry.getSingleMetric(mirror.source);
      const values = source ? ((await source.get()).values as Value[]) : [];
      const summed = new Map<string, Value>();
      for (const v of values) {
        const suffix = v.metricName?.startsWith(mirror.source) ? v.metricName.slice(mirror.source.length) : '';
        const labels = mirror.labels(v.labels);
        const key = `${suffix}|${JSON.stringify(labels)}`;
        const seen = summed.get(key);
        if (seen) seen.value += v.value;
        else summed.set(key, { labels, value: v.value, metricName: `${mirror.name}${suffix}` });
      }
      return { name: mirror.name, help: mirror.help, type: mirror.type, aggregator: 'sum', values: [...summed.values()] };
    },
    // prom-client calls these on registry operations; the view has no state of its own.
    reset() {},
  };
}
