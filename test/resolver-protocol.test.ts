/**
 * Protocol edge cases over real sockets: staged rejection of bad packets, EDNS
 * (echo, BADVERS, DO bit, unknown options), truncation by whole RRsets, TCP
 * framing (pipelining, split and coalesced segments, idle timeout),
 * case preservation, and the operations endpoint.
 */
import { createSocket } from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Resolver } from '../resolver/resolver.js';
import { RRType } from '../resolver/wire/constants.js';
import { decodeMessage, encodeQuery, recordText } from '../resolver/wire/decode.js';
import { buildSnapshot } from '../snapshot/build.js';
import { tcpExchange, udpQuery } from './helpers/dns.js';
import { framed } from '../bench/frames.js';
import { TcpClient } from './helpers/tcp.js';
import { startResolverRetrying, startUpstream } from './helpers/upstream.js';
import type { FakeUpstream } from './helpers/upstream.js';

const DEMO = 'demo/demo-snapshot.json';
const WEB = 'web.default.svc.cluster.local';

// --- raw message building --------------------------------------------------------

function header(id: number, flags: number, qd = 1, an = 0, ns = 0, ar = 0): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(flags, 2);
  h.writeUInt16BE(qd, 4);
  h.writeUInt16BE(an, 6);
  h.writeUInt16BE(ns, 8);
  h.writeUInt16BE(ar, 10);
  return h;
}

function qname(name: string): Buffer {
  const parts = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')]));
  return Buffer.concat([...parts, Buffer.from([0])]);
}

function question(name: string, type = RRType.A, klass = 1): Buffer {
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(type, 0);
  tail.writeUInt16BE(klass, 2);
  return Buffer.concat([qname(name), tail]);
}

/** An OPT record: payload size, version, DO, and raw option bytes. */
function opt(udpSize: number, options: Buffer = Buffer.alloc(0), version = 0, dnssecOk = false): Buffer {
  const rr = Buffer.alloc(11);
  rr.writeUInt16BE(RRType.OPT, 1);
  rr.writeUInt16BE(udpSize, 3);
  rr.writeUInt32BE(((version << 16) | (dnssecOk ? 0x8000 : 0)) >>> 0, 5);
  rr.writeUInt16BE(options.length, 9);
  return Buffer.concat([rr, options]);
}

const RD = 0x0100;

/** Header fields read from raw bytes (for replies that may carry no question). */
function rawHeader(reply: Buffer) {
  const flags = reply.readUInt16BE(2);
  return {
    id: reply.readUInt16BE(0),
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    tc: (flags & 0x0200) !== 0,
    rcode: flags & 0xf,
    qdcount: reply.readUInt16BE(4),
    ancount: reply.readUInt16BE(6),
    arcount: reply.readUInt16BE(10),
  };
}

// --- transports ----------------------------------------------------------------------

/**
 * Sends `messages` from one UDP socket, in order, and returns the first reply. A
 * packet that must be dropped goes first, followed by a valid query: if the first
 * reply answers the valid query, nothing was sent for the dropped one (UDP
 * messages from one socket are handled in order), without waiting for a timeout.
 */
function udpFirstReply(port: number, messages: readonly Buffer[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error('no UDP reply'));
    }, 2000);
    socket.on('message', (msg) => {
      clearTimeout(timer);
      socket.close();
      resolve(msg);
    });
    for (const m of messages) socket.send(m, port, '127.0.0.1');
  });
}

async function scrape(port: number, path = '/metrics'): Promise<{ status: number; type: string | null; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
}

// --- the resolver under test ------------------------------------------------------------

let upstream: FakeUpstream;
let demo: { resolver: Resolver; port: number; metricsPort: number };

beforeAll(async () => {
  // Nothing here should be forwarded; the fake upstream catches it if it is.
  upstream = await startUpstream({ kind: 'servfail' });
  demo = await startResolverRetrying({ 'snapshot-file': DEMO, 'allow-unsigned': true, upstream: [upstream.address], 'upstream-timeout': '200ms' });
});

afterAll(async () => {
  await demo.resolver.stop();
  await upstream.close();
});

