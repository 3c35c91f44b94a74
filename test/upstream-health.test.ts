/**
 * Upstream health and choice: the circuit breaker (opens after consecutive
 * failures, skips the upstream, a `. IN NS` probe closes it once the upstream
 * answers again, a real reply closes it too when every circuit is open), the
 * `fastest` policy, reconfiguration, and close() releasing every socket and timer.
 */
import { describe, expect, it } from 'vitest';
import { cleanupAfterEach } from './helpers/cleanup.js';
import { RRType } from '../resolver/wire/constants.js';
import { a, startUpstream } from './helpers/upstream.js';
import type { FakeUpstream } from './helpers/upstream.js';
import { eventually, makeForwarder, metricValue, query } from './upstream-helpers.js';

const { upstream, forwarder } = cleanupAfterEach();

const NAME = 'www.example.com';
const ANSWER = { kind: 'answer' as const, records: [a(NAME, '192.0.2.80')] };
const FAST = { timeoutMs: 80, tuning: { failThreshold: 2, probeInitialMs: 50, probeMaxMs: 200 } };
const isProbe = (q: { name: string; type: number }) => q.name === '' && q.type === RRType.NS;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('circuit breaker', () => {
  it('opens after consecutive failures, skips the upstream, and a probe closes it when it recovers', async () => {
    const flaky = await upstream({ kind: 'silent' });
    const good = await upstream(ANSWER);
    const { forwarder: f, metrics } = forwarder([flaky, good], FAST);
    const circuit = () => metricValue(metrics, 'holdfast_upstream_circuit_open', { upstream: flaky.address });
    expect(await circuit()).toBe(0);

    for (let i = 0; i < 2; i++) expect((await f.exchange(query(NAME))).ok).toBe(true); // each after flaky's timeout
    expect(flaky.count()).toBe(2);
    expect(await circuit()).toBe(1);
    expect(await metricValue(metrics, 'holdfast_upstream_circuit_transitions_total', { upstream: flaky.address, state: 'open' })).toBe(1);
    expect(f.healthy()).toBe(true); // the second upstream is fine

    // Skipped while open: answers come straight from the second upstream.
    const started = performance.now();
    for (let i = 0; i < 5; i++) expect((await f.exchange(query(NAME))).ok).toBe(true);
    expect(performance.now() - started).toBeLessThan(60);
    expect(flaky.queries.filter((q) => !isProbe(q))).toHaveLength(2);

    // It comes back; a probe notices and the circuit closes.
    flaky.setBehaviour(ANSWER);
    await eventually(async () => (await circuit()) === 0);
    expect(flaky.queries.some(isProbe)).toBe(true);
    expect(await metricValue(metrics, 'holdfast_upstream_probes_total', { upstream: flaky.address, result: 'success' })).toBe(1);
    expect(await metricValue(metrics, 'holdfast_upstream_circuit_transitions_total', { upstream: flaky.address, state: 'closed' })).toBe(1);
    const outcome = await f.exchange(query(NAME));
    expect(outcome.ok && outcome.upstream).toBe(flaky.address); // first in order again
  });

  it('backs off between failing probes', async () => {
    const down = await upstream({ kind: 'silent' });
    const good = await upstream(ANSWER);
    const { forwarder: f, metrics } = forwarder([down, good], FAST);
    for (let i = 0; i < 2; i++) await f.exchange(query(NAME));
    await sleep(1000);
    // Probes at ~50, 180, 440, 720, 1000 ms after opening (delay doubling to 200 ms, plus 80 ms timeouts):
    // far fewer than the ~20 a fixed 50 ms interval would send.
    const failures = await metricValue(metrics, 'holdfast_upstream_probes_total', { upstream: down.address, result: 'failure' });
    expect(failures).toBeGreaterThanOrEqual(3);
    expect(failures).toBeLessThanOrEqual(7);
    expect(down.queries.filter(isProbe).length).toBeGreaterThanOrEqual(failures);
  });

  it('counts a SERVFAIL reply as a reply, not a failure', async () => {
    const up = await upstream({ kind: 'servfail' });
    const { forwarder: f, metrics } = forwarder([up], FAST);
    for (let i = 0; i < 5; i++) expect((await f.exchange(query(NAME))).ok).toBe(true);
    expect(f.healthy()).toBe(true);
    expect(await metricValue(metrics, 'holdfast_upstream_circuit_open', { upstream: up.address })).toBe(0);
  });

  it('when every circuit is open: healthy() is false, the first upstream is still tried, and its reply closes the circuit', async () => {
    const first = await upstream({ kind: 'silent' });
    const second = await upstream({ kind: 'silent' });
    // Probes far in the future: recovery below comes from a real query.
    const { forwarder: f, metrics } = forwarder([first, second], { timeoutMs: 60, tuning: { failThreshold: 2, probeInitialMs: 60_000 } });
    expect(await f.exchange(query(NAME))).toEqual({ ok: false, reason: 'timeout' });
    expect(f.healthy()).toBe(true);
    expect(await f.exchange(query(NAME))).toEqual({ ok: false, reason: 'timeout' });
    expect(f.healthy()).toBe(false);
    for (const u of [first, second]) expect(await metricValue(metrics, 'holdfast_upstream_circuit_open', { upstream: u.address })).toBe(1);

    expect(await f.exchange(query(NAME))).toEqual({ ok: false, reason: 'timeout' });
    expect(first.count()).toBe(3);
    expect(second.count()).toBe(2); // only the first is tried while all are open

    first.setBehaviour(ANSWER);
    const outcome = await f.exchange(query(NAME));
    expect(outcome.ok && outcome.upstream).toBe(first.address);
    expect(f.healthy()).toBe(true);
    expect(await metricValue(metrics, 'holdfast_upstream_circuit_open', { upstream: first.address })).toBe(0);
    const reply = await f.forward(query(NAME, RRType.A, 77));
    expect(reply.readUInt16BE(0)).toBe(77);
  });

  it('opens the circuit of a force-TCP upstream that refuses connections and probes it over TCP', async () => {
    const gone = await startUpstream(ANSWER);
    const address = { host: '127.0.0.1', port: gone.port };
    await gone.close(); // nothing listens on the port now: connections are refused
    const good = await upstream(ANSWER);
    const { forwarder: f, metrics } = forwarder([], FAST);
    f.reconfigure({
      upstreams: [
        { ...address, label: `127.0.0.1:${address.port}`, forceTcp: true },
        { host: '127.0.0.1', port: good.port, label: good.address, forceTcp: true },
      ],
      timeoutMs: 80,
    });
    for (let i = 0; i < 2; i++) expect((await f.exchange(query(NAME))).ok).toBe(true);
    expect(await metricValue(metrics, 'holdfast_upstream_errors_total', { upstream: `127.0.0.1:${address.port}`, reason: 'network' })).toBe(2);
    expect(await metricValue(metrics, 'holdfast_upstream_circuit_open', { upstream: `127.0.0.1:${address.port}` })).toBe(1);
    await eventually(async () => (await metricValue(metrics, 'holdfast_upstream_probes_total', { upstream: `127.0.0.1:${address.port}`, result: 'failure' })) >= 1);
  });
});

