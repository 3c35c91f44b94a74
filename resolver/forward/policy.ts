/**
 * Which upstreams to try for a query, in which order. `sequential`: config
 * order. `fastest`: lowest smoothed RTT first, with upstreams not yet measured
 * (or measured too long ago) ahead of all measured ones, in config order, so
 * each gets measured. Open circuits are left out; when every circuit is open the
 * first upstream of the order is still tried, so that recovery does not wait for
 * the probe alone.
 */
import type { UpstreamClient } from './client.js';

/** How upstreams are ordered. */
export type UpstreamPolicy = 'sequential' | 'fastest';

/** The upstreams to try, best first. */
export function orderClients(clients: readonly UpstreamClient[], policy: UpstreamPolicy, now = performance.now()): UpstreamClient[] {
  let ordered: readonly UpstreamClient[] = clients;
  if (policy === 'fastest' && clients.length > 1) {
    const keyed = clients.map((client, index) => ({ client, index, rtt: client.rtt(now) ?? -1 }));
    keyed.sort((a, b) => a.rtt - b.rtt || a.index - b.index);
    ordered = keyed.map((k) => k.client);
  }
  const usable = ordered.filter((c) => !c.circuit.open);
  return usable.length > 0 ? usable : ordered.slice(0, 1);
}
