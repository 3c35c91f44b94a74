/**
 * The per-upstream UDP socket pool, through a Forwarder and a fake upstream on
 * 127.0.0.1: source ports change as sockets are rotated, concurrent queries are
 * multiplexed over a few sockets with distinct IDs and matched to the right
 * replies (answered out of order), and the pending cap bounds what is in flight.
 */
import { describe, expect, it } from 'vitest';
import { cleanupAfterEach } from './helpers/cleanup.js';
import { decodeMessage, recordText } from '../resolver/wire/decode.js';
import { a } from './helpers/upstream.js';
import { metricValue, query } from './upstream-helpers.js';

const { upstream, forwarder } = cleanupAfterEach();

/** An address derived from `i`, so each name has its own answer. */
const addressOf = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
const nameOf = (i: number) => `q${i}.example.com`;
const byName = (name: string) => addressOf(Number(/^q(\d+)\./.exec(name)?.[1] ?? -1));

describe('UDP socket pool', () => {
  it('spreads queries over the pool sockets, each on its own source port', async () => {
    const up = await upstream({ kind: 'answer', records: [a('www.example.com', '192.0.2.1')] });
    const { forwarder: f } = forwarder([up]);
    for (let i = 0; i < 20; i++) expect((await f.exchange(query('www.example.com'))).ok).toBe(true);
    // Four sockets, round-robin: four ports, five queries each.
    const ports = up.queries.map((q) => q.sourcePort);
    expect(new Set(ports).size).toBe(4);
    expect(ports.slice(0, 4)).toEqual(ports.slice(4, 8));
  });

  it('replaces a socket after its query budget, so source ports keep changing', async () => {
    const up = await upstream({ kind: 'answer', records: [a('www.example.com', '192.0.2.1')] });
    const { forwarder: f } = forwarder([up], { tuning: { udpSockets: 2, udpSocketMaxQueries: 3 } });
    for (let i = 0; i < 30; i++) expect((await f.exchange(query('www.example.com'))).ok).toBe(true);
    const ports = up.queries.map((q) => q.sourcePort);
    // 30 queries, 3 per socket: 10 sockets (the kernel may hand a freed port out again, rarely).
    expect(new Set(ports).size).toBeGreaterThanOrEqual(8);
    // No port ever sees more than its budget in a row.
    for (let i = 0; i + 3 < ports.length; i += 1) expect(new Set(ports.slice(i, i + 4)).size).toBeGreaterThan(1);
  });

  it('multiplexes many concurrent queries with distinct IDs per socket and matches replies out of order', async () => {
    const up = await upstream((q) => ({ kind: 'answer', records: [a(q.name, byName(q.name))] }), { delayMs: () => 2 + Math.floor(Math.random() * 25) });
    const { forwarder: f } = forwarder([up], { timeoutMs: 2000 });
    const n = 200; // more at once overflows the fake's socket receive buffer (~256 datagrams) on loopback
    const outcomes = await Promise.all(Array.from({ length: n }, (_, i) => f.exchange(query(nameOf(i), 1, i))));
    outcomes.forEach((outcome, i) => {
      expect(outcome.ok).toBe(true);
      if (!outcome.ok) return;
      const reply = decodeMessage(outcome.reply);
      expect(reply.id).toBe(i); // the client's ID is restored
      expect(reply.answers.map(recordText)).toEqual([`${nameOf(i)}. 60 IN A ${addressOf(i)}`]);
    });
    expect(up.count('udp')).toBe(n);
    // All were in flight together: within one source port, every ID is different.
    const idsByPort = new Map<number, number[]>();
    for (const q of up.queries) idsByPort.set(q.sourcePort, [...(idsByPort.get(q.sourcePort) ?? []), q.id]);
    expect(idsByPort.size).toBe(4);
    for (const ids of idsByPort.values()) expect(new Set(ids).size).toBe(ids.length);
  });

  it('caps the queries in flight per socket: beyond it, unavailable at once (reason=overload)', async () => {
    const up = await upstream({ kind: 'silent' });
    const { forwarder: f, metrics } = forwarder([up], { timeoutMs: 300, tuning: { udpSockets: 2, maxPendingPerSocket: 2 } });
    const started = performance.now();
    const outcomes = Promise.all(Array.from({ length: 5 }, (_, i) => f.exchange(query(nameOf(i)))));
    const settled = await Promise.race([outcomes.then(() => 'all'), new Promise((r) => setTimeout(() => r('pending'), 50))]);
    expect(settled).toBe('pending');
    const results = await outcomes;
    expect(results.map((o) => (o.ok ? 'ok' : o.reason)).sort()).toEqual(['timeout', 'timeout', 'timeout', 'timeout', 'unavailable']);
    expect(performance.now() - started).toBeLessThan(1500);
    expect(await metricValue(metrics, 'holdfast_upstream_errors_total', { upstream: up.address, reason: 'overload' })).toBe(1);
    expect(up.count()).toBe(4);
  });

  it('ignores a late reply to a timed-out query without counting it as a mismatch', async () => {
    const up = await upstream({ kind: 'answer', records: [a('www.example.com', '192.0.2.1')] }, { delayMs: 150 });
    const { forwarder: f, metrics } = forwarder([up], { timeoutMs: 60, tuning: { udpSockets: 1, failThreshold: 100 } });
    expect(await f.exchange(query('www.example.com'))).toEqual({ ok: false, reason: 'timeout' });
    await new Promise((r) => setTimeout(r, 200));
    expect(await metricValue(metrics, 'holdfast_upstream_errors_total', { upstream: up.address, reason: 'mismatch' })).toBe(0);
    expect(await metricValue(metrics, 'holdfast_upstream_errors_total', { upstream: up.address, reason: 'timeout' })).toBe(1);
  });
});