describe('policy', () => {
  it('fastest: after measuring both, sends queries to the faster upstream', async () => {
    const slow = await upstream(ANSWER, { delayMs: 40 });
    const fast = await upstream(ANSWER);
    const { forwarder: f } = forwarder([slow, fast], { policy: 'fastest', timeoutMs: 1000 });
    const used: string[] = [];
    for (let i = 0; i < 10; i++) {
      const outcome = await f.exchange(query(NAME));
      if (outcome.ok) used.push(outcome.upstream);
    }
    // Unmeasured upstreams go first (config order), then the lower smoothed RTT wins.
    expect(used).toEqual([slow.address, ...Array<string>(9).fill(fast.address)]);
  });

  it('fastest: a measurement older than rttStaleMs is taken again', async () => {
    const slow = await upstream(ANSWER, { delayMs: 30 });
    const fast = await upstream(ANSWER);
    const { forwarder: f } = forwarder([slow, fast], { policy: 'fastest', timeoutMs: 1000, tuning: { rttStaleMs: 150 } });
    for (let i = 0; i < 3; i++) await f.exchange(query(NAME));
    expect(slow.count()).toBe(1);
    await sleep(200);
    await f.exchange(query(NAME));
    expect(slow.count()).toBe(2);
  });

  it('sequential: config order, whatever the latency', async () => {
    const slow = await upstream(ANSWER, { delayMs: 20 });
    const fast = await upstream(ANSWER);
    const { forwarder: f } = forwarder([slow, fast], { timeoutMs: 1000 });
    for (let i = 0; i < 5; i++) await f.exchange(query(NAME));
    expect(slow.count()).toBe(5);
    expect(fast.count()).toBe(0);
  });

  it('reconfigure: keeps the state of upstreams still listed, closes the others, applies the new policy', async () => {
    const one = await upstream(ANSWER);
    const two = await upstream(ANSWER, { delayMs: 20 });
    const { forwarder: f, metrics } = forwarder([one, two], { forceTcp: true, timeoutMs: 500 });
    await f.exchange(query(NAME));
    expect(one.tcpOpen()).toBe(1);
    const spec = (u: FakeUpstream) => ({ host: '127.0.0.1', port: u.port, label: u.address, forceTcp: true });
    f.reconfigure({ upstreams: [two, one].map(spec), timeoutMs: 500, policy: 'sequential' });
    expect((await f.exchange(query(NAME))).ok).toBe(true);
    expect(two.count()).toBe(1);
    expect(one.tcpAccepted()).toBe(1); // connection kept across the reload
    f.reconfigure({ upstreams: [spec(two)], timeoutMs: 500 });
    await eventually(() => one.tcpOpen() === 0);
    expect(await metricValue(metrics, 'holdfast_upstream_circuit_open', { upstream: one.address })).toBe(0);
    expect((await metrics.registry.getSingleMetricAsString('holdfast_upstream_circuit_open')).includes(one.address)).toBe(false);
  });
});

