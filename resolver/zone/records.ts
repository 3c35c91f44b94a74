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

/** Counts shown in logs and metrics. */
export interface ZoneStats {
  readonly names: number;
  readonly reverseNames: number;
  readonly records: number;
}

/** Result: the nodes under the zone apex, the reverse (PTR) nodes, and what they came from. */
export interface ZoneRecords {
  readonly apex: string;
  readonly generation: number;
  /** The snapshot's `createdAt`, RFC 3339. */
  readonly createdAt: string;
  readonly ttl: number;
  readonly nodes: ZoneNodes;
  readonly reverse: ZoneNodes;
  readonly soa: ResourceRecord;
  readonly stats: ZoneStats;
  /** The namespaces of a filtered snapshot (`SnapshotV1.namespaces`); undefined: the whole cluster. */
  readonly namespaces?: readonly string[];
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

/** Record sets from this size on keep their RDATA keys in a Set; smaller ones are scanned. */
const LARGE_SET = 16;

class NodeSet {
  readonly nodes: ZoneNodes = new Map();
  records = 0;
  /** The RDATA keys of each large record set, so that a duplicate costs one lookup there (a headless service adds thousands at one name). */
  private readonly largeSets = new Map<ResourceRecord[], Set<string>>();
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

  /** Adds a record unless the set holds one with the same RDATA. */
  add(name: string, ttl: number, data: RData): void {
    const type = TYPE_CODE[data.type];
    const node = this.touch(name);
    const set = node.get(type);
    const record: ResourceRecord = { name, ttl, data };
    this.records++;
    if (!set) {
      node.set(type, [record]);
      return;
    }
    const key = dataKey(data);
    const keys = this.largeSets.get(set);
    if (keys) {
      if (keys.has(key)) return this.duplicate();
      keys.add(key);
    } else {
      for (const other of set) if (dataKey(other.data) === key) return this.duplicate();
      if (set.length + 1 >= LARGE_SET) this.largeSets.set(set, new Set([...set.map((r) => dataKey(r.data)), key]));
    }
    set.push(record);
  }

  private duplicate(): void {
    this.records--;
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

/** Text that is equal for two RDATA exactly when they are equal. */
function dataKey(data: RData): string {
  switch (data.type) {
    case 'A':
    case 'AAAA':
      return data.address;
    case 'CNAME':
    case 'PTR':
    case 'NS':
      return data.target;
    case 'SRV':
      return `${data.priority} ${data.weight} ${data.port} ${data.target}`;
    default:
      return JSON.stringify(data);
  }
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

/** The zone's SOA: its serial is the generation modulo 2^32, its minimum (the negative TTL, RFC 2308 §4) the TTL. */
export function soaRecord(apex: string, generation: number, ttl: number): ResourceRecord {
  return {
    name: apex,
    ttl,
    data: {
      type: 'SOA',
      mname: `ns.dns.${apex}`,
      rname: `hostmaster.${apex}`,
      serial: generation % 2 ** 32,
      refresh: 7200,
      retry: 1800,
      expire: 86400,
      minimum: ttl,
    },
  };
}

/**
 * Builds the records of the cluster zone one service at a time, so that a caller
 * can spread the work (or do it on another thread).
 */
export class ZoneBuilder {
  private readonly zone: NodeSet;
  private readonly reverse = new NodeSet(undefined);
  private readonly soa: ResourceRecord;
  private readonly apex: string;
  private readonly ttl: number;
  private readonly meta: { readonly generation: number; readonly createdAt: string; readonly namespaces?: readonly string[] };

  constructor(snapshot: Pick<SnapshotV1, 'clusterDomain' | 'generation' | 'createdAt' | 'namespaces'>, options: ZoneOptions) {
    this.apex = snapshot.clusterDomain;
    this.ttl = options.ttl;
    this.zone = new NodeSet(this.apex);
    this.soa = soaRecord(this.apex, snapshot.generation, this.ttl);
    this.meta = { generation: snapshot.generation, createdAt: snapshot.createdAt, ...(snapshot.namespaces ? { namespaces: [...snapshot.namespaces] } : {}) };
    this.zone.add(this.apex, this.ttl, this.soa.data);
    this.zone.add(this.apex, this.ttl, { type: 'NS', target: `ns.dns.${this.apex}` });
    this.zone.add(`dns-version.${this.apex}`, this.ttl, { type: 'TXT', texts: [SCHEMA_VERSION] });
  }

  /** Adds the records of one service. */
  add(service: ServiceV1): void {
    const { zone, reverse, ttl } = this;
    const base = `${service.name}.${service.namespace}.svc.${this.apex}`;
    if (service.type === 'ExternalName') {
      if (service.externalName !== undefined) zone.add(base, ttl, { type: 'CNAME', target: service.externalName.replace(/\.$/, '') });
      return;
    }
    if (!service.headless) {
      zone.touch(base); // exists even without cluster IPs
      for (const ip of service.clusterIPs) {
        zone.add(base, ttl, addressRecord(ip));
        reverse.add(reverseName(ip), ttl, { type: 'PTR', target: base });
      }
      for (const port of service.ports) addSrv(zone, base, ttl, port, 100, base);
      return;
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

  /** The records added so far. The builder must not be used afterwards. */
  finish(): ZoneRecords {
    const { zone, reverse } = this;
    const stats = { names: zone.nodes.size, reverseNames: reverse.nodes.size, records: zone.records + reverse.records };
    return { apex: this.apex, ...this.meta, ttl: this.ttl, nodes: zone.nodes, reverse: reverse.nodes, soa: this.soa, stats };
  }
}

/** Builds every record of the cluster zone from `snapshot`. */
export function zoneRecords(snapshot: SnapshotV1, options: ZoneOptions): ZoneRecords {
  const builder = new ZoneBuilder(snapshot, options);
  for (const service of snapshot.services) builder.add(service);
  return builder.finish();
}
