/**
 * A cheap walk over an encoded message: where each record starts and ends, its
 * section, owner name and type. Enough to truncate by whole RRsets, check an
 * upstream reply's question, and (later) patch TTLs in place, without decoding
 * RDATA.
 */
import { HEADER_SIZE, RRType } from './constants.js';
import { skipName } from './query.js';

/** Sections of a message, in wire order. */
export type Section = 'answer' | 'authority' | 'additional';

/** Location of one resource record in a message. */
export interface RecordSpan {
  readonly section: Section;
  readonly start: number;
  readonly end: number;
  /** Lower-cased owner name. */
  readonly name: string;
  readonly type: number;
  /** Offset of the 32-bit TTL field. */
  readonly ttlOffset: number;
}

/** Result of {@link walkMessage}. */
export interface MessageLayout {
  readonly questionEnd: number;
  /** Lower-cased name of the first question, or undefined when the message has none. */
  readonly questionName: string | undefined;
  readonly questionType: number;
  readonly questionClass: number;
  readonly records: readonly RecordSpan[];
}

/**
 * Reads a (possibly compressed) name at `offset` as lower-cased text. Returns
 * undefined for loops, over-long names, or references past the end.
 */
export function readName(buf: Buffer, offset: number): string | undefined {
  let pos = offset;
  let out = '';
  let octets = 1;
  for (let hops = 0; hops < 64; ) {
    if (pos >= buf.length) return undefined;
    const len = buf[pos] as number;
    if (len === 0) return out;
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= buf.length) return undefined;
      const target = ((len & 0x3f) << 8) | (buf[pos + 1] as number);
      if (target >= pos) return undefined; // pointers go backwards only: no loops
      pos = target;
      hops++;
      continue;
    }
    if (len > 63 || pos + 1 + len > buf.length) return undefined;
    octets += len + 1;
    if (octets > 255) return undefined;
    const label = buf.toString('latin1', pos + 1, pos + 1 + len).toLowerCase();
    out = out === '' ? label : `${out}.${label}`;
    pos += len + 1;
  }
  return undefined;
}

/** The offset just past a well-formed name at `pos` that ends by `limit`, else -1. */
function nameEnd(buf: Buffer, pos: number, limit: number): number {
  const end = skipName(buf, pos);
  return end >= 0 && end <= limit && readName(buf, pos) !== undefined ? end : -1;
}

/**
 * True when the RDATA of a record of `type` in `buf[start, end)` is well formed:
 * fixed lengths (A, AAAA), and for the types whose RDATA holds names (RFC 1035
 * §3.3, RFC 2782, RFC 3597 §4) every name well formed, its pointers going backward
 * (so a client following them cannot loop), and nothing left over. Other types are
 * opaque (RFC 3597 §5).
 */
function rdataOk(buf: Buffer, type: number, start: number, end: number): boolean {
  switch (type) {
    case RRType.A:
      return end - start === 4;
    case RRType.AAAA:
      return end - start === 16;
    case RRType.NS:
    case RRType.CNAME:
    case RRType.PTR:
      return nameEnd(buf, start, end) === end;
    case RRType.MX:
      return end - start > 2 && nameEnd(buf, start + 2, end) === end;
    case RRType.SRV:
      return end - start > 6 && nameEnd(buf, start + 6, end) === end;
    case RRType.SOA: {
      const mname = nameEnd(buf, start, end);
      const rname = mname < 0 ? -1 : nameEnd(buf, mname, end);
      return rname >= 0 && rname + 20 === end;
    }
    case RRType.TXT: {
      let pos = start;
      while (pos < end) pos += 1 + (buf[pos] as number);
      return pos === end && end > start;
    }
    default:
      return true;
  }
}

/**
 * Walks every section of `buf`; undefined when the message is malformed: a record
 * or RDATA that does not parse (see {@link rdataOk}), trailing octets, or an OPT
 * that is not the only one, in the additional section, owned by the root written as
 * one zero octet (RFC 6891 §6.1.1, §6.1.2; a pointer to the root is refused too).
 */
export function walkMessage(buf: Buffer): MessageLayout | undefined {
  if (buf.length < HEADER_SIZE) return undefined;
  const qdcount = buf.readUInt16BE(4);
  const counts: [Section, number][] = [
    ['answer', buf.readUInt16BE(6)],
    ['authority', buf.readUInt16BE(8)],
    ['additional', buf.readUInt16BE(10)],
  ];
  let pos = HEADER_SIZE;
  let questionName: string | undefined;
  let questionType = 0;
  let questionClass = 0;
  for (let i = 0; i < qdcount; i++) {
    const name = i === 0 ? readName(buf, pos) : '';
    const end = skipName(buf, pos);
    if (name === undefined || end < 0 || end + 4 > buf.length) return undefined;
    if (i === 0) {
      questionName = name;
      questionType = buf.readUInt16BE(end);
      questionClass = buf.readUInt16BE(end + 2);
    }
    pos = end + 4;
  }
  const questionEnd = pos;
  const records: RecordSpan[] = [];
  let opts = 0;
  for (const [section, count] of counts) {
    for (let i = 0; i < count; i++) {
      const name = readName(buf, pos);
      const after = skipName(buf, pos);
      if (name === undefined || after < 0 || after + 10 > buf.length) return undefined;
      const end = after + 10 + buf.readUInt16BE(after + 8);
      const type = buf.readUInt16BE(after);
      if (end > buf.length || !rdataOk(buf, type, after + 10, end)) return undefined;
      if (type === RRType.OPT && (section !== 'additional' || buf[pos] !== 0 || opts++ > 0)) return undefined;
      records.push({ section, start: pos, end, name, type, ttlOffset: after + 4 });
      pos = end;
    }
  }
  if (pos !== buf.length) return undefined;
  return { questionEnd, questionName, questionType, questionClass, records };
}
