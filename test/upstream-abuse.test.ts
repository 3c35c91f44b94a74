/**
 * Hostile upstream replies, over real sockets to fake upstreams on 127.0.0.1:
 * records outside the question's bailiwick scrubbed (never relayed, never
 * cached, never answering another name), malformed replies, unexpected rcodes
 * and opcodes, QR=0, oversized UDP replies, TC with junk, lying TCP frames,
 * spoofed sources, and late, duplicate and crossed replies — each refused,
 * counted, and never cached.
 */
import { createSocket } from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { CacheHandler } from '../resolver/cache/handler.js';
import { ManualClock } from '../resolver/clock.js';
import { loadConfig } from '../resolver/config.js';
import type { Forwarder, UpstreamOutcome } from '../resolver/forward/forwarder.js';
import type { ResolverMetrics } from '../resolver/metrics.js';
import { Rcode, RRType } from '../resolver/wire/constants.js';
import { decodeMessage, encodeQuery, recordText } from '../resolver/wire/decode.js';
import type { DecodedMessage } from '../resolver/wire/decode.js';
import { parseQuery } from '../resolver/wire/query.js';
import type { Query } from '../resolver/wire/query.js';
import type { ResourceRecord } from '../resolver/wire/records.js';
import { walkMessage } from '../resolver/wire/walk.js';
import { cleanupAfterEach } from './helpers/cleanup.js';
import { quietLogger, udpQuery } from './helpers/dns.js';
import { a, buildReply, manyA, startResolverRetrying } from './helpers/upstream.js';
import type { Behaviour, FakeUpstream } from './helpers/upstream.js';
import { eventually, metricValue, query } from './upstream-helpers.js';

const { defer, upstream, forwarder } = cleanupAfterEach();

const NAME = 'www.example.com';
const GOOD = [a(NAME, '192.0.2.80', 120)];
const texts = (records: DecodedMessage['answers']) => records.map(recordText);
const aaaa = (name: string, address: string, ttl = 60): ResourceRecord => ({ name, ttl, data: { type: 'AAAA', address } });
const cname = (name: string, target: string, ttl = 60): ResourceRecord => ({ name, ttl, data: { type: 'CNAME', target } });
const ns = (name: string, target: string, ttl = 60): ResourceRecord => ({ name, ttl, data: { type: 'NS', target } });
const srv = (name: string, target: string, ttl = 60): ResourceRecord => ({ name, ttl, data: { type: 'SRV', priority: 0, weight: 0, port: 80, target } });
const soa = (zone: string, ttl = 60): ResourceRecord => ({
  name: zone,
  ttl,
  data: { type: 'SOA', mname: `ns.${zone}`, rname: `hostmaster.${zone}`, serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: 60 },
});

/** A query with EDNS (so replies carry an OPT). */
function ednsQuery(name: string, type: number = RRType.A): Query {
  const parsed = parseQuery(encodeQuery(name, type, { ednsUdpSize: 1232 }));
  if (parsed.kind !== 'query') throw new Error('bad query');
  return parsed.query;
}

/** `reply` with the type of its `index`-th record (0-based, all sections) set to `type`. */
function retype(reply: Buffer, index: number, type: number): Buffer {
  const span = walkMessage(reply)?.records[index];
  if (!span) throw new Error(`no record ${index}`);
  reply.writeUInt16BE(type, span.ttlOffset - 4);
  return reply;
}

/** The sections of an ok outcome as zone text. */
function sections(outcome: UpstreamOutcome): { rcode: number; answer: string[]; authority: string[]; additional: string[] } {
  if (!outcome.ok) throw new Error(`exchange failed: ${outcome.reason}`);
  const m = decodeMessage(outcome.reply);
  return { rcode: m.rcode, answer: texts(m.answers), authority: texts(m.authority), additional: texts(m.additional) };
}

async function errors(metrics: ResolverMetrics, up: FakeUpstream, reason: string): Promise<number> {
  return metricValue(metrics, 'holdfast_upstream_errors_total', { upstream: up.address, reason });
}

async function scrubbed(metrics: ResolverMetrics, up: FakeUpstream): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const section of ['answer', 'authority', 'additional']) {
    out[section] = await metricValue(metrics, 'holdfast_upstream_scrubbed_records_total', { upstream: up.address, section });
  }
  return out;
}

