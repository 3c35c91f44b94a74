/**
 * Staged decoding of an incoming query, cheapest checks first
 * (hickory-dns `crates/server/src/server/mod.rs`):
 *
 * 1. shorter than a header, or QR=1 (a response: reflection) → drop;
 * 2. opcode other than QUERY → NOTIMP (RFC 1035 §4.1.1);
 * 3. question count ≠ 1 or a malformed question → FORMERR with the query's ID;
 * 4. malformed additional section or more than one OPT → FORMERR (RFC 6891 §6.1.1).
 *
 * Written by hand rather than with dns2 because it runs for every packet and must
 * never accept what dns2's lenient parser would (compression pointers in the
 * question, names over 255 octets).
 */
import { HEADER_SIZE, MAX_NAME_OCTETS, RRType } from './constants.js';
import type { DnsName } from './name.js';

/** EDNS(0) information of a query's OPT record (RFC 6891 §6.1.2). */
export interface EdnsInfo {
  readonly version: number;
  /** Requestor's UDP payload size, raised to 512 when smaller (RFC 6891 §6.2.5). */
  readonly udpSize: number;
  /** DNSSEC OK bit (RFC 3225). */
  readonly dnssecOk: boolean;
  /** Byte offset of the OPT record in the query. */
  readonly offset: number;
}

/** A query that passed every stage. */
export interface Query {
  readonly id: number;
  /** The whole message as received. */
  readonly raw: Buffer;
  readonly recursionDesired: boolean;
  readonly checkingDisabled: boolean;
  /** Lower-cased question name (labels containing '.' or '\\' are escaped, so they never alias). */
  readonly name: DnsName;
  readonly type: number;
  readonly class: number;
  /** Offset just past the question section: `raw.subarray(12, questionEnd)` is the question as sent. */
  readonly questionEnd: number;
  readonly edns: EdnsInfo | undefined;
}

/** Outcome of {@link parseQuery}. */
export type ParsedQuery =
  | { readonly kind: 'query'; readonly query: Query }
  | { readonly kind: 'drop'; readonly reason: 'short' | 'response' }
  | {
      readonly kind: 'error';
      readonly rcode: number;
      readonly reason: string;
      readonly id: number;
      /** Opcode and RD of the query, echoed in the error reply. */
      readonly flags: number;
      /** The question bytes when they parsed, else undefined (the reply then has no question). */
      readonly question: Buffer | undefined;
      readonly edns: EdnsInfo | undefined;
    };

/** ASCII upper case (folded, RFC 4343) or '.' and '\\' inside a label (escaped so they never alias a label boundary). */
const NEEDS_FOLDING = /[A-Z.\\]/;

interface NameRead {
  readonly name: string;
  readonly end: number;
}

/** Where {@link readQuestionName} assembles a name: at most 255 octets in presentation form without escapes. */
const scratch = Buffer.allocUnsafe(MAX_NAME_OCTETS);

/**
 * Reads an uncompressed name at `offset`; returns undefined when malformed. The
 * common name (no '.' or '\\' inside a label) is lower-cased into a scratch
 * buffer, dots at the label boundaries, and becomes one string; the rare one
 * takes {@link readEscapedName}. Either way the result is the same.
 */
function readQuestionName(buf: Buffer, offset: number): NameRead | undefined {
  let pos = offset;
  let out = 0;
  for (;;) {
    if (pos >= buf.length) return undefined;
    const len = buf[pos] as number;
    if (len === 0) return { name: out === 0 ? '' : scratch.toString('latin1', 0, out - 1), end: pos + 1 };
    if (len > 63) return undefined; // compression pointers and reserved label types have no place here
    if (out + len + 1 > MAX_NAME_OCTETS - 1 || pos + 1 + len > buf.length) return undefined;
    for (let i = pos + 1; i <= pos + len; i++) {
      const c = buf[i] as number;
      if (c === 0x2e || c === 0x5c) return readEscapedName(buf, offset);
      scratch[out++] = c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
    }
    scratch[out++] = 0x2e;
    pos += len + 1;
  }
}

/** {@link readQuestionName} for a name with '.' or '\\' inside a label: one string per label, escaped. */
function readEscapedName(buf: Buffer, offset: number): NameRead | undefined {
  let pos = offset;
  let total = 1;
  let name = '';
  for (;;) {
    if (pos >= buf.length) return undefined;
    const len = buf[pos] as number;
    if (len === 0) return { name, end: pos + 1 };
    if (len > 63) return undefined;
    total += len + 1;
    if (total > MAX_NAME_OCTETS || pos + 1 + len > buf.length) return undefined;
    let label = buf.toString('latin1', pos + 1, pos + 1 + len);
    if (NEEDS_FOLDING.test(label)) label = label.replace(/[A-Z]/g, (c) => c.toLowerCase()).replace(/[.\\]/g, (c) => `\\${c}`);
    name = name === '' ? label : `${name}.${label}`;
    pos += len + 1;
  }
}

