/**
 * Rebuilding a reply from some of its records, for the scrubber. Bytes cannot
 * simply be cut out: a kept record's names may point (RFC 1035 §4.1.4) into a
 * removed one. So every kept name is written out in full — owners, and the
 * names inside the RDATA of the types that may be compressed (`RDATA_NAMES`) —
 * except an owner already written as an owner or the question, which becomes a
 * pointer to it. Header, question and flags are kept; the counts are set to
 * what is written.
 */
import { HEADER_SIZE } from '../wire/constants.js';
import { walkMessage } from '../wire/walk.js';
import type { MessageLayout, RecordSpan } from '../wire/walk.js';
import { lower, nameKey, RDATA_NAMES, readLabels, wireName } from './names.js';

/** Largest DNS message (the TCP length prefix, RFC 1035 §4.2.2). */
const MAX_MESSAGE = 0xffff;
/** Offsets a compression pointer can reach. */
const POINTER_REACH = 0x4000;

/**
 * The reply with only the records `keep` accepts, in their order, or undefined
 * when a kept record's names do not parse or the result would not fit a message.
 */
export function rewriteReply(reply: Buffer, layout: MessageLayout, keep: (span: RecordSpan) => boolean): { reply: Buffer; layout: MessageLayout } | undefined {
  const parts: Buffer[] = [Buffer.from(reply.subarray(0, layout.questionEnd))];
  let length = layout.questionEnd;
  const owners = new Map<string, number>();
  const question = readLabels(reply, HEADER_SIZE);
  if (question && layout.questionEnd > HEADER_SIZE) owners.set(nameKey(lower(question.labels)), HEADER_SIZE);
  const counts = { answer: 0, authority: 0, additional: 0 };
  for (const span of layout.records) {
    if (!keep(span)) continue;
    const owner = readLabels(reply, span.start);
    if (!owner) return undefined;
    const key = nameKey(lower(owner.labels));
    const at = owners.get(key);
    let ownerBytes: Buffer;
    if (at === undefined) {
      ownerBytes = wireName(owner.labels);
      if (length < POINTER_REACH) owners.set(key, length);
    } else {
      ownerBytes = Buffer.from([0xc0 | (at >> 8), at & 0xff]);
    }
    const rdataStart = span.ttlOffset + 6;
    const rdata = expandRdata(reply, span.type, rdataStart, span.end);
    if (!rdata) return undefined;
    const fixed = Buffer.from(reply.subarray(span.ttlOffset - 4, rdataStart)); // type, class, TTL, RDLENGTH
    fixed.writeUInt16BE(rdata.length, 8);
    parts.push(ownerBytes, fixed, rdata);
    length += ownerBytes.length + fixed.length + rdata.length;
    if (length > MAX_MESSAGE) return undefined;
    counts[span.section]++;
  }
  const out = Buffer.concat(parts, length);
  out.writeUInt16BE(counts.answer, 6);
  out.writeUInt16BE(counts.authority, 8);
  out.writeUInt16BE(counts.additional, 10);
  const walked = walkMessage(out);
  return walked ? { reply: out, layout: walked } : undefined;
}

/** RDATA with its compressed names written in full; undefined when a name does not parse within it. */
function expandRdata(reply: Buffer, type: number, start: number, end: number): Buffer | undefined {
  const shape = RDATA_NAMES[type];
  if (!shape) return Buffer.from(reply.subarray(start, end));
  const parts: Buffer[] = [];
  let pos = start;
  for (const part of shape) {
    if (part === 'name') {
      const name = readLabels(reply, pos, end);
      if (!name) return undefined;
      parts.push(wireName(name.labels));
      pos = name.end;
    } else {
      if (pos + part > end) return undefined;
      parts.push(reply.subarray(pos, pos + part));
      pos += part;
    }
  }
  parts.push(reply.subarray(pos, end));
  return Buffer.concat(parts);
}