/** A resolver (cache and all) forwarding to `up`. */
async function resolverWith(up: FakeUpstream) {
  const started = await startResolverRetrying({ upstream: [up.address], 'upstream-timeout': '300ms' });
  defer(() => started.resolver.stop());
  const metrics = async () => (await fetch(`http://127.0.0.1:${started.metricsPort}/metrics`)).text();
  return { ask: (name: string) => udpQuery(started.port, encodeQuery(name, RRType.A)), metrics };
}

/** The forwarding cache over `f` in-process (to choose the forwarder's socket tuning), with a fake clock. */
function cacheOver(f: Forwarder, metrics: ResolverMetrics) {
  const config = loadConfig({ flags: { upstream: ['127.0.0.1:9'], 'servfail-ttl': '0s' }, env: {} }).cache;
  const cache = new CacheHandler({ config, clock: new ManualClock(), route: () => f }, metrics, quietLogger());
  return async (name: string) => decodeMessage(await cache.serve(query(name)));
}

describe('no cache poisoning across names', () => {
  it('a reply for a.example. carrying b.example. A 6.6.6.6: the stray record is scrubbed, and b.example. gets the upstream answer for b', async () => {
    const up = await upstream((q) =>
      q.name === 'a.example'
        ? { kind: 'answer', records: [a('a.example', '192.0.2.1', 300), a('b.example', '6.6.6.6', 300)] }
        : { kind: 'answer', records: [a(q.name, '192.0.2.2', 300)] },
    );
    const { ask, metrics } = await resolverWith(up);
    expect(texts((await ask('a.example')).answers)).toEqual(['a.example. 300 IN A 192.0.2.1']);
    expect(texts((await ask('a.example')).answers)).toEqual(['a.example. 300 IN A 192.0.2.1']); // from the cache: still scrubbed
    expect(texts((await ask('b.example')).answers)).toEqual(['b.example. 300 IN A 192.0.2.2']);
    expect(texts((await ask('b.example')).answers)).toEqual(['b.example. 300 IN A 192.0.2.2']);
    expect(up.queries.map((q) => q.name)).toEqual(['a.example', 'b.example']);
    expect(await metrics()).toContain(`holdfast_upstream_scrubbed_records_total{upstream="${up.address}",section="answer"} 1`);
  });

  it('a reply for a.example. with nothing but b.example. A 6.6.6.6 is refused (SERVFAIL), and b.example. is still asked upstream', async () => {
    const up = await upstream((q) => ({ kind: 'answer', records: q.name === 'a.example' ? [a('b.example', '6.6.6.6', 300)] : [a(q.name, '192.0.2.2', 300)] }));
    const { ask, metrics } = await resolverWith(up);
    const first = await ask('a.example');
    expect(first.rcode).toBe(Rcode.SERVFAIL);
    expect(first.answers).toEqual([]);
    expect(texts((await ask('b.example')).answers)).toEqual(['b.example. 300 IN A 192.0.2.2']);
    expect(up.queries.map((q) => q.name)).toEqual(['a.example', 'b.example']);
    expect(await metrics()).toContain(`holdfast_upstream_errors_total{upstream="${up.address}",reason="bailiwick"} 1`);
  });

  it('poison in the authority and additional sections is not passed on either', async () => {
    const up = await upstream((q) => ({
      kind: 'custom',
      replies: (query) => [
        buildReply(query, [a(q.name, '192.0.2.1', 300)], { authority: [ns('evil.org', 'ns.evil.org')], additional: [a('ns.evil.org', '6.6.6.6'), a('b.example', '6.6.6.6')] }),
      ],
    }));
    const { ask } = await resolverWith(up);
    const reply = await ask('a.example');
    expect(texts(reply.answers)).toEqual(['a.example. 300 IN A 192.0.2.1']);
    expect(reply.authority).toEqual([]);
    expect(reply.additional).toEqual([]);
  });
});

interface ScrubCase {
  readonly what: string;
  readonly name: string;
  readonly type?: number;
  readonly reply: (q: Query) => Buffer;
  readonly expected: { readonly answer: string[]; readonly authority?: string[]; readonly additional?: string[] };
  readonly removed: { readonly answer?: number; readonly authority?: number; readonly additional?: number };
}

