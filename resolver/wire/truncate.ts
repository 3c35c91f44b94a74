/**
 * Fitting a reply into a UDP payload limit (RFC 2181 §9, RFC 1035 §4.2.1):
 * whole RRsets only; when an answer or authority RRset does not fit, TC is set
 * and nothing after it is sent; additional-section RRsets that do not fit are
 * dropped without TC. The OPT record always stays. Records keep their offsets
 * (the kept part is a prefix), so compression pointers stay valid; the counts
 * in the header match what is sent.
 */
import { RRType } from './constants.js';
import { Flag } from './reply.js';
import { walkMessage } from './walk.js';
import type { RecordSpan } from './walk.js';

/**
 * Returns `reply` unchanged when it fits in `limit` bytes, else the truncated
 * reply. A message that cannot be walked is cut to header, question and OPT with TC.
 */
export function truncateReply(reply: Buffer, limit: number): Buffer {
  if (reply.length <= limit) return reply;
  const layout = walkMessage(reply);
  if (!layout) {
    // Cannot happen for replies we built or checked; still never send more than the limit.
    const header = Buffer.from(reply.subarray(0, 12));
    header.fill(0, 4, 12);
    header.writeUInt16BE(header.readUInt16BE(2) | Flag.TC, 2);
    return header;
  }
  const opt = layout.records.find((r) => r.type === RRType.OPT && r.section === 'additional');
  const optBytes = opt ? reply.subarray(opt.start, opt.end) : undefined;
  const budget = limit - (optBytes?.length ?? 0);
  const records = layout.records.filter((r) => r !== opt);

  let cut = layout.questionEnd;
  let truncated = false;
  const kept = { answer: 0, authority: 0, additional: 0 };
  let i = 0;
  while (i < records.length) {
    const first = records[i] as RecordSpan;
    let j = i + 1;
    while (j < records.length) {
      const next = records[j] as RecordSpan;
      if (next.section !== first.section || next.name !== first.name || next.type !== first.type) break;
      j++;
    }
    const rrsetEnd = (records[j - 1] as RecordSpan).end;
    // Only a prefix of the message may be kept (offsets must not move), so the first
    // RRset that does not fit ends the reply; TC is owed unless it is additional data.
    if (rrsetEnd > budget) {
      truncated = first.section !== 'additional';
      break;
    }
    kept[first.section] += j - i;
    cut = rrsetEnd;
    i = j;
  }
  // An upstream may place OPT before other additional records; then it is already in the prefix.
  const append = optBytes !== undefined && opt !== undefined && opt.start >= cut ? optBytes : undefined;
  const out = Buffer.allocUnsafe(cut + (append?.length ?? 0));
  reply.copy(out, 0, 0, cut);
  if (append) append.copy(out, cut);
  out.writeUInt16BE(kept.answer, 6);
  out.writeUInt16BE(kept.authority, 8);
  out.writeUInt16BE(kept.additional + (optBytes ? 1 : 0), 10);
  if (truncated) out.writeUInt16BE(out.readUInt16BE(2) | Flag.TC, 2);
  return out;
}
