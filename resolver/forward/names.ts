/**
 * Names inside upstream replies, read label by label from the bytes (with
 * compression, RFC 1035 §4.1.4), for the scrubber: owners and RDATA names
 * compared by their lower-cased labels (RFC 4343), never by dotted text, so a
 * label holding a '.' can never pass for two labels.
 */
import { RRType } from '../wire/constants.js';

/** A name as its labels, case as received, most specific first; the root is []. */
export type Labels = readonly string[];

/** A name read from a message and the offset just after it where it was written. */
export interface NameAt {
  readonly labels: Labels;
  readonly end: number;
}

/** Pointer hops allowed in one name (pointers must also go backwards, so no loop can last). */
const MAX_HOPS = 64;

/**
 * Reads the name at `offset`: labels as sent (latin1), or undefined for a loop,
 * a forward pointer, a reserved label type, a name over 255 octets, or one that
 * runs past `limit` (the end of the RDATA it sits in, or of the message).
 */
export function readLabels(buf: Buffer, offset: number, limit = buf.length): NameAt | undefined {
  const labels: string[] = [];
  let pos = offset;
  let end = -1;
  let octets = 1;
  let bound = limit;
  for (let hops = 0; hops <= MAX_HOPS; ) {
    if (pos >= bound) return undefined;
    const len = buf[pos] as number;
    if (len === 0) return { labels, end: end < 0 ? pos + 1 : end };
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= bound) return undefined;
      const target = ((len & 0x3f) << 8) | (buf[pos + 1] as number);
      if (target >= pos) return undefined;
      if (end < 0) end = pos + 2;
      // What a pointer leads to lies earlier in the message, outside this RDATA's bound.
      bound = buf.length;
      pos = target;
      hops++;
      continue;
    }
    if (len > 63 || pos + 1 + len > bound) return undefined;
    octets += len + 1;
    if (octets > 255) return undefined;
    labels.push(buf.toString('latin1', pos + 1, pos + 1 + len));
    pos += len + 1;
  }
  return undefined;
}

/** ASCII letters folded (RFC 4343 §3); other octets kept. */
export function lower(labels: Labels): Labels {
  return labels.map((l) => (/[A-Z]/.test(l) ? l.replace(/[A-Z]+/g, (s) => s.toLowerCase()) : l));
}

/** An unambiguous string for a lower-cased name (each label prefixed by its length), for sets and maps. */
export function nameKey(labels: Labels): string {
  let out = '';
  for (const l of labels) out += String.fromCharCode(l.length) + l;
  return out;
}

/** True when lower-cased `name` equals lower-cased `zone` or lies below it. */
export function isUnder(name: Labels, zone: Labels): boolean {
  if (zone.length > name.length) return false;
  const skip = name.length - zone.length;
  for (let i = 0; i < zone.length; i++) if (name[skip + i] !== zone[i]) return false;
  return true;
}

/** True when both lower-cased names are the same. */
export function sameName(a: Labels, b: Labels): boolean {
  return a.length === b.length && isUnder(a, b);
}

/** The uncompressed wire form of `labels`. */
export function wireName(labels: Labels): Buffer {
  const out = Buffer.allocUnsafe(wireLength(labels));
  let pos = 0;
  for (const l of labels) {
    out[pos++] = l.length;
    pos += out.write(l, pos, 'latin1');
  }
  out[pos] = 0;
  return out;
}

/** Octets of `labels` in wire form. */
export function wireLength(labels: Labels): number {
  return labels.reduce((n, l) => n + l.length + 1, 1);
}

/**
 * Where names sit in the RDATA of the types that may carry compressed names
 * (RFC 3597 §4: those of RFC 1035, and RP, AFSDB, RT, PX, SRV that receivers must
 * decompress; DNAME, RFC 6672, and KX written compressed by some servers): a
 * number is a run of octets, `name` a domain name; whatever follows is copied.
 * Other types are copied as they came (their names are never compressed).
 */
export const RDATA_NAMES: Readonly<Record<number, readonly (number | 'name')[]>> = {
  [RRType.NS]: ['name'],
  3: ['name'], // MD
  4: ['name'], // MF
  [RRType.CNAME]: ['name'],
  [RRType.SOA]: ['name', 'name'],
  7: ['name'], // MB
  8: ['name'], // MG
  9: ['name'], // MR
  [RRType.PTR]: ['name'],
  14: ['name', 'name'], // MINFO
  [RRType.MX]: [2, 'name'],
  17: ['name', 'name'], // RP
  18: [2, 'name'], // AFSDB
  21: [2, 'name'], // RT
  26: [2, 'name', 'name'], // PX
  [RRType.SRV]: [6, 'name'],
  36: [2, 'name'], // KX
  [RRType.DNAME]: ['name'],
};

/**
 * Types whose RDATA names a host whose addresses may come in the additional
 * section (RFC 1035 §3.3 "additional section processing"; SRV, RFC 2782; SVCB
 * and HTTPS, RFC 9460 §4), with the offset of that name in the RDATA.
 */
export const ADDITIONAL_TARGET: Readonly<Record<number, number>> = {
  [RRType.NS]: 0,
  3: 0, // MD
  4: 0, // MF
  7: 0, // MB
  [RRType.MX]: 2,
  [RRType.SRV]: 6,
  36: 2, // KX
  64: 2, // SVCB
  65: 2, // HTTPS
};