const NX = Rcode.NXDOMAIN;
/** 201 octets below dept.example.com. */
const LONG = `${'x'.repeat(60)}.${'y'.repeat(60)}.${'z'.repeat(60)}.dept.example.com`;
const scrubCases: ScrubCase[] = [
  {
    what: 'answer: a record for another name',
    name: NAME,
    reply: (q) => buildReply(q, [a(NAME, '192.0.2.1'), a('other.example.com', '6.6.6.6')]),
    expected: { answer: [`${NAME}. 60 IN A 192.0.2.1`] },
    removed: { answer: 1 },
  },
  {
    what: 'answer: a record of another type at the question name',
    name: NAME,
    reply: (q) => buildReply(q, [a(NAME, '192.0.2.1'), aaaa(NAME, '2001:db8::6')]),
    expected: { answer: [`${NAME}. 60 IN A 192.0.2.1`] },
    removed: { answer: 1 },
  },
  {
    what: 'answer: the CNAME chain and its target kept; off-chain names, other types and a second CNAME removed',
    name: NAME,
    reply: (q) =>
      buildReply(q, [
        cname(NAME, 'web.cdn.example.net'),
        cname(NAME, 'evil.example.org'),
        a('web.cdn.example.net', '192.0.2.7'),
        aaaa('web.cdn.example.net', '2001:db8::7'),
        a('evil.example.org', '6.6.6.6'),
      ]),
    expected: { answer: [`${NAME}. 60 IN CNAME web.cdn.example.net.`, 'web.cdn.example.net. 60 IN A 192.0.2.7'] },
    removed: { answer: 3 },
  },
  {
    what: 'answer: a DNAME that applies kept with its CNAME and target (RFC 6672); one that does not, removed',
    name: 'x.dept.example.com',
    // Records 0 and 1 are written as CNAMEs and turned into DNAMEs (same RDATA: one name).
    reply: (q) =>
      retype(
        retype(
          buildReply(q, [
            cname('dept.example.com', 'dept.example.net'),
            cname('example.org', 'evil.example'),
            cname('x.dept.example.com', 'x.dept.example.net'),
            a('x.dept.example.net', '192.0.2.8'),
            a('y.dept.example.net', '6.6.6.6'),
          ]),
          0,
          39,
        ),
        1,
        39,
      ),
    expected: { answer: ['dept.example.com. 60 IN TYPE39', 'x.dept.example.com. 60 IN CNAME x.dept.example.net.', 'x.dept.example.net. 60 IN A 192.0.2.8'] },
    removed: { answer: 2 },
  },
  {
    what: 'answer: a DNAME whose substitution would be over 255 octets stays as the answer of a YXDOMAIN (RFC 6672 §2.2)',
    name: LONG,
    reply: (q) => retype(buildReply(q, [cname('dept.example.com', `${'w'.repeat(60)}.example.net`), a('b.example.com', '6.6.6.6')], { rcode: 6 }), 0, 39),
    expected: { answer: ['dept.example.com. 60 IN TYPE39'] },
    removed: { answer: 1 },
  },
  {
    what: 'authority: the SOA of the name’s zone in a negative answer kept',
    name: 'nx.example.com',
    reply: (q) => buildReply(q, [], { rcode: NX, authority: [soa('example.com')] }),
    expected: { answer: [], authority: ['example.com. 60 IN SOA ns.example.com. hostmaster.example.com. 1 3600 600 86400 60'] },
    removed: {},
  },
  {
    what: 'authority: an SOA of another zone in a negative answer removed (then the answer is not cacheable)',
    name: 'nx.example.com',
    reply: (q) => buildReply(q, [], { rcode: NX, authority: [soa('evil.org', 86400)] }),
    expected: { answer: [], authority: [] },
    removed: { authority: 1 },
  },
  {
    what: 'authority: NS for the zone and its glue kept; NS for another zone, its glue, addresses in authority and stray additional records removed',
    name: NAME,
    reply: (q) =>
      buildReply(q, [a(NAME, '192.0.2.1')], {
        authority: [ns('example.com', 'ns1.example.com'), ns('evil.org', 'ns.evil.org'), a(NAME, '6.6.6.6')],
        additional: [a('ns1.example.com', '192.0.2.53'), a('ns.evil.org', '6.6.6.6'), a('b.example.com', '6.6.6.6')],
      }),
    expected: { answer: [`${NAME}. 60 IN A 192.0.2.1`], authority: ['example.com. 60 IN NS ns1.example.com.'], additional: ['ns1.example.com. 60 IN A 192.0.2.53'] },
    removed: { authority: 2, additional: 2 },
  },
  {
    what: 'authority: an NS set in a negative answer removed',
    name: 'nx.example.com',
    reply: (q) => buildReply(q, [], { rcode: NX, authority: [soa('example.com'), ns('example.com', 'ns1.example.com')] }),
    expected: { answer: [], authority: ['example.com. 60 IN SOA ns.example.com. hostmaster.example.com. 1 3600 600 86400 60'] },
    removed: { authority: 1 },
  },
  {
    what: 'additional: the address of an SRV target kept, another name’s removed',
    name: '_http._tcp.web.example.com',
    type: RRType.SRV,
    reply: (q) => buildReply(q, [srv('_http._tcp.web.example.com', 'pod1.example.com')], { additional: [a('pod1.example.com', '192.0.2.9'), a('pod2.example.com', '6.6.6.6')] }),
    expected: { answer: ['_http._tcp.web.example.com. 60 IN SRV 0 0 80 pod1.example.com.'], additional: ['pod1.example.com. 60 IN A 192.0.2.9'] },
    removed: { additional: 1 },
  },
];

