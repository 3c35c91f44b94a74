/**
 * The fuzz harness's own strict reading of DNS messages, written independently of
 * the resolver's parser (resolver/wire/) so that a bug there cannot hide itself:
 *
 * - {@link inspectInput}: what the resolver may and must do with an input (drop it,
 *   echo its question, which UDP size it allows, which rcode it earns);
 * - {@link checkReply}: a reply decodes cleanly (RFC 1035 §4.1: header, question, every
 *   record, RDATA of the common types; compression pointers only backward, to a label
 *   read before, never looping; rdlength consistent; no trailing bytes; RFC 6891 §6.1.1:
 *   at most one OPT, in the additional section, owned by the root) and fits the input
 *   it answers (ID, QR, opcode, question, size, OPT only when asked).
 */

/** RFC 1035 §2.3.4 and §4.1.4. */
const MAX_NAME = 255;
const MAX_LABEL = 63;
const OPT = 41;

/** What {@link inspectInput} learned from an input. */
export interface InputFacts {
  /** The resolver must send nothing: shorter than a header, or QR set (RFC 1035 §4.1.1; reflection). */
  readonly dropped: boolean;
  readonly id: number;
  readonly opcode: number;
  /** The question bytes (after the header) when the input has one uncompressed, well-formed question, opcode QUERY and QDCOUNT 1. */
  readonly question: Buffer | undefined;
  /** `'none'`: the records parse and none is an OPT; `'one'`: exactly one OPT in the additional section; else `'unknown'`. */
  readonly edns: 'none' | 'one' | 'unknown';
  /** The requestor's UDP payload size of that one OPT. */
  readonly ednsSize: number;
  /** The rcode the input must get, when its form decides it (RFC 1035 §4.1.1: NOTIMP, FORMERR; RFC 6891: FORMERR, BADVERS). */
  readonly rcode: number | undefined;
}

/** Reads an uncompressed name at `pos`; the offset after it, or -1. */
function plainName(buf: Buffer, pos: number): number {
  let octets = 1;
  for (;;) {
    if (pos >= buf.length) return -1;
    const len = buf[pos] as number;
    if (len === 0) return pos + 1;
    if (len > MAX_LABEL) return -1;
    octets += len + 1;
    if (octets > MAX_NAME || pos + 1 + len > buf.length) return -1;
    pos += len + 1;
  }
}

/** Skips a name that may end in a pointer (not followed); the offset after it, or -1. */
function skipAnyName(buf: Buffer, pos: number): number {
  for (let labels = 0; labels < 128; labels++) {
    if (pos >= buf.length) return -1;
    const len = buf[pos] as number;
    if (len === 0) return pos + 1;
    if ((len & 0xc0) === 0xc0) return pos + 2 <= buf.length ? pos + 2 : -1;
    if (len > MAX_LABEL) return -1;
    pos += len + 1;
  }
  return -1;
}

/** What the resolver may and must do with `input`. */
export function inspectInput(input: Buffer): InputFacts {
  if (input.length < 12) return { dropped: true, id: input.length >= 2 ? input.readUInt16BE(0) : -1, opcode: 0, question: undefined, edns: 'unknown', ednsSize: 0, rcode: undefined };
  const id = input.readUInt16BE(0);
  const flags = input.readUInt16BE(2);
  const opcode = (flags >> 11) & 0xf;
  const qdcount = input.readUInt16BE(4);
  const dropped = (flags & 0x8000) !== 0;
  let question: Buffer | undefined;
  let rcode: number | undefined;
  if (opcode !== 0) rcode = 4;
  else if (qdcount !== 1) rcode = 1;
  else {
    const end = plainName(input, 12);
    if (end < 0 || end + 4 > input.length) rcode = 1;
    else question = input.subarray(12, end + 4);
  }
  // Where the records start: after QDCOUNT questions, each skipped as the resolver does.
  let pos = 12;
  for (let i = 0; i < qdcount && pos >= 0; i++) {
    const end = skipAnyName(input, pos);
    pos = end < 0 || end + 4 > input.length ? -1 : end + 4;
  }
  let edns: InputFacts['edns'] = 'unknown';
  let ednsSize = 0;
  let version = 0;
  if (pos >= 0) {
    const before = input.readUInt16BE(6) + input.readUInt16BE(8);
    const total = before + input.readUInt16BE(10);
    let opts = 0;
    let misplaced = false;
    let i = 0;
    for (; i < total; i++) {
      const owner = pos;
      const after = skipAnyName(input, pos);
      if (after < 0 || after + 10 > input.length) break;
      const end = after + 10 + input.readUInt16BE(after + 8);
      if (end > input.length) break;
      if (input.readUInt16BE(after) === OPT) {
        if (i < before || input[owner] !== 0) misplaced = true;
        else {
          ednsSize = input.readUInt16BE(after + 2);
          version = input[after + 5] as number;
        }
        opts++;
      }
      pos = end;
    }
    if (i === total && !misplaced) edns = opts === 0 ? 'none' : opts === 1 ? 'one' : 'unknown';
  }
  // A question that parsed: records that do not, or OPTs out of place or more than one, are a
  // FORMERR (RFC 6891 §6.1.1); one OPT of a version other than 0 is BADVERS (§6.1.3).
  if (question && rcode === undefined) rcode = edns === 'unknown' ? 1 : edns === 'one' && version !== 0 ? 16 : undefined;
  return { dropped, id, opcode, question, edns, ednsSize, rcode };
}

