/**
 * Handler for the cluster zone: answers from the current snapshot's zone. Until a
 * snapshot is loaded, cluster-domain queries go on to the cache, which asks
 * kube-dns, when --cluster-fallback is set; without it they get SERVFAIL, never
 * NXDOMAIN (DESIGN.md: a resolver without data must not deny that names exist).
 */
import type { Handler, Next, RequestContext } from '../pipeline.js';
import { aliasQuery, joinAlias } from '../wire/chase.js';
import { Rcode, RRType } from '../wire/constants.js';
import type { ResourceRecord } from '../wire/records.js';
import { isSubdomain } from '../wire/name.js';
import type { DnsName } from '../wire/name.js';
import type { Query } from '../wire/query.js';
import { composeReply, EMPTY_SECTIONS } from '../wire/reply.js';
import type { ClusterZone } from '../zone/zone.js';

/** Serves the cluster zone of whatever snapshot `current()` returns. */
export class ClusterZoneHandler implements Handler {
  readonly name = 'cluster';
  constructor(
    private readonly current: () => ClusterZone | undefined,
    private readonly clusterDomain: DnsName,
    private readonly hasFallback: boolean,
  ) {}

  serve(query: Query, ctx: RequestContext, next: Next): Buffer | Promise<Buffer> {
    const zone = this.current();
    if (zone) {
      if (!zone.owns(query.name)) return next(query, ctx);
      if (query.type !== RRType.CNAME && query.type !== RRType.ANY) {
        const alias = zone.externalAlias(query.name);
        if (alias) return this.chase(query, alias, ctx, next);
      }
      return zone.answer(query);
    }
    if (!this.hasFallback && isSubdomain(query.name, this.clusterDomain) && !isSubdomain(query.name, `pod.${this.clusterDomain}` as DnsName)) {
      return composeReply(query, Rcode.SERVFAIL, false, EMPTY_SECTIONS);
    }
    return next(query, ctx);
  }

  /**
   * ExternalName: answer the CNAME followed by the upstream's records for its
   * target, as CoreDNS does, so stub resolvers that do not chase aliases
   * themselves still get addresses.
   */
  private async chase(query: Query, alias: ResourceRecord, ctx: RequestContext, next: Next): Promise<Buffer> {
    const target = alias.data.type === 'CNAME' ? alias.data.target : '';
    const sub = aliasQuery(query, target);
    if (!sub) return joinAlias(query, alias, Buffer.alloc(0));
    return joinAlias(query, alias, await next(sub, ctx));
  }
}
