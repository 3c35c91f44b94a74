/**
 * Forwarding of names the resolver does not own, to several upstreams with
 * health tracking. Per upstream: a pool of UDP sockets on random source ports,
 * persistent pipelined TCP connections (for TC retries, RFC 7766 §5, and for
 * `tcp://` upstreams), and a circuit breaker with a background probe. Upstreams
 * are tried in config order (`sequential`) or by smoothed latency (`fastest`),
 * skipping open circuits, next on failure. Replies are validated (source, ID,
 * question, opcode, size, structure, rcode), scrubbed of records outside the
 * question's bailiwick (`scrub.ts`), and carry the client's ID; `forward` turns
 * a total failure into SERVFAIL.
 */
import type { Logger } from 'pino';
import type { ResolverMetrics } from '../metrics.js';
import { EDNS_UDP_SIZE, Rcode } from '../wire/constants.js';
import type { Query } from '../wire/query.js';
import { relayReply } from '../wire/relay.js';
import { composeReply, EMPTY_SECTIONS, udpLimit } from '../wire/reply.js';
import { walkMessage } from '../wire/walk.js';
import type { MessageLayout } from '../wire/walk.js';
import { UpstreamClient } from './client.js';
import { ExchangeError } from './exchange.js';
import type { ExchangeFailure, Upstream } from './exchange.js';
import { UpstreamMetrics } from './metrics.js';
import { orderClients } from './policy.js';
import type { UpstreamPolicy } from './policy.js';
import { scrubReply } from './scrub.js';
import { DEFAULT_TUNING } from './tuning.js';
import type { ForwarderTuning } from './tuning.js';

/** Why {@link Forwarder.exchange} failed: the last upstream's failure, `unavailable` when none could be asked. */
export type FailureReason = Exclude<ExchangeFailure, 'overload'> | 'unavailable';

/** Result of one {@link Forwarder.exchange}. */
export type UpstreamOutcome =
  | {
      readonly ok: true;
      /** The upstream's reply, validated and scrubbed, with the query's ID restored. */
      readonly reply: Buffer;
      readonly layout: MessageLayout;
      /** Label of the upstream that answered. */
      readonly upstream: string;
    }
  | { readonly ok: false; readonly reason: FailureReason };

/** Settings of the forwarder. */
export interface ForwarderOptions {
  readonly upstreams: readonly Upstream[];
  /** Per-try timeout for one upstream exchange. */
  readonly timeoutMs: number;
  /** Order of upstreams: config order (default) or lowest smoothed latency first. */
  readonly policy?: UpstreamPolicy;
  /** Pool, circuit and probe settings; unset fields take {@link DEFAULT_TUNING}. Read at construction only. */
  readonly tuning?: Partial<ForwarderTuning>;
}

/** Key of an upstream whose state survives a reconfiguration. */
const keyOf = (u: Upstream) => `${u.forceTcp ? 'tcp' : 'udp'}|${u.label}`;

/** Forwards queries to upstream resolvers. */
export class Forwarder {
  private readonly tuning: ForwarderTuning;
  private readonly upstreamMetrics: UpstreamMetrics;
  private clients: UpstreamClient[] = [];
  private closed = false;

  constructor(
    private options: ForwarderOptions,
    private readonly metrics: ResolverMetrics,
    private readonly log: Logger,
  ) {
    this.tuning = Object.freeze({ ...DEFAULT_TUNING, ...options.tuning });
    this.upstreamMetrics = new UpstreamMetrics(metrics.registry);
    this.clients = this.build(options.upstreams, new Map());
  }

  /**
   * Replaces the upstream list, timeout and policy (config reload). Upstreams
   * still listed keep their sockets, circuit and latency; removed ones are closed.
   */
  reconfigure(options: ForwarderOptions): void {
    if (this.closed) return;
    const old = new Map(this.clients.map((c) => [keyOf(c.upstream), c]));
    this.options = options;
    this.clients = this.build(options.upstreams, old);
    for (const client of old.values()) client.close();
  }

  /**
   * False when every upstream is known to be failing (all circuits open, or no
   * upstream at all): callers then serve stale data at once instead of waiting,
   * RFC 8767 §5.
   */
  healthy(): boolean {
    return !this.closed && this.clients.some((c) => !c.circuit.open);
  }