describe('bailiwick: the scrubber', () => {
  it.each(scrubCases)('$what', async ({ name, type, reply, expected, removed }) => {
    const up = await upstream({ kind: 'custom', replies: (q) => [reply(q)] });
    const { forwarder: f, metrics } = forwarder([up]);
    const got = sections(await f.exchange(query(name, type ?? RRType.A)));
    expect(got.answer).toEqual(expected.answer);
    expect(got.authority).toEqual(expected.authority ?? []);
    expect(got.additional).toEqual(expected.additional ?? []);
    expect(await scrubbed(metrics, up)).toEqual({ answer: removed.answer ?? 0, authority: removed.authority ?? 0, additional: removed.additional ?? 0 });
  });

  it('passes a clean reply on byte for byte', async () => {
    let sent: Buffer | undefined;
    const up = await upstream({
      kind: 'custom',
      replies: (q) => [(sent = buildReply(q, [cname(NAME, 'web.example.net'), a('web.example.net', '192.0.2.1')], { authority: [ns('example.net', 'ns.example.net')], additional: [a('ns.example.net', '192.0.2.53')] }))],
    });
    const { forwarder: f } = forwarder([up]);
    const outcome = await f.exchange(query(NAME, RRType.A, 0x4321));
    expect(outcome.ok && outcome.reply.subarray(2)).toEqual(sent?.subarray(2));
  });
});

/** `reply` with `patch` applied. */
const patched = (patch: (reply: Buffer, q: Query) => Buffer) => (q: Query) => patch(buildReply(q, [a(q.name, '6.6.6.6')]), q);

const refusedCases: { what: string; edns?: boolean; reply: (q: Query) => Buffer; reasons: Record<string, number> }[] = [
  { what: 'counts that promise a record that is not there', reply: patched((r) => (r.writeUInt16BE(2, 6), r)), reasons: { malformed: 1 } },
  { what: 'trailing garbage', reply: patched((r) => Buffer.concat([r, Buffer.from([0xde, 0xad, 0xbe, 0xef])])), reasons: { malformed: 1 } },
  {
    what: 'a compression loop in an owner name',
    reply: patched((r) => {
      const start = walkMessage(r)?.records[0]?.start ?? 0;
      r.writeUInt16BE(0xc000 | start, start); // a pointer to itself
      return r;
    }),
    reasons: { malformed: 1 },
  },
  { what: 'an answer only for another name', reply: (q) => buildReply(q, [a('elsewhere.example.org', '6.6.6.6')]), reasons: { bailiwick: 1 } },
  { what: 'an answer only of another type', reply: (q) => buildReply(q, [aaaa(q.name, '2001:db8::66')]), reasons: { bailiwick: 1 } },
  { what: 'rcode FORMERR', reply: (q) => buildReply(q, [], { rcode: Rcode.FORMERR }), reasons: { rcode: 1 } },
  { what: 'rcode NOTIMP', reply: (q) => buildReply(q, [], { rcode: Rcode.NOTIMP }), reasons: { rcode: 1 } },
  {
    what: 'an extended rcode in the OPT',
    edns: true,
    reply: patched((r) => {
      const opt = walkMessage(r)?.records.find((x) => x.type === RRType.OPT);
      if (opt) r[opt.ttlOffset] = 1; // BADVERS / BADSIG: upper bits of a 12-bit rcode
      return r;
    }),
    reasons: { rcode: 1 },
  },
  {
    what: 'two OPT records',
    edns: true,
    reply: patched((r) => {
      const opt = walkMessage(r)?.records.find((x) => x.type === RRType.OPT);
      const out = Buffer.concat([r, r.subarray(opt?.start, opt?.end)]);
      out.writeUInt16BE(out.readUInt16BE(10) + 1, 10);
      return out;
    }),
    reasons: { malformed: 1 },
  },
  { what: 'QR=0 (a query, not a reply)', reply: patched((r) => ((r[2] = (r[2] as number) & 0x7f), r)), reasons: { mismatch: 1, timeout: 1 } },
  { what: 'opcode NOTIFY', reply: patched((r) => ((r[2] = (r[2] as number) | (4 << 3)), r)), reasons: { mismatch: 1, timeout: 1 } },
];