/** Skips a possibly compressed name; returns the offset after it or -1 when malformed. */
export function skipName(buf: Buffer, offset: number): number {
  let pos = offset;
  for (let hops = 0; hops < 128; hops++) {
    if (pos >= buf.length) return -1;
    const len = buf[pos] as number;
    if (len === 0) return pos + 1;
    if ((len & 0xc0) === 0xc0) return pos + 2 <= buf.length ? pos + 2 : -1;
    if (len > 63) return -1;
    pos += len + 1;
  }
  return -1;
}

/**
 * Walks the answer, authority and additional sections from `pos` (answer and
 * authority records are unusual in a query and skipped) and extracts the OPT.
 * RFC 6891 §6.1.1: more than one OPT, an OPT outside the additional section, or
 * one not owned by the root, is an error.
 */
function scanRecords(buf: Buffer, start: number): { edns: EdnsInfo | undefined } | { error: string; partial: EdnsInfo | undefined } {
  const skip = buf.readUInt16BE(6) + buf.readUInt16BE(8);
  const arcount = buf.readUInt16BE(10);
  let pos = start;
  let edns: EdnsInfo | undefined;
  for (let i = 0; i < skip + arcount; i++) {
    const owner = pos;
    pos = skipName(buf, pos);
    if (pos < 0 || pos + 10 > buf.length) return { error: 'record', partial: edns };
    const rtype = buf.readUInt16BE(pos);
    const end = pos + 10 + buf.readUInt16BE(pos + 8);
    if (end > buf.length) return { error: 'record', partial: edns };
    if (rtype === RRType.OPT) {
      // Only in the additional section (§6.1.1: "MAY be placed anywhere within the additional data section").
      if (edns || i < skip || buf[owner] !== 0) return { error: 'opt', partial: edns };
      const ttl = buf.readUInt32BE(pos + 4);
      edns = {
        version: (ttl >>> 16) & 0xff,
        udpSize: Math.max(512, buf.readUInt16BE(pos + 2)),
        dnssecOk: (ttl & 0x8000) !== 0,
        offset: owner,
      };
    }
    pos = end;
  }
  return { edns };
}

/** Runs the rejection stages over `buf` and decodes what a query needs. */
export function parseQuery(buf: Buffer): ParsedQuery {
  if (buf.length < HEADER_SIZE) return { kind: 'drop', reason: 'short' };
  const flags = buf.readUInt16BE(2);
  if (flags & 0x8000) return { kind: 'drop', reason: 'response' };
  const id = buf.readUInt16BE(0);
  const echoFlags = flags & 0x7900; // opcode and RD
  const opcode = (flags >> 11) & 0xf;
  const qdcount = buf.readUInt16BE(4);
  const fail = (rcode: number, reason: string, question?: Buffer, edns?: EdnsInfo): ParsedQuery => ({
    kind: 'error',
    rcode,
    reason,
    id,
    flags: echoFlags,
    question,
    edns,
  });
  if (opcode !== 0 || qdcount !== 1) {
    // RFC 6891 §7: a responder that found an OPT must include one even in an error reply.
    let pos = HEADER_SIZE;
    for (let i = 0; i < qdcount && pos >= 0; i++) {
      const end = skipName(buf, pos);
      pos = end < 0 ? -1 : end + 4;
    }
    const scan = pos >= 0 && pos <= buf.length ? scanRecords(buf, pos) : undefined;
    const edns = scan !== undefined && 'edns' in scan ? scan.edns : undefined;
    return opcode !== 0 ? fail(4, 'opcode', undefined, edns) : fail(1, 'qdcount', undefined, edns);
  }
  const qname = readQuestionName(buf, HEADER_SIZE);
  if (!qname || qname.end + 4 > buf.length) return fail(1, 'question');
  const questionEnd = qname.end + 4;
  const type = buf.readUInt16BE(qname.end);
  const klass = buf.readUInt16BE(qname.end + 2);
  const scan = scanRecords(buf, questionEnd);
  if ('error' in scan) return fail(1, scan.error, buf.subarray(HEADER_SIZE, questionEnd), scan.partial);
  const edns = scan.edns;
  return {
    kind: 'query',
    query: {
      id,
      raw: buf,
      recursionDesired: (flags & 0x0100) !== 0,
      checkingDisabled: (flags & 0x0010) !== 0,
      name: qname.name as DnsName,
      type,
      class: klass,
      questionEnd,
      edns,
    },
  };
}
