/**
 * The fuzz run's upstream: UDP and TCP on one 127.0.0.1 port, answering every
 * forwarded name with something picked at random (seeded), so the replies the
 * resolver relays vary too: a few or very many records (truncated over UDP, full
 * over TCP), CNAME chains with pointers into RDATA, the query's own type with
 * opaque RDATA, NXDOMAIN and NODATA with an SOA, SERVFAIL, REFUSED, silence, and
 * now and then a malformed reply (cut short, trailing bytes, wrong ID, a forward
 * pointer in RDATA) that the resolver must not pass on.
 */
import { createSocket } from 'node:dgram';
import type { Socket as UdpSocket } from 'node:dgram';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { framed, onFrames } from '../frames.js';
import { seededRandom } from '../prng.js';
import { freePort } from '../stampede/children.js';
import { encodeName, optRecord } from './inputs.js';
import { inspectInput } from './check.js';

/** A running fuzz upstream. */
export interface FuzzUpstream {
  readonly port: number;
  /** Queries answered, by kind of answer. */
  readonly answers: Record<string, number>;
  close(): Promise<void>;
}

/** A record whose owner is the question name (a pointer to offset 12). */
function rr(type: number, ttl: number, rdata: Buffer, owner: Buffer = Buffer.from([0xc0, 12])): Buffer {
  const out = Buffer.alloc(owner.length + 10 + rdata.length);
  owner.copy(out);
  out.writeUInt16BE(type, owner.length);
  out.writeUInt16BE(1, owner.length + 2);
  out.writeUInt32BE(ttl, owner.length + 4);
  out.writeUInt16BE(rdata.length, owner.length + 8);
  rdata.copy(out, owner.length + 10);
  return out;
}

const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
const SOA_RDATA = Buffer.concat([encodeName('ns.example'), encodeName('hostmaster.example'), Buffer.from([0, 0, 0, 1, 0, 0, 0x0e, 0x10, 0, 0, 0x07, 0x08, 0, 0x09, 0x3a, 0x80, 0, 0, 0, 30])]);

