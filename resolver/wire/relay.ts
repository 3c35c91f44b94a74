/**
 * Passing an upstream reply on to a client as it came: the client's ID and
 * question (its case), and the OPT made right for this client — our buffer size
 * advertised when it used EDNS (added when the upstream sent none, RFC 6891 §7),
 * removed when it did not.
 */
import { EDNS_UDP_SIZE, HEADER_SIZE, RRType } from './constants.js';
import type { Query } from './query.js';
import { appendOpt } from './reply.js';
import type { MessageLayout } from './walk.js';

/** The reply to `query` built from an upstream's validated `reply`. */
export function relayReply(reply: Buffer, layout: MessageLayout, query: Query): Buffer {
  const opt = layout.records.find((r) => r.type === RRType.OPT); // walkMessage allows one, in the additional section
  let out: Buffer;
  if (opt && !query.edns && opt.end === reply.length) {
    out = Buffer.from(reply.subarray(0, opt.start));
    out.writeUInt16BE(out.readUInt16BE(10) - 1, 10);
  } else {
    out = Buffer.from(reply);
    if (opt) out.writeUInt16BE(EDNS_UDP_SIZE, opt.ttlOffset - 2);
    else if (query.edns) out = appendOpt(out, query.edns.dnssecOk);
  }
  out.writeUInt16BE(query.id, 0);
  if (layout.questionEnd === query.questionEnd) query.raw.copy(out, HEADER_SIZE, HEADER_SIZE, query.questionEnd);
  return out;
}