describe('staged rejection of untrusted input', () => {
  const valid = encodeQuery(WEB, RRType.A, { id: 0xbeef });

  it.each([
    { what: 'shorter than a header', packet: Buffer.from([0xab, 0xcd, 0x01, 0x00, 0x00, 0x01]) },
    { what: 'an empty datagram', packet: Buffer.alloc(0) },
    { what: 'a response (QR=1)', packet: Buffer.concat([header(0xabcd, 0x8000 | RD), question(WEB)]) },
  ])('drops $what without a reply', async ({ packet }) => {
    const reply = rawHeader(await udpFirstReply(demo.port, [packet, valid]));
    expect(reply.id).toBe(0xbeef);
  });

  it('counts dropped packets by reason', async () => {
    const { body } = await scrape(demo.metricsPort);
    expect(body).toMatch(/holdfast_dns_dropped_total\{transport="udp",reason="short"\} [1-9]/);
    expect(body).toMatch(/holdfast_dns_dropped_total\{transport="udp",reason="response"\} [1-9]/);
  });

  it.each([
    { what: 'opcode 2 (STATUS)', packet: Buffer.concat([header(0x1111, (2 << 11) | RD), question(WEB)]), rcode: 4, opcode: 2 },
    { what: 'opcode 5 (UPDATE)', packet: Buffer.concat([header(0x1112, 5 << 11), question(WEB)]), rcode: 4, opcode: 5 },
    { what: 'qdcount 0', packet: header(0x2222, RD, 0), rcode: 1, opcode: 0 },
    { what: 'qdcount 2', packet: Buffer.concat([header(0x3333, RD, 2), question(WEB), question(WEB)]), rcode: 1, opcode: 0 },
    { what: 'a question cut inside a label', packet: Buffer.concat([header(0x4444, RD), qname(WEB).subarray(0, 7)]), rcode: 1, opcode: 0 },
    { what: 'a question without type and class', packet: Buffer.concat([header(0x4445, RD), qname(WEB)]), rcode: 1, opcode: 0 },
    { what: 'a question with half its class', packet: Buffer.concat([header(0x4446, RD), question(WEB).subarray(0, -1)]), rcode: 1, opcode: 0 },
    {
      what: 'a compression pointer in the question',
      packet: Buffer.concat([header(0x5555, RD), Buffer.from([3, 0x77, 0x65, 0x62, 0xc0, 0x0c, 0, 1, 0, 1])]),
      rcode: 1,
      opcode: 0,
    },
    { what: 'a label over 63 octets', packet: Buffer.concat([header(0x5556, RD), question(`${'x'.repeat(64)}.example`)]), rcode: 1, opcode: 0 },
    {
      what: 'a name over 255 octets',
      packet: Buffer.concat([header(0x5557, RD), question(Array.from({ length: 5 }, () => 'y'.repeat(60)).join('.'))]),
      rcode: 1,
      opcode: 0,
    },
    {
      what: 'two OPT records',
      packet: Buffer.concat([header(0x6666, RD, 1, 0, 0, 2), question(WEB), opt(1232), opt(1232)]),
      rcode: 1,
      opcode: 0,
    },
    {
      what: 'an additional record running past the end',
      packet: Buffer.concat([header(0x6667, RD, 1, 0, 0, 1), question(WEB), opt(1232).subarray(0, 8)]),
      rcode: 1,
      opcode: 0,
    },
  ])('answers $what with rcode $rcode and the same ID', async ({ packet, rcode, opcode }) => {
    const bytes = await udpFirstReply(demo.port, [packet]);
    const reply = rawHeader(bytes);
    expect(reply).toMatchObject({ id: packet.readUInt16BE(0), qr: true, rcode, opcode, ancount: 0 });
    // Over TCP too.
    const [tcp] = await tcpExchange(demo.port, [packet]);
    expect(rawHeader(tcp as Buffer)).toMatchObject({ id: packet.readUInt16BE(0), qr: true, rcode, opcode });
  });

  it('echoes the question in a FORMERR reply when it parsed, and OPT when the query had one', async () => {
    const packet = Buffer.concat([header(0x7777, RD, 1, 0, 0, 2), question(WEB), opt(1232), opt(1232)]);
    const reply = decodeMessage(await udpFirstReply(demo.port, [packet]));
    expect(reply.rcode).toBe(1);
    expect(reply.questions).toEqual([{ name: WEB, type: RRType.A, class: 1 }]);
  });

  it('answers NOTIMP to an unknown opcode even when the query has an OPT record', async () => {
    const packet = Buffer.concat([header(0x8888, 2 << 11, 1, 0, 0, 1), question(WEB), opt(1232)]);
    expect(rawHeader(await udpFirstReply(demo.port, [packet]))).toMatchObject({ id: 0x8888, rcode: 4, opcode: 2 });
  });

  it('includes OPT in a NOTIMP reply to a query that had one (RFC 6891 §6.1.1)', async () => {
    const packet = Buffer.concat([header(0x8889, 2 << 11, 1, 0, 0, 1), question(WEB), opt(1232)]);
    const reply = await udpFirstReply(demo.port, [packet]);
    expect(rawHeader(reply)).toMatchObject({ id: 0x8889, rcode: 4, arcount: 1 });
  });

  it('does not forward a rejected packet', () => {
    expect(upstream.count()).toBe(0);
  });
});

