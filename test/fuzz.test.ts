/**
 * The wire fuzz harness (bench/fuzz/, `npm run fuzz`) in a short run against a real
 * resolver process (dist/, so build first), and the bugs it found, each as a
 * regression test of its own: upstream replies with malformed RDATA (compression
 * pointers that loop or go forward) were passed on to clients; an OPT record in
 * an upstream's answer section made the reply path throw (the client got SERVFAIL
 * through the dispatcher's last resort, and an error was logged); a query with a
 * second OPT, in its answer section, was served with the other's UDP size instead
 * of FORMERR; cache entries kept alive the TCP reads and pool slabs their bytes were
 * sliced from, unseen by the cache's byte bound.
 */
import { describe, expect, it } from 'vitest';
import { checkReply, inspectInput } from '../bench/fuzz/check.js';
import { runFuzz } from '../bench/fuzz/harness.js';
import { RRType } from '../resolver/wire/constants.js';
import { encodeQuery } from '../resolver/wire/decode.js';
import { walkMessage } from '../resolver/wire/walk.js';
import { parseQuery } from '../resolver/wire/query.js';
import { makeEntry } from '../resolver/cache/entry.js';
import { cleanupAfterEach } from './helpers/cleanup.js';
import { startResolver, udpRaw } from './helpers/dns.js';
import { a, buildReply, manyA, startResolverRetrying } from './helpers/upstream.js';
import type { Query } from '../resolver/wire/query.js';
import { pino } from 'pino';

const { defer, upstream } = cleanupAfterEach();

describe('wire fuzz harness', () => {
  it('keeps the resolver alive and every reply well formed through 20,000 hostile inputs', async () => {
    const report = await runFuzz({ count: 20_000, seconds: 60, seed: 7 });
    expect(report.failures).toEqual([]);
    expect(report.failureCount).toBe(0);
    expect(report.alive).toBe(true);
    expect(report.stoppedBy).toBe('count');
    expect(report.udp.inputs + report.tcp.inputs).toBe(20_000);
    // Replies were seen and checked on both transports, and some inputs were (rightly) dropped.
    expect(report.udp.replies).toBeGreaterThan(10_000);
    expect(report.tcp.replies).toBeGreaterThan(1000);
    expect(report.udp.dropped).toBeGreaterThan(0);
    expect(report.udp.byRcode['NOERROR']).toBeGreaterThan(0);
    expect(report.udp.byRcode['FORMERR']).toBeGreaterThan(0);
    // The zone name was answered right all along and at the end, over UDP and TCP.
    expect(report.probes.sent).toBeGreaterThanOrEqual(20);
    expect(report.probes.failed).toBe(0);
    expect(report.probes.finalUdp).toBeUndefined();
    expect(report.probes.finalTcp).toBeUndefined();
    expect(report.memory.withinBound).toBe(true);
    expect(report.errorLogs).toEqual([]);
    expect(report.ok).toBe(true);
  }, 120_000);
});

describe('the harness checker', () => {
  const query = encodeQuery('www.example.com', RRType.A, { id: 0x4242 });
  const facts = inspectInput(query);
  const answer = (edit: (reply: Buffer) => Buffer = (r) => r) => edit(buildReply(queryOf(query), [a('www.example.com', '192.0.2.1')]));

  it('accepts a good reply and reads its address', () => {
    expect(checkReply(answer(), facts, 'udp')).toEqual({ rcode: 0, tc: false, addresses: ['192.0.2.1'] });
  });

  it('rejects a wrong ID, QR unset, a changed question, trailing octets and a loop', () => {
    const set = (offset: number, value: number) => (r: Buffer) => {
      r.writeUInt16BE(value, offset);
      return r;
    };
    expect(checkReply(answer(set(0, 0x4243)), facts, 'udp')).toMatch(/reply ID/);
    expect(checkReply(answer((r) => set(2, r.readUInt16BE(2) & 0x7fff)(r)), facts, 'udp')).toMatch(/QR not set/);
    expect(checkReply(answer((r) => ((r[13] = 0x57), r)), facts, 'udp')).toMatch(/question not echoed/);
    expect(checkReply(answer((r) => Buffer.concat([r, Buffer.from([0])])), facts, 'udp')).toMatch(/trailing/);
    // The answer's owner made a pointer to itself.
    const owner = 12 + 'www.example.com'.length + 2 + 4;
    expect(checkReply(answer(set(owner, 0xc000 | owner)), facts, 'udp')).toMatch(/not backward/);
  });
});

/** The Query a fake upstream's buildReply needs, for a query the test built. */
function queryOf(raw: Buffer): Query {
  const end = 12 + 'www.example.com'.length + 2 + 4;
  return { id: raw.readUInt16BE(0), raw, recursionDesired: true, checkingDisabled: false, name: 'www.example.com' as Query['name'], type: RRType.A, class: 1, questionEnd: end, edns: undefined };
}

