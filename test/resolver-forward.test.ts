/**
 * Forwarding through a fake upstream on 127.0.0.1: ID handling, spoofing
 * defences (wrong ID, wrong question, wrong source port), TCP fallback on TC,
 * failover between upstreams, SERVFAIL when every upstream fails, and which names
 * the cluster zone keeps for itself (before and after a snapshot is loaded).
 */
import { describe, expect, it } from 'vitest';
import { cleanupAfterEach } from './helpers/cleanup.js';
import { RRType } from '../resolver/wire/constants.js';
import { walkMessage } from '../resolver/wire/walk.js';
import { decodeMessage, encodeQuery, recordText } from '../resolver/wire/decode.js';
import type { Resolver } from '../resolver/resolver.js';
import { tcpExchange, udpQuery, udpRaw } from './helpers/dns.js';
import { a, buildReply, manyA, startResolverRetrying } from './helpers/upstream.js';
import type { FakeUpstream } from './helpers/upstream.js';

const DEMO = 'demo/demo-snapshot.json';
const NAME = 'www.example.com';
const ANSWER = [a(NAME, '192.0.2.80', 120)];
const DECOY = [a(NAME, '203.0.113.66', 120)];

const { defer, upstream } = cleanupAfterEach();

/** Starts a resolver forwarding to `upstreams`, serving the demo snapshot unless `snapshot` is false. */
async function resolverWith(
  upstreams: readonly FakeUpstream[],
  snapshot = true,
  flags: Record<string, string> = {},
): Promise<{ resolver: Resolver; port: number; metricsPort: number }> {
  const started = await startResolverRetrying({
    upstream: upstreams.map((u) => u.address),
    'upstream-timeout': '200ms',
    'allow-unsigned': true,
    ...(snapshot ? { 'snapshot-file': DEMO } : {}),
    ...flags,
  });
  defer(() => started.resolver.stop());
  return started;
}

async function metrics(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  return res.text();
}

const texts = (records: readonly Parameters<typeof recordText>[0][]) => records.map(recordText);

