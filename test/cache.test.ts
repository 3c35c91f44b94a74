/**
 * The forwarding cache over real sockets, with an injected clock for every TTL,
 * stale window and client timer (no sleeps for time): expiry, RFC 8767
 * serve-stale (TTL 30, client timer, failure recheck, max-stale), last known
 * good, single flight, the in-flight bound, prefetch with jitter, RFC 2308
 * negative caching, byte-bounded eviction, and spoofed replies never cached.
 */
import { createSocket } from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { cleanupAfterEach } from './helpers/cleanup.js';
import { ManualClock } from '../resolver/clock.js';
import { RRType, Rcode } from '../resolver/wire/constants.js';
import { encodeQuery, recordText } from '../resolver/wire/decode.js';
import { encodeTemplate } from '../resolver/wire/encode.js';
import { parseQuery } from '../resolver/wire/query.js';
import type { Query } from '../resolver/wire/query.js';
import type { ResourceRecord } from '../resolver/wire/records.js';
import { startResolver, udpQuery } from './helpers/dns.js';
import { a, buildReply } from './helpers/upstream.js';

const { defer, upstream } = cleanupAfterEach();

async function cached(up: { address: string }, flags: Record<string, string | boolean> = {}, random?: () => number) {
  const clock = new ManualClock();
  const started = await startResolver(
    { upstream: [up.address], 'upstream-timeout': '300ms', ...flags },
    random ? { clock, random } : { clock },
  );
  defer(() => started.resolver.stop());
  const ask = (name: string, type: number = RRType.A) => udpQuery(started.port, encodeQuery(name, type, { id: 4321 }), 4000);
  const metric = async (pattern: RegExp) => {
    const text = await (await fetch(`http://127.0.0.1:${started.metricsPort}/metrics`)).text();
    return Number(pattern.exec(text)?.[1] ?? 0);
  };
  /** Waits (bounded) until no upstream query of the cache is in flight. */
  const settle = async () => {
    for (let i = 0; i < 200 && (await metric(/holdfast_cache_upstream_inflight (\d+)/)) > 0; i++) await new Promise((r) => setTimeout(r, 10));
  };
  return { ...started, clock, ask, metric, settle };
}

const answersOf = (r: { answers: readonly Parameters<typeof recordText>[0][] }) => r.answers.map(recordText);
const SOA = (zone: string, ttl: number, minimum: number): ResourceRecord => ({
  name: zone,
  ttl,
  data: { type: 'SOA', mname: `ns.${zone}`, rname: `hostmaster.${zone}`, serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum },
});

/** A negative reply (NXDOMAIN or NODATA), with or without the SOA. */
function negative(q: Query, rcode: number, soa: ResourceRecord | undefined): Buffer {
  const bytes = encodeTemplate({ name: q.name, type: q.type, rcode, authoritative: true, answers: [], authority: soa ? [soa] : [], additional: [] });
  bytes.writeUInt16BE(q.id, 0);
  q.raw.copy(bytes, 12, 12, q.questionEnd);
  return bytes;
}

