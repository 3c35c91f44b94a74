/**
 * What the simulated upstreams answer, from the model: kube-dns for the cluster
 * zone (A/AAAA per the Kubernetes DNS specification, NODATA for the zone's empty
 * non-terminals and for types a service lacks, NXDOMAIN otherwise, both with the
 * zone's SOA as RFC 2308 asks), and the node's external resolver for everything
 * else (the external hosts, NXDOMAIN under their zones and the host search domain).
 * Record sections are encoded once with the project's wire helpers and reused.
 */
import { Rcode, RRType } from '../../resolver/wire/constants.js';
import { encodeSections } from '../../resolver/wire/encode.js';
import { EMPTY_SECTIONS } from '../../resolver/wire/reply.js';
import type { EncodedSections } from '../../resolver/wire/reply.js';
import type { ResourceRecord } from '../../resolver/wire/records.js';
import type { ClusterModel } from './cluster.js';
import { HOST_DOMAIN, ZONE } from './cluster.js';

/** An answer: rcode and the record sections that follow the query's question. */
export interface Answer {
  readonly rcode: number;
  readonly sections: EncodedSections;
}

/** Builds and keeps the encoded answers; `wireTtl` maps scenario seconds to the TTL sent. */
export class AnswerBook {
  private readonly memo = new Map<string, Answer>();
  private readonly emptyNonTerminals: ReadonlySet<string>;

  constructor(
    private readonly model: ClusterModel,
    private readonly wireTtl: (scenarioSeconds: number) => number,
  ) {
    this.emptyNonTerminals = new Set([ZONE, `svc.${ZONE}`, ...model.namespaces.map((ns) => `${ns}.svc.${ZONE}`)]);
  }

  /** kube-dns's answer for a lower-cased `name` in the cluster zone, before or `after` the outage's endpoint changes. */
  kubeDns(name: string, type: number, after: boolean): Answer {
    const service = this.model.byFqdn.get(name);
    if (!service) {
      const negative = this.model.negativeTtl(name);
      return this.remember(`soa|${this.emptyNonTerminals.has(name) ? 'nodata' : 'nx'}|${negative}`, () => ({
        rcode: this.emptyNonTerminals.has(name) ? Rcode.NOERROR : Rcode.NXDOMAIN,
        sections: encodeSections([], [this.soa(ZONE, negative)]),
      }));
    }
    return this.remember(`svc|${after && service.changed ? 1 : 0}|${type}|${name}`, () => {
      const ttl = this.wireTtl(service.ttl);
      let addresses: string[];
      if (type === RRType.A) addresses = service.headless ? (after ? service.endpointsAfter : service.endpoints).map((e) => e.ip) : service.clusterIPs.filter((ip) => !ip.includes(':'));
      else if (type === RRType.AAAA) addresses = service.clusterIPs.filter((ip) => ip.includes(':'));
      else addresses = [];
      if (addresses.length === 0) return { rcode: Rcode.NOERROR, sections: encodeSections([], [this.soa(ZONE, this.model.negativeTtl(name))]) };
      const records = addresses.map((address): ResourceRecord => ({ name, ttl, data: address.includes(':') ? { type: 'AAAA', address } : { type: 'A', address } }));
      return { rcode: Rcode.NOERROR, sections: encodeSections(records) };
    });
  }

  /** The external resolver's answer for a lower-cased `name`; REFUSED for the cluster zone (it is not asked for it). */
  external(name: string, type: number): Answer {
    if (name === ZONE || name.endsWith(`.${ZONE}`)) return { rcode: Rcode.REFUSED, sections: EMPTY_SECTIONS };
    const host = this.model.externalByName.get(name);
    const zone = name.endsWith(`.${HOST_DOMAIN}`) || name === HOST_DOMAIN ? HOST_DOMAIN : name.split('.').slice(-2).join('.');
    return this.remember(`ext|${type}|${host ? name : `nx ${zone}`}`, () => {
      const address = type === RRType.A ? host?.ipv4 : type === RRType.AAAA ? host?.ipv6 : undefined;
      if (host && address !== undefined) {
        const record: ResourceRecord = { name, ttl: this.wireTtl(host.ttl), data: address.includes(':') ? { type: 'AAAA', address } : { type: 'A', address } };
        return { rcode: Rcode.NOERROR, sections: encodeSections([record]) };
      }
      return { rcode: host ? Rcode.NOERROR : Rcode.NXDOMAIN, sections: encodeSections([], [this.soa(zone, 60)]) };
    });
  }

  private soa(zone: string, negativeSeconds: number): ResourceRecord {
    const ttl = this.wireTtl(negativeSeconds);
    return {
      name: zone,
      ttl,
      data: { type: 'SOA', mname: `ns.dns.${zone}`, rname: `hostmaster.${zone}`, serial: 1, refresh: 7200, retry: 1800, expire: 86400, minimum: ttl },
    };
  }

  private remember(key: string, make: () => Answer): Answer {
    let answer = this.memo.get(key);
    if (!answer) {
      answer = make();
      this.memo.set(key, answer);
    }
    return answer;
  }
}