/** Starts the fuzz upstream on 127.0.0.1 (UDP and TCP on the same free port). */
export async function startFuzzUpstream(seed: number): Promise<FuzzUpstream> {
  const random = seededRandom(seed);
  const int = (n: number) => Math.floor(random() * n);
  const answers: Record<string, number> = {};

  /** The reply messages for `query` (none: silence). */
  function respond(query: Buffer, transport: 'udp' | 'tcp'): Buffer[] {
    const facts = inspectInput(query);
    if (facts.dropped || !facts.question) return [];
    const question = facts.question;
    const qtype = question.readUInt16BE(question.length - 4);
    const roll = random();
    let kind: string;
    let rcode = 0;
    const an: Buffer[] = [];
    const ns: Buffer[] = [];
    const ttl = 1 + int(3600);
    const dataOf = (type: number): Buffer => {
      switch (type) {
        case 28:
          return Buffer.from([0x20, 0x01, 0x0d, 0xb8, ...Array.from({ length: 12 }, () => int(256))]);
        case 6:
          return SOA_RDATA;
        case 5:
        case 12:
        case 2:
        case 39:
          return Buffer.concat([Buffer.from([1, 0x61 + int(26)]), Buffer.from([0xc0, 12])]);
        case 15:
          return Buffer.concat([u16(10), Buffer.from([2, 0x6d, 0x78, 0xc0, 12])]);
        case 16:
          return Buffer.concat(Array.from({ length: 1 + int(4) }, () => Buffer.concat([Buffer.from([5]), Buffer.from('hello')])));
        case 33:
          return Buffer.concat([u16(0), u16(5), u16(443), Buffer.from([0xc0, 12])]);
        case 1:
          return Buffer.from([192, 0, 2, int(256)]);
        default:
          // Opaque RDATA (RFC 3597), and OPT records in the answer section when OPT was asked for.
          return Buffer.from(Array.from({ length: int(40) }, () => int(256)));
      }
    };
    if (roll < 0.55) {
      kind = 'answer';
      for (let n = 1 + int(3), i = 0; i < n; i++) an.push(rr(qtype, ttl, dataOf(qtype)));
    } else if (roll < 0.63) {
      kind = 'many';
      for (let n = 40 + int(110), i = 0; i < n; i++) an.push(rr(1, ttl, Buffer.from([198, 51, 100, i & 0xff])));
    } else if (roll < 0.7) {
      kind = 'cname';
      // The target's A record points at the CNAME's RDATA: offset 12 + question + 12 (owner pointer and fixed fields).
      const target = encodeName(`t${int(1000)}.example.net`);
      an.push(rr(5, ttl, target), rr(1, ttl, Buffer.from([192, 0, 2, 7]), u16(0xc000 | (12 + question.length + 12))));
    } else if (roll < 0.8) {
      kind = 'nxdomain';
      rcode = 3;
      ns.push(rr(6, 60, SOA_RDATA, Buffer.from([7, ...Buffer.from('example'), 0])));
    } else if (roll < 0.85) {
      kind = 'nodata';
      ns.push(rr(6, 60, SOA_RDATA, Buffer.from([7, ...Buffer.from('example'), 0])));
    } else if (roll < 0.88) {
      kind = 'servfail';
      rcode = 2;
    } else if (roll < 0.9) {
      kind = 'refused';
      rcode = 5;
    } else if (roll < 0.905) {
      answers['silent'] = (answers['silent'] ?? 0) + 1;
      return [];
    } else if (roll < 0.93) {
      kind = 'bad';
    } else {
      kind = 'ttl0';
      an.push(rr(qtype, int(2) === 0 ? 0 : 0x80000000 + int(1000), dataOf(qtype)));
    }
    answers[kind] = (answers[kind] ?? 0) + 1;
    const header = Buffer.alloc(12);
    header.writeUInt16BE(facts.id, 0);
    header.writeUInt16BE(0x8000 | (query.readUInt16BE(2) & 0x0100) | 0x0080 | rcode, 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(an.length, 6);
    header.writeUInt16BE(ns.length, 8);
    const opt = facts.edns === 'one' ? optRecord(4096) : Buffer.alloc(0);
    header.writeUInt16BE(opt.length ? 1 : 0, 10);
    let reply = Buffer.concat([header, question, ...an, ...ns, opt]);
    if (kind === 'bad') return [malformed(reply, question.length)];
    const limit = facts.edns === 'one' ? Math.max(512, facts.ednsSize) : 512;
    if (transport === 'udp' && reply.length > limit) {
      reply = Buffer.concat([header, question, opt]);
      reply.writeUInt16BE(reply.readUInt16BE(2) | 0x0200, 2);
      reply.writeUInt16BE(0, 6);
      reply.writeUInt16BE(0, 8);
    }
    return [reply];
  }

  /** A broken version of a good reply. */
  function malformed(reply: Buffer, qlen: number): Buffer {
    switch (int(5)) {
      case 0:
        return reply.subarray(0, 12 + qlen + int(Math.max(1, reply.length - 12 - qlen)));
      case 1:
        return Buffer.concat([reply, Buffer.from([1, 2, 3])]);
      case 2: {
        const out = Buffer.from(reply);
        out.writeUInt16BE(out.readUInt16BE(0) ^ 0x5555, 0);
        return out;
      }
      case 3: {
        // A CNAME whose RDATA is a pointer forward (past itself).
        const out = Buffer.concat([reply.subarray(0, 12 + qlen), rr(5, 60, u16(0xc000 | (12 + qlen + 14)))]);
        out.writeUInt16BE(1, 6);
        out.fill(0, 8, 12);
        return out;
      }
      default: {
        // A CNAME whose RDATA points at itself.
        const out = Buffer.concat([reply.subarray(0, 12 + qlen), rr(5, 60, u16(0xc000 | (12 + qlen + 12)))]);
        out.writeUInt16BE(1, 6);
        out.fill(0, 8, 12);
        return out;
      }
    }
  }

  const onTcp = (socket: Socket) => {
    socket.on('error', () => socket.destroy());
    onFrames(socket, (msg) => {
      for (const reply of respond(msg, 'tcp')) if (!socket.destroyed) socket.write(framed(reply));
    });
  };
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    onTcp(s);
  });
  // A port free for both now; bind both (another process may take it between: then again).
  let udpSocket: UdpSocket | undefined;
  for (let attempt = 1; udpSocket === undefined; attempt++) {
    const port = await freePort();
    const socket = createSocket('udp4');
    const bound = (bind: (done: () => void) => void, emitter: UdpSocket | Server) =>
      new Promise<boolean>((resolve) => {
        emitter.once('error', () => resolve(false));
        bind(() => resolve(true));
      });
    if ((await bound((done) => socket.bind(port, '127.0.0.1', done), socket)) && (await bound((done) => server.listen(port, '127.0.0.1', done), server))) udpSocket = socket;
    else if (attempt >= 10) throw new Error('fuzz upstream: no port free for both UDP and TCP');
    else socket.close();
  }
  const udp = udpSocket;
  udp.on('message', (msg, rinfo) => {
    for (const reply of respond(msg, 'udp')) udp.send(reply, rinfo.port, rinfo.address);
  });
  return {
    port: udp.address().port,
    answers,
    close: async () => {
      for (const s of sockets) s.destroy();
      await Promise.all([new Promise<void>((resolve) => server.close(() => resolve())), new Promise<void>((resolve) => udp.close(() => resolve()))]);
    },
  };
}
