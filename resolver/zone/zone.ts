/**
 * The cluster zone of one snapshot, answering from encoded bytes.
 *
 * Positive answers are encoded once per (name, type) on first use and kept for
 * the life of the snapshot; a hit costs a map lookup, a copy, and patching ID,
 * flags and the question's case (`renderTemplate`). Negative answers need no
 * encoding at all: the query's question followed by the pre-encoded SOA
 * (RFC 2308 §2: the SOA goes in the authority section of NXDOMAIN and NODATA).
 */
import type { SnapshotV1 } from '../../snapshot/types.js';
import { Rcode, RRClass, RRType } from '../wire/constants.js';
import { encodeSections, encodeTemplate } from '../wire/encode.js';
import { isSubdomain, toDnsName } from '../wire/name.js';
import type { DnsName } from '../wire/name.js';
import type { Query } from '../wire/query.js';
import type { ResourceRecord } from '../wire/records.js';
import { composeReply, renderTemplate } from '../wire/reply.js';
import type { EncodedSections } from '../wire/reply.js';
import { zoneRecords } from './records.js';
import type { ZoneNodes, ZoneOptions } from './records.js';

/** Counts shown in logs and `snapshot inspect`-like summaries. */
export interface ZoneStats {
  readonly names: number;
  readonly reverseNames: number;
  readonly records: number;
}

/** One snapshot's cluster zone, immutable once built. */
export class ClusterZone {
  /** Lower-cased zone apex, e.g. `cluster.local`. */
  readonly apex: DnsName;
  readonly generation: number;
  /** When the snapshot was created (ms since epoch), for the age metric. */
  readonly createdAt: number;
  readonly stats: ZoneStats;
  private readonly nodes: ZoneNodes;
  private readonly reverse: ZoneNodes;
  private readonly podZone: DnsName;
  private readonly negative: EncodedSections;
  private readonly templates = new Map<string, Buffer>();

  constructor(snapshot: SnapshotV1, options: ZoneOptions) {
    const built = zoneRecords(snapshot, options);
    this.apex = toDnsName(built.apex);
    this.podZone = toDnsName(`pod.${built.apex}`);
    this.generation = snapshot.generation;
    this.createdAt = Date.parse(snapshot.createdAt);
    this.nodes = built.nodes;
    this.reverse = built.reverse;
    this.negative = encodeSections([], [built.soa]);
    let records = 0;
    for (const node of [...built.nodes.values(), ...built.reverse.values()]) for (const set of node.values()) records += set.length;
    this.stats = { names: built.nodes.size, reverseNames: built.reverse.size, records };
  }

  /**
   * True when this zone answers for `name`: the cluster domain (pod records,
   * `pod.<zone>`, are left to the upstream, which may implement them) and the
   * reverse names of IPs in the snapshot (other reverse names are forwarded).
   */
  owns(name: DnsName): boolean {
    if (isSubdomain(name, this.apex)) return !isSubdomain(name, this.podZone);
    return this.reverse.has(name);
  }

  /** Answers `query`, whose name this zone {@link owns}. Authoritative (AA set). */
  answer(query: Query): Buffer {
    if (query.class !== RRClass.IN && query.class !== RRClass.ANY) {
      return composeReply(query, Rcode.REFUSED, false, { bytes: Buffer.alloc(0), ancount: 0, nscount: 0, arcount: 0 });
    }
    const key = `${query.type}|${query.name}`;
    const cached = this.templates.get(key);
    if (cached) return renderTemplate(cached, query);

    const node = this.nodes.get(query.name) ?? this.reverse.get(query.name);
    if (!node) return composeReply(query, Rcode.NXDOMAIN, true, this.negative);
    const answers = this.select(node, query.type);
    if (answers.length === 0) return composeReply(query, Rcode.NOERROR, true, this.negative); // NODATA
    const template = encodeTemplate({
      name: query.name,
      type: query.type,
      rcode: Rcode.NOERROR,
      authoritative: true,
      answers: answers.map((r) => ({ ...r, name: query.name })),
      authority: [],
      additional: [],
    });
    this.templates.set(key, template);
    return renderTemplate(template, query);
  }

  /**
   * The ExternalName CNAME at `name` when its target lies outside this zone and
   * must be resolved upstream; undefined otherwise (the common case: one map lookup).
   */
  externalAlias(name: DnsName): ResourceRecord | undefined {
    const record = this.nodes.get(name)?.get(RRType.CNAME)?.[0];
    if (!record || record.data.type !== 'CNAME') return undefined;
    return this.owns(toDnsName(record.data.target)) ? undefined : record;
  }

  private select(node: Map<number, ResourceRecord[]>, type: number): readonly ResourceRecord[] {
    const cname = node.get(RRType.CNAME);
    if (cname && type !== RRType.CNAME) return cname; // RFC 1034 §3.6.2: the alias answers for every type
    if (type === RRType.ANY) return [...node.values()].flat();
    return node.get(type) ?? [];
  }
}
