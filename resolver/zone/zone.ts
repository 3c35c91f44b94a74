/**
 * The cluster zone of one snapshot, answering from encoded bytes.
 *
 * Positive answers are encoded once per (name, type) on first use and kept for
 * the life of the snapshot; a hit costs a map lookup, a copy, and patching ID,
 * flags and the question's case (`renderTemplate`). Negative answers need no
 * encoding at all: the query's question followed by the pre-encoded SOA
 * (RFC 2308 §2: the SOA goes in the authority section of NXDOMAIN and NODATA).
 * The records themselves are packed (`table.ts`) and unpacked on a template miss.
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
import { soaRecord, zoneRecords } from './records.js';
import type { ZoneOptions, ZoneStats } from './records.js';
import { NodeTable, packZone } from './table.js';
import type { ZoneImage } from './table.js';

export type { ZoneStats } from './records.js';

/** One snapshot's cluster zone, immutable once built. */
export class ClusterZone {
  /** Lower-cased zone apex, e.g. `cluster.local`. */
  readonly apex: DnsName;
  readonly generation: number;
  /** When the snapshot was created (ms since epoch), for the age metric. */
  readonly createdAt: number;
  readonly stats: ZoneStats;
  /** TTL of every answer and of the SOA (negative answers). */
  readonly ttl: number;
  private readonly nodes: NodeTable;
  private readonly reverse: NodeTable;
  /** ExternalName owners and their targets. */
  private readonly aliases: ReadonlyMap<string, string>;
  private readonly soa: ResourceRecord;
  private readonly podZone: DnsName;
  private readonly negative: EncodedSections;
  private readonly templates = new Map<string, Buffer>();

  /** The zone of a packed image, made here or on a worker thread (`intake/verify-worker.ts`). */
  constructor(private readonly image: ZoneImage) {
    this.apex = toDnsName(image.apex);
    this.podZone = toDnsName(`pod.${image.apex}`);
    this.generation = image.generation;
    this.createdAt = Date.parse(image.createdAt);
    this.ttl = image.ttl;
    this.stats = image.stats;
    this.nodes = new NodeTable(image.nodes);
    this.reverse = new NodeTable(image.reverse);
    this.aliases = new Map(image.aliases);
    this.soa = soaRecord(image.apex, image.generation, image.ttl);
    this.negative = encodeSections([], [this.soa]);
  }

  /** Builds the zone of `snapshot` at once, on this thread. */
  static fromSnapshot(snapshot: SnapshotV1, options: ZoneOptions): ClusterZone {
    return new ClusterZone(packZone(zoneRecords(snapshot, options)));
  }

  /** The same zone answering with another TTL; the packed records are shared. */
  withTtl(ttl: number): ClusterZone {
    return new ClusterZone({ ...this.image, ttl });
  }

  /**
   * True when this zone answers for `name`: the cluster domain (pod records,
   * `pod.<zone>`, are left to the upstream, which may implement them) and the
   * reverse names of IPs in the snapshot (other reverse names are forwarded).
   */
  owns(name: DnsName): boolean {
    if (isSubdomain(name, this.apex)) return !isSubdomain(name, this.podZone);
    return this.reverse.find(name) !== -1;
  }

  /** Answers `query`, whose name this zone {@link owns}. Authoritative (AA set). */
  answer(query: Query): Buffer {
    if (query.class !== RRClass.IN && query.class !== RRClass.ANY) {
      return composeReply(query, Rcode.REFUSED, false, { bytes: Buffer.alloc(0), ancount: 0, nscount: 0, arcount: 0 });
    }
    const key = `${query.type}|${query.name}`;
    const cached = this.templates.get(key);
    if (cached) return renderTemplate(cached, query);

    let table = this.nodes;
    let at = table.find(query.name);
    if (at === -1) {
      table = this.reverse;
      at = table.find(query.name);
    }
    if (at === -1) return composeReply(query, Rcode.NXDOMAIN, true, this.negative);
    const answers = this.select(table, at, query.name, query.type);
    if (answers.length === 0) return composeReply(query, Rcode.NOERROR, true, this.negative); // NODATA
    const template = encodeTemplate({
      name: query.name,
      type: query.type,
      rcode: Rcode.NOERROR,
      authoritative: true,
      answers,
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
    const target = this.aliases.get(name);
    if (target === undefined || this.owns(toDnsName(target))) return undefined;
    return { name, ttl: this.ttl, data: { type: 'CNAME', target } };
  }

  /** The records answering `type` at entry `at` of `table`, owned by the query's `name`. */
  private select(table: NodeTable, at: number, name: string, type: number): readonly ResourceRecord[] {
    if (type !== RRType.CNAME) {
      // RFC 1034 §3.6.2: the alias answers for every type.
      const cname = table.records(at, RRType.CNAME, name, this.ttl, this.soa);
      if (cname.length > 0) return cname;
    }
    return table.records(at, type, name, this.ttl, this.soa);
  }
}
