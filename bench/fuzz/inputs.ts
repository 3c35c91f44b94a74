/**
 * Fuzz inputs, from a seeded PRNG so that a run replays: random bytes of random
 * lengths, valid queries, and valid queries put through one to three mutations
 * (bit flips, byte insertions and deletions, truncations, lying section counts,
 * compression-pointer loops, self and forward pointers and pointers past the end,
 * over-long names and labels, reserved label types, odd EDNS, every opcode, QR set,
 * zero and many questions, every interesting qtype and qclass).
 */
import { seededRandom } from '../prng.js';

/** One input and how it was made (for the report and reproducers). */
export interface Input {
  readonly bytes: Buffer;
  readonly kind: string;
}

/** A query name with the types worth asking for it. */
export interface NameEntry {
  readonly name: string;
  readonly types: readonly number[];
}

/** Query types beyond those of the zone: meta types (ANY, AXFR, IXFR, MAILB, MAILA), OPT as a qtype, 0, unassigned and private ones. */
const ODD_TYPES = [0, 2, 5, 6, 12, 15, 16, 41, 64, 65, 250, 251, 252, 253, 254, 255, 256, 32768, 65280, 65535] as const;
/** IN, CHAOS, HESIOD, NONE, ANY and a few unassigned classes. */
const CLASSES = [1, 1, 1, 1, 3, 4, 254, 255, 0, 2, 65535] as const;
/** Requestor UDP sizes: tiny, just below and at the classic limit, common, huge. */
const UDP_SIZES = [0, 1, 100, 511, 512, 513, 1232, 1400, 4096, 65535] as const;

/** Encodes `name` as uncompressed labels (no escapes: the pool holds plain names). */
export function encodeName(name: string): Buffer {
  const parts = name === '' ? [] : name.split('.');
  const out = Buffer.alloc(parts.reduce((n, p) => n + p.length + 1, 1));
  let pos = 0;
  for (const p of parts) {
    out[pos++] = p.length;
    pos += out.write(p, pos, 'latin1');
  }
  return out;
}

/** An OPT record: root owner, UDP size, extended rcode 0, `version`, DO bit, `options` as RDATA. */
export function optRecord(udpSize: number, version = 0, dnssecOk = false, options: Buffer = Buffer.alloc(0)): Buffer {
  const out = Buffer.alloc(11 + options.length);
  out.writeUInt16BE(41, 1);
  out.writeUInt16BE(udpSize, 3);
  out[6] = version;
  out.writeUInt16BE(dnssecOk ? 0x8000 : 0, 7);
  out.writeUInt16BE(options.length, 9);
  options.copy(out, 11);
  return out;
}

/** A query: header (RD set), one question, an OPT of `udpSize` when given. */
export function buildQuery(id: number, name: string, type: number, klass = 1, udpSize?: number): Buffer {
  const q = encodeName(name);
  const opt = udpSize === undefined ? Buffer.alloc(0) : optRecord(udpSize);
  const out = Buffer.alloc(12 + q.length + 4 + opt.length);
  out.writeUInt16BE(id, 0);
  out.writeUInt16BE(0x0100, 2);
  out.writeUInt16BE(1, 4);
  out.writeUInt16BE(opt.length ? 1 : 0, 10);
  q.copy(out, 12);
  out.writeUInt16BE(type, 12 + q.length);
  out.writeUInt16BE(klass, 14 + q.length);
  opt.copy(out, 16 + q.length);
  return out;
}

/** The generator of inputs. */
export class Inputs {
  private readonly random: () => number;