describe('regressions found by the fuzzer', () => {
  /** A reply to `query` with one answer record of `type` whose RDATA is `rdata` (owner: a pointer to the question). */
  function oneRecord(query: Query, type: number, rdata: Buffer): Buffer {
    const reply = buildReply(query, []);
    const rr = Buffer.alloc(12 + rdata.length);
    rr.writeUInt16BE(0xc00c, 0);
    rr.writeUInt16BE(type, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(60, 6);
    rr.writeUInt16BE(rdata.length, 10);
    rdata.copy(rr, 12);
    const out = Buffer.concat([reply.subarray(0, query.questionEnd), rr, reply.subarray(query.questionEnd)]);
    out.writeUInt16BE(1, 6);
    return out;
  }
  const rdataAt = (query: Query) => query.questionEnd + 12;

  it('walkMessage rejects RDATA names that loop or point forward, bad fixed lengths and misplaced OPTs', () => {
    const q = queryOf(encodeQuery('www.example.com', RRType.A, { id: 1 }));
    const ptr = (to: number) => Buffer.from([0xc0 | (to >> 8), to & 0xff]);
    expect(walkMessage(oneRecord(q, RRType.CNAME, ptr(12)))).toBeDefined();
    expect(walkMessage(oneRecord(q, RRType.CNAME, ptr(rdataAt(q))))).toBeUndefined(); // to itself
    expect(walkMessage(oneRecord(q, RRType.CNAME, ptr(rdataAt(q) + 2)))).toBeUndefined(); // forward, past the end
    expect(walkMessage(oneRecord(q, RRType.NS, Buffer.from([1, 0x61, 0x80, 0])))).toBeUndefined(); // label type 10
    expect(walkMessage(oneRecord(q, RRType.PTR, Buffer.concat([ptr(12), Buffer.from([0])])))).toBeUndefined(); // a stray octet
    expect(walkMessage(oneRecord(q, RRType.A, Buffer.from([192, 0, 2, 1, 0])))).toBeUndefined();
    expect(walkMessage(oneRecord(q, RRType.SOA, Buffer.from([0, 0, 0, 0])))).toBeUndefined();
    expect(walkMessage(oneRecord(q, RRType.SRV, Buffer.concat([Buffer.alloc(6), ptr(12)])))).toBeDefined();
    expect(walkMessage(oneRecord(q, RRType.OPT, Buffer.alloc(0)))).toBeUndefined(); // OPT in the answer section
  });

  it('does not pass on an upstream answer whose CNAME RDATA points at itself', async () => {
    const looping = await upstream({ kind: 'custom', replies: (query) => [oneRecord(query, RRType.CNAME, Buffer.from([0xc0 | (rdataAt(query) >> 8), rdataAt(query) & 0xff]))] });
    const good = await upstream({ kind: 'answer', records: [a('www.example.com', '192.0.2.80', 120)] });
    const { resolver, port } = await startResolverRetrying({ upstream: [looping.address, good.address], 'upstream-timeout': '200ms' });
    defer(() => resolver.stop());
    const query = encodeQuery('www.example.com', RRType.A, { id: 77 });
    const reply = await udpRaw(port, query);
    expect(reply).toBeDefined();
    expect(checkReply(reply as Buffer, inspectInput(query), 'udp')).toEqual({ rcode: 0, tc: false, addresses: ['192.0.2.80'] });
    expect(looping.count()).toBe(1);
  });

  it('answers FORMERR, within 512 octets, to a query with an OPT in the answer section besides the one in the additional section', async () => {
    // RFC 6891 §6.1.1: more than one OPT is a FORMERR. The resolver used to skip the
    // answer section's OPT, take the second as EDNS and send up to 1232 octets.
    const big = await upstream((q) => ({ kind: 'answer', records: manyA(q.name, 50) }));
    const { resolver, port } = await startResolverRetrying({ upstream: [big.address], 'upstream-timeout': '200ms' });
    defer(() => resolver.stop());
    const query = Buffer.from('9f1c0100000100010000000107696e2d616464720461727061000002000100002904d000000000000000002904d0000080000000', 'hex');
    const reply = await udpRaw(port, query);
    expect(reply).toBeDefined();
    expect((reply as Buffer).length).toBeLessThanOrEqual(512);
    expect(checkReply(reply as Buffer, inspectInput(query), 'udp')).toMatchObject({ rcode: 1 });
    expect(big.count()).toBe(0);
  });

  it('keeps cache entries from pinning the memory they were read from (a TCP read of many queries, the shared Buffer pool)', () => {
    // The million-input run retained 44 MiB of Buffers for a cache that said it held 7 MiB.
    const sent = encodeQuery('www.example.com', RRType.A, { id: 5 });
    const read = Buffer.alloc(60_000); // one TCP read: this query among many others
    sent.copy(read, 1000);
    const query = parseQuery(read.subarray(1000, 1000 + sent.length));
    if (query.kind !== 'query') throw new Error('the query did not parse');
    const reply = buildReply(query.query, [a('www.example.com', '192.0.2.1')]);
    const pooled = Buffer.from(reply); // a slice of the 8 KiB pool, as upstream replies often are
    const entry = makeEntry(pooled, walkMessage(pooled)!, query.query, { limits: { minTtl: 0, maxTtl: 3600, negativeMinTtl: 0, negativeMaxTtl: 3600 }, now: 0, serveStaleMs: 0, jitter: 0 });
    if (typeof entry === 'string') throw new Error(`not cacheable: ${entry}`);
    expect(entry.body.buffer.byteLength).toBe(entry.body.length);
    expect(entry.query.raw.buffer.byteLength).toBe(sent.length);
    expect(entry.query.raw.equals(sent)).toBe(true);
  });

  it('answers SERVFAIL without an error when the upstream puts an OPT record last in the answer section', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'error' }, { write: (line: string) => lines.push(line) });
    const hostile = await upstream({ kind: 'custom', replies: (query) => [oneRecord(query, RRType.OPT, Buffer.alloc(0))] });
    const { resolver, port } = await startResolver({ upstream: [hostile.address], 'upstream-timeout': '200ms' }, {}, log);
    defer(() => resolver.stop());
    // qtype OPT, no EDNS: the client's reply would have had its ARCOUNT taken down to -1.
    const query = encodeQuery('www.example.com', RRType.OPT, { id: 78 });
    const reply = await udpRaw(port, query);
    expect(reply).toBeDefined();
    expect(checkReply(reply as Buffer, inspectInput(query), 'udp')).toMatchObject({ rcode: 2 });
    expect(lines).toEqual([]);
  });
});
