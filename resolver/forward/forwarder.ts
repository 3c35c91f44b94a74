/**
 * Plain forwarding of names the resolver does not own: each upstream in order,
 * UDP first, TCP when the reply is truncated (RFC 7766 §5), next upstream on a
 * failure, SERVFAIL when every upstream failed. The reply keeps the upstream's
 * content with the client's ID restored and our EDNS buffer size advertised.
 */
import type { Logger } from 'pino';
import type { ResolverMetrics } from '../metrics.js';
import { EDNS_UDP_SIZE, Rcode, RRType } from '../wire/constants.js';
import type { Query } from '../wire/query.js';
import { appendOpt, composeReply, EMPTY_SECTIONS, Flag } from '../wire/reply.js';
import { walkMessage } from '../wire/walk.js';
import type { MessageLayout } from '../wire/walk.js';
import { ExchangeError, exchangeTcp, exchangeUdp, randomId } from './exchange.js';
import type { Upstream } from './exchange.js';

/** Result of one {@link Forwarder.exchange}. */
export type UpstreamOutcome =
  | {
      readonly ok: true;
      /** The upstream's reply, validated (source, ID, question), with the query's ID restored. */
      readonly reply: Buffer;
      readonly layout: MessageLayout;
      /** Label of the upstream that answered. */
      readonly upstream: string;
    }
  | { readonly ok: false; readonly reason: 'timeout' | 'network' | 'malformed' | 'unavailable' };

/** Settings of the forwarder. */
export interface ForwarderOptions {
  readonly upstreams: readonly Upstream[];
  /** Per-try timeout for one upstream exchange. */
  readonly timeoutMs: number;
}

/** Forwards queries to upstream resolvers. */
export class Forwarder {
  constructor(
    private options: ForwarderOptions,
    private readonly metrics: ResolverMetrics,
    private readonly log: Logger,
  ) {}

  /** Replaces the upstream list and timeout (config reload). */
  reconfigure(options: ForwarderOptions): void {
    this.options = options;
  }

  /**
   * False when every upstream is known to be failing (callers then serve stale
   * data at once instead of waiting, RFC 8767 §5).
   */
  healthy(): boolean {
    return true;
  }

  /** Asks the upstreams (in order, next on failure) and returns the first validated reply. */
  async exchange(query: Query): Promise<UpstreamOutcome> {
    let reason: 'timeout' | 'network' | 'malformed' | 'unavailable' = 'unavailable';
    for (const upstream of this.options.upstreams) {
      const outcome = await this.tryUpstream(upstream, query);
      if (outcome.ok) return outcome;
      reason = outcome.reason;
    }
    return { ok: false, reason };
  }

  /** Resolves `query` upstream; always resolves to a reply for the client (SERVFAIL when all fail). */
  async forward(query: Query): Promise<Buffer> {
    const outcome = await this.exchange(query);
    if (!outcome.ok) return composeReply(query, Rcode.SERVFAIL, false, EMPTY_SECTIONS);
    // Advertise our buffer size in the upstream's OPT, or add our OPT when the
    // client used EDNS and the upstream did not (RFC 6891 §7).
    const { reply, layout } = outcome;
    const opt = layout.records.find((r) => r.type === RRType.OPT);
    if (opt) reply.writeUInt16BE(EDNS_UDP_SIZE, opt.ttlOffset - 2);
    else if (query.edns) return appendOpt(reply, query.edns.dnssecOk);
    return reply;
  }

  private async tryUpstream(upstream: Upstream, query: Query): Promise<UpstreamOutcome> {
    const id = randomId();
    const message = Buffer.from(query.raw);
    message.writeUInt16BE(id, 0);
    // Ask for no more than we would ever pass on over UDP.
    if (query.edns) message.writeUInt16BE(Math.min(query.edns.udpSize, EDNS_UDP_SIZE), query.edns.offset + 3);
    const started = performance.now();
    const ignored = () => this.metrics.upstreamErrors.inc({ upstream: upstream.label, reason: 'mismatch' });
    let transport: 'udp' | 'tcp' = 'udp';
    try {
      this.metrics.upstreamRequests.inc({ upstream: upstream.label, transport });
      let reply = await exchangeUdp(upstream, message, query.questionEnd, id, this.options.timeoutMs, ignored);
      if (reply.readUInt16BE(2) & Flag.TC) {
        transport = 'tcp';
        this.metrics.upstreamRequests.inc({ upstream: upstream.label, transport });
        reply = await exchangeTcp(upstream, message, query.questionEnd, id, this.options.timeoutMs, ignored);
      }
      const layout = walkMessage(reply);
      if (!layout) throw new ExchangeError('malformed', `malformed reply from ${upstream.label}`);
      this.metrics.upstreamDuration.observe({ upstream: upstream.label }, (performance.now() - started) / 1000);
      reply.writeUInt16BE(query.id, 0);
      return { ok: true, reply, layout, upstream: upstream.label };
    } catch (error) {
      const reason = error instanceof ExchangeError ? error.reason : 'network';
      this.metrics.upstreamErrors.inc({ upstream: upstream.label, reason });
      this.log.debug({ upstream: upstream.label, transport, reason, err: error }, 'upstream exchange failed');
      return { ok: false, reason };
    }
  }
}
