/**
 * Following an ExternalName alias (RFC 1034 §4.3.2 step 3a): the reply starts
 * with our CNAME and continues with the upstream's answer for the target, with the
 * upstream's rcode (RFC 6604 §3: the rcode describes the last name in the chain)
 * and its authority section. Slow path: decoded and re-encoded with dns2.
 */
import { Rcode } from './constants.js';
import { decodeMessage, encodeQuery } from './decode.js';
import type { DecodedRecord } from './decode.js';
import { encodeTemplate } from './encode.js';
import { parseQuery } from './query.js';
import type { Query } from './query.js';
import type { ResourceRecord } from './records.js';
import { renderTemplate } from './reply.js';

/** A query for `target` carrying the original query's type, RD and EDNS size. */
export function aliasQuery(query: Query, target: string): Query | undefined {
  const bytes = encodeQuery(target, query.type, {
    id: query.id,
    recursionDesired: true,
    ...(query.edns ? { ednsUdpSize: query.edns.udpSize, dnssecOk: query.edns.dnssecOk } : {}),
  });
  const parsed = parseQuery(bytes);
  return parsed.kind === 'query' ? parsed.query : undefined;
}

const known = (r: DecodedRecord): r is DecodedRecord & ResourceRecord => r.data.type !== 'OTHER';

/**
 * Joins `cname` (owned by the query name) and the upstream's `targetReply` into
 * one reply to `query`. When the upstream failed (SERVFAIL, REFUSED, malformed),
 * the alias alone is returned with that rcode.
 */
export function joinAlias(query: Query, cname: ResourceRecord, targetReply: Buffer): Buffer {
  let rcode: number = Rcode.SERVFAIL;
  let answers: ResourceRecord[] = [];
  let authority: ResourceRecord[] = [];
  try {
    const decoded = decodeMessage(targetReply);
    rcode = decoded.rcode;
    answers = decoded.answers.filter(known);
    authority = decoded.authority.filter(known);
  } catch {
    // malformed upstream reply: SERVFAIL with the alias
  }
  const template = encodeTemplate({
    name: query.name,
    type: query.type,
    rcode,
    authoritative: true,
    answers: [{ ...cname, name: query.name }, ...answers],
    authority,
    additional: [],
  });
  return renderTemplate(template, query);
}
