/** Test helpers: a Forwarder wired to fake upstreams, queries built from names, metric values read back. */
import { Forwarder } from '../resolver/forward/forwarder.js';
import type { ForwarderOptions } from '../resolver/forward/forwarder.js';
import { ResolverMetrics } from '../resolver/metrics.js';
import { RRType } from '../resolver/wire/constants.js';
import { encodeQuery } from '../resolver/wire/decode.js';
import { parseQuery } from '../resolver/wire/query.js';
import type { Query } from '../resolver/wire/query.js';
import { quietLogger } from './helpers/dns.js';
import type { FakeUpstream } from './helpers/upstream.js';

/** A forwarder toward `upstreams` (forced to TCP when `forceTcp`), with its own metrics. */
export function makeForwarder(
  upstreams: readonly FakeUpstream[],
  options: Partial<Omit<ForwarderOptions, 'upstreams'>> & { forceTcp?: boolean } = {},
): { forwarder: Forwarder; metrics: ResolverMetrics } {
  const metrics = new ResolverMetrics();
  const { forceTcp = false, timeoutMs = 300, ...rest } = options;
  const forwarder = new Forwarder(
    { upstreams: upstreams.map((u) => ({ host: '127.0.0.1', port: u.port, label: u.address, forceTcp })), timeoutMs, ...rest },
    metrics,
    quietLogger(),
  );
  return { forwarder, metrics };
}

/** A parsed query for `name`. */
export function query(name: string, type: number = RRType.A, id = 0x1234): Query {
  const parsed = parseQuery(encodeQuery(name, type, { id }));
  if (parsed.kind !== 'query') throw new Error(`cannot build a query for ${name}`);
  return parsed.query;
}

/** The value of one metric sample (0 when absent). */
export async function metricValue(metrics: ResolverMetrics, name: string, labels: Record<string, string>): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  const hit = values.find((v) => Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want));
  return hit?.value ?? 0;
}

/** Polls `check` every 10 ms until it holds or `timeoutMs` passed. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 2000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