/** A UDP upstream on 127.0.0.1 that answers every query after `delayMs` (real time), counting them. */
async function slowUpstream(delayMs: number, records: (name: string) => ResourceRecord[]) {
  const socket = createSocket('udp4');
  let count = 0;
  socket.on('message', (msg, rinfo) => {
    count++;
    const parsed = parseQuery(msg);
    if (parsed.kind !== 'query') return;
    setTimeout(() => socket.send(buildReply(parsed.query, records(parsed.query.name)), rinfo.port, rinfo.address), delayMs);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  defer(() => new Promise((resolve) => socket.close(() => resolve())));
  return { address: `127.0.0.1:${socket.address().port}`, count: () => count };
}

describe('fresh entries', () => {
  it('answers from the cache with decremented TTLs until expiry, then asks again', async () => {
    const up = await upstream((q) => ({ kind: 'answer', records: [a(q.name, '192.0.2.1', 10)] }));
    const { ask, clock } = await cached(up);
    expect(answersOf(await ask('www.example.com'))).toEqual(['www.example.com. 10 IN A 192.0.2.1']);
    clock.advance(4_000);
    const hit = await ask('WWW.Example.COM');
    expect(answersOf(hit)).toEqual(['www.example.com. 6 IN A 192.0.2.1']);
    expect(hit.questions[0]?.name).toBe('WWW.Example.COM');
    expect(hit.aa).toBe(false);
    expect(up.count()).toBe(1);
    clock.advance(7_000); // past expiry: refreshed from a healthy upstream
    expect(answersOf(await ask('www.example.com'))).toEqual(['www.example.com. 10 IN A 192.0.2.1']);
    expect(up.count()).toBe(2);
  });

  it('keys on type and on the DO bit', async () => {
    const up = await upstream((q) => ({ kind: 'answer', records: [a(q.name, '192.0.2.1', 60)] }));
    const { port } = await cached(up);
    await udpQuery(port, encodeQuery('k.example.com', RRType.A));
    await udpQuery(port, encodeQuery('k.example.com', RRType.A, { ednsUdpSize: 1232 })); // same key: DO=0
    expect(up.count()).toBe(1);
    await udpQuery(port, encodeQuery('k.example.com', RRType.A, { ednsUdpSize: 1232, dnssecOk: true }));
    await udpQuery(port, encodeQuery('k.example.com', RRType.TXT));
    expect(up.count()).toBe(3);
  });
});

describe('serve-stale (RFC 8767)', () => {
  it('serves the stale answer with TTL 30 when the refresh fails, and counts it', async () => {
    const up = await upstream({ kind: 'answer', records: [a('s.example.com', '192.0.2.7', 2)] });
    const { ask, clock, metric } = await cached(up);
    await ask('s.example.com');
    up.setBehaviour({ kind: 'silent' });
    clock.advance(3_000);
    const reply = await ask('s.example.com');
    expect(reply.rcode).toBe(Rcode.NOERROR);
    expect(answersOf(reply)).toEqual(['s.example.com. 30 IN A 192.0.2.7']);
    expect(up.count()).toBe(2);
    expect(await metric(/holdfast_cache_stale_served_total\{reason="refresh_failed"\} (\d+)/)).toBe(1);
  });

  it('answers stale when the client-response timer fires before the refresh ends', async () => {
    const up = await upstream({ kind: 'answer', records: [a('t.example.com', '192.0.2.8', 2)] });
    const { ask, clock, metric } = await cached(up, { 'upstream-timeout': '10s' });
    await ask('t.example.com');
    up.setBehaviour({ kind: 'silent' });
    clock.advance(3_000);
    const pending = ask('t.example.com');
    await up.waitForQueries(2);
    clock.advance(1_799);
    clock.advance(1); // the 1800 ms client-response timer
    const started = performance.now();
    expect(answersOf(await pending)).toEqual(['t.example.com. 30 IN A 192.0.2.8']);
    expect(performance.now() - started).toBeLessThan(1000); // long before the 10 s upstream timeout
    expect(await metric(/holdfast_cache_stale_served_total\{reason="client_timeout"\} (\d+)/)).toBe(1);
  });

  it('does not ask the upstream again for a name within the failure-recheck interval', async () => {
    const up = await upstream({ kind: 'answer', records: [a('r.example.com', '192.0.2.9', 2)] });
    const { ask, clock, settle } = await cached(up);
    await ask('r.example.com');
    up.setBehaviour({ kind: 'silent' });
    clock.advance(3_000);
    await ask('r.example.com'); // refresh fails
    expect(up.count()).toBe(2);
    for (let i = 0; i < 5; i++) {
      clock.advance(5_000);
      const started = performance.now();
      expect(answersOf(await ask('r.example.com'))).toEqual(['r.example.com. 30 IN A 192.0.2.9']);
      expect(performance.now() - started).toBeLessThan(250); // at once, no upstream wait
    }
    expect(up.count()).toBe(2);
    clock.advance(5_001); // 30 s after the failure: asked again, in the background since the last exchange failed
    up.setBehaviour({ kind: 'answer', records: [a('r.example.com', '192.0.2.10', 2)] });
    expect(answersOf(await ask('r.example.com'))).toEqual(['r.example.com. 30 IN A 192.0.2.9']);
    await settle();
    expect(up.count()).toBe(3);
    expect(answersOf(await ask('r.example.com'))).toEqual(['r.example.com. 2 IN A 192.0.2.10']);
  });

  it('serves nothing stale beyond --serve-stale', async () => {
    const up = await upstream({ kind: 'answer', records: [a('m.example.com', '192.0.2.11', 2)] });
    const { ask, clock } = await cached(up, { 'serve-stale': '10s', 'servfail-ttl': '0s' });
    await ask('m.example.com');
    up.setBehaviour({ kind: 'silent' });
    clock.advance(2_000 + 9_999);
    expect((await ask('m.example.com')).answers).toHaveLength(1); // still within the window
    clock.advance(2);
    const late = await ask('m.example.com');
    expect(late.rcode).toBe(Rcode.SERVFAIL);
    expect(late.answers).toHaveLength(0);
  });

  it('with --serve-stale 0, an expired entry is never served', async () => {
    const up = await upstream({ kind: 'answer', records: [a('z.example.com', '192.0.2.12', 2)] });
    const { ask, clock } = await cached(up, { 'serve-stale': '0' });
    await ask('z.example.com');
    up.setBehaviour({ kind: 'servfail' });
    clock.advance(2_001);
    expect((await ask('z.example.com')).rcode).toBe(Rcode.SERVFAIL);
  });
});

describe('last known good', () => {
  it('keeps a positive answer through SERVFAIL and REFUSED, replaces it on NXDOMAIN', async () => {
    const up = await upstream({ kind: 'answer', records: [a('l.example.com', '192.0.2.13', 2)] });
    const { ask, clock, settle } = await cached(up, { 'failure-recheck': '0s' });
    await ask('l.example.com');
    up.setBehaviour({ kind: 'servfail' });
    clock.advance(3_000);
    expect(answersOf(await ask('l.example.com'))).toEqual(['l.example.com. 30 IN A 192.0.2.13']);
    up.setBehaviour({ kind: 'answer', records: [], rcode: Rcode.REFUSED });
    expect(answersOf(await ask('l.example.com'))).toEqual(['l.example.com. 30 IN A 192.0.2.13']);
    up.setBehaviour({ kind: 'custom', replies: (q) => [negative(q, Rcode.NXDOMAIN, SOA('example.com', 300, 60))] });
    // The last exchange failed, so this client gets the stale answer while the refresh runs...
    expect(answersOf(await ask('l.example.com'))).toEqual(['l.example.com. 30 IN A 192.0.2.13']);
    await settle();
    // ...and the NXDOMAIN it brought replaces the positive answer.
    const gone = await ask('l.example.com');
    expect(gone.rcode).toBe(Rcode.NXDOMAIN);
    expect(gone.authority.map(recordText)).toEqual([expect.stringMatching(/^example\.com\. 60 IN SOA /)]);
  });

  it('--stale-on-nxdomain keeps the positive answer', async () => {
    const up = await upstream({ kind: 'answer', records: [a('p.example.com', '192.0.2.14', 2)] });
    const { ask, clock } = await cached(up, { 'stale-on-nxdomain': true });
    await ask('p.example.com');
    up.setBehaviour({ kind: 'custom', replies: (q) => [negative(q, Rcode.NXDOMAIN, SOA('example.com', 300, 60))] });
    clock.advance(3_000);
    expect(answersOf(await ask('p.example.com'))).toEqual(['p.example.com. 30 IN A 192.0.2.14']);
  });
});

describe('no stampede', () => {
  it('coalesces concurrent identical misses into one upstream query', async () => {
    const up = await slowUpstream(150, (name) => [a(name, '192.0.2.15', 60)]);
    const { port, metric } = await cached(up);
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => udpQuery(port, encodeQuery('c.example.com', RRType.A, { id: i + 1 }))));
    expect(up.count()).toBe(1);
    for (const [i, r] of replies.entries()) {
      expect(r.id).toBe(i + 1);
      expect(answersOf(r)).toEqual(['c.example.com. 60 IN A 192.0.2.15']);
    }
    expect(await metric(/holdfast_cache_coalesced_total (\d+)/)).toBe(19);
  });

  it('bounds upstream queries in flight; the overflow gets SERVFAIL at once, never a queue', async () => {
    const up = await slowUpstream(300, (name) => [a(name, '192.0.2.16', 60)]);
    const { port, metric } = await cached(up, { 'max-upstream-inflight': '2', 'upstream-timeout': '2s' });
    const started = performance.now();
    const replies = await Promise.all(Array.from({ length: 5 }, (_, i) => udpQuery(port, encodeQuery(`b${i}.example.com`, RRType.A))));
    expect(up.count()).toBe(2);
    expect(replies.filter((r) => r.rcode === Rcode.NOERROR)).toHaveLength(2);
    expect(replies.filter((r) => r.rcode === Rcode.SERVFAIL)).toHaveLength(3);
    expect(await metric(/holdfast_cache_overflow_total (\d+)/)).toBe(3);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('refreshes popular entries before expiry, at jittered points', async () => {
    const up = await upstream((q) => ({ kind: 'answer', records: [a(q.name, '192.0.2.17', 100)] }));
    const jitters = [0, 0.99]; // early.example.com refreshes at 95 % of its TTL, late.example.com at ~85 %
    const { ask, clock, metric, settle } = await cached(up, {}, () => jitters.shift() ?? 0.5);
    await ask('early.example.com');
    await ask('late.example.com');
    clock.advance(50_000);
    await ask('early.example.com');
    await ask('late.example.com');
    clock.advance(40_000); // t = 90 s: past late's prefetch point (85.1 s), before early's (95 s)
    expect(answersOf(await ask('early.example.com'))).toEqual(['early.example.com. 10 IN A 192.0.2.17']);
    expect(answersOf(await ask('late.example.com'))).toEqual(['late.example.com. 10 IN A 192.0.2.17']);
    await up.waitForQueries(3);
    expect(up.queries.map((q) => q.name)).toEqual(['early.example.com', 'late.example.com', 'late.example.com']);
    await settle();
    clock.advance(1_000);
    expect(answersOf(await ask('late.example.com'))).toEqual(['late.example.com. 99 IN A 192.0.2.17']); // the refreshed entry
    expect(await metric(/holdfast_cache_prefetches_total (\d+)/)).toBe(1);
  });
});

describe('negative caching (RFC 2308)', () => {
  it.each([
    { what: 'NXDOMAIN', rcode: Rcode.NXDOMAIN },
    { what: 'NODATA', rcode: Rcode.NOERROR },
  ])('caches $what for min(SOA TTL, SOA MINIMUM)', async ({ rcode }) => {
    const up = await upstream({ kind: 'custom', replies: (q) => [negative(q, rcode, SOA('example.com', 300, 60))] });
    const { ask, clock } = await cached(up);
    expect((await ask('n.example.com')).rcode).toBe(rcode);
    clock.advance(59_000);
    const again = await ask('n.example.com');
    expect(again.rcode).toBe(rcode);
    expect(again.authority.map(recordText)).toEqual([expect.stringMatching(/^example\.com\. 1 IN SOA /)]);
    expect(up.count()).toBe(1);
    clock.advance(1_000);
    await ask('n.example.com');
    expect(up.count()).toBe(2);
  });

  it('does not cache a negative answer without an SOA', async () => {
    const up = await upstream({ kind: 'custom', replies: (q) => [negative(q, Rcode.NXDOMAIN, undefined)] });
    const { ask } = await cached(up);
    expect((await ask('nosoa.example.com')).rcode).toBe(Rcode.NXDOMAIN);
    expect((await ask('nosoa.example.com')).rcode).toBe(Rcode.NXDOMAIN);
    expect(up.count()).toBe(2);
  });

  it('clamps negative TTLs with --negative-max-ttl', async () => {
    const up = await upstream({ kind: 'custom', replies: (q) => [negative(q, Rcode.NXDOMAIN, SOA('example.com', 3600, 3600))] });
    const { ask, clock } = await cached(up, { 'negative-max-ttl': '10s' });
    await ask('clamp.example.com');
    clock.advance(10_000);
    await ask('clamp.example.com');
    expect(up.count()).toBe(2);
  });
});

describe('bounds and safety', () => {
  it('evicts least recently used entries to stay under --cache-max-bytes', async () => {
    const up = await upstream((q) => ({ kind: 'answer', records: [a(q.name, '192.0.2.18', 300)] }));
    const { ask, metric } = await cached(up, { 'cache-max-bytes': '4KiB' });
    for (let i = 0; i < 40; i++) await ask(`e${i}.example.com`);
    expect(await metric(/holdfast_cache_evictions_total (\d+)/)).toBeGreaterThan(0);
    expect(await metric(/holdfast_cache_bytes (\d+)/)).toBeLessThanOrEqual(4096);
    await ask('e39.example.com'); // most recent: still cached
    expect(up.count()).toBe(40);
    await ask('e0.example.com'); // oldest: evicted
    expect(up.count()).toBe(41);
  });

  it('never caches a spoofed reply (wrong ID or question)', async () => {
    const up = await upstream({ kind: 'wrong-id-first', records: [a('v.example.com', '192.0.2.19', 300)], wrong: [a('v.example.com', '203.0.113.66', 300)] });
    const { ask } = await cached(up);
    expect(answersOf(await ask('v.example.com'))).toEqual(['v.example.com. 300 IN A 192.0.2.19']);
    expect(answersOf(await ask('v.example.com'))).toEqual(['v.example.com. 300 IN A 192.0.2.19']);

    const only = await upstream({ kind: 'wrong-question', records: [a('w.example.com', '203.0.113.67', 300)], only: true });
    const second = await cached(only, { 'servfail-ttl': '0s' });
    expect((await second.ask('w.example.com')).rcode).toBe(Rcode.SERVFAIL);
    only.setBehaviour({ kind: 'answer', records: [a('w.example.com', '192.0.2.20', 300)] });
    expect(answersOf(await second.ask('w.example.com'))).toEqual(['w.example.com. 300 IN A 192.0.2.20']);
  });

  it('answers an uncached name SERVFAIL for --servfail-ttl after an upstream failure, without asking again', async () => {
    const up = await upstream({ kind: 'servfail' });
    const { ask, clock } = await cached(up);
    expect((await ask('f.example.com')).rcode).toBe(Rcode.SERVFAIL);
    expect((await ask('f.example.com')).rcode).toBe(Rcode.SERVFAIL);
    expect(up.count()).toBe(1);
    clock.advance(5_000);
    up.setBehaviour({ kind: 'answer', records: [a('f.example.com', '192.0.2.21', 60)] });
    expect(answersOf(await ask('f.example.com'))).toEqual(['f.example.com. 60 IN A 192.0.2.21']);
  });
});

describe('outage: the upstream goes silent', () => {
  it('answers 40 expired names from stale data at once and asks upstream at most once per name per recheck interval', async () => {
    const names = Array.from({ length: 40 }, (_, i) => `svc${i}.example.com`);
    const up = await upstream((q) => ({ kind: 'answer', records: [a(q.name, '192.0.2.22', 2)] }));
    // Default timers (2 s upstream timeout, 1800 ms client timer on the injected clock).
    const { ask, clock, metric } = await cached(up, { 'upstream-timeout': '2s' });
    for (const n of names) await ask(n);
    expect(up.count()).toBe(40);
    up.setBehaviour({ kind: 'silent' });
    clock.advance(2_500); // every entry expired
    const latencies: number[] = [];
    for (let round = 0; round < 3; round++) {
      for (const n of names) {
        const started = performance.now();
        const reply = await ask(n);
        latencies.push(performance.now() - started);
        expect(reply.rcode).toBe(Rcode.NOERROR);
        const ttl = reply.answers[0]?.ttl ?? 0;
        expect(ttl).toBeGreaterThanOrEqual(1);
        expect(ttl).toBeLessThanOrEqual(30);
      }
      clock.advance(5_000);
    }
    const firstRound = latencies.slice(0, 40);
    const mean = firstRound.reduce((x, y) => x + y, 0) / firstRound.length;
    if (process.env['HOLDFAST_TEST_REPORT']) {
      const sorted = [...firstRound].sort((x, y) => x - y);
      process.stdout.write(
        `outage: first round mean ${mean.toFixed(1)} ms, median ${sorted[20]?.toFixed(2)} ms, max ${sorted[39]?.toFixed(0)} ms; ` +
          `all rounds mean ${(latencies.reduce((x, y) => x + y, 0) / latencies.length).toFixed(1)} ms; upstream queries during the outage ${up.count() - 40}\n`,
      );
    }
    expect(mean).toBeLessThan(250);
    expect(up.count() - 40).toBeLessThanOrEqual(40); // at most once per name in the 30 s recheck interval
    expect(await metric(/holdfast_cache_stale_served_total\{reason="upstream_failing"\} (\d+)/)).toBeGreaterThan(0);
  }, 20_000);
});

describe('--cluster-fallback', () => {
  it('sends cluster names to kube-dns through the cache until a snapshot is loaded, other names to the upstream', async () => {
    const kubeDns = await upstream((q) => ({ kind: 'answer', records: [a(q.name, '10.96.0.99', 30)] }));
    const other = await upstream((q) => ({ kind: 'answer', records: [a(q.name, '192.0.2.23', 30)] }));
    const { ask } = await cached(other, { 'cluster-fallback': [kubeDns.address] as never, 'allow-unsigned': true });
    expect(answersOf(await ask('web.default.svc.cluster.local'))).toEqual(['web.default.svc.cluster.local. 30 IN A 10.96.0.99']);
    expect(answersOf(await ask('web.default.svc.cluster.local'))).toEqual(['web.default.svc.cluster.local. 30 IN A 10.96.0.99']);
    expect(answersOf(await ask('x.pod.cluster.local'))).toEqual(['x.pod.cluster.local. 30 IN A 10.96.0.99']);
    expect(answersOf(await ask('www.example.com'))).toEqual(['www.example.com. 30 IN A 192.0.2.23']);
    expect(kubeDns.count()).toBe(2);
    expect(other.count()).toBe(1);
  });
});

describe('--coredns-compatible-metrics', () => {
  it('exports the node-local-dns (CoreDNS) names with the same figures', async () => {
    // An answer of the type asked: an A record for an AAAA question would be scrubbed (SERVFAIL).
    const up = await upstream((q) => ({ kind: 'answer', records: [q.type === RRType.AAAA ? { name: q.name, ttl: 30, data: { type: 'AAAA', address: '2001:db8::24' } } : a(q.name, '192.0.2.24', 30)] }));
    const { ask, metricsPort } = await cached(up, { 'coredns-compatible-metrics': true });
    await ask('m1.example.com');
    await ask('m1.example.com');
    await ask('m2.example.com', RRType.AAAA);
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(text).toMatch(/^coredns_dns_requests_total\{server="dns:\/\/127\.0\.0\.1:\d+",zone="\.",view="",proto="udp",family="1",type="A"\} 2$/m);
    expect(text).toMatch(/^coredns_dns_requests_total\{.*type="AAAA"\} 1$/m);
    expect(text).toMatch(/^coredns_dns_responses_total\{.*rcode="NOERROR",plugin=""\} 3$/m);
    expect(text).toMatch(/^coredns_cache_hits_total\{.*type="success"\} 1$/m);
    expect(text).toMatch(/^coredns_cache_misses_total\{.*\} 2$/m);
    expect(text).toMatch(/^coredns_cache_entries\{.*type="success"\} 2$/m);
    expect(text).toMatch(/^coredns_dns_request_duration_seconds_count\{.*\} 3$/m);
    expect(text).toMatch(/^coredns_forward_requests_total\{to="127\.0\.0\.1:\d+"\} 2$/m);
    expect(text).toMatch(/^# TYPE coredns_dns_request_duration_seconds histogram$/m);
  });

  it('is off by default', async () => {
    const up = await upstream({ kind: 'servfail' });
    const { metricsPort } = await cached(up);
    expect(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()).not.toContain('coredns_');
  });
});
