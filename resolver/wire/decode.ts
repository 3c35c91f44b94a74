/**
 * Decoding whole messages with dns2 into holdfast's own types, and encoding
 * queries. Used off the hot path: tests, tools, the bench client, and (later)
 * responses whose records must be read. dns2's `Packet.parse` rarely throws and
 * records its failures in `errors[]`; any such failure is returned as an error.
 */
import { Packet } from 'dns2';
import { RRType } from './constants.js';
import type { RData, ResourceRecord } from './records.js';

/** A record as decoded: known types as {@link RData}, others with their type number only. */
export interface DecodedRecord {
  readonly name: string;
  readonly type: number;
  readonly class: number;
  readonly ttl: number;
  readonly data: RData | { readonly type: 'OTHER' };
}

/** A decoded message. */
export interface DecodedMessage {
  readonly id: number;
  readonly qr: boolean;
  readonly opcode: number;
  readonly aa: boolean;
  readonly tc: boolean;
  readonly rd: boolean;
  readonly ra: boolean;
  readonly cd: boolean;
  /** The full rcode (12-bit when an OPT carries the upper bits). */
  readonly rcode: number;
  readonly questions: readonly { readonly name: string; readonly type: number; readonly class: number }[];
  readonly answers: readonly DecodedRecord[];
  readonly authority: readonly DecodedRecord[];
  /** Additional records other than OPT. */
  readonly additional: readonly DecodedRecord[];
  readonly edns: { readonly udpSize: number; readonly version: number; readonly dnssecOk: boolean } | undefined;
}

type Dns2Record = { name: string; type: number; class: number; ttl: number } & Record<string, unknown>;

function rdata(r: Dns2Record): DecodedRecord['data'] {
  const s = (k: string) => String(r[k] ?? '');
  const n = (k: string) => Number(r[k] ?? 0);
  switch (r.type) {
    case RRType.A:
      return { type: 'A', address: s('address') };
    case RRType.AAAA:
      return { type: 'AAAA', address: s('address') };
    case RRType.CNAME:
      return { type: 'CNAME', target: s('domain') };
    case RRType.PTR:
      return { type: 'PTR', target: s('domain') };
    case RRType.NS:
      return { type: 'NS', target: s('ns') };
    case RRType.TXT:
      return { type: 'TXT', texts: (r['data'] as string[] | undefined) ?? [] };
    case RRType.SRV:
      return { type: 'SRV', priority: n('priority'), weight: n('weight'), port: n('port'), target: s('target') };
    case RRType.SOA:
      return {
        type: 'SOA',
        mname: s('primary'),
        rname: s('admin'),
        serial: n('serial'),
        refresh: n('refresh'),
        retry: n('retry'),
        expire: n('expiration'),
        minimum: n('minimum'),
      };
    default:
      return { type: 'OTHER' };
  }
}

const toRecord = (r: Dns2Record): DecodedRecord => ({ name: r.name, type: r.type, class: r.class, ttl: r.ttl, data: rdata(r) });

/** Decodes `buf`; throws an Error describing the first problem when it is malformed. */
export function decodeMessage(buf: Buffer): DecodedMessage {
  const p = Packet.parse(buf) as unknown as {
    header: Record<string, number>;
    questions: { name: string; type: number; class: number }[];
    answers: Dns2Record[];
    authorities: Dns2Record[];
    additionals: Dns2Record[];
    errors: Error[];
  };
  if (p.errors.length > 0) throw new Error(`malformed message: ${p.errors[0]?.message}`);
  const h = p.header;
  const opt = p.additionals.find((r) => r.type === RRType.OPT);
  return {
    id: h['id'] ?? 0,
    qr: h['qr'] === 1,
    opcode: h['opcode'] ?? 0,
    aa: h['aa'] === 1,
    tc: h['tc'] === 1,
    rd: h['rd'] === 1,
    ra: h['ra'] === 1,
    cd: h['cd'] === 1,
    rcode: h['rcode'] ?? 0,
    questions: p.questions.map((q) => ({ name: q.name, type: q.type, class: q.class })),
    answers: p.answers.map(toRecord),
    authority: p.authorities.map(toRecord),
    additional: p.additionals.filter((r) => r.type !== RRType.OPT).map(toRecord),
    edns: opt ? { udpSize: opt.class, version: Number(opt['version'] ?? 0), dnssecOk: opt['doFlag'] === true } : undefined,
  };
}

/** Options of {@link encodeQuery}. */
export interface QueryOptions {
  readonly id?: number;
  readonly class?: number;
  readonly recursionDesired?: boolean;
  /** Adds an OPT record with this UDP size. */
  readonly ednsUdpSize?: number;
  readonly ednsVersion?: number;
  readonly dnssecOk?: boolean;
}

/** Encodes a one-question query; the name's case is kept as given. */
export function encodeQuery(name: string, type: number, options: QueryOptions = {}): Buffer {
  const packet = new Packet(new Packet.Header({ id: options.id ?? 0x1234, rd: options.recursionDesired === false ? 0 : 1 } as never)) as unknown as {
    questions: unknown[];
    additionals: unknown[];
    toBuffer(): Buffer;
  };
  packet.questions.push({ name, type, class: options.class ?? 1 });
  if (options.ednsUdpSize !== undefined) {
    packet.additionals.push(
      Packet.Resource.EDNS([], { udpPayloadSize: options.ednsUdpSize, version: options.ednsVersion ?? 0, doFlag: options.dnssecOk ?? false } as never),
    );
  }
  return packet.toBuffer();
}

/** Presentation text of a record, zone-file style (`name ttl IN TYPE rdata`), for tests and tools. */
export function recordText(r: DecodedRecord | ResourceRecord): string {
  const d = r.data;
  const name = `${r.name.toLowerCase()}.`;
  switch (d.type) {
    case 'A':
    case 'AAAA':
      return `${name} ${r.ttl} IN ${d.type} ${d.address}`;
    case 'CNAME':
    case 'PTR':
    case 'NS':
      return `${name} ${r.ttl} IN ${d.type} ${d.target.toLowerCase()}.`;
    case 'TXT':
      return `${name} ${r.ttl} IN TXT ${d.texts.map((t) => JSON.stringify(t)).join(' ')}`;
    case 'SRV':
      return `${name} ${r.ttl} IN SRV ${d.priority} ${d.weight} ${d.port} ${d.target.toLowerCase()}.`;
    case 'SOA':
      return `${name} ${r.ttl} IN SOA ${d.mname}. ${d.rname}. ${d.serial} ${d.refresh} ${d.retry} ${d.expire} ${d.minimum}`;
    case 'OTHER':
      return `${name} ${r.ttl} IN TYPE${'type' in r ? r.type : '?'}`;
  }
}
