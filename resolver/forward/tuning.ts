/**
 * Knobs of the upstream client that are not command-line flags: pool sizes,
 * socket rotation, circuit breaker and probe timing, latency smoothing. The
 * defaults suit a node-local resolver; tests shrink the intervals through
 * `ForwarderOptions.tuning`.
 */

/** Upstream client settings; every field has a default in {@link DEFAULT_TUNING}. */
export interface ForwarderTuning {
  /** UDP sockets kept per upstream; queries go round-robin over them. */
  readonly udpSockets: number;
  /**
   * A UDP socket takes this many queries, then is replaced by one on a new random
   * source port (RFC 5452 §9.2: source port randomisation; rotating keeps an
   * off-path attacker from learning a fixed set of ports).
   */
  readonly udpSocketMaxQueries: number;
  /** A UDP socket older than this is replaced too (checked when it is next picked). */
  readonly udpSocketMaxAgeMs: number;
  /** Queries in flight on one UDP socket or TCP connection at most (IDs are unique within one). */
  readonly maxPendingPerSocket: number;
  /** Persistent TCP connections per upstream at most; a second opens only when the first is full. */
  readonly tcpConnections: number;
  /** An idle TCP connection is closed after this long (RFC 7766 §6.2.3; CoreDNS forward uses 10 s). */
  readonly tcpIdleMs: number;
  /** Consecutive failures (timeouts, network errors) that open an upstream's circuit. */
  readonly failThreshold: number;
  /** First probe of an open circuit after this long; the delay doubles up to {@link probeMaxMs}. */
  readonly probeInitialMs: number;
  /** Longest delay between probes of an open circuit. */
  readonly probeMaxMs: number;
  /** Weight of a new latency sample in the smoothed RTT (EWMA) used by the `fastest` policy. */
  readonly rttAlpha: number;
  /**
   * A latency measurement older than this counts as unmeasured, so the `fastest`
   * policy sends that upstream one query to measure it again.
   */
  readonly rttStaleMs: number;
}

/** Default {@link ForwarderTuning}. */
export const DEFAULT_TUNING: ForwarderTuning = Object.freeze({
  udpSockets: 4,
  udpSocketMaxQueries: 64,
  udpSocketMaxAgeMs: 15_000,
  maxPendingPerSocket: 512,
  tcpConnections: 2,
  tcpIdleMs: 10_000,
  failThreshold: 3,
  probeInitialMs: 500,
  probeMaxMs: 4_000,
  rttAlpha: 0.3,
  rttStaleMs: 60_000,
});