/** A reply as {@link checkReply} read it. */
export interface ReplyFacts {
  readonly rcode: number;
  readonly tc: boolean;
  /** A, AAAA answers (in presentation form) of the answer section, for the probes. */
  readonly addresses: readonly string[];
}

/** Thrown by the reader: what is wrong and where. */
class Malformed extends Error {}

/** A strict reader of one message: every name it reads records its label offsets, the only places pointers may go. */
class Reader {
  readonly labels = new Set<number>();
  constructor(readonly buf: Buffer) {}

  fail(what: string, at: number): never {
    throw new Malformed(`${what} at offset ${at}`);
  }

  /** Reads a name at `pos` (following pointers); returns the offset after it in the stream. */
  name(pos: number): number {
    const buf = this.buf;
    let octets = 1;
    let end = -1;
    let floor = pos; // each pointer must go below every position read so far: no loops
    for (;;) {
      if (pos >= buf.length) this.fail('name runs past the end', pos);
      const len = buf[pos] as number;
      if (len === 0) {
        this.labels.add(pos); // the root: a pointer may name it too
        return end < 0 ? pos + 1 : end;
      }
      const kind = len & 0xc0;
      if (kind === 0xc0) {
        if (pos + 1 >= buf.length) this.fail('pointer cut short', pos);
        const target = ((len & 0x3f) << 8) | (buf[pos + 1] as number);
        if (target >= floor) this.fail(`pointer to ${target} not backward`, pos);
        if (!this.labels.has(target)) this.fail(`pointer to ${target}, not a label read before`, pos);
        if (end < 0) end = pos + 2;
        pos = floor = target;
        continue;
      }
      if (kind !== 0) this.fail(`label type ${kind >> 6} (reserved)`, pos);
      if (pos + 1 + len > buf.length) this.fail('label runs past the end', pos);
      octets += len + 1;
      if (octets > MAX_NAME) this.fail('name longer than 255 octets', pos);
      this.labels.add(pos);
      pos += len + 1;
    }
  }
}

/** RDATA of the common types read strictly; other types are opaque. */
function checkRdata(r: Reader, type: number, start: number, end: number): void {
  const len = end - start;
  const nameAt = (pos: number) => {
    const after = r.name(pos);
    if (after > end) r.fail('name in RDATA runs past rdlength', pos);
    return after;
  };
  const exact = (pos: number) => {
    if (pos !== end) r.fail(`RDATA of type ${type} has ${end - pos} stray octets`, pos);
  };
  switch (type) {
    case 1:
      if (len !== 4) r.fail(`A RDATA of ${len} octets`, start);
      return;
    case 28:
      if (len !== 16) r.fail(`AAAA RDATA of ${len} octets`, start);
      return;
    case 2:
    case 5:
    case 12:
    case 39:
      return exact(nameAt(start));
    case 15:
      if (len < 3) r.fail('MX RDATA too short', start);
      return exact(nameAt(start + 2));
    case 33:
      if (len < 7) r.fail('SRV RDATA too short', start);
      return exact(nameAt(start + 6));
    case 6: {
      const afterRname = nameAt(nameAt(start));
      return exact(afterRname + 20 <= end ? afterRname + 20 : r.fail('SOA RDATA too short', afterRname));
    }
    case 16: {
      if (len === 0) r.fail('TXT RDATA empty', start);
      let pos = start;
      while (pos < end) pos += 1 + (r.buf[pos] as number);
      return exact(pos);
    }
    case OPT: {
      let pos = start;
      while (pos < end) {
        if (pos + 4 > end) r.fail('EDNS option header cut short', pos);
        pos += 4 + r.buf.readUInt16BE(pos + 2);
      }
      return exact(pos);
    }
    default:
      return;
  }
}

