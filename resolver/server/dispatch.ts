/**
 * Between transports and the handler chain: the per-client rate limit (UDP,
 * `ratelimit.ts`, before any parsing), staged rejection of the packet, the
 * allow-list (`access.ts`: REFUSED outside it, never forwarded or cached),
 * BADVERS for EDNS versions we do not speak, truncation to the client's UDP
 * limit, and the per-request metrics. Nothing here logs per query above debug.
 *
 * No amplification: every UDP reply is at most 512 bytes without EDNS, or the
 * client's EDNS size (at least 512, RFC 6891 §6.2.5; at most 1232): answers are
 * cut by {@link truncateReply}; error, REFUSED and rate-limit (TC) replies carry
 * only the header, the query's question and our 11-byte OPT when the query had
 * one, so they are never larger than the query.
 */
import type { Logger } from 'pino';
import type { ResolverMetrics } from '../metrics.js';
import type { Next, RequestContext } from '../pipeline.js';
import { Rcode } from '../wire/constants.js';
import { parseQuery } from '../wire/query.js';
import type { Query } from '../wire/query.js';
import { errorReply, Flag, udpLimit } from '../wire/reply.js';
import { truncateReply } from '../wire/truncate.js';
import type { AllowList } from './access.js';
import type { RateLimiter } from './ratelimit.js';

const UDP: RequestContext = { transport: 'udp' };
const TCP: RequestContext = { transport: 'tcp' };
/** RFC 7766 §8: a TCP message is at most 65535 octets. */
const TCP_LIMIT = 0xffff;

/** Which clients are answered, and how often (both optional: undefined lets everyone in). */
export interface ClientPolicy {
  /** --allow-from: clients outside it get REFUSED. */
  readonly allow: AllowList | undefined;
  /** --rate-limit: UDP queries per client; TCP is not limited (its source cannot be forged). */
  readonly rateLimit: RateLimiter | undefined;
}

/** Turns one received message into the reply bytes to send (or undefined: send nothing). */
export class Dispatcher {
  constructor(
    private readonly chain: Next,
    private readonly metrics: ResolverMetrics,
    private readonly log: Logger,
    private policy: ClientPolicy,
  ) {
    metrics.setRateLimitClients(() => this.policy.rateLimit?.size ?? 0);
  }

  /** Applies a new allow-list and rate limit (SIGHUP); queries in progress are not affected. */
  reconfigure(policy: ClientPolicy): void {
    this.policy = policy;
  }

  /** Handles one message from `client` (its address as the socket reports it) over `transport`. Synchronous when the answer is. */
  handle(message: Buffer, transport: 'udp' | 'tcp', client: string | undefined): Buffer | undefined | Promise<Buffer | undefined> {
    const started = performance.now();
    const { allow, rateLimit } = this.policy;
    // Before parsing: the cheapest way to shed a flood. Every datagram takes a token, as each could be answered.
    const limited = transport === 'udp' && rateLimit !== undefined && client !== undefined ? rateLimit.check(client) : 'pass';
    if (limited === 'drop') {
      this.metrics.countDrop(transport, 'ratelimit');
      return undefined;
    }
    const parsed = parseQuery(message);
    if (parsed.kind === 'drop') {
      this.metrics.countDrop(transport, parsed.reason);
      return undefined;
    }
    const allowed = allow === undefined || allow.allows(client);
    if (parsed.kind === 'error') {
      if (!allowed || limited === 'slip') {
        // Malformed, and from outside the allow-list or over the limit: not worth a reply.
        this.metrics.countDrop(transport, allowed ? 'ratelimit' : 'acl');
        return undefined;
      }
      this.log.debug({ transport, reason: parsed.reason }, 'rejected query');
      this.metrics.countRequest(transport, 0, parsed.rcode, (performance.now() - started) / 1000);
      return errorReply(parsed.id, parsed.flags, parsed.rcode, parsed.question, parsed.edns);
    }
    const query = parsed.query;
    if (limited === 'slip') return this.slip(query, transport, started);
    if (!allowed) {
      // RFC 1035 §4.1.1: REFUSED, "for policy reasons". Nothing reaches the chain, so nothing is forwarded or cached.
      this.metrics.countRefused(transport);
      return this.reject(query, transport, started, Rcode.REFUSED);
    }
    // RFC 6891 §6.1.3: answer BADVERS, advertising the version we do support (0).
    if (query.edns && query.edns.version !== 0) return this.reject(query, transport, started, Rcode.BADVERS);
    let reply: Buffer | Promise<Buffer>;
    try {
      reply = this.chain(query, transport === 'udp' ? UDP : TCP);
    } catch (error) {
      return this.failed(query, transport, started, error);
    }
    if (reply instanceof Promise) {
      return reply.then(
        (bytes) => this.finish(bytes, query, transport, started),
        (error: unknown) => this.failed(query, transport, started, error),
      );
    }
    return this.finish(reply, query, transport, started);
  }

  private finish(reply: Buffer, query: Query, transport: 'udp' | 'tcp', started: number): Buffer {
    const out = truncateReply(reply, transport === 'udp' ? udpLimit(query) : TCP_LIMIT);
    this.metrics.countRequest(transport, query.type, (out[3] as number) & 0xf, (performance.now() - started) / 1000);
    return out;
  }

  /** A handler threw: a bug, not a client error. Log it and answer SERVFAIL rather than go silent. */
  private failed(query: Query, transport: 'udp' | 'tcp', started: number, error: unknown): Buffer {
    this.log.error({ err: error, qtype: query.type }, 'handler failed');
    return this.reject(query, transport, started, Rcode.SERVFAIL);
  }

  /** An answer without records: header, the query's question, our OPT when it had one. Counted. */
  private reject(query: Query, transport: 'udp' | 'tcp', started: number, rcode: number): Buffer {
    this.metrics.countRequest(transport, query.type, rcode, (performance.now() - started) / 1000);
    return errorReply(query.id, query.raw.readUInt16BE(2), rcode, query.raw.subarray(12, query.questionEnd), query.edns);
  }

  /** Over the rate limit, one in --rate-limit-slip: an empty TC=1 reply, so a real client asks again over TCP. */
  private slip(query: Query, transport: 'udp' | 'tcp', started: number): Buffer {
    this.metrics.rateLimitSlipped.inc();
    const out = this.reject(query, transport, started, Rcode.NOERROR);
    out.writeUInt16BE(out.readUInt16BE(2) | Flag.TC, 2);
    return out;
  }
}