describe('hostile replies: refused, counted, the next upstream answers', () => {
  it.each(refusedCases)('$what', async ({ edns, reply, reasons }) => {
    const bad = await upstream({ kind: 'custom', replies: (q) => [reply(q)] });
    const good = await upstream({ kind: 'answer', records: GOOD });
    const { forwarder: f, metrics } = forwarder([bad, good], { tuning: { failThreshold: 100 } });
    const got = sections(await f.exchange(edns ? ednsQuery(NAME) : query(NAME)));
    expect(got.answer).toEqual([`${NAME}. 120 IN A 192.0.2.80`]);
    expect(good.count()).toBe(1);
    for (const reason of ['malformed', 'bailiwick', 'rcode', 'mismatch', 'timeout', 'late', 'duplicate']) {
      expect({ reason, n: await errors(metrics, bad, reason) }).toEqual({ reason, n: reasons[reason] ?? 0 });
    }
  });

  it('the last upstream refusing too: SERVFAIL, nothing cached, asked again next time', async () => {
    const up = await upstream({ kind: 'custom', replies: (q) => [buildReply(q, [], { rcode: Rcode.FORMERR })] });
    const { forwarder: f, metrics } = forwarder([up]);
    const ask = cacheOver(f, metrics);
    expect((await ask(NAME)).rcode).toBe(Rcode.SERVFAIL);
    up.setBehaviour({ kind: 'answer', records: GOOD });
    expect(texts((await ask(NAME)).answers)).toEqual([`${NAME}. 120 IN A 192.0.2.80`]);
    expect(up.count()).toBe(2);
  });

  it('a UDP reply larger than the query allowed is not used: counted, asked again over TCP', async () => {
    // No EDNS in the query: 512 octets at most (RFC 1035 §4.2.1); 40 A records take ~700.
    const up = await upstream({ kind: 'answer', records: manyA(NAME, 40) });
    const { forwarder: f, metrics } = forwarder([up]);
    expect(sections(await f.exchange(query(NAME))).answer).toHaveLength(40);
    expect(up.count('udp')).toBe(1);
    expect(up.count('tcp')).toBe(1);
    expect(await errors(metrics, up, 'oversized')).toBe(1);
  });

  it('TC=1 with junk after the header: the junk is ignored and the answer comes over TCP', async () => {
    const up = await upstream((rq) =>
      rq.transport === 'udp'
        ? { kind: 'custom', replies: (q) => [Buffer.concat([buildReply(q, [], { tc: true }), Buffer.from('junk junk junk')])] }
        : { kind: 'answer', records: GOOD },
    );
    const { forwarder: f, metrics } = forwarder([up]);
    expect(sections(await f.exchange(query(NAME))).answer).toEqual([`${NAME}. 120 IN A 192.0.2.80`]);
    expect(up.count('tcp')).toBe(1);
    expect(await errors(metrics, up, 'malformed')).toBe(0);
  });

  it('TCP: a frame too short for a header is dropped as a mismatch, the real reply after it is used', async () => {
    const frame = (m: Buffer) => Buffer.concat([Buffer.from([m.length >> 8, m.length & 0xff]), m]);
    const up = await upstream({ kind: 'custom', raw: true, replies: (q) => [frame(Buffer.from([1, 2, 3])), frame(buildReply(q, GOOD))] });
    const { forwarder: f, metrics } = forwarder([up], { forceTcp: true });
    expect(sections(await f.exchange(query(NAME))).answer).toEqual([`${NAME}. 120 IN A 192.0.2.80`]);
    expect(await errors(metrics, up, 'mismatch')).toBe(1);
  });

  it('TCP: a length prefix that promises more than is sent times out, and the next upstream answers', async () => {
    const bad = await upstream({ kind: 'custom', raw: true, replies: (q) => [Buffer.concat([Buffer.from([0xea, 0x60]), buildReply(q, [a(NAME, '6.6.6.6')])])] });
    const good = await upstream({ kind: 'answer', records: GOOD });
    const { forwarder: f, metrics } = forwarder([bad, good], { forceTcp: true });
    expect(sections(await f.exchange(query(NAME))).answer).toEqual([`${NAME}. 120 IN A 192.0.2.80`]);
    expect(await errors(metrics, bad, 'timeout')).toBe(1);
  });
});