/** Checks `reply` against the input it answers; returns what it read, or the first problem as text. */
export function checkReply(reply: Buffer, input: InputFacts, transport: 'udp' | 'tcp'): ReplyFacts | string {
  if (reply.length < 12) return `reply of ${reply.length} octets, shorter than a header`;
  const flags = reply.readUInt16BE(2);
  if (reply.readUInt16BE(0) !== input.id) return `reply ID ${reply.readUInt16BE(0)} for input ID ${input.id}`;
  if ((flags & 0x8000) === 0) return 'QR not set in the reply';
  if (((flags >> 11) & 0xf) !== input.opcode) return `reply opcode ${(flags >> 11) & 0xf} for input opcode ${input.opcode}`;
  const counts = [reply.readUInt16BE(4), reply.readUInt16BE(6), reply.readUInt16BE(8), reply.readUInt16BE(10)] as const;
  if (counts[0] > 1) return `QDCOUNT ${counts[0]} in a reply`;
  if (11 * (counts[1] + counts[2] + counts[3]) > reply.length - 12) return `counts ${counts.join('/')} cannot fit in ${reply.length} octets`;
  const r = new Reader(reply);
  let rcode = flags & 0xf;
  const addresses: string[] = [];
  let opts = 0;
  try {
    let pos = 12;
    if (counts[0] === 1) {
      const end = r.name(pos) + 4;
      if (end > reply.length) r.fail('question cut short', pos);
      if (input.question && !reply.subarray(12, end).equals(input.question)) return 'question not echoed as sent';
      pos = end;
    } else if (input.question) return 'question of the input not echoed';
    for (let section = 1; section <= 3; section++) {
      for (let i = 0; i < (counts[section] as number); i++) {
        const owner = pos;
        const after = r.name(pos);
        if (after + 10 > reply.length) r.fail('record header cut short', after);
        const type = reply.readUInt16BE(after);
        const rdStart = after + 10;
        const rdEnd = rdStart + reply.readUInt16BE(after + 8);
        if (rdEnd > reply.length) r.fail('rdlength runs past the end', after + 8);
        if (type === OPT) {
          if (section !== 3 || reply[owner] !== 0 || ++opts > 1) r.fail('OPT out of place (not one, in additional, owned by the root)', owner);
          rcode |= (reply[after + 4] as number) << 4;
        } else if (reply.readUInt32BE(after + 4) > 0x7fffffff) r.fail('TTL above 2^31-1 (RFC 2181 §8)', after + 4);
        checkRdata(r, type, rdStart, rdEnd);
        if (section === 1 && type === 1) addresses.push([...reply.subarray(rdStart, rdEnd)].join('.'));
        pos = rdEnd;
      }
    }
    if (pos !== reply.length) r.fail(`${reply.length - pos} trailing octets`, pos);
  } catch (error) {
    if (error instanceof Malformed) return `malformed reply: ${error.message}`;
    throw error;
  }
  if (input.rcode !== undefined && rcode !== input.rcode) return `rcode ${rcode}, expected ${input.rcode}`;
  if (opts > 0 && input.edns === 'none') return 'OPT in a reply to a query without EDNS (RFC 6891 §7)';
  if (transport === 'udp') {
    const limit = input.edns === 'one' ? Math.max(512, input.ednsSize) : 512;
    if (reply.length > limit) return `UDP reply of ${reply.length} octets over the input's limit of ${limit}`;
  }
  return { rcode, tc: (flags & 0x0200) !== 0, addresses };
}
