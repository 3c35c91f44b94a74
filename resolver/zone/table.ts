/**
 * A zone's record sets packed into two typed arrays: an open-addressing hash table
 * of owner names (`slots`, FNV-1a, linear probing, at most half full) pointing
 * into `data`, where each owner is followed by its record sets in a compact form
 * (not DNS wire format: text fields stay text).
 *
 * Why: a zone of 100 000 endpoints is some 400 000 small JavaScript objects as
 * Maps and records. Building them on the serving thread takes a few hundred
 * milliseconds and their garbage collection pauses it again; packed, the zone is
 * built on a worker thread, handed over as two transferred ArrayBuffers at no
 * cost, and takes a fifth of the memory. Records are unpacked on a template miss
 * only (`zone.ts` keeps the encoded answers).
 *
 * Layout of one owner at `offset` in `data` (integers big-endian):
 *   u8 name length, name (ASCII), u8 type count, then per type:
 *   u16 type, u32 record count, u32 byte length of the records, the records:
 *     A, AAAA, CNAME, PTR, NS: u8 length + text
 *     SRV: u16 priority, u16 weight, u16 port, u8 length + target
 *     TXT: u8 count, then u8 length + text each
 *     SOA: nothing — it is the zone's own, whose serial and minimum follow the
 *          generation and the TTL (`records.ts` soaRecord)
 */
import { RRType } from '../wire/constants.js';
import type { RData, ResourceRecord } from '../wire/records.js';
import type { ZoneNodes, ZoneRecords, ZoneStats } from './records.js';

/** The packed form of one {@link ZoneNodes}; plain data, so it can be posted to another thread. */
export interface PackedNodes {
  readonly slots: Uint32Array;
  readonly data: Uint8Array;
  readonly size: number;
}

/** A whole zone, packed: what `ClusterZone` is made of, and what a worker thread sends. */
export interface ZoneImage {
  readonly apex: string;
  readonly generation: number;
  /** The snapshot's `createdAt`, RFC 3339. */
  readonly createdAt: string;
  readonly ttl: number;
  readonly stats: ZoneStats;
  readonly nodes: PackedNodes;
  readonly reverse: PackedNodes;
  /** Owner and target of every CNAME (ExternalName services), looked up on each query. */
  readonly aliases: readonly (readonly [string, string])[];
  /** The namespaces of a filtered snapshot; undefined: the whole cluster. */
  readonly namespaces?: readonly string[];
}

/** Packs the records a `ZoneBuilder` made. */
export function packZone(records: ZoneRecords): ZoneImage {
  const aliases: [string, string][] = [];
  for (const [name, sets] of records.nodes) {
    const data = sets.get(RRType.CNAME)?.[0]?.data;
    if (data?.type === 'CNAME') aliases.push([name, data.target]);
  }
  const { apex, generation, createdAt, ttl, stats, namespaces } = records;
  return { apex, generation, createdAt, ttl, stats, nodes: packNodes(records.nodes), reverse: packNodes(records.reverse), aliases, ...(namespaces ? { namespaces } : {}) };
}

const PRINTABLE = /^[\x21-\x7e]*$/;

function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

class Writer {
  buf = Buffer.allocUnsafe(1 << 16);
  at = 0;

  private room(bytes: number): void {
    if (this.at + bytes <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.at + bytes) size *= 2;
    const bigger = Buffer.allocUnsafe(size);
    this.buf.copy(bigger, 0, 0, this.at);
    this.buf = bigger;
  }

  u8(value: number): void {
    this.room(1);
    this.buf[this.at++] = value;
  }

  u16(value: number): void {
    this.room(2);
    this.at = this.buf.writeUInt16BE(value, this.at);
  }

  u32(value: number): void {
    this.room(4);
    this.at = this.buf.writeUInt32BE(value, this.at);
  }

  /** A u8 length and the text; names, addresses and TXT strings are printable ASCII of at most 255 characters. */
  text(value: string): void {
    if (value.length > 255 || !PRINTABLE.test(value)) throw new Error(`cannot pack ${JSON.stringify(value.slice(0, 80))}: not printable ASCII of at most 255 characters`);
    this.room(1 + value.length);
    this.buf[this.at++] = value.length;
    this.at += this.buf.write(value, this.at, 'latin1');
  }
}

function writeData(w: Writer, data: RData): void {
  switch (data.type) {
    case 'A':
    case 'AAAA':
      return w.text(data.address);
    case 'CNAME':
    case 'PTR':
    case 'NS':
      return w.text(data.target);
    case 'SRV':
      w.u16(data.priority);
      w.u16(data.weight);
      w.u16(data.port);
      return w.text(data.target);
    case 'TXT':
      w.u8(data.texts.length);
      for (const text of data.texts) w.text(text);
      return;
    case 'SOA':
      return;
  }
}