describe('EDNS (RFC 6891)', () => {
  it('echoes OPT advertising 1232 bytes when the query had one, and sends none when it had not', async () => {
    for (const size of [512, 1232, 4096, 65535]) {
      const reply = await udpQuery(demo.port, encodeQuery(WEB, RRType.A, { ednsUdpSize: size }));
      expect(reply.rcode).toBe(0);
      expect(reply.edns, `query size ${size}`).toEqual({ udpSize: 1232, version: 0, dnssecOk: false });
    }
    const plain = await udpQuery(demo.port, encodeQuery(WEB, RRType.A));
    expect(plain.edns).toBeUndefined();
    expect(rawHeader(plain.raw).arcount).toBe(0);
  });

  it.each([
    { what: 'NXDOMAIN', name: 'nope.default.svc.cluster.local', rcode: 3 },
    { what: 'NODATA', name: WEB, type: RRType.TXT, rcode: 0 },
  ])('echoes OPT on a $what reply', async ({ name, type, rcode }) => {
    const reply = await udpQuery(demo.port, encodeQuery(name, type ?? RRType.A, { ednsUdpSize: 1232 }));
    expect(reply.rcode).toBe(rcode);
    expect(reply.edns?.udpSize).toBe(1232);
    expect(reply.authority.map((r) => r.type)).toEqual([RRType.SOA]);
  });

  it('answers EDNS version 1 with BADVERS (16), OPT version 0, the same ID and no answers', async () => {
    const query = encodeQuery(WEB, RRType.A, { id: 0x0bad, ednsUdpSize: 1232, ednsVersion: 1 });
    const { raw, ...reply } = await udpQuery(demo.port, query);
    expect(reply.id).toBe(0x0bad);
    expect(reply.rcode).toBe(16);
    expect(reply.answers).toEqual([]);
    expect(reply.edns).toEqual({ udpSize: 1232, version: 0, dnssecOk: false });
    // The upper 8 bits of the rcode travel in the OPT TTL (1), the header carries the low 4 (0).
    expect(rawHeader(raw).rcode).toBe(0);
    expect(raw[raw.length - 11 + 5]).toBe(1);
  });

  it.each([true, false])('echoes the DO bit (%s)', async (dnssecOk) => {
    for (const name of [WEB, 'nope.default.svc.cluster.local']) {
      const reply = await udpQuery(demo.port, encodeQuery(name, RRType.A, { ednsUdpSize: 1232, dnssecOk }));
      expect(reply.edns?.dnssecOk, name).toBe(dnssecOk);
    }
  });

  it('ignores an unknown EDNS option and does not echo it', async () => {
    const option = Buffer.from([0xfd, 0xe9, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef]); // code 65001, 4 bytes
    const packet = Buffer.concat([header(0x0e0e, RD, 1, 0, 0, 1), question(WEB), opt(1232, option)]);
    const { raw, ...reply } = await udpQuery(demo.port, packet);
    expect(reply.id).toBe(0x0e0e);
    expect(reply.rcode).toBe(0);
    expect(reply.answers.map(recordText)).toEqual([`${WEB}. 5 IN A 10.96.10.10`]);
    expect(reply.edns?.udpSize).toBe(1232);
    expect(raw.readUInt16BE(raw.length - 2)).toBe(0); // our OPT has no options
  });
});