describe('forwarding', () => {
  it('relays the upstream answer with the client ID, sending a random ID upstream', async () => {
    const up = await upstream((q) => ({ kind: 'answer', records: [a(q.name, '192.0.2.80', 120)] }));
    const { port } = await resolverWith([up]);
    const clientIds = [0x0001, 0x4242, 0x4242, 0x4242, 0xfffe, 0x4242, 0x4242, 0x4242];
    // A name per query: repeated names would be answered from the cache.
    for (const [i, id] of clientIds.entries()) {
      const name = `n${i}.example.com`;
      const reply = await udpQuery(port, encodeQuery(name, RRType.A, { id }));
      expect(reply.id).toBe(id);
      expect(reply.rcode).toBe(0);
      expect(texts(reply.answers)).toEqual([`${name}. 120 IN A 192.0.2.80`]);
    }
    expect(up.count('udp')).toBe(clientIds.length);
    const sent = up.queries.map((q) => q.id);
    // The client's ID is never passed on (1 in 65536 chance per query of a false failure)...
    expect(sent.filter((id, i) => id === clientIds[i]).length).toBeLessThanOrEqual(1);
    // ...and the same client ID does not map to one predictable upstream ID.
    expect(new Set(sent).size).toBeGreaterThan(clientIds.length / 2);
  });

  it('caps the EDNS size sent upstream at 1232 and advertises 1232 to the client', async () => {
    const up = await upstream({ kind: 'answer', records: ANSWER });
    const { port } = await resolverWith([up]);
    const reply = await udpQuery(port, encodeQuery(NAME, RRType.A, { ednsUdpSize: 4096 }));
    expect(texts(reply.answers)).toEqual([`${NAME}. 120 IN A 192.0.2.80`]);
    expect(up.queries[0]?.ednsUdpSize).toBe(1232);
    expect(reply.edns?.udpSize).toBe(1232); // the fake upstream advertised 4096
  });

  it.each([
    { behaviour: 'wrong-id-first' as const, what: 'a reply with the wrong ID' },
    { behaviour: 'wrong-question' as const, what: 'a reply to another question' },
  ])('ignores $what and accepts the matching reply', async ({ behaviour }) => {
    const up = await upstream(
      behaviour === 'wrong-id-first' ? { kind: 'wrong-id-first', records: ANSWER, wrong: DECOY } : { kind: 'wrong-question', records: ANSWER },
    );
    const { port, metricsPort } = await resolverWith([up]);
    const reply = await udpQuery(port, encodeQuery(NAME, RRType.A, { id: 7 }));
    expect(reply.id).toBe(7);
    expect(reply.rcode).toBe(0);
    expect(reply.questions[0]?.name).toBe(NAME);
    expect(texts(reply.answers)).toEqual([`${NAME}. 120 IN A 192.0.2.80`]);
    // The decoy is counted as a mismatch; the exchange itself did not fail.
    const text = await metrics(metricsPort);
    expect(text).toMatch(/holdfast_upstream_errors_total\{upstream="[^"]+",reason="mismatch"\} 1/);
    expect(text).not.toMatch(/reason="(timeout|network|malformed)"/);
  });

  it('never accepts a reply to another question: SERVFAIL after the timeout', async () => {
    const up = await upstream({ kind: 'wrong-question', records: DECOY, only: true });
    const { port } = await resolverWith([up]);
    const reply = await udpQuery(port, encodeQuery(NAME, RRType.A, { id: 8 }));
    expect(reply.rcode).toBe(2);
    expect(reply.answers).toEqual([]);
  });

  it('ignores a reply from another source port and moves on to the next upstream', async () => {
    const spoofer = await upstream({ kind: 'other-port', records: DECOY });
    const good = await upstream({ kind: 'answer', records: ANSWER });
    const { port, metricsPort } = await resolverWith([spoofer, good]);
    const reply = await udpQuery(port, encodeQuery(NAME, RRType.A, { id: 9 }));
    expect(texts(reply.answers)).toEqual([`${NAME}. 120 IN A 192.0.2.80`]);
    expect(spoofer.count()).toBe(1);
    expect(good.count()).toBe(1);
    expect(await metrics(metricsPort)).toContain(`holdfast_upstream_errors_total{upstream="${spoofer.address}",reason="timeout"} 1`);
  });

  it('ignores a reply from another source port: SERVFAIL when it is the only upstream', async () => {
    const spoofer = await upstream({ kind: 'other-port', records: DECOY });
    const { port } = await resolverWith([spoofer]);
    const reply = await udpQuery(port, encodeQuery(NAME, RRType.A, { id: 10 }));
    expect(reply.id).toBe(10);
    expect(reply.rcode).toBe(2);
    expect(reply.answers).toEqual([]);
  });

  describe('TC over UDP: retried over TCP', () => {
    const BIG = manyA(NAME, 40);
    const bigTexts = BIG.map((r) => `${NAME}. ${r.ttl} IN A ${r.data.type === 'A' ? r.data.address : ''}`);

    it.each([
      { client: 'TCP', transport: 'tcp' as const },
      { client: 'UDP with a 1232-byte EDNS buffer', transport: 'udp' as const },
    ])('relays the full answer to a $client client', async ({ transport }) => {
      const up = await upstream({ kind: 'truncate-udp', records: BIG });
      const { port } = await resolverWith([up]);
      const query = encodeQuery(NAME, RRType.A, { id: 11, ...(transport === 'udp' ? { ednsUdpSize: 1232 } : {}) });
      const reply = transport === 'tcp' ? decodeMessage((await tcpExchange(port, [query]))[0] as Buffer) : await udpQuery(port, query);
      expect(reply.id).toBe(11);
      expect(reply.tc).toBe(false);
      expect(texts(reply.answers)).toEqual(bigTexts);
      expect(up.count('udp')).toBe(1);
      expect(up.count('tcp')).toBe(1);
      expect(up.queries[1]?.id).toBe(up.queries[0]?.id);
    });

    it('truncates the relayed answer for a UDP client without EDNS (whole RRset or nothing, TC set)', async () => {
      const up = await upstream({ kind: 'truncate-udp', records: BIG });
      const { port } = await resolverWith([up]);
      const reply = await udpQuery(port, encodeQuery(NAME, RRType.A, { id: 12 }));
      expect(reply.raw.length).toBeLessThanOrEqual(512);
      expect(reply.tc).toBe(true);
      expect(reply.answers).toEqual([]);
      expect(up.count('tcp')).toBe(1);
    });
  });

  it('fails over to the second upstream when the first times out', async () => {
    const silent = await upstream({ kind: 'silent' });
    const good = await upstream({ kind: 'answer', records: ANSWER });
    const { port } = await resolverWith([silent, good]);
    const started = performance.now();
    const reply = await udpQuery(port, encodeQuery(NAME, RRType.A, { id: 13 }));
    const elapsed = performance.now() - started;
    expect(texts(reply.answers)).toEqual([`${NAME}. 120 IN A 192.0.2.80`]);
    expect(silent.count()).toBe(1);
    expect(good.count()).toBe(1);
    expect(elapsed).toBeGreaterThanOrEqual(150); // waited for the first one's 200 ms timeout
    expect(elapsed).toBeLessThan(1500);
  });

  it('answers SERVFAIL when every upstream fails, counting the timeouts', async () => {
    const first = await upstream({ kind: 'silent' });
    const second = await upstream({ kind: 'silent' });
    const { port, metricsPort } = await resolverWith([first, second]);
    const reply = await udpQuery(port, encodeQuery(NAME, RRType.A, { id: 14, ednsUdpSize: 1232 }));
    expect(reply.id).toBe(14);
    expect(reply.rcode).toBe(2);
    expect(reply.questions[0]?.name).toBe(NAME);
    expect(reply.edns).toBeDefined();
    expect(first.count()).toBe(1);
    expect(second.count()).toBe(1);
    const text = await metrics(metricsPort);
    for (const u of [first, second]) expect(text).toContain(`holdfast_upstream_errors_total{upstream="${u.address}",reason="timeout"} 1`);
    expect(text).toMatch(/holdfast_dns_requests_total\{transport="udp",qtype="A",rcode="SERVFAIL"\} 1/);
  });

  it('treats a malformed reply as a failure and moves on to the next upstream', async () => {
    // Right ID and question, but the header promises an answer record that is not there.
    const broken = await upstream({
      kind: 'custom',
      replies: (query) => {
        const reply = buildReply(query, []);
        reply.writeUInt16BE(1, 6);
        return [reply];
      },
    });
    const good = await upstream({ kind: 'answer', records: ANSWER });
    const { port, metricsPort } = await resolverWith([broken, good]);
    const reply = await udpQuery(port, encodeQuery(NAME, RRType.A, { id: 16 }));
    expect(texts(reply.answers)).toEqual([`${NAME}. 120 IN A 192.0.2.80`]);
    expect(await metrics(metricsPort)).toContain(`holdfast_upstream_errors_total{upstream="${broken.address}",reason="malformed"} 1`);
  });

  it('truncates a large UDP answer to what the client accepts', async () => {
    const up = await upstream({ kind: 'answer', records: manyA(NAME, 40) });
    const { port } = await resolverWith([up]);
    const small = await udpQuery(port, encodeQuery(NAME, RRType.A, { ednsUdpSize: 512 }));
    expect(small.raw.length).toBeLessThanOrEqual(512);
    expect(small.tc).toBe(true);
    expect(small.answers).toEqual([]);
    expect(small.edns?.udpSize).toBe(1232);
    const big = await udpQuery(port, encodeQuery(NAME, RRType.A, { ednsUdpSize: 1232 }));
    expect(big.tc).toBe(false);
    expect(big.answers).toHaveLength(40);
  });

  it('adds our OPT when the client used EDNS and the upstream reply has none (RFC 6891 §7)', async () => {
    // An upstream that ignores EDNS: its reply is built from the query with the OPT stripped.
    const up = await upstream({
      kind: 'custom',
      replies: (q) => {
        const plain = buildReply(q, ANSWER);
        const walked = walkMessage(plain);
        const opt = walked?.records.find((r) => r.type === RRType.OPT);
        if (!opt) return [plain];
        const cut = Buffer.from(plain.subarray(0, opt.start));
        cut.writeUInt16BE(cut.readUInt16BE(10) - 1, 10);
        return [cut];
      },
    });
    const { port } = await resolverWith([up]);
    const reply = await udpQuery(port, encodeQuery(NAME, RRType.A, { ednsUdpSize: 1232, dnssecOk: true }));
    expect(texts(reply.answers)).toEqual([`${NAME}. 120 IN A 192.0.2.80`]);
    expect(reply.edns).toEqual({ udpSize: 1232, version: 0, dnssecOk: true });
  });

  it('relays an upstream SERVFAIL as it is', async () => {
    const up = await upstream({ kind: 'servfail' });
    const { port } = await resolverWith([up]);
    const reply = await udpQuery(port, encodeQuery(NAME, RRType.A, { id: 15 }));
    expect(reply.rcode).toBe(2);
    expect(up.count()).toBe(1);
  });
});

describe('what is forwarded', () => {
  it('before any snapshot: cluster names get SERVFAIL without being forwarded, other names are forwarded', async () => {
    const up = await upstream({ kind: 'answer', records: ANSWER });
    const { port } = await resolverWith([up], false);
    for (const name of ['web.default.svc.cluster.local', 'nope.default.svc.cluster.local', 'cluster.local', 'CLUSTER.LOCAL']) {
      const reply = await udpQuery(port, encodeQuery(name, RRType.A, { id: 21 }));
      expect(reply.rcode, name).toBe(2);
      expect(reply.aa, name).toBe(false);
    }
    expect(up.count()).toBe(0);
    const reply = await udpQuery(port, encodeQuery(NAME, RRType.A, { id: 22 }));
    expect(texts(reply.answers)).toEqual([`${NAME}. 120 IN A 192.0.2.80`]);
    expect(up.count()).toBe(1);
  });

  it.each([
    { what: 'without', snapshot: false },
    { what: 'with', snapshot: true },
  ])('forwards names under pod.cluster.local ($what a snapshot)', async ({ snapshot }) => {
    const pod = '10-244-1-5.default.pod.cluster.local';
    const up = await upstream({ kind: 'answer', records: [a(pod, '10.244.1.5')] });
    const { port } = await resolverWith([up], snapshot);
    const reply = await udpQuery(port, encodeQuery(pod, RRType.A));
    expect(reply.rcode).toBe(0);
    expect(texts(reply.answers)).toEqual([`${pod}. 60 IN A 10.244.1.5`]);
    expect(up.queries.map((q) => q.name)).toEqual([pod]);
  });

  it('answers reverse names of snapshot IPs locally and forwards other reverse names', async () => {
    const other = '1.2.0.192.in-addr.arpa';
    const up = await upstream((q) => ({ kind: 'answer', records: q.name === other ? [{ name: other, ttl: 30, data: { type: 'PTR', target: 'host.example.net' } }] : [] }));
    const { port } = await resolverWith([up]);
    const local = await udpQuery(port, encodeQuery('10.10.96.10.in-addr.arpa', RRType.PTR));
    expect(local.aa).toBe(true);
    expect(texts(local.answers)).toEqual(['10.10.96.10.in-addr.arpa. 5 IN PTR web.default.svc.cluster.local.']);
    expect(up.count()).toBe(0);
    const forwarded = await udpQuery(port, encodeQuery(other, RRType.PTR));
    expect(forwarded.aa).toBe(false);
    expect(texts(forwarded.answers)).toEqual([`${other}. 30 IN PTR host.example.net.`]);
    expect(up.queries.map((q) => q.name)).toEqual([other]);
  });
});

describe('graceful shutdown', () => {
  /** Starts a resolver whose forwarded queries end in SERVFAIL after the 200 ms upstream timeout, well within its 3 s grace. */
  async function draining(): Promise<{ up: FakeUpstream; resolver: Resolver; port: number; metricsPort: number }> {
    const up = await upstream({ kind: 'silent' });
    return { up, ...(await resolverWith([up], true, { 'shutdown-grace': '3s' })) };
  }

  it('goes not-ready at once, answers a TCP query in flight, then closes', async () => {
    const { up, resolver, port, metricsPort } = await draining();
    const tcp = tcpExchange(port, [encodeQuery(NAME, RRType.A, { id: 32 })]);
    await up.waitForQueries(1);
    const stopped = resolver.stop();
    expect((await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status).toBe(503);
    const [reply] = await tcp;
    expect(decodeMessage(reply as Buffer)).toMatchObject({ id: 32, rcode: 2 });
    await stopped;
    await expect(tcpExchange(port, [encodeQuery(NAME, RRType.A)], 1, 500)).rejects.toThrow();
  });

  it('answers a UDP query in flight before closing', async () => {
    const { up, resolver, port } = await draining();
    const udp = udpQuery(port, encodeQuery(NAME, RRType.A, { id: 31 }));
    await up.waitForQueries(1);
    const stopped = resolver.stop();
    expect(await udp).toMatchObject({ id: 31, rcode: 2 });
    await stopped;
    expect(await udpRaw(port, encodeQuery(NAME, RRType.A), 200)).toBeUndefined();
  });
});
