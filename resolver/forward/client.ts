/**
 * Everything the forwarder keeps per upstream: its UDP socket pool, its TCP
 * connections, its circuit breaker and its smoothed round-trip time.
 */
import type { Logger } from 'pino';
import type { ResolverMetrics } from '../metrics.js';
import { HEADER_SIZE, RRClass, RRType } from '../wire/constants.js';
import { Flag } from '../wire/reply.js';
import { walkMessage } from '../wire/walk.js';
import type { Upstream } from './exchange.js';
import type { Rejected } from './pending.js';
import { Circuit } from './health.js';
import type { UpstreamMetrics } from './metrics.js';
import { TcpPool } from './tcp-pool.js';
import { UdpPool } from './udp-pool.js';
import type { ForwarderTuning } from './tuning.js';

/** A validated reply and the transport that brought it. */
export interface ClientReply {
  readonly reply: Buffer;
  readonly transport: 'udp' | 'tcp';
}

/** `. IN NS` with RD set: the health probe (CoreDNS `forward` sends the same). ID is filled in per probe. */
function probeQuery(): { message: Buffer; questionEnd: number } {
  const message = Buffer.alloc(HEADER_SIZE + 5);
  message.writeUInt16BE(Flag.RD, 2);
  message.writeUInt16BE(1, 4);
  // Root name (one zero octet), then type and class.
  message.writeUInt16BE(RRType.NS, HEADER_SIZE + 1);
  message.writeUInt16BE(RRClass.IN, HEADER_SIZE + 3);
  return { message, questionEnd: HEADER_SIZE + 5 };
}

/** The forwarder's state for one upstream. */
export class UpstreamClient {
  readonly udp: UdpPool;
  readonly tcp: TcpPool;
  readonly circuit: Circuit;
  /** Smoothed RTT in ms (EWMA), undefined until measured. */
  private srtt: number | undefined;
  private measuredAt = 0;

  constructor(
    readonly upstream: Upstream,
    private readonly tuning: ForwarderTuning,
    private readonly timeoutMs: () => number,
    private readonly metrics: ResolverMetrics,
    private readonly upstreamMetrics: UpstreamMetrics,
    log: Logger,
  ) {
    const label = upstream.label;
    const onRejected = (reason: Rejected) => metrics.upstreamErrors.inc({ upstream: label, reason });
    this.udp = new UdpPool(upstream, tuning, { onRejected });
    this.tcp = new TcpPool(upstream, tuning, {
      onRejected,
      onConnections: (delta) => upstreamMetrics.tcpConnections.inc({ upstream: label }, delta),
    });
    this.circuit = new Circuit(label, tuning, () => this.probe(), upstreamMetrics, log);
  }

  /**
   * Sends `message` (ID overwritten) over UDP, retrying over TCP on TC
   * (RFC 7766 §5) with the same ID when it is free there; over TCP only when the
   * upstream is `forceTcp`. A UDP reply longer than `udpLimit`, the size the
   * query allowed (RFC 6891 §6.2.3; 512 without EDNS, RFC 1035 §4.2.1), is not
   * used: counted (`reason="oversized"`) and asked again over TCP, like TC. Each
   * transport used is counted in `holdfast_upstream_requests_total`.
   */
  async send(message: Buffer, questionEnd: number, udpLimit: number, onTransport: (t: 'udp' | 'tcp') => void = () => {}): Promise<ClientReply> {
    const timeoutMs = this.timeoutMs();
    if (this.upstream.forceTcp) {
      this.count('tcp', onTransport);
      return { reply: await this.tcp.query(message, questionEnd, timeoutMs), transport: 'tcp' };
    }
    this.count('udp', onTransport);
    const reply = await this.udp.query(message, questionEnd, timeoutMs);
    const oversized = reply.length > udpLimit;
    if (oversized) this.metrics.upstreamErrors.inc({ upstream: this.upstream.label, reason: 'oversized' });
    else if (!(reply.readUInt16BE(2) & Flag.TC)) return { reply, transport: 'udp' };
    this.count('tcp', onTransport);
    return { reply: await this.tcp.query(message, questionEnd, timeoutMs, message.readUInt16BE(0)), transport: 'tcp' };
  }

  /**
   * Smoothed RTT for ordering, or undefined when never measured or measured
   * longer than `rttStaleMs` ago (then it deserves a query to measure it again).
   */
  rtt(now = performance.now()): number | undefined {
    return this.srtt !== undefined && now - this.measuredAt < this.tuning.rttStaleMs ? this.srtt : undefined;
  }

  /** Adds a latency sample (a timeout counts as the full timeout). */
  observeRtt(ms: number): void {
    const fresh = this.rtt() !== undefined;
    this.srtt = fresh && this.srtt !== undefined ? this.srtt + this.tuning.rttAlpha * (ms - this.srtt) : ms;
    this.measuredAt = performance.now();
  }

  /** Releases sockets and timers; pending queries fail. */
  close(): void {
    this.circuit.stop();
    this.udp.close();
    this.tcp.close();
    this.upstreamMetrics.forget(this.upstream.label);
  }

  private count(transport: 'udp' | 'tcp', onTransport: (t: 'udp' | 'tcp') => void): void {
    this.metrics.upstreamRequests.inc({ upstream: this.upstream.label, transport });
    onTransport(transport);
  }

  private async probe(): Promise<boolean> {
    const { message, questionEnd } = probeQuery();
    const timeoutMs = this.timeoutMs();
    try {
      const reply = this.upstream.forceTcp
        ? await this.tcp.query(message, questionEnd, timeoutMs)
        : await this.udp.query(message, questionEnd, timeoutMs);
      return walkMessage(reply) !== undefined;
    } catch {
      return false;
    }
  }
}
