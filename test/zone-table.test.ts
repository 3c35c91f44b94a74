/**
 * The packed zone (`resolver/zone/table.ts`) against the record maps it is made
 * from: every owner found, every record set unpacked equal, absent names absent;
 * and the ClusterZone built on it keeps a TTL change without a rebuild.
 */
import { describe, expect, it } from 'vitest';
import { syntheticCluster } from '../bench/cluster.js';
import { RRType } from '../resolver/wire/constants.js';
import { zoneRecords } from '../resolver/zone/records.js';
import { NodeTable, packZone } from '../resolver/zone/table.js';
import { ClusterZone } from '../resolver/zone/zone.js';
import { buildSnapshot } from '../snapshot/build.js';

const { snapshot } = buildSnapshot(syntheticCluster({ services: 400, endpoints: 4000 }), { clusterDomain: 'cluster.local', generation: 9, now: new Date(0) });

describe('packed zone tables', () => {
  const records = zoneRecords(snapshot, { ttl: 7 });
  const image = packZone(records);

  it.each([
    ['zone names', records.nodes, image.nodes],
    ['reverse names', records.reverse, image.reverse],
  ] as const)('unpack the %s to the records they were packed from', (_what, nodes, packed) => {
    const table = new NodeTable(packed);
    expect(table.size).toBe(nodes.size);
    const soa = records.soa;
    const types = new Set<number>();
    for (const [name, sets] of nodes) {
      const at = table.find(name);
      expect(at, name).toBeGreaterThan(0);
      for (const [type, set] of sets) {
        types.add(type);
        expect(table.records(at, type, name, 7, soa), `${name} ${type}`).toEqual(type === RRType.SOA ? [soa] : set);
      }
      expect(table.records(at, RRType.ANY, name, 7, soa)).toEqual([...sets.values()].flat().map((r) => (r.data.type === 'SOA' ? soa : r)));
      expect(table.records(at, RRType.TXT + 1000, name, 7, soa)).toEqual([]);
    }
    expect(table.find('absent.cluster.local')).toBe(-1);
    expect(table.find('')).toBe(-1);
    if (nodes === records.nodes) expect([...types].sort((a, b) => a - b)).toEqual([RRType.A, RRType.NS, RRType.CNAME, RRType.SOA, RRType.TXT, RRType.AAAA, RRType.SRV]);
  });

  it.each([5, 40])('keeps one record per RDATA in a set of %i endpoints, duplicates given twice', (count) => {
    const endpoint = (i: number) => ({ addresses: [`10.1.0.${i}`], ready: true, serving: true, terminating: false, ports: [{ name: 'http', protocol: 'TCP' as const, port: 80 }] });
    const endpoints = [...Array.from({ length: count }, (_, i) => endpoint(i)), ...Array.from({ length: count }, (_, i) => endpoint(i))];
    const service = { namespace: 'ns', name: 'db', type: 'ClusterIP' as const, clusterIPs: [], headless: true, ports: [], publishNotReadyAddresses: false, endpoints };
    const zone = zoneRecords({ ...snapshot, services: [service] }, { ttl: 7 });
    const node = zone.nodes.get('db.ns.svc.cluster.local');
    expect(node?.get(RRType.A)?.map((r) => r.data)).toEqual(Array.from({ length: count }, (_, i) => ({ type: 'A', address: `10.1.0.${i}` })));
    expect(zone.nodes.get('_http._tcp.db.ns.svc.cluster.local')?.get(RRType.SRV)).toHaveLength(count);
    expect(zone.stats.records).toBe(3 + count * 4); // SOA, NS, TXT; per endpoint an A at the base and at its host, a PTR, an SRV
  });

  it('lists every ExternalName alias', () => {
    const externalNames = snapshot.services.filter((s) => s.type === 'ExternalName');
    expect(image.aliases).toHaveLength(externalNames.length);
    expect(image.aliases).toContainEqual([`${externalNames[0]!.name}.${externalNames[0]!.namespace}.svc.cluster.local`, externalNames[0]!.externalName]);
  });

  it('refuses a name that is not printable ASCII', () => {
    const nodes = new Map([['é.cluster.local', new Map()]]);
    expect(() => packZone({ ...records, nodes })).toThrow(/not printable ASCII/);
  });

  it('answers with a new TTL without rebuilding (withTtl shares the tables)', () => {
    const zone = new ClusterZone(image);
    const longer = zone.withTtl(60);
    expect(longer.ttl).toBe(60);
    expect(longer.stats).toBe(zone.stats);
    expect(longer.generation).toBe(9);
  });
});
