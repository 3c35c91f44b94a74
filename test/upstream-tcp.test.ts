/**
 * TCP toward upstreams (RFC 7766): one persistent connection reused across
 * queries, pipelined queries answered out of order and in small pieces matched
 * by ID, idle close, reconnect after the upstream closed, and TC retries riding
 * the same pooled connection.
 */
import { describe, expect, it } from 'vitest';
import { cleanupAfterEach } from './helpers/cleanup.js';
import { decodeMessage, recordText } from '../resolver/wire/decode.js';
import { a, manyA } from './helpers/upstream.js';
import { eventually, metricValue, query } from './upstream-helpers.js';

const { upstream, forwarder } = cleanupAfterEach();

const NAME = 'www.example.com';
const nameOf = (i: number) => `p${i}.example.com`;
const addressOf = (i: number) => `192.0.2.${i + 1}`;

describe('TCP to upstreams', () => {
  it('sends 20 sequential force-TCP queries over one connection', async () => {
    const up = await upstream({ kind: 'answer', records: [a(NAME, '192.0.2.80')] });
    const { forwarder: f, metrics } = forwarder([up], { forceTcp: true });
    for (let i = 0; i < 20; i++) {
      const outcome = await f.exchange(query(NAME, 1, i));
      expect(outcome.ok).toBe(true);
    }
    expect(up.count('tcp')).toBe(20);
    expect(up.count('udp')).toBe(0);
    expect(up.tcpAccepted()).toBe(1);
    expect(await metricValue(metrics, 'holdfast_upstream_tcp_connections', { upstream: up.address })).toBe(1);
    expect(await metricValue(metrics, 'holdfast_upstream_requests_total', { upstream: up.address, transport: 'tcp' })).toBe(20);
  });

  it('matches pipelined queries answered in reverse order, in 7-byte pieces, by ID', async () => {
    const n = 10;
    const up = await upstream({
      kind: 'reverse-tcp',
      batch: n,
      chunk: 7,
      records: (q) => [a(q.name, addressOf(Number(/^p(\d+)\./.exec(q.name)?.[1])))],
    });
    const { forwarder: f } = forwarder([up], { forceTcp: true, timeoutMs: 3000 });
    const outcomes = await Promise.all(Array.from({ length: n }, (_, i) => f.exchange(query(nameOf(i), 1, 100 + i))));
    outcomes.forEach((outcome, i) => {
      expect(outcome.ok).toBe(true);
      if (!outcome.ok) return;
      const reply = decodeMessage(outcome.reply);
      expect(reply.id).toBe(100 + i);
      expect(reply.answers.map(recordText)).toEqual([`${nameOf(i)}. 60 IN A ${addressOf(i)}`]);
    });
    expect(up.tcpAccepted()).toBe(1);
    const ids = up.queries.map((q) => q.id);
    expect(new Set(ids).size).toBe(n); // distinct IDs on one connection (RFC 7766 §6.2.1.1)
  });

  it('closes an idle connection, then reconnects on demand', async () => {
    const up = await upstream({ kind: 'answer', records: [a(NAME, '192.0.2.80')] });
    const { forwarder: f, metrics } = forwarder([up], { forceTcp: true, tuning: { tcpIdleMs: 100 } });
    expect((await f.exchange(query(NAME))).ok).toBe(true);
    expect(up.tcpOpen()).toBe(1);
    await eventually(() => up.tcpOpen() === 0);
    expect(await metricValue(metrics, 'holdfast_upstream_tcp_connections', { upstream: up.address })).toBe(0);
    expect((await f.exchange(query(NAME))).ok).toBe(true);
    expect(up.tcpAccepted()).toBe(2);
  });

  it('recovers when the upstream closes a pooled connection', async () => {
    const up = await upstream((q) => ({ kind: 'answer', records: [a(q.name, '192.0.2.80')] }));
    const { forwarder: f, metrics } = forwarder([up], { forceTcp: true });
    expect((await f.exchange(query(NAME))).ok).toBe(true);
    up.dropTcp();
    expect((await f.exchange(query(NAME))).ok).toBe(true);
    expect(up.tcpAccepted()).toBe(2);
    // Written just as the server closed it or after: either way no failure reaches the caller.
    up.dropTcp();
    const outcomes = await Promise.all([f.exchange(query(NAME)), f.exchange(query('other.example.com'))]);
    expect(outcomes.every((o) => o.ok)).toBe(true);
    expect(await metricValue(metrics, 'holdfast_upstream_tcp_connections', { upstream: up.address })).toBe(1);
  });

  it('retries truncated UDP replies over one pooled connection, keeping the query ID', async () => {
    const up = await upstream({ kind: 'truncate-udp', records: manyA(NAME, 40) });
    const { forwarder: f } = forwarder([up]);
    for (let i = 0; i < 5; i++) {
      const outcome = await f.exchange(query(NAME));
      expect(outcome.ok && decodeMessage(outcome.reply).answers.length).toBe(40);
    }
    expect(up.count('udp')).toBe(5);
    expect(up.count('tcp')).toBe(5);
    expect(up.tcpAccepted()).toBe(1);
    for (let i = 0; i < 10; i += 2) expect(up.queries[i + 1]?.id).toBe(up.queries[i]?.id);
  });

  it('times out a query the upstream never answers and stops using that connection', async () => {
    const up = await upstream({ kind: 'silent' });
    const { forwarder: f } = forwarder([up], { forceTcp: true, timeoutMs: 100, tuning: { failThreshold: 100 } });
    expect(await f.exchange(query(NAME))).toEqual({ ok: false, reason: 'timeout' });
    await eventually(() => up.tcpOpen() === 0);
    up.setBehaviour({ kind: 'answer', records: [a(NAME, '192.0.2.80')] });
    expect((await f.exchange(query(NAME))).ok).toBe(true);
    expect(up.tcpAccepted()).toBe(2);
  });
});
