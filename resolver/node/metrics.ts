/**
 * Metrics of node-local mode (interface, rules, capture lease) and of the
 * shutdown hand-over, on the resolver's registry. Always registered, so alerts
 * and dashboards see zeros rather than absent series.
 */
import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import { NODE_SETUP_ERROR_TYPES } from '../../common/errors.js';

/** Counters and gauges of the interface, rules, capture lease and hand-over. */
export class NodeSetupMetrics {
  readonly errors: Counter<'type'>;
  readonly repairs: Counter<'what'>;
  readonly leaseExpiry: Gauge;
  readonly handoffs: Counter<'result'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.errors = new Counter({
      name: 'holdfast_node_setup_errors_total',
      help: 'Node-local setup failures by type: command (ip/iptables missing), interface, address, iptables, lease, selfcheck (listeners did not answer, lease not renewed), teardown.',
      labelNames: ['type'],
      registers,
    });
    for (const type of NODE_SETUP_ERROR_TYPES) this.errors.inc({ type }, 0);
    this.repairs = new Counter({
      name: 'holdfast_node_setup_repairs_total',
      help: 'Pieces of the node-local setup (re)created: interface, address, link_up, chain, notrack, accept. The first setup counts too.',
      labelNames: ['what'],
      registers,
    });
    this.leaseExpiry = new Gauge({
      name: 'holdfast_node_capture_lease_expiry_timestamp_seconds',
      help: 'Unix time at which the iptables capture of the local IPs lapses unless renewed (0: not capturing).',
      registers,
    });
    this.handoffs = new Counter({
      name: 'holdfast_handoffs_total',
      help: 'Shutdowns by how the listeners were handed over: successor (another holdfast on the same addresses was serving), timeout (one was starting but did not serve within --handoff-timeout), none (no other instance).',
      labelNames: ['result'],
      registers,
    });
  }
}
