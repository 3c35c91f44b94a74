/** Query mixes for the benches, in dnsperf's data-file format (`name type` per line). */
import type { SnapshotV1 } from '../snapshot/types.js';
import { RRType } from '../resolver/wire/constants.js';

/** The record type number for a dnsperf type name. */
export function typeCode(name: string): number {
  const code = (RRType as Record<string, number>)[name.toUpperCase()];
  if (code === undefined) throw new Error(`unknown query type ${name}`);
  return code;
}

/**
 * Cluster-zone queries for every service of `snapshot`: A and AAAA of the
 * service name, SRV of each named port; a realistic mix of hits, NODATA and
 * NXDOMAIN (a search-path miss per service). ExternalName services are left out:
 * their targets are resolved upstream, which is not what this measures.
 */
export function clusterQueries(snapshot: SnapshotV1): string[] {
  const zone = snapshot.clusterDomain;
  const lines: string[] = [];
  for (const s of snapshot.services) {
    if (s.type === 'ExternalName') continue;
    const base = `${s.name}.${s.namespace}.svc.${zone}`;
    lines.push(`${base} A`, `${base} AAAA`, `${s.name}.default.svc.${zone} A`);
    for (const p of s.ports) if (p.name !== '') lines.push(`_${p.name}._${p.protocol.toLowerCase()}.${base} SRV`);
  }
  return lines;
}