describe('truncation (RFC 2181 §9)', () => {
  const BIG = 'big.default.svc.cluster.local';
  const ENDPOINTS = 60;
  let dir: string;
  let big: { resolver: Resolver; port: number; metricsPort: number };

  beforeAll(async () => {
    const ips = Array.from({ length: ENDPOINTS }, (_, i) => `10.1.${Math.floor(i / 200)}.${(i % 200) + 1}`);
    const { snapshot, problems } = buildSnapshot(
      [
        { apiVersion: 'v1', kind: 'Service', metadata: { name: 'big', namespace: 'default' }, spec: { clusterIP: 'None', ports: [{ name: 'http', port: 80 }] } },
        {
          apiVersion: 'discovery.k8s.io/v1',
          kind: 'EndpointSlice',
          metadata: { name: 'big-x1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'big' } },
          addressType: 'IPv4',
          endpoints: ips.map((ip, i) => ({ addresses: [ip], hostname: `big-${i}`, conditions: { ready: true } })),
          ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
        },
      ],
      { clusterDomain: 'cluster.local', generation: 1, now: new Date() },
    );
    expect(problems).toEqual([]);
    dir = await mkdtemp(join(tmpdir(), 'holdfast-trunc-'));
    const file = join(dir, 'snapshot.json');
    await writeFile(file, JSON.stringify({ snapshot }));
    big = await startResolverRetrying({ 'snapshot-file': file, 'allow-unsigned': true, upstream: [upstream.address] });
  });

  afterAll(async () => {
    await big.resolver.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it.each([
    { type: RRType.A, edns: undefined, limit: 512 },
    { type: RRType.SRV, edns: undefined, limit: 512 },
    { type: RRType.SRV, edns: 1232, limit: 1232 },
    { type: RRType.SRV, edns: 4096, limit: 1232 },
  ])('type $type over UDP with EDNS size $edns: TC, whole RRsets only, counts matching; full over TCP', async ({ type, edns, limit }) => {
    const name = type === RRType.SRV ? `_http._tcp.${BIG}` : BIG;
    const query = encodeQuery(name, type, { id: 0x7c7c, ...(edns === undefined ? {} : { ednsUdpSize: edns }) });
    const [tcpBytes] = await tcpExchange(big.port, [query]);
    const full = decodeMessage(tcpBytes as Buffer);
    expect(full.tc).toBe(false);
    expect(full.answers).toHaveLength(ENDPOINTS);
    expect((tcpBytes as Buffer).length).toBeGreaterThan(limit); // otherwise this case tests nothing

    const udp = await udpQuery(big.port, query); // decoding checks the counts against the records present
    expect(udp.raw.length).toBeLessThanOrEqual(limit);
    expect(udp.id).toBe(0x7c7c);
    expect(udp.tc).toBe(true);
    expect(udp.rcode).toBe(0);
    expect(udp.questions).toEqual([{ name, type, class: 1 }]);
    expect([0, ENDPOINTS]).toContain(udp.answers.length);
    expect(rawHeader(udp.raw).ancount).toBe(udp.answers.length);
    expect(udp.edns === undefined).toBe(edns === undefined);
  });

  it('sends the whole A RRset over UDP when the EDNS buffer allows it', async () => {
    const reply = await udpQuery(big.port, encodeQuery(BIG, RRType.A, { ednsUdpSize: 1232 }));
    expect(reply.tc).toBe(false);
    expect(reply.answers).toHaveLength(ENDPOINTS);
  });
});

describe('TCP (RFC 7766)', () => {
  const names = ['web', 'kubernetes', 'db', 'search', 'nope', 'workers', 'web', 'db', 'kubernetes', 'nope'].map((n) => `${n}.default.svc.cluster.local`);

  it('answers 10 queries pipelined in one write, each with its own ID and question', async () => {
    const client = new TcpClient(demo.port);
    const queries = names.map((name, i) => encodeQuery(name, RRType.A, { id: 100 + i }));
    await client.write(Buffer.concat(queries.map(framed)));
    const replies = (await client.waitReplies(10)).map((r) => decodeMessage(r));
    client.destroy();
    const byId = new Map(replies.map((r) => [r.id, r]));
    expect([...byId.keys()].sort()).toEqual(names.map((_, i) => 100 + i));
    names.forEach((name, i) => expect(byId.get(100 + i)?.questions[0]?.name).toBe(name));
    expect(byId.get(104)?.rcode).toBe(3);
    expect(byId.get(100)?.answers.map(recordText)).toEqual([`${WEB}. 5 IN A 10.96.10.10`]);
  });

  it('answers two queries in one segment', async () => {
    const client = new TcpClient(demo.port);
    await client.write(Buffer.concat([framed(encodeQuery(WEB, RRType.A, { id: 1 })), framed(encodeQuery(WEB, RRType.AAAA, { id: 2 }))]));
    const replies = (await client.waitReplies(2)).map((r) => decodeMessage(r));
    client.destroy();
    expect(replies.map((r) => r.id).sort()).toEqual([1, 2]);
    expect(replies.find((r) => r.id === 2)?.answers.map(recordText)).toEqual([`${WEB}. 5 IN AAAA fd00:10:96::a`]);
  });

  it.each([
    { what: 'inside the length prefix', at: 1 },
    { what: 'right after the length prefix', at: 2 },
    { what: 'inside the question', at: 20 },
  ])('answers one query split across two writes $what', async ({ at }) => {
    const client = new TcpClient(demo.port);
    const bytes = framed(encodeQuery(WEB, RRType.A, { id: 0x5917 }));
    await client.write(bytes.subarray(0, at));
    await new Promise((resolve) => setTimeout(resolve, 20)); // a separate segment
    expect(client.replies).toHaveLength(0);
    await client.write(bytes.subarray(at));
    const [reply] = await client.waitReplies(1);
    client.destroy();
    expect(decodeMessage(reply as Buffer).id).toBe(0x5917);
  });

  it('keeps at most 64 queries of one TCP connection in flight, even when they arrive in one segment, and answers them all', async () => {
    const up = await startUpstream({ kind: 'silent' });
    const r = await startResolverRetrying({ upstream: [up.address], 'upstream-timeout': '500ms' });
    const client = new TcpClient(r.port);
    try {
      const queries = Array.from({ length: 200 }, (_, i) => framed(encodeQuery(`q${i}.example.org`, RRType.A, { id: i })));
      await client.write(Buffer.concat(queries));
      await up.waitForQueries(64);
      await new Promise((resolve) => setTimeout(resolve, 100)); // let any excess arrive
      expect(up.count()).toBe(64);
      // The first 64 end in SERVFAIL at the timeout; the rest, read from the buffer as slots free up, are answered.
      up.setBehaviour((q) => ({ kind: 'answer', records: [{ name: q.name, ttl: 60, data: { type: 'A', address: '192.0.2.9' } }] }));
      const replies = (await client.waitReplies(200, 5000)).map((b) => decodeMessage(b));
      expect(new Set(replies.map((m) => m.id)).size).toBe(200);
      expect(replies.filter((m) => m.rcode === 2)).toHaveLength(64);
      expect(replies.filter((m) => m.rcode === 0 && m.answers.length === 1)).toHaveLength(136);
      expect(up.count()).toBe(200);
    } finally {
      client.destroy();
      await r.resolver.stop();
      await up.close();
    }
  });

  it('closes an idle connection after tcp-idle-timeout', async () => {
    const r = await startResolverRetrying({ 'snapshot-file': DEMO, 'allow-unsigned': true, upstream: [upstream.address], 'tcp-idle-timeout': '200ms' });
    try {
      const client = new TcpClient(r.port);
      await client.write(framed(encodeQuery(WEB, RRType.A, { id: 3 })));
      await client.waitReplies(1);
      const elapsed = await client.closed;
      expect(elapsed).toBeGreaterThanOrEqual(180);
      expect(elapsed).toBeLessThan(2000);
    } finally {
      await r.resolver.stop();
    }
  });
  // The connection cap (eviction of the longest-waiting connection, refusal when all are busy): tcp-abuse.test.ts.
});

describe('queries', () => {
  it('preserves the case of the question in the question and the answer owner (RFC 4343 §4)', async () => {
    const name = 'WeB.DeFaUlT.svc.CLUSTER.local';
    for (const type of [RRType.A, RRType.A, RRType.AAAA]) {
      // Twice for A: the first answer is encoded, the second comes from the template.
      const reply = await udpQuery(demo.port, encodeQuery(name, type, { id: 0xcafe }));
      expect(reply.questions[0]?.name).toBe(name);
      expect(reply.answers.length).toBe(1);
      expect(reply.answers[0]?.name).toBe(name);
      expect(decodeMessage(reply.raw).rcode).toBe(0);
    }
    const nx = await udpQuery(demo.port, encodeQuery('NoPe.DeFaUlT.svc.CLUSTER.local', RRType.A));
    expect(nx.rcode).toBe(3);
    expect(nx.questions[0]?.name).toBe('NoPe.DeFaUlT.svc.CLUSTER.local');
  });

  it('echoes the question verbatim, class included, in a positive answer (RFC 1035 §4.1.2)', async () => {
    for (const klass of [255, 1, 255]) {
      const query = encodeQuery(WEB, RRType.A, { class: klass });
      const reply = await udpQuery(demo.port, query);
      expect(reply.answers).toHaveLength(1);
      expect(reply.raw.subarray(12, query.length).equals(query.subarray(12)), `class ${klass}`).toBe(true);
    }
  });

  it('answers a cluster-zone query with RD=0, echoing RD=0, authoritatively', async () => {
    const reply = await udpQuery(demo.port, encodeQuery(WEB, RRType.A, { id: 0x00d0, recursionDesired: false }));
    expect(reply).toMatchObject({ id: 0x00d0, qr: true, rd: false, aa: true, rcode: 0 });
    expect(reply.answers.map(recordText)).toEqual([`${WEB}. 5 IN A 10.96.10.10`]);
    const withRd = await udpQuery(demo.port, encodeQuery(WEB, RRType.A, { id: 0x00d1 }));
    expect(withRd.rd).toBe(true);
  });
});

describe('operations endpoint', () => {
  it('counts requests by transport, qtype and rcode in /metrics', async () => {
    const r = await startResolverRetrying({ 'snapshot-file': DEMO, 'allow-unsigned': true, upstream: [upstream.address] });
    try {
      await udpQuery(r.port, encodeQuery(WEB, RRType.A));
      await udpQuery(r.port, encodeQuery(WEB, RRType.A));
      await udpQuery(r.port, encodeQuery('nope.default.svc.cluster.local', RRType.AAAA));
      await tcpExchange(r.port, [encodeQuery(WEB, RRType.SRV)]);
      await udpFirstReply(r.port, [header(1, RD, 0)]);
      const { status, type, body } = await scrape(r.metricsPort);
      expect(status).toBe(200);
      expect(type).toMatch(/^text\/plain/);
      expect(body).toContain('holdfast_dns_requests_total{transport="udp",qtype="A",rcode="NOERROR"} 2');
      expect(body).toContain('holdfast_dns_requests_total{transport="udp",qtype="AAAA",rcode="NXDOMAIN"} 1');
      expect(body).toContain('holdfast_dns_requests_total{transport="tcp",qtype="SRV",rcode="NOERROR"} 1');
      expect(body).toContain('holdfast_dns_requests_total{transport="udp",qtype="other",rcode="FORMERR"} 1');
      expect(body).toMatch(/^holdfast_snapshot_generation 1$/m);
      expect(body).toMatch(/^holdfast_ready 1$/m);
    } finally {
      await r.resolver.stop();
    }
  });

  it('answers /healthz and /readyz', async () => {
    const health = await scrape(demo.metricsPort, '/healthz');
    expect(health.status).toBe(200);
    const ready = await scrape(demo.metricsPort, '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.type).toBe('application/json');
    expect(JSON.parse(ready.body)).toEqual({ ready: true, snapshotGeneration: 1 });
    expect((await scrape(demo.metricsPort, '/nothing')).status).toBe(404);
  });
});