  /**
   * Asks the upstreams in policy order, skipping open circuits (all open: the
   * first one is still tried), next on failure, and returns the first validated reply.
   */
  async exchange(query: Query): Promise<UpstreamOutcome> {
    if (this.closed) return { ok: false, reason: 'unavailable' };
    let reason: FailureReason = 'unavailable';
    for (const client of orderClients(this.clients, this.options.policy ?? 'sequential')) {
      const outcome = await this.tryUpstream(client, query);
      if (outcome.ok) return outcome;
      reason = outcome.reason;
    }
    return { ok: false, reason };
  }

  /** Resolves `query` upstream; always resolves to a reply for the client (SERVFAIL when all fail). */
  async forward(query: Query): Promise<Buffer> {
    const outcome = await this.exchange(query);
    if (!outcome.ok) return composeReply(query, Rcode.SERVFAIL, false, EMPTY_SECTIONS);
    return relayReply(outcome.reply, outcome.layout, query);
  }

  /** Releases every socket, connection and timer; queries in flight fail. Idempotent. */
  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      for (const client of this.clients) client.close();
      this.clients = [];
    }
    return Promise.resolve();
  }

  private build(upstreams: readonly Upstream[], reuse: Map<string, UpstreamClient>): UpstreamClient[] {
    const out: UpstreamClient[] = [];
    for (const upstream of upstreams) {
      const key = keyOf(upstream);
      if (out.some((c) => keyOf(c.upstream) === key)) continue; // listed twice: one state
      const kept = reuse.get(key);
      reuse.delete(key);
      out.push(kept ?? new UpstreamClient(upstream, this.tuning, () => this.options.timeoutMs, this.metrics, this.upstreamMetrics, this.log));
    }
    return out;
  }

  private async tryUpstream(client: UpstreamClient, query: Query): Promise<UpstreamOutcome> {
    const { label } = client.upstream;
    const message = upstreamQuery(query);
    const started = performance.now();
    let transport: 'udp' | 'tcp' = client.upstream.forceTcp ? 'tcp' : 'udp';
    try {
      const { reply: received } = await client.send(message, query.questionEnd, udpLimit(query), (t) => (transport = t));
      const walked = walkMessage(received);
      if (!walked) throw new ExchangeError('malformed', `malformed reply from ${label}`);
      // Any well-formed reply, SERVFAIL included, shows the upstream is up.
      client.circuit.success();
      const ms = performance.now() - started;
      client.observeRtt(ms);
      const scrubbed = scrubReply(received, walked, query);
      for (const [section, n] of Object.entries(scrubbed.removed)) if (n > 0) this.upstreamMetrics.scrubbed.inc({ upstream: label, section }, n);
      if (!scrubbed.ok) throw new ExchangeError(scrubbed.reason, `reply from ${label} refused (${scrubbed.reason})`);
      this.metrics.upstreamDuration.observe({ upstream: label }, ms / 1000);
      const { reply, layout } = scrubbed;
      reply.writeUInt16BE(query.id, 0);
      return { ok: true, reply, layout, upstream: label };
    } catch (error) {
      const reason = error instanceof ExchangeError ? error.reason : 'network';
      this.metrics.upstreamErrors.inc({ upstream: label, reason });
      if (reason === 'timeout' || reason === 'network') {
        client.circuit.failure();
        if (reason === 'timeout') client.observeRtt(this.options.timeoutMs);
      }
      this.log.debug({ upstream: label, transport, reason, err: error }, 'upstream exchange failed');
      return { ok: false, reason: reason === 'overload' ? 'unavailable' : reason };
    }
  }
}

/**
 * The message sent upstream for `query`: its header and question, and its OPT
 * when it had one — nothing else a client put in its query (records in the
 * answer, authority or additional sections mean nothing in a QUERY and are not
 * passed on to the upstream's parser), asking for no more than we would ever
 * pass on over UDP.
 */
function upstreamQuery(query: Query): Buffer {
  const { raw, questionEnd, edns } = query;
  const optLength = edns ? 11 + raw.readUInt16BE(edns.offset + 9) : 0;
  const message = Buffer.allocUnsafe(questionEnd + optLength);
  raw.copy(message, 0, 0, questionEnd);
  message.writeUInt32BE(0, 6); // ANCOUNT, NSCOUNT
  message.writeUInt16BE(edns ? 1 : 0, 10);
  if (edns) {
    raw.copy(message, questionEnd, edns.offset, edns.offset + optLength);
    message.writeUInt16BE(Math.min(edns.udpSize, EDNS_UDP_SIZE), questionEnd + 3);
  }
  return message;
}
