/**
 * Building replies from bytes, without dns2: header, the query's own question
 * (so its case is preserved, RFC 4343 §4), pre-encoded record sections and our OPT.
 * Everything on the per-query path lives here and costs copies, not encoding.
 */
import { EDNS_UDP_SIZE, CLASSIC_UDP_SIZE, HEADER_SIZE, RRType } from './constants.js';
import type { EdnsInfo, Query } from './query.js';

/** Flag bits of the header's second 16-bit word (RFC 1035 §4.1.1, RFC 4035 §3.2). */
export const Flag = {
  QR: 0x8000,
  AA: 0x0400,
  TC: 0x0200,
  RD: 0x0100,
  RA: 0x0080,
  AD: 0x0020,
  CD: 0x0010,
} as const;

/** Length of the OPT record holdfast sends: root name, fixed fields, no options. */
export const OPT_SIZE = 11;

/**
 * Writes our OPT record at `offset` (RFC 6891 §6.1.2): advertises {@link EDNS_UDP_SIZE},
 * version 0, the DO bit copied from the query (RFC 3225 §3), and the upper 8 bits of a
 * 12-bit rcode.
 */
export function writeOpt(out: Buffer, offset: number, rcode: number, dnssecOk: boolean): void {
  out[offset] = 0;
  out.writeUInt16BE(RRType.OPT, offset + 1);
  out.writeUInt16BE(EDNS_UDP_SIZE, offset + 3);
  out.writeUInt32BE((((rcode >>> 4) & 0xff) << 24 | (dnssecOk ? 0x8000 : 0)) >>> 0, offset + 5);
  out.writeUInt16BE(0, offset + 9);
}

/** A copy of `reply` with our OPT appended and ARCOUNT raised by one. */
export function appendOpt(reply: Buffer, dnssecOk: boolean): Buffer {
  const out = Buffer.allocUnsafe(reply.length + OPT_SIZE);
  reply.copy(out);
  out.writeUInt16BE(reply.readUInt16BE(10) + 1, 10);
  writeOpt(out, reply.length, 0, dnssecOk); // a header rcode needs no extended bits
  return out;
}

/** The largest UDP reply the client accepts: 512 without EDNS, its buffer size capped at 1232 with it. */
export function udpLimit(query: { readonly edns: EdnsInfo | undefined }): number {
  return query.edns ? Math.min(query.edns.udpSize, EDNS_UDP_SIZE) : CLASSIC_UDP_SIZE;
}

/** Header flags of a reply: QR, RA, the query's opcode/RD/CD, AA when asked, the low 4 bits of rcode. */
function replyFlags(queryFlags: number, rcode: number, authoritative: boolean): number {
  return Flag.QR | Flag.RA | (queryFlags & (0x7800 | Flag.RD | Flag.CD)) | (authoritative ? Flag.AA : 0) | (rcode & 0xf);
}

/** Sections of a reply, already encoded; names inside may point only into the question. */
export interface EncodedSections {
  readonly bytes: Buffer;
  readonly ancount: number;
  readonly nscount: number;
  readonly arcount: number;
}

/** No records at all. */
export const EMPTY_SECTIONS: EncodedSections = { bytes: Buffer.alloc(0), ancount: 0, nscount: 0, arcount: 0 };

/**
 * Composes a reply to `query`: header, the query's question verbatim, `sections`,
 * and our OPT when the query had one.
 */
export function composeReply(query: Query, rcode: number, authoritative: boolean, sections: EncodedSections): Buffer {
  const qlen = query.questionEnd - HEADER_SIZE;
  const optLen = query.edns ? OPT_SIZE : 0;
  const out = Buffer.allocUnsafe(HEADER_SIZE + qlen + sections.bytes.length + optLen);
  out.writeUInt16BE(query.id, 0);
  out.writeUInt16BE(replyFlags(query.raw.readUInt16BE(2), rcode, authoritative), 2);
  out.writeUInt16BE(1, 4);
  out.writeUInt16BE(sections.ancount, 6);
  out.writeUInt16BE(sections.nscount, 8);
  out.writeUInt16BE(sections.arcount + (optLen ? 1 : 0), 10);
  query.raw.copy(out, HEADER_SIZE, HEADER_SIZE, query.questionEnd);
  sections.bytes.copy(out, query.questionEnd);
  if (query.edns) writeOpt(out, out.length - OPT_SIZE, rcode, query.edns.dnssecOk);
  return out;
}

/**
 * An error reply for a query that failed a rejection stage: the query's ID,
 * opcode and RD, its question when it parsed, our OPT when it had one.
 */
export function errorReply(
  id: number,
  queryFlags: number,
  rcode: number,
  question: Buffer | undefined,
  edns: EdnsInfo | undefined,
): Buffer {
  const qlen = question ? question.length : 0;
  const optLen = edns ? OPT_SIZE : 0;
  const out = Buffer.alloc(HEADER_SIZE + qlen + optLen);
  out.writeUInt16BE(id, 0);
  out.writeUInt16BE(replyFlags(queryFlags, rcode, false), 2);
  out.writeUInt16BE(question ? 1 : 0, 4);
  out.writeUInt16BE(edns ? 1 : 0, 10);
  if (question) question.copy(out, HEADER_SIZE);
  if (edns) writeOpt(out, HEADER_SIZE + qlen, rcode, edns.dnssecOk);
  return out;
}

/**
 * Renders a pre-encoded reply template for `query`. The template was encoded
 * for the lower-cased question name, without OPT; this patches the ID, RD and
 * CD, copies the question as the client sent it (same length, since its name
 * matched case-insensitively; its class may be ANY where the template has IN),
 * and appends OPT when the query had one.
 */
export function renderTemplate(template: Buffer, query: Query): Buffer {
  const optLen = query.edns ? OPT_SIZE : 0;
  const out = Buffer.allocUnsafe(template.length + optLen);
  // Byte by byte rather than copy()/writeUInt16BE(): this runs per answer, and
  // their argument checks cost more than the copying of a hundred bytes.
  out.set(template);
  const raw = query.raw;
  out[0] = raw[0] as number;
  out[1] = raw[1] as number;
  out[2] = ((template[2] as number) & ~(Flag.RD >> 8)) | ((raw[2] as number) & (Flag.RD >> 8));
  out[3] = ((template[3] as number) & ~Flag.CD) | ((raw[3] as number) & Flag.CD);
  for (let i = HEADER_SIZE; i < query.questionEnd; i++) out[i] = raw[i] as number;
  if (optLen) {
    out.writeUInt16BE(template.readUInt16BE(10) + 1, 10);
    writeOpt(out, template.length, 0, query.edns?.dnssecOk ?? false);
  }
  return out;
}
