/**
 * The cluster zone of one snapshot, answering from encoded bytes.
 *
 * Positive answers are encoded once per (name, type) on first use and kept for
 * the life of the snapshot; a hit costs a map lookup, a copy, and patching ID,
 * flags and the question's case (`renderTemplate`). Negative answers need no
 * encoding at all: the query's question followed by the pre-encoded SOA
 * (RFC 2308 §2: the SOA goes in the authority section of NXDOMAIN and NODATA).
 * The records themselves are packed (`table.ts`) and unpacked on a template miss.
 *
 * A new snapshot usually changes few names, so a new zone takes over the encoded
 * answers of the one it replaces wherever a name's records are byte for byte the
 * same ({@link ClusterZone.inherit}): without that, every popular name would go
 * through the (slow) encoder again after each snapshot, all at once.
 */
import type { SnapshotV1 } from '../../snapshot/types.js';
import { QTYPE_NAMES, Rcode, RRClass, RRType } from '../wire/constants.js';
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
import { AnswerTemplates } from './templates.js';

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
  /** `svc.<zone>`, under which the namespaces are. */
  private readonly svcZone: DnsName;
  /** The namespaces of a filtered snapshot (names in others are not answered here); undefined: all. */
  readonly namespaces: ReadonlySet<string> | undefined;
  private readonly negative: EncodedSections;
  private readonly templates = new AnswerTemplates();
  /**
   * NODATA answers (the name exists, not with that type) of the common types, kept
   * like the positive ones; never taken over by the next zone, as their SOA carries
   * the generation. Other types (any of 65536) are composed per query.
   */
  private readonly nodata = new AnswerTemplates();
  /** Encoded answers taken over from the zone replaced (see {@link inherit}). */
  inheritedAnswers = 0;
  /** The zone replaced, while its answers are being taken over; then undefined. */
  private previous: { readonly zone: ClusterZone; readonly keys: Iterator<[number, string, Buffer]> } | undefined;

  /**
   * The zone of a packed image, made here or in the verification process
   * (`intake/verifier.ts`); `image` is what worker threads get (`workers/pool.ts`).
   */
  constructor(readonly image: ZoneImage) {
    this.apex = toDnsName(image.apex);
    this.podZone = toDnsName(`pod.${image.apex}`);
    this.svcZone = toDnsName(`svc.${image.apex}`);
    this.namespaces = image.namespaces ? new Set(image.namespaces) : undefined;
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
   * A filtered snapshot does not answer for namespaces it does not hold
   * (`<ns>.svc.<zone>` and below): those go on like pod records, to kube-dns.
   */
  owns(name: DnsName): boolean {
    if (isSubdomain(name, this.apex)) return !isSubdomain(name, this.podZone) && this.holdsNamespaceOf(name);
    return this.reverse.find(name) !== -1;
  }

  /** False for a name under `<ns>.svc.<zone>` when this is a filtered snapshot without `ns`. */
  private holdsNamespaceOf(name: DnsName): boolean {
    if (this.namespaces === undefined || name.length <= this.svcZone.length || !isSubdomain(name, this.svcZone)) return true;
    const above = name.slice(0, name.length - this.svcZone.length - 1);
    return this.namespaces.has(above.slice(above.lastIndexOf('.') + 1));
  }

  /** Answers `query`, whose name this zone {@link owns}. Authoritative (AA set). */
  answer(query: Query): Buffer {
    if (query.class !== RRClass.IN && query.class !== RRClass.ANY) {
      return composeReply(query, Rcode.REFUSED, false, { bytes: Buffer.alloc(0), ancount: 0, nscount: 0, arcount: 0 });
    }
    const { type, name } = query;
    const cached = this.templates.get(type, name) ?? this.nodata.get(type, name);
    if (cached) return renderTemplate(cached, query);

    const found = this.locate(name);
    if (!found) return composeReply(query, Rcode.NXDOMAIN, true, this.negative);
    const carried = this.previous && this.carried(this.previous.zone, type, name);
    if (carried) {
      this.templates.set(type, name, carried);
      this.inheritedAnswers++;
      return renderTemplate(carried, query);
    }
    const answers = this.select(found.table, found.at, name, type);
    if (answers.length === 0) {
      // NODATA; as a template: no OPT, which rendering adds when the query has one.
      const reply = composeReply({ ...query, edns: undefined }, Rcode.NOERROR, true, this.negative);
      if (QTYPE_NAMES[type] !== undefined) this.nodata.set(type, name, reply);
      return renderTemplate(reply, query);
    }
    const template = encodeTemplate({
      name: query.name,
      type: query.type,
      rcode: Rcode.NOERROR,
      authoritative: true,
      answers,
      authority: [],
      additional: [],
    });
    this.templates.set(type, name, template);
    return renderTemplate(template, query);
  }

  /**
   * Starts taking over the encoded answers of `previous`, the zone this one
   * replaces: from now on a miss here looks there first, and {@link inheritSome}
   * moves them over in slices. Nothing is taken when the TTLs differ.
   */
  inherit(previous: ClusterZone): void {
    if (previous.ttl !== this.ttl || previous === this) return;
    this.previous = { zone: previous, keys: previous.templates.entries() };
  }

  /**
   * Takes over up to `count` answers of the zone given to {@link inherit}; true
   * once all have been looked at (the old zone is then let go).
   */
  inheritSome(count: number): boolean {
    const previous = this.previous;
    if (!previous) return true;
    for (let i = 0; i < count; i++) {
      const next = previous.keys.next();
      if (next.done) {
        this.previous = undefined;
        return true;
      }
      const [type, name, template] = next.value;
      if (this.templates.has(type, name)) continue;
      if (this.sameRecords(previous.zone, name)) {
        this.templates.set(type, name, template);
        this.inheritedAnswers++;
      }
    }
    return false;
  }

  /** The old zone's answer for `type` at `name` when `name` has the same records here. */
  private carried(previous: ClusterZone, type: number, name: string): Buffer | undefined {
    const template = previous.templates.get(type, name);
    return template && this.sameRecords(previous, name) ? template : undefined;
  }

  /** True when `name` has byte-identical records here and in `other`, so an answer encoded by one serves for both. */
  private sameRecords(other: ClusterZone, name: string): boolean {
    if (name === this.apex) return false; // its SOA changes with every generation
    const mine = this.locate(name);
    const theirs = other.locate(name);
    return mine !== undefined && theirs !== undefined && mine.table.entry(mine.at).equals(theirs.table.entry(theirs.at));
  }

  /** Where `name` is packed: under the zone apex or among the reverse names. */
  private locate(name: string): { readonly table: NodeTable; readonly at: number } | undefined {
    const at = this.nodes.find(name);
    if (at !== -1) return { table: this.nodes, at };
    const reverse = this.reverse.find(name);
    return reverse === -1 ? undefined : { table: this.reverse, at: reverse };
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