  constructor(
    seed: number,
    private readonly names: readonly NameEntry[],
  ) {
    this.random = seededRandom(seed);
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.random() * n);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.random() < p;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)] as T;
  }

  private bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }

  /** The next input. */
  next(): Input {
    const roll = this.random();
    if (roll < 0.15) {
      // Mostly short, sometimes up to a large UDP datagram.
      const len = this.chance(0.8) ? this.int(64) : this.int(this.chance(0.9) ? 600 : 4000);
      return { bytes: this.bytes(len), kind: 'random' };
    }
    const base = this.validQuery();
    if (roll < 0.25) return { bytes: base, kind: 'valid' };
    let bytes = base;
    const kinds: string[] = [];
    for (let n = 1 + this.int(3), i = 0; i < n; i++) {
      const [kind, mutated] = this.mutate(bytes);
      kinds.push(kind);
      bytes = mutated;
    }
    return { bytes, kind: kinds.join('+') };
  }

  /** A well-formed query for a name of the pool (or a random subdomain of one), with EDNS half the time. */
  validQuery(): Buffer {
    const entry = this.pick(this.names);
    let name = entry.name;
    if (this.chance(0.1)) name = `x${this.int(1e6)}.${name}`;
    if (this.chance(0.2)) name = name.replace(/[a-z]/g, (c) => (this.chance(0.5) ? c.toUpperCase() : c));
    const type = this.chance(0.8) ? this.pick(entry.types) : this.pick(ODD_TYPES);
    const klass = this.chance(0.9) ? 1 : this.pick(CLASSES);
    return buildQuery(this.int(65536), name, type, klass, this.chance(0.5) ? this.pick(UDP_SIZES) : undefined);
  }

  /** One mutation of `b`: its name and the result (a new buffer). */
  private mutate(b: Buffer): [string, Buffer] {
    const at = (n: number) => this.int(Math.max(1, n));
    switch (this.int(16)) {
      case 0: {
        const out = Buffer.from(b);
        for (let n = 1 + this.int(8), i = 0; i < n && out.length > 0; i++) out[at(out.length)]! ^= 1 << this.int(8);
        return ['bitflip', out];
      }
      case 1: {
        const pos = at(b.length + 1);
        return ['insert', Buffer.concat([b.subarray(0, pos), this.bytes(1 + this.int(4)), b.subarray(pos)])];
      }
      case 2: {
        const pos = at(b.length);
        return ['delete', Buffer.concat([b.subarray(0, pos), b.subarray(pos + 1 + this.int(4))])];
      }
      case 3:
        return ['truncate', Buffer.from(b.subarray(0, at(b.length)))];
      case 4:
        return ['counts', this.setCounts(b)];
      case 5:
        return ['pointer', this.pointer(b)];
      case 6:
        return ['longname', this.longName(b)];
      case 7:
        return ['labeltype', this.labelType(b)];
      case 8:
        return ['edns', this.odd(b)];
      case 9: {
        const out = Buffer.from(b);
        if (out.length >= 4) out[2] = (out[2]! & 0x87) | (this.int(16) << 3);
        return ['opcode', out];
      }
      case 10: {
        const out = Buffer.from(b);
        if (out.length >= 4) out[2]! |= 0x80;
        return ['qr', out];
      }
      case 11:
        return ['questions', this.questions(b)];
      case 12: {
        // Random header flags (AA, TC, Z, AD, CD, rcode bits), opcode and QR kept.
        const out = Buffer.from(b);
        if (out.length >= 4) {
          out[2] = (out[2]! & 0xf8) | this.int(8);
          out[3] = this.int(256);
        }
        return ['flags', out];
      }
      case 13:
        return ['append', Buffer.concat([b, this.bytes(1 + this.int(this.chance(0.9) ? 40 : 1500))])];
      case 14: {
        const out = Buffer.from(b);
        const pos = at(out.length - 1);
        if (out.length >= 2) out.writeUInt16BE(this.pick([0, 1, 0x00ff, 0xff00, 0xffff, this.int(65536)]), pos);
        return ['word', out];
      }
      default: {
        const q = questionEnd(b);
        if (q < 0 || b.length < q + 4) return ['qtype', b];
        const out = Buffer.from(b);
        out.writeUInt16BE(this.chance(0.5) ? this.pick(ODD_TYPES) : this.int(65536), q);
        out.writeUInt16BE(this.pick(CLASSES), q + 2);
        return ['qtype', out];
      }
    }
  }

  /** Inflated or deflated section counts. */
  private setCounts(b: Buffer): Buffer {
    const out = Buffer.from(b);
    if (out.length < 12) return out;
    const values = [0, 1, 2, 3, 255, 256, 0x7fff, 0xffff];
    out.writeUInt16BE(this.chance(0.5) ? this.pick(values) : this.int(65536), 4 + 2 * this.int(4));
    return out;
  }

  /** A compression pointer in the question name or an extra record: to itself, a loop, forward, past the end, into the header. */
  private pointer(b: Buffer): Buffer {
    if (b.length < 13) return b;
    const end = questionEnd(b);
    const cut = end < 0 ? b.length : 12 + this.int(Math.max(1, end - 12 - 4));
    const head = Buffer.from(b.subarray(0, cut));
    const targets = [cut, cut - 2, cut + 2, cut + 100, 0x3fff, 12, 0, 6, this.int(0x4000)];
    const target = this.pick(targets) & 0x3fff;
    const ptr = Buffer.from([0xc0 | (target >> 8), target & 0xff]);
    if (this.chance(0.3)) {
      // Two labels that point at each other: 12 → cut, cut → 12.
      return Buffer.concat([head, Buffer.from([0xc0, 12]), Buffer.from([0, 1, 0, 1])]);
    }
    if (this.chance(0.5) || end < 0) return Buffer.concat([head, ptr, Buffer.from([0, 1, 0, 1]), b.subarray(end < 0 ? b.length : end)]);
    // Keep the question; add an additional record whose owner is the pointer.
    const out = Buffer.concat([b, ptr, Buffer.from([0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1])]);
    out.writeUInt16BE((out.readUInt16BE(10) + 1) & 0xffff, 10);
    return out;
  }

  /** A question name over 255 octets (labels of 63), or a label claiming more than 63 octets. */
  private longName(b: Buffer): Buffer {
    if (b.length < 12) return b;
    const end = questionEnd(b);
    const tail = end < 0 ? Buffer.from([0, 1, 0, 1]) : b.subarray(end);
    let name: Buffer;
    if (this.chance(0.5)) {
      const labels = 3 + this.int(3); // 4 × 64 = 256 octets with the root: one too many
      name = Buffer.concat([...Array.from({ length: labels }, () => Buffer.concat([Buffer.from([63]), Buffer.alloc(63, 0x61)])), Buffer.from([this.chance(0.5) ? 0 : 1, 0x61, 0])]);
    } else {
      const len = 64 + this.int(192 - 64); // 64..191: over 63 with type bits 01 or 10
      name = Buffer.concat([Buffer.from([len]), Buffer.alloc(Math.min(len, 20 + this.int(len)), 0x62), Buffer.from([0])]);
    }
    return Buffer.concat([b.subarray(0, 12), name, tail]);
  }

  /** The first label's type bits set to 01 (0x40, extended label) or 10 (0x80, reserved). */
  private labelType(b: Buffer): Buffer {
    const out = Buffer.from(b);
    if (out.length > 12) out[12] = (out[12]! & 0x3f) | (this.chance(0.5) ? 0x40 : 0x80);
    return out;
  }

  /** Odd EDNS: several OPTs, OPT in the answer section, unknown options, option lengths that lie, versions 1..255, DO, CD, odd sizes, a non-root owner. */
  private odd(b: Buffer): Buffer {
    if (b.length < 12) return b;
    const size = this.pick(UDP_SIZES);
    const options = (): Buffer => {
      const parts: Buffer[] = [];
      for (let n = this.int(4), i = 0; i < n; i++) {
        const data = this.bytes(this.int(12));
        const opt = Buffer.alloc(4);
        opt.writeUInt16BE(this.pick([3, 8, 10, 12, 15, 65001, this.int(65536)]), 0);
        const lie = this.chance(0.3) ? this.pick([-3, -1, 1, 7, 300]) : 0;
        opt.writeUInt16BE(Math.max(0, data.length + lie) & 0xffff, 2);
        parts.push(opt, data);
      }
      return Buffer.concat(parts);
    };
    const opt = () => {
      const o = optRecord(size, this.chance(0.4) ? 1 + this.int(255) : 0, this.chance(0.5), options());
      if (this.chance(0.15)) o.writeUInt16BE(o.length - 11 + this.pick([-2, 1, 50]) & 0xffff, 9); // rdlength that lies
      return o;
    };
    const variant = this.int(4);
    const out = Buffer.concat([b, opt(), variant === 0 ? opt() : Buffer.alloc(0)]);
    const ar = out.readUInt16BE(10);
    if (variant === 1) out.writeUInt16BE((out.readUInt16BE(6) + 1) & 0xffff, 6); // claimed as an answer
    else out.writeUInt16BE((ar + (variant === 0 ? 2 : 1)) & 0xffff, 10);
    if (variant === 2) out[b.length] = 1; // owner not the root: a (malformed) label of length 1
    if (this.chance(0.3)) out[3]! |= 0x10; // CD
    return out;
  }

  /** QDCOUNT 0, 2 or 65535, with a second question appended where there should be two. */
  private questions(b: Buffer): Buffer {
    if (b.length < 12) return b;
    const count = this.pick([0, 2, 2, 3, 65535]);
    const end = questionEnd(b);
    const q = end > 0 && end + 4 <= b.length ? end + 4 : -1;
    const out = count >= 2 && q > 0 ? Buffer.concat([b.subarray(0, q), b.subarray(12, q), b.subarray(q)]) : Buffer.from(b);
    out.writeUInt16BE(count, 4);
    return out;
  }
}

/** Offset of the question's type field when the first question name is uncompressed and complete, else -1. */
function questionEnd(b: Buffer): number {
  let pos = 12;
  while (pos < b.length) {
    const len = b[pos] as number;
    if (len === 0) return pos + 1;
    if (len > 63) return -1;
    pos += len + 1;
  }
  return -1;
}