describe('close()', () => {
  const watched = /UDP|TCP|Timeout/i;
  const census = () => {
    const counts: Record<string, number> = {};
    for (const r of process.getActiveResourcesInfo()) if (watched.test(r)) counts[r] = (counts[r] ?? 0) + 1;
    return counts;
  };

  it('releases every socket, connection and timer, and fails queries in flight at once', async () => {
    const udpUp = await upstream(ANSWER);
    const tcpUp = await upstream(ANSWER);
    const down = await upstream({ kind: 'silent' });
    await sleep(20);
    const before = census();
    const { forwarder: u } = makeForwarder([udpUp]);
    const { forwarder: t } = makeForwarder([tcpUp], { forceTcp: true, timeoutMs: 2000 });
    const { forwarder: d } = makeForwarder([down], { timeoutMs: 50, tuning: { failThreshold: 1, probeInitialMs: 30, probeMaxMs: 30 } });
    for (let i = 0; i < 8; i++) expect((await u.exchange(query(NAME))).ok).toBe(true); // four UDP sockets
    expect((await t.exchange(query(NAME))).ok).toBe(true); // one TCP connection, kept
    expect(await d.exchange(query(NAME))).toEqual({ ok: false, reason: 'timeout' });
    expect(d.healthy()).toBe(false); // circuit open, probing every 30 ms
    await down.waitForQueries(2);
    expect(Object.values(census()).reduce((x, y) => x + y, 0)).toBeGreaterThan(Object.values(before).reduce((x, y) => x + y, 0));

    tcpUp.setBehaviour({ kind: 'silent' });
    const pending = t.exchange(query(NAME));
    await tcpUp.waitForQueries(2);
    const closedAt = performance.now();
    await Promise.all([u.close(), t.close(), d.close()]);
    expect(await pending).toEqual({ ok: false, reason: 'network' });
    expect(performance.now() - closedAt).toBeLessThan(100);
    await eventually(() => tcpUp.tcpOpen() === 0);
    await sleep(20);
    const after = census();
    // Sockets back to what the fake upstreams hold; no timer of ours left (other timers may have ended meanwhile).
    expect({ ...after, Timeout: 0 }).toEqual({ ...before, Timeout: 0 });
    expect(after['Timeout'] ?? 0).toBeLessThanOrEqual(before['Timeout'] ?? 0);
    // No probe after close, and nothing is sent any more.
    const seen = down.count();
    await sleep(100);
    expect(down.count()).toBe(seen);
    expect(await u.exchange(query(NAME))).toEqual({ ok: false, reason: 'unavailable' });
    expect(u.healthy()).toBe(false);
  });
});
