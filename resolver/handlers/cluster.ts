/**
 * Handler for the cluster zone: answers from the current snapshot's zone. Until a
 * snapshot is loaded it answers SERVFAIL for the cluster domain and never
 * NXDOMAIN (DESIGN.md: a resolver without data must not deny that names exist).
 */
import type { Handler, Next, RequestContext } from '../pipeline.js';
import { Rcode } from '../wire/constants.js';
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
  ) {}

  serve(query: Query, ctx: RequestContext, next: Next): Buffer | Promise<Buffer> {
    const zone = this.current();
    if (zone) return zone.owns(query.name) ? zone.answer(query) : next(query, ctx);
    if (isSubdomain(query.name, this.clusterDomain) && !isSubdomain(query.name, `pod.${this.clusterDomain}` as DnsName)) {
      return composeReply(query, Rcode.SERVFAIL, false, EMPTY_SECTIONS);
    }
    return next(query, ctx);
  }
}
