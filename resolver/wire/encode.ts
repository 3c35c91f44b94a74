/**
 * Encoding with dns2 — the only module (with `decode.ts`) that imports it.
 * dns2's bit-per-element writer is slow (~100 µs for a 10-record reply), so this
 * runs once per snapshot entry and the bytes are reused (STYLE.md, dns2 sharp edges).
 */
import { Packet } from 'dns2';
import { RRClass, RRType } from './constants.js';
import type { EncodedSections } from './reply.js';
import type { ResourceRecord } from './records.js';

type Dns2Resource = Record<string, unknown> & { name: string; type: number; class: number; ttl: number };

function toDns2(record: ResourceRecord): Dns2Resource {
  const base = { name: record.name, class: RRClass.IN, ttl: record.ttl };
  const d = record.data;
  switch (d.type) {
    case 'A':
      return { ...base, type: RRType.A, address: d.address };
    case 'AAAA':
      return { ...base, type: RRType.AAAA, address: d.address };
    case 'CNAME':
      return { ...base, type: RRType.CNAME, domain: d.target };
    case 'PTR':
      return { ...base, type: RRType.PTR, domain: d.target };
    case 'NS':
      return { ...base, type: RRType.NS, ns: d.target };
    case 'TXT':
      return { ...base, type: RRType.TXT, data: [...d.texts] };
    case 'SRV':
      return { ...base, type: RRType.SRV, priority: d.priority, weight: d.weight, port: d.port, target: d.target };
    case 'SOA':
      return {
        ...base,
        type: RRType.SOA,
        primary: d.mname,
        admin: d.rname,
        serial: d.serial,
        refresh: d.refresh,
        retry: d.retry,
        expiration: d.expire,
        minimum: d.minimum,
      };
  }
}

/** Inputs of {@link encodeTemplate}. */
export interface TemplateSpec {
  /** Lower-cased question name. */
  readonly name: string;
  readonly type: number;
  readonly rcode: number;
  readonly authoritative: boolean;
  readonly answers: readonly ResourceRecord[];
  readonly authority: readonly ResourceRecord[];
  readonly additional: readonly ResourceRecord[];
}

/**
 * Encodes a whole reply (ID 0, RD clear, no OPT) for the lower-cased question, with
 * name compression. `renderTemplate` later patches ID, flags and the question's case.
 */
export function encodeTemplate(spec: TemplateSpec): Buffer {
  const packet = new Packet(new Packet.Header({ id: 0, qr: 1, opcode: 0, aa: spec.authoritative ? 1 : 0, ra: 1, rcode: spec.rcode } as never)) as unknown as {
    questions: unknown[];
    answers: unknown[];
    authorities: unknown[];
    additionals: unknown[];
    toBuffer(): Buffer;
  };
  packet.questions.push({ name: spec.name, type: spec.type, class: RRClass.IN });
  for (const r of spec.answers) packet.answers.push(toDns2(r));
  for (const r of spec.authority) packet.authorities.push(toDns2(r));
  for (const r of spec.additional) packet.additionals.push(toDns2(r));
  return packet.toBuffer();
}

/**
 * Encodes records with no question and no compression (so the bytes can follow
 * any question), for the sections {@link composeReply} appends.
 */
export function encodeSections(
  answers: readonly ResourceRecord[],
  authority: readonly ResourceRecord[] = [],
  additional: readonly ResourceRecord[] = [],
): EncodedSections {
  const parts = [...answers, ...authority, ...additional].map((r) => Packet.Resource.encode(toDns2(r) as never) as Buffer);
  return {
    bytes: Buffer.concat(parts),
    ancount: answers.length,
    nscount: authority.length,
    arcount: additional.length,
  };
}
