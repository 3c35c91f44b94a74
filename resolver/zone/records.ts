/**
 * Turns a snapshot into the record sets of the cluster zone, following the
 * Kubernetes DNS-Based Service Discovery specification, schema 1.1.0
 * (kubernetes/dns `docs/specification.md`):
 *
 * - §2.3  `dns-version.<zone>` TXT "1.1.0"
 * - §2.4.1 A/AAAA `<svc>.<ns>.svc.<zone>` → each cluster IP (dual-stack)
 * - §2.4.2 SRV `_<port>._<proto>.<svc>.<ns>.svc.<zone>` for each named port
 * - §2.4.3 PTR for each cluster IP
 * - §2.5   headless: A/AAAA per ready endpoint at the service name and at
 *          `<hostname>.<svc>.<ns>.svc.<zone>`; SRV per ready endpoint and named port
 *          pointing at that hostname; PTR per endpoint IP to it
 * - §2.6   ExternalName: CNAME `<svc>.<ns>.svc.<zone>` → external name
 *
 * Endpoints without a hostname get the dashed form of their IP as "a unique,
 * system-assigned identifier" (§2.5.1), as CoreDNS does. Every ancestor of a
 * record owner inside the zone exists as an (empty) node, so that `svc.<zone>`,
 * `<ns>.svc.<zone>` and `_tcp.<svc>.<ns>.svc.<zone>` are NODATA, not NXDOMAIN.
 */
import type { SnapshotV1, ServiceV1, EndpointV1, PortV1 } from '../../snapshot/types.js';
import { RRType } from '../wire/constants.js';
import type { RData, ResourceRecord } from '../wire/records.js';
import { dashedLabel, reverseName } from './reverse.js';
import { isIPv4 } from 'node:net';

/** Record sets by owner name (lower case) then type. An empty inner map is an empty non-terminal. */
export type ZoneNodes = Map<string, Map<number, ResourceRecord[]>>;

/** Inputs besides the snapshot. */
export interface ZoneOptions {
  /** TTL of every record, and the negative TTL via the SOA (CoreDNS's default is 5 s). */
  readonly ttl: number;
}

/** Result: the nodes under the zone apex, and the reverse (PTR) nodes. */
export interface ZoneRecords {
  readonly apex: string;
  readonly nodes: ZoneNodes;
  readonly reverse: ZoneNodes;
  readonly soa: ResourceRecord;
}

/** Spec version served at `dns-version.<zone>` (§2.3). */
export const SCHEMA_VERSION = '1.1.0';

const TYPE_CODE: Record<RData['type'], number> = {
  A: RRType.A,
  AAAA: RRType.AAAA,
  CNAME: RRType.CNAME,
  PTR: RRType.PTR,
  NS: RRType.NS,
  TXT: RRType.TXT,
  SRV: RRType.SRV,
  SOA: RRType.SOA,
};

class NodeSet {
  readonly nodes: ZoneNodes = new Map();
  /** `apex` undefined: no empty non-terminals are created (reverse names). */
  constructor(private readonly apex: string | undefined) {}

  /** The node for `name`, created (with its ancestors) when missing. */
  touch(name: string): Map<number, ResourceRecord[]> {
    let node = this.nodes.get(name);
    if (!node) {
      node = new Map();
      this.nodes.set(name, node);
      if (this.apex !== undefined) this.ensureAncestors(name, this.apex);
    }
    return node;
  }

  add(name: string, ttl: number, data: RData): void {
    const node = this.touch(name);
    const type = TYPE_CODE[data.type];
    const set = node.get(type);
    const record: ResourceRecord = { name, ttl, data };
    if (!set) node.set(type, [record]);
    else if (!set.some((r) => sameData(r.data, data))) set.push(record);
  }

  private ensureAncestors(name: string, apex: string): void {
    let cur = name;
    while (cur !== apex && cur.includes('.')) {
      cur = cur.slice(cur.indexOf('.') + 1);
      if (this.nodes.has(cur)) return;
      this.nodes.set(cur, new Map());
    }
  }
}

function sameData(a: RData, b: RData): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function addressRecord(address: string): RData {
  return isIPv4(address) ? { type: 'A', address } : { type: 'AAAA', address };
}

function published(service: ServiceV1): EndpointV1[] {
  return service.endpoints.filter((e) => e.ready || service.publishNotReadyAddresses);
}

/** §2.4.2 / §2.5.2: `_<port>._<proto>.<service>` SRV for a named port (unnamed ports have none). */
function addSrv(zone: NodeSet, base: string, ttl: number, port: PortV1, weight: number, target: string): void {
  if (port.name === '') return;
  zone.add(`_${port.name}._${port.protocol.toLowerCase()}.${base}`, ttl, { type: 'SRV', priority: 0, weight, port: port.port, target });
}

/** Builds every record of the cluster zone from `snapshot`. */
export function zoneRecords(snapshot: SnapshotV1, options: ZoneOptions): ZoneRecords {
  const apex = snapshot.clusterDomain;
  const ttl = options.ttl;
  const zone = new NodeSet(apex);
  const reverse = new NodeSet(undefined);
  const soa: ResourceRecord = {
    name: apex,
    ttl,
    data: {
      type: 'SOA',
      mname: `ns.dns.${apex}`,
      rname: `hostmaster.${apex}`,
      serial: snapshot.generation % 2 ** 32,
      refresh: 7200,
      retry: 1800,
      expire: 86400,
      minimum: ttl,
    },
  };
  zone.add(apex, ttl, soa.data);
  zone.add(apex, ttl, { type: 'NS', target: `ns.dns.${apex}` });
  zone.add(`dns-version.${apex}`, ttl, { type: 'TXT', texts: [SCHEMA_VERSION] });

  for (const service of snapshot.services) {
    const base = `${service.name}.${service.namespace}.svc.${apex}`;
    if (service.type === 'ExternalName') {
      if (service.externalName !== undefined) zone.add(base, ttl, { type: 'CNAME', target: service.externalName.replace(/\.$/, '') });
      continue;
    }
    if (!service.headless) {
      zone.touch(base); // exists even without cluster IPs
      for (const ip of service.clusterIPs) {
        zone.add(base, ttl, addressRecord(ip));
        reverse.add(reverseName(ip), ttl, { type: 'PTR', target: base });
      }
      for (const port of service.ports) addSrv(zone, base, ttl, port, 100, base);
      continue;
    }
    // Headless: the service name exists even with no ready endpoint (NODATA, not NXDOMAIN).
    zone.touch(base);
    const endpoints = published(service);
    const srvCount = new Map<string, number>();
    for (const endpoint of endpoints) {
      for (const port of endpoint.ports) if (port.name !== '') srvCount.set(port.name, (srvCount.get(port.name) ?? 0) + endpoint.addresses.length);
    }
    for (const endpoint of endpoints) {
      for (const ip of endpoint.addresses) {
        const host = `${endpoint.hostname ?? dashedLabel(ip)}.${base}`;
        zone.add(base, ttl, addressRecord(ip));
        zone.add(host, ttl, addressRecord(ip));
        reverse.add(reverseName(ip), ttl, { type: 'PTR', target: host });
        for (const port of endpoint.ports) addSrv(zone, base, ttl, port, Math.max(1, Math.floor(100 / (srvCount.get(port.name) ?? 1))), host);
      }
    }
  }
  return { apex, nodes: zone.nodes, reverse: reverse.nodes, soa };
}
