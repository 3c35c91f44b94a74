/**
 * Metrics of upstream health and connections, registered in the resolver's
 * registry next to `holdfast_upstream_requests_total`, `_errors_total` and
 * `_duration_seconds` (those stay in `ResolverMetrics`). The `upstream` label is
 * an upstream's `host:port` from the configuration, a fixed set.
 */
import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';

/** State label of a circuit transition. */
export type CircuitState = 'open' | 'closed';

/** Result label of a health probe. */
export type ProbeResult = 'success' | 'failure';

/**
 * Upstream health metrics. Constructing it twice on one registry reuses the
 * metrics already registered there (two forwarders may share a registry).
 */
export class UpstreamMetrics {
  /** `holdfast_upstream_circuit_open{upstream}`: 1 while the upstream's circuit is open, else 0. */
  readonly circuitOpen: Gauge<'upstream'>;
  /** `holdfast_upstream_circuit_transitions_total{upstream,state}`: circuits opened and closed. */
  readonly circuitTransitions: Counter<'upstream' | 'state'>;
  /** `holdfast_upstream_probes_total{upstream,result}`: health probes of open circuits. */
  readonly probes: Counter<'upstream' | 'result'>;
  /** `holdfast_upstream_tcp_connections{upstream}`: open TCP connections to upstreams. */
  readonly tcpConnections: Gauge<'upstream'>;
  /** `holdfast_upstream_scrubbed_records_total{upstream,section}`: records removed from replies by the scrubber. */
  readonly scrubbed: Counter<'upstream' | 'section'>;

  constructor(registry: Registry) {
    const registers = [registry];
    const existing = <T>(name: string): T | undefined => registry.getSingleMetric(name) as T | undefined;
    this.circuitOpen =
      existing<Gauge<'upstream'>>('holdfast_upstream_circuit_open') ??
      new Gauge({
        name: 'holdfast_upstream_circuit_open',
        help: '1 while the upstream is skipped after consecutive failures (circuit open), 0 when it is in use.',
        labelNames: ['upstream'],
        registers,
        // With --workers N, each worker has its own circuit: 1 when any has it open.
        aggregator: 'max',
      });
    this.circuitTransitions =
      existing<Counter<'upstream' | 'state'>>('holdfast_upstream_circuit_transitions_total') ??
      new Counter({
        name: 'holdfast_upstream_circuit_transitions_total',
        help: 'Upstream circuits opened (state=open) after consecutive failures and closed (state=closed) by a reply.',
        labelNames: ['upstream', 'state'],
        registers,
      });
    this.probes =
      existing<Counter<'upstream' | 'result'>>('holdfast_upstream_probes_total') ??
      new Counter({
        name: 'holdfast_upstream_probes_total',
        help: 'Health probes (". IN NS") sent to upstreams whose circuit is open, by result.',
        labelNames: ['upstream', 'result'],
        registers,
      });
    this.tcpConnections =
      existing<Gauge<'upstream'>>('holdfast_upstream_tcp_connections') ??
      new Gauge({
        name: 'holdfast_upstream_tcp_connections',
        help: 'Open TCP connections to upstream resolvers.',
        labelNames: ['upstream'],
        registers,
      });
    this.scrubbed =
      existing<Counter<'upstream' | 'section'>>('holdfast_upstream_scrubbed_records_total') ??
      new Counter({
        name: 'holdfast_upstream_scrubbed_records_total',
        help: 'Records removed from upstream replies before they were cached or relayed: out of the question\'s CNAME/DNAME chain or bailiwick, or of a type not allowed in their section. By section (answer, authority, additional).',
        labelNames: ['upstream', 'section'],
        registers,
      });
  }

  /** Sets the circuit gauge of `upstream`. */
  setCircuit(upstream: string, state: CircuitState, transition: boolean): void {
    this.circuitOpen.set({ upstream }, state === 'open' ? 1 : 0);
    if (transition) this.circuitTransitions.inc({ upstream, state });
  }

  /** Drops the gauges of an upstream removed from the configuration. */
  forget(upstream: string): void {
    this.circuitOpen.remove({ upstream });
    this.tcpConnections.remove({ upstream });
  }
}
