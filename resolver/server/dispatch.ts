/**
 * Between transports and the handler chain: staged rejection of the packet,
 * BADVERS for EDNS versions we do not speak, truncation to the client's UDP
 * limit, and the per-request metrics. Nothing here logs per query above debug.
 */
import type { Logger } from 'pino';
import type { ResolverMetrics } from '../metrics.js';
import type { Next, RequestContext } from '../pipeline.js';
import { Rcode } from '../wire/constants.js';
import { parseQuery } from '../wire/query.js';
import type { Query } from '../wire/query.js';
import { errorReply, udpLimit } from '../wire/reply.js';
import { truncateReply } from '../wire/truncate.js';

const UDP: RequestContext = { transport: 'udp' };
const TCP: RequestContext = { transport: 'tcp' };
/** RFC 7766 §8: a TCP message is at most 65535 octets. */
const TCP_LIMIT = 0xffff;

/** Turns one received message into the reply bytes to send (or undefined: send nothing). */
export class Dispatcher {
  constructor(
    private readonly chain: Next,
    private readonly metrics: ResolverMetrics,
    private readonly log: Logger,
  ) {}

  /** Handles one message from `transport`. Synchronous when the answer is. */
  handle(message: Buffer, transport: 'udp' | 'tcp'): Buffer | undefined | Promise<Buffer | undefined> {
    const started = performance.now();
    const parsed = parseQuery(message);
    if (parsed.kind === 'drop') {
      this.metrics.dropped.inc({ transport, reason: parsed.reason });
      return undefined;
    }
    if (parsed.kind === 'error') {
      this.log.debug({ transport, reason: parsed.reason }, 'rejected query');
      this.metrics.countRequest(transport, 0, parsed.rcode, (performance.now() - started) / 1000);
      return errorReply(parsed.id, parsed.flags, parsed.rcode, parsed.question, parsed.edns);
    }
    const query = parsed.query;
    if (query.edns && query.edns.version !== 0) {
      // RFC 6891 §6.1.3: answer BADVERS, advertising the version we do support (0).
      this.metrics.countRequest(transport, query.type, Rcode.BADVERS, (performance.now() - started) / 1000);
      return errorReply(query.id, query.raw.readUInt16BE(2), Rcode.BADVERS, query.raw.subarray(12, query.questionEnd), query.edns);
    }
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
    this.metrics.countRequest(transport, query.type, Rcode.SERVFAIL, (performance.now() - started) / 1000);
    return errorReply(query.id, query.raw.readUInt16BE(2), Rcode.SERVFAIL, query.raw.subarray(12, query.questionEnd), query.edns);
  }
}
