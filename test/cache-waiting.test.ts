/**
 * --max-waiting-clients: how many client queries may wait for upstream answers
 * at once. Beyond it a miss gets SERVFAIL and a stale entry its stale answer at
 * once, counted; the gauge shows who waits. Real sockets, an upstream that
 * answers only when told, an injected clock for the stale timers.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../resolver/clock.js';
import { RRType, Rcode } from '../resolver/wire/constants.js';
import { encodeQuery } from '../resolver/wire/decode.js';
import { cleanupAfterEach } from './helpers/cleanup.js';
import { startResolver, udpQuery } from './helpers/dns.js';
import { a } from './helpers/upstream.js';

const { defer, upstream } = cleanupAfterEach();

async function setup(flags: Record<string, string>) {
  const up = await upstream({ kind: 'answer', records: [] });
  const clock = new ManualClock();
  const started = await startResolver({ upstream: [up.address], 'upstream-timeout': '3s', ...flags }, { clock });
  defer(() => started.resolver.stop());
  const ask = (name: string, id: number) => udpQuery(started.port, encodeQuery(name, RRType.A, { id }), 8000);
  const metric = async (name: string) => {
    const text = await (await fetch(`http://127.0.0.1:${started.metricsPort}/metrics`)).text();
    return Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1] ?? Number.NaN);
  };
  return { up, clock, ask, metric };
}

describe('--max-waiting-clients', () => {
  it('answers misses beyond the bound SERVFAIL at once, counted, while the others wait for the upstream', async () => {
    const { up, ask, metric } = await setup({ 'max-waiting-clients': '3' });
    up.setBehaviour({ kind: 'silent' });
    // Three clients wait: two on one name (coalesced), one on another.
    const waiting = [ask('slow.example.org', 1), ask('slow.example.org', 2), ask('other.example.org', 3)];
    await up.waitForQueries(2);
    expect(await metric('holdfast_cache_waiting_clients')).toBe(3);
    const over = await Promise.all([ask('slow.example.org', 4), ask('third.example.org', 5)]);
    expect(over.map((r) => r.rcode)).toEqual([Rcode.SERVFAIL, Rcode.SERVFAIL]);
    expect(await metric('holdfast_cache_waiting_overflow_total')).toBe(2);
    expect(up.count()).toBe(2); // the overflow asked nothing upstream
    // The upstream exchanges time out: the waiting clients get SERVFAIL then, and the gauge drops to 0.
    expect((await Promise.all(waiting)).map((r) => r.rcode)).toEqual([Rcode.SERVFAIL, Rcode.SERVFAIL, Rcode.SERVFAIL]);
    expect(await metric('holdfast_cache_waiting_clients')).toBe(0);
  });

  it('gives a stale entry at once beyond the bound instead of waiting', async () => {
    const { up, clock, ask, metric } = await setup({ 'max-waiting-clients': '1', 'client-timeout': '5s' });
    up.setBehaviour((q) => ({ kind: 'answer', records: [a(q.name, '192.0.2.1', 10)] }));
    expect((await ask('web.example.org', 1)).rcode).toBe(Rcode.NOERROR);
    expect((await ask('api.example.org', 2)).rcode).toBe(Rcode.NOERROR);
    clock.advance(11_000); // both expired, within the stale window
    up.setBehaviour({ kind: 'silent' });
    const first = ask('web.example.org', 3); // waits for its refresh (client timer 5 s, on the fake clock)
    await up.waitForQueries(3);
    expect(await metric('holdfast_cache_waiting_clients')).toBe(1);
    const second = await ask('api.example.org', 4);
    expect(second.rcode).toBe(Rcode.NOERROR);
    expect(second.answers[0]?.ttl).toBe(30); // --stale-answer-ttl: a stale answer
    expect(await metric('holdfast_cache_waiting_overflow_total')).toBe(1);
    clock.advance(5_000); // the first client's timer: its stale answer
    expect((await first).answers[0]?.ttl).toBe(30);
    expect(await metric('holdfast_cache_waiting_clients')).toBe(0);
  });
});