describe('replies from the wrong source', () => {
  it.each([
    { what: 'another address (127.0.0.2) with the upstream’s port', host: '127.0.0.2', samePort: true },
    { what: 'another port on the upstream’s address', host: '127.0.0.1', samePort: false },
  ])('ignores a spoofed reply from $what and takes the real one', async ({ host, samePort }) => {
    const spoofer = createSocket('udp4');
    defer(() => new Promise((resolve) => spoofer.close(() => resolve())));
    const behaviour = (rq: { bytes: Buffer; sourcePort: number }): Behaviour => {
      const parsed = parseQuery(rq.bytes);
      // The spoof races ahead of the real reply (delayed below) to the pool socket's port.
      if (parsed.kind === 'query') spoofer.send(buildReply(parsed.query, [a(NAME, '6.6.6.6', 86400)]), rq.sourcePort, '127.0.0.1');
      return { kind: 'answer', records: GOOD };
    };
    const up = await upstream(behaviour, { delayMs: 30 });
    await new Promise<void>((resolve) => spoofer.bind(samePort ? up.port : 0, host, () => resolve()));
    const { forwarder: f, metrics } = forwarder([up], { timeoutMs: 2000 });
    const ask = cacheOver(f, metrics);
    expect(texts((await ask(NAME)).answers)).toEqual([`${NAME}. 120 IN A 192.0.2.80`]);
    await eventually(async () => (await errors(metrics, up, 'mismatch')) === 1);
    expect(texts((await ask(NAME)).answers)).toEqual([`${NAME}. 120 IN A 192.0.2.80`]);
    expect(up.count()).toBe(1);
  });
});

describe('late, duplicate and crossed replies: never cached', () => {
  it('a reply after the timeout is counted as late and not cached', async () => {
    const up = await upstream({ kind: 'answer', records: [a(NAME, '6.6.6.6', 86400)] }, { delayMs: 150 });
    const { forwarder: f, metrics } = forwarder([up], { timeoutMs: 60, tuning: { failThreshold: 100 } });
    const ask = cacheOver(f, metrics);
    expect((await ask(NAME)).rcode).toBe(Rcode.SERVFAIL);
    await eventually(async () => (await errors(metrics, up, 'late')) === 1);
    up.setDelay(0);
    up.setBehaviour({ kind: 'answer', records: GOOD });
    expect(texts((await ask(NAME)).answers)).toEqual([`${NAME}. 120 IN A 192.0.2.80`]);
    expect(up.count()).toBe(2);
    expect(await errors(metrics, up, 'mismatch')).toBe(0);
  });

  it('a second reply to an answered query is counted as a duplicate and changes nothing', async () => {
    const up = await upstream({ kind: 'custom', replies: (q) => [buildReply(q, GOOD), buildReply(q, [a(NAME, '6.6.6.6', 86400)])] });
    const { forwarder: f, metrics } = forwarder([up]);
    const ask = cacheOver(f, metrics);
    expect(texts((await ask(NAME)).answers)).toEqual([`${NAME}. 120 IN A 192.0.2.80`]);
    await eventually(async () => (await errors(metrics, up, 'duplicate')) === 1);
    expect(texts((await ask(NAME)).answers)).toEqual([`${NAME}. 120 IN A 192.0.2.80`]);
    expect(up.count()).toBe(1);
    expect(await errors(metrics, up, 'mismatch')).toBe(0);
  });

  it('on a shared socket, a reply carrying another pending query’s ID (with its own question) settles neither', async () => {
    const held: Query[] = [];
    const up = await upstream({
      kind: 'custom',
      replies: (q) => {
        held.push(q);
        if (held.length < 2) return [];
        const [p, r] = held as [Query, Query];
        const crossed = (question: Query, id: number) => {
          const decoy = buildReply(question, [a(question.name, '6.6.6.6', 86400)]);
          decoy.writeUInt16BE(id, 0);
          return decoy;
        };
        return [crossed(r, p.id), crossed(p, r.id), buildReply(p, [a(p.name, '192.0.2.1', 300)]), buildReply(r, [a(r.name, '192.0.2.2', 300)])];
      },
    });
    const { forwarder: f, metrics } = forwarder([up], { timeoutMs: 2000, tuning: { udpSockets: 1 } });
    const ask = cacheOver(f, metrics);
    const [p, r] = await Promise.all([ask('p.example.com'), ask('r.example.com')]);
    expect(new Set(up.queries.map((q) => q.sourcePort)).size).toBe(1);
    expect(texts(p.answers)).toEqual(['p.example.com. 300 IN A 192.0.2.1']);
    expect(texts(r.answers)).toEqual(['r.example.com. 300 IN A 192.0.2.2']);
    expect(await errors(metrics, up, 'mismatch')).toBe(2);
    expect(texts((await ask('p.example.com')).answers)).toEqual(['p.example.com. 300 IN A 192.0.2.1']);
    expect(texts((await ask('r.example.com')).answers)).toEqual(['r.example.com. 300 IN A 192.0.2.2']);
    expect(up.count()).toBe(2);
  });
});