/** Packs `nodes`. Throws for a name or text that is not printable ASCII (validated snapshots hold none). */
export function packNodes(nodes: ZoneNodes): PackedNodes {
  let capacity = 16;
  while (capacity < nodes.size * 2) capacity *= 2;
  const slots = new Uint32Array(capacity);
  const w = new Writer();
  w.u8(0); // offset 0 is never an owner: a slot of 0 is empty
  for (const [name, sets] of nodes) {
    let slot = hashName(name) & (capacity - 1);
    while (slots[slot] !== 0) slot = (slot + 1) & (capacity - 1);
    slots[slot] = w.at;
    w.text(name);
    w.u8(sets.size);
    for (const [type, records] of sets) {
      w.u16(type);
      w.u32(records.length);
      const lengthAt = w.at;
      w.u32(0);
      for (const record of records) writeData(w, record.data);
      w.buf.writeUInt32BE(w.at - lengthAt - 4, lengthAt);
    }
  }
  const data = new Uint8Array(w.at);
  data.set(w.buf.subarray(0, w.at));
  return { slots, data, size: nodes.size };
}

/** Read access to {@link PackedNodes}: lookups by owner name, records unpacked on demand. */
export class NodeTable {
  private readonly slots: Uint32Array;
  private readonly data: Buffer;
  private readonly mask: number;
  /** Owner names. */
  readonly size: number;

  constructor(packed: PackedNodes) {
    this.slots = packed.slots;
    this.data = Buffer.from(packed.data.buffer, packed.data.byteOffset, packed.data.byteLength);
    this.mask = packed.slots.length - 1;
    this.size = packed.size;
  }

  /** The offset of `name`'s entry, or -1 when the name does not exist. */
  find(name: string): number {
    const { slots, data } = this;
    for (let slot = hashName(name) & this.mask; ; slot = (slot + 1) & this.mask) {
      const at = slots[slot] as number;
      if (at === 0) return -1;
      if (data[at] !== name.length) continue;
      let i = 0;
      while (i < name.length && data[at + 1 + i] === name.charCodeAt(i)) i++;
      if (i === name.length) return at;
    }
  }

  /**
   * The records of `type` at the entry `at` (all types for ANY), owned by `name`
   * with `ttl`; an SOA is `soa` itself.
   */
  records(at: number, type: number, name: string, ttl: number, soa: ResourceRecord): ResourceRecord[] {
    const out: ResourceRecord[] = [];
    this.eachSet(at, (setType, count, start) => {
      if (type !== RRType.ANY && setType !== type) return false;
      let p = start;
      for (let i = 0; i < count; i++) {
        if (setType === RRType.SOA) {
          out.push(soa);
          continue;
        }
        const [data, next] = this.readData(setType, p);
        out.push({ name, ttl, data });
        p = next;
      }
      return type !== RRType.ANY;
    });
    return out;
  }

  /** The bytes of the entry at `at`: its name and every record set. Equal bytes, equal records. */
  entry(at: number): Buffer {
    const { data } = this;
    let p = at + 1 + (data[at] as number);
    const sets = data[p++] as number;
    for (let s = 0; s < sets; s++) p += 10 + data.readUInt32BE(p + 6);
    return data.subarray(at, p);
  }

  /** Calls `visit(type, count, offset of the records)` per record set until it returns true. */
  private eachSet(at: number, visit: (type: number, count: number, start: number) => boolean): void {
    const { data } = this;
    let p = at + 1 + (data[at] as number);
    const sets = data[p++] as number;
    for (let s = 0; s < sets; s++) {
      const type = data.readUInt16BE(p);
      const count = data.readUInt32BE(p + 2);
      const bytes = data.readUInt32BE(p + 6);
      if (visit(type, count, p + 10)) return;
      p += 10 + bytes;
    }
  }

  private text(at: number): [string, number] {
    const end = at + 1 + (this.data[at] as number);
    return [this.data.toString('latin1', at + 1, end), end];
  }

  private readData(type: number, at: number): [RData, number] {
    const { data } = this;
    switch (type) {
      case RRType.A:
      case RRType.AAAA: {
        const [address, next] = this.text(at);
        return [type === RRType.A ? { type: 'A', address } : { type: 'AAAA', address }, next];
      }
      case RRType.SRV: {
        const [target, next] = this.text(at + 6);
        return [{ type: 'SRV', priority: data.readUInt16BE(at), weight: data.readUInt16BE(at + 2), port: data.readUInt16BE(at + 4), target }, next];
      }
      case RRType.TXT: {
        const texts: string[] = [];
        let p = at + 1;
        for (let i = 0; i < (data[at] as number); i++) {
          const [text, next] = this.text(p);
          texts.push(text);
          p = next;
        }
        return [{ type: 'TXT', texts }, p];
      }
      default: {
        const [target, next] = this.text(at);
        const kind = type === RRType.CNAME ? 'CNAME' : type === RRType.PTR ? 'PTR' : 'NS';
        return [{ type: kind, target }, next];
      }
    }
  }
}
