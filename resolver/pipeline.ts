/**
 * The chain of handlers every query goes through (CoreDNS `plugin/plugin.go`):
 * a handler answers or calls `next`. The order is declared once, in
 * `resolver/resolver.ts`; transports feed the chain through the dispatcher.
 */
import { Rcode } from './wire/constants.js';
import type { Query } from './wire/query.js';
import { composeReply, EMPTY_SECTIONS } from './wire/reply.js';

/** What a handler knows about the request besides the query. */
export interface RequestContext {
  readonly transport: 'udp' | 'tcp';
}

/** The rest of the chain. Replies are encoded bytes. */
export type Next = (query: Query, ctx: RequestContext) => Buffer | Promise<Buffer>;

/** One link of the chain. Synchronous answers stay synchronous (no promise per cache hit). */
export interface Handler {
  readonly name: string;
  serve(query: Query, ctx: RequestContext, next: Next): Buffer | Promise<Buffer>;
}

/** When no handler answers: REFUSED (RFC 1035 §4.1.1, "refuses to perform the specified operation"). */
const refuse: Next = (query) => composeReply(query, Rcode.REFUSED, false, EMPTY_SECTIONS);

/** Links `handlers` in order into one function. */
export function buildChain(handlers: readonly Handler[]): Next {
  return handlers.reduceRight<Next>((next, handler) => (query, ctx) => handler.serve(query, ctx, next), refuse);
}