describe('what goes upstream', () => {
  it('a client query carrying records in its answer and authority sections is sent on as its header, question and OPT only', async () => {
    const up = await upstream((q) => ({ kind: 'answer', records: [a(q.name, '192.0.2.9', 60)] }));
    const started = await startResolverRetrying({ upstream: [up.address], 'upstream-timeout': '300ms' });
    defer(() => started.resolver.stop());
    // junk.example A with EDNS (DO set, 4096), then a stray A record moved in front of the OPT
    // into the answer section and an NS record in the authority section.
    const plain = encodeQuery('junk.example', RRType.A, { ednsUdpSize: 4096, dnssecOk: true });
    const layout = walkMessage(plain);
    const opt = layout?.records.find((r) => r.type === RRType.OPT);
    if (!layout || !opt) throw new Error('no OPT');
    const record = (type: number, rdata: Buffer) => {
      const head = Buffer.alloc(10);
      head.writeUInt16BE(type, 0);
      head.writeUInt16BE(1, 2);
      head.writeUInt32BE(300, 4);
      head.writeUInt16BE(rdata.length, 8);
      return Buffer.concat([Buffer.from([0xc0, 12]), head, rdata]);
    };
    const hostile = Buffer.concat([
      plain.subarray(0, layout.questionEnd),
      record(RRType.A, Buffer.from([6, 6, 6, 6])),
      record(2 /* NS */, Buffer.from([0xc0, 12])),
      plain.subarray(opt.start, opt.end),
    ]);
    hostile.writeUInt16BE(1, 6);
    hostile.writeUInt16BE(1, 8);
    const reply = await udpQuery(started.port, hostile);
    expect(texts(reply.answers)).toEqual(['junk.example. 60 IN A 192.0.2.9']);
    const sent = up.queries[0]?.bytes;
    if (!sent) throw new Error('nothing reached the upstream');
    expect([sent.readUInt16BE(4), sent.readUInt16BE(6), sent.readUInt16BE(8), sent.readUInt16BE(10)]).toEqual([1, 0, 0, 1]);
    const sentLayout = walkMessage(sent);
    expect(sentLayout?.records.map((r) => r.type)).toEqual([RRType.OPT]);
    expect(sent.subarray(12, sentLayout?.questionEnd)).toEqual(plain.subarray(12, layout.questionEnd));
    const sentOpt = sentLayout?.records[0];
    expect(sentOpt && sent.readUInt16BE(sentOpt.start + 3)).toBe(1232); // asks for no more than we pass on
    expect(sentOpt && sent.readUInt32BE(sentOpt.ttlOffset) & 0x8000).toBe(0x8000); // DO kept
  });
});
