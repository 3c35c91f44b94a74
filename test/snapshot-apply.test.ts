/**
 * Applying large snapshots (resolver/intake/store.ts, verifier.ts): verified in
 * the child process while queries keep being answered, one candidate at a time
 * with the newest generation winning, the same rejection reasons as on the
 * serving thread, the child ended on close, and the encoded answers of
 * unchanged names carried over to the new zone.
 */
import { createSocket } from 'node:dgram';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { syntheticCluster } from '../bench/cluster.js';
import { SnapshotStore } from '../resolver/intake/store.js';
import type { OfferResult, StoreOptions } from '../resolver/intake/store.js';
import { Verifier } from '../resolver/intake/verifier.js';
import { verifyCandidate } from '../resolver/intake/verify.js';
import { ResolverMetrics } from '../resolver/metrics.js';
import { RRType } from '../resolver/wire/constants.js';
import { encodeQuery } from '../resolver/wire/decode.js';
import { toDnsName } from '../resolver/wire/name.js';
import { parseQuery } from '../resolver/wire/query.js';
import type { Query } from '../resolver/wire/query.js';
import { ClusterZone } from '../resolver/zone/zone.js';
import { buildSnapshot } from '../snapshot/build.js';
import { generateKeyPair } from '../snapshot/keys.js';
import { signSnapshot } from '../snapshot/sign.js';
import type { SnapshotV1 } from '../snapshot/types.js';
import { cleanupAfterEach } from './helpers/cleanup.js';
import { quietLogger, startResolver, udpQuery } from './helpers/dns.js';

const { defer } = cleanupAfterEach();
const trusted = generateKeyPair();
const stranger = generateKeyPair();
/** 2 000 services, 20 000 endpoints: about 4 MB of JSON, 170 KB gzip. */
const LARGE: SnapshotV1 = buildSnapshot(syntheticCluster({ services: 2000, endpoints: 20_000 }), { clusterDomain: 'cluster.local', generation: 1, now: new Date(0) }).snapshot;
const FIRST = `${LARGE.services[16]!.name}.${LARGE.services[16]!.namespace}.svc.cluster.local`;

const at = (generation: number, snapshot: SnapshotV1 = LARGE): SnapshotV1 => ({ ...snapshot, generation });
const gzipped = (snapshot: SnapshotV1, key = trusted.privateKey) => gzipSync(JSON.stringify(signSnapshot(snapshot, key)));

function store(extra: Partial<StoreOptions> = {}): { store: SnapshotStore; metrics: ResolverMetrics } {
  const metrics = new ResolverMetrics();
  const options: StoreOptions = { clusterDomain: toDnsName('cluster.local'), trustedKeys: [trusted.publicKey], allowUnsigned: false, stateDir: undefined, zone: { ttl: 5 }, ...extra };
  const made = new SnapshotStore(options, metrics, quietLogger());
  defer(() => made.close());
  return { store: made, metrics };
}

describe('a large snapshot is verified off the serving thread', () => {
  it('keeps answering queries while it is applied, then serves the new generation', async () => {
    const { resolver, port } = await startResolver({ 'allow-unsigned': true });
    defer(() => resolver.stop());
    expect((await resolver.store.offer(Buffer.from(JSON.stringify({ snapshot: at(1) })), 'push')).result).toBe('applied');
    const bytes = gzipSync(JSON.stringify({ snapshot: at(2) }));

    // Query the old zone in a loop from this process while the candidate is verified.
    const client = createSocket('udp4');
    defer(() => new Promise((resolve) => client.close(() => resolve(undefined))));
    let answered = 0;
    client.on('message', () => answered++);
    const query = encodeQuery(FIRST, RRType.A);
    const pending = resolver.store.offer(bytes, 'push');
    let settled: OfferResult | undefined;
    void pending.then((r) => (settled = r));
    let duringApply = 0;
    for (let i = 0; i < 2000 && settled === undefined; i++) {
      client.send(query, port, '127.0.0.1');
      await new Promise((resolve) => setTimeout(resolve, 2));
      duringApply = answered;
    }
    // The serving thread was free the whole time: with verification on it, not one reply would come in before the offer settled.
    expect(settled).toEqual({ result: 'applied', generation: 2 });
    expect(duringApply).toBeGreaterThanOrEqual(3);
    expect(resolver.store.current()?.generation).toBe(2);
    expect((await udpQuery(port, query)).answers).toHaveLength(1);
  });

  it('takes candidates one at a time: the newest generation wins whatever the order', async () => {
    const { store: s } = store();
    const results = await Promise.all([s.offer(gzipped(at(13)), 'push'), s.offer(gzipped(at(11)), 'push'), s.offer(gzipped(at(12)), 'file')]);
    expect(results.map((r) => (r.result === 'rejected' ? r.reason : r.result))).toEqual(['applied', 'rejected_rollback', 'rejected_rollback']);
    expect(s.current()?.generation).toBe(13);
    const ascending = await Promise.all([s.offer(gzipped(at(14)), 'push'), s.offer(gzipped(at(15)), 'push'), s.offer(gzipped(at(15)), 'push')]);
    expect(ascending).toEqual([
      { result: 'applied', generation: 14 },
      { result: 'applied', generation: 15 },
      { result: 'unchanged', generation: 15 },
    ]);
    expect(s.current()?.generation).toBe(15);
  });

  it('records the apply in the metrics: wall time, longest event-loop delay, size as received', async () => {
    const { store: s, metrics } = store();
    const bytes = gzipped(at(3));
    await s.offer(bytes, 'push');
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/^holdfast_snapshot_apply_duration_seconds 0\.\d+$/m);
    expect(text).toMatch(/^holdfast_snapshot_apply_max_loop_delay_seconds \d/m);
    expect(text).toContain(`holdfast_snapshot_bytes ${bytes.length}`);
    expect(text).toContain('holdfast_snapshot_loads_total{source="push",result="applied"} 1');
  });
});

describe('rejections in the verification process', () => {
  const small = (generation: number): SnapshotV1 => ({ ...LARGE, generation, services: LARGE.services.slice(0, 20) });
  const plain = (snapshot: SnapshotV1, key = trusted.privateKey) => Buffer.from(JSON.stringify(signSnapshot(snapshot, key)));
  it.each([
    { what: 'corrupt gzip', bytes: () => Buffer.concat([gzipped(small(9)).subarray(0, 60), Buffer.alloc(40)]), reason: 'rejected_schema' },
    { what: 'not JSON', bytes: () => Buffer.from('{"snapshot": '), reason: 'rejected_schema' },
    { what: 'a bad signature', bytes: () => plain(small(9), stranger.privateKey), reason: 'rejected_signature' },
    { what: 'a tampered snapshot', bytes: () => Buffer.from(JSON.stringify({ ...signSnapshot(small(9), trusted.privateKey), snapshot: small(10) })), reason: 'rejected_signature' },
    { what: 'another cluster domain', bytes: () => plain({ ...small(9), clusterDomain: 'other.local' }), reason: 'rejected_schema' },
    { what: 'an older generation', bytes: () => plain(small(1)), reason: 'rejected_rollback' },
    { what: 'a gzip bomb', bytes: () => gzipSync(Buffer.alloc(70 * 1024 * 1024, 0x20)), reason: 'rejected_too_large' },
  ])('$what: $reason, as on the serving thread', async ({ bytes, reason }) => {
    const input = bytes();
    const outcomes: OfferResult[] = [];
    for (const inlineMaxBytes of [0, Number.MAX_SAFE_INTEGER]) {
      const { store: s } = store({ inlineMaxBytes });
      expect((await s.offer(plain(small(5)), 'push')).result).toBe('applied');
      outcomes.push(await s.offer(input, 'push'));
      expect(s.current()?.generation).toBe(5);
    }
    expect(outcomes[0]).toMatchObject({ result: 'rejected', reason });
    expect(outcomes[1]).toEqual(outcomes[0]);
  });
});

describe('the verification process', () => {
  const request = (generation: number) => ({ bytes: gzipped(at(generation)), clusterDomain: 'cluster.local', trustedKeys: [trusted.publicKey], allowUnsigned: false, ttl: 5, current: undefined, currentDigest: undefined });

  it('gives the same zone as verifying in place', async () => {
    const verifier = new Verifier(quietLogger(), 0);
    defer(() => verifier.close());
    const there = await verifier.verify(request(4));
    const here = verifyCandidate(request(4));
    expect(there).toEqual(here);
  });

  it('stays for idleMs, is reused meanwhile, and is ended by close()', async () => {
    const verifier = new Verifier(quietLogger(), 60_000);
    expect((await verifier.verify(request(4))).kind).toBe('image');
    const pid = verifier.processId();
    expect(pid).toBeGreaterThan(0);
    expect((await verifier.verify(request(5))).kind).toBe('image');
    expect(verifier.processId()).toBe(pid);
    await verifier.close();
    expect(verifier.processId()).toBeUndefined();
    expect(() => process.kill(pid as number, 0)).toThrow(/ESRCH/);
    expect(await verifier.verify(request(6))).toMatchObject({ kind: 'error', message: 'the resolver is stopping' });
  });

  it('verifies on the calling thread when the process cannot start', async () => {
    const verifier = new Verifier(quietLogger(), 0, new URL('file:///nonexistent/verify-process.js'));
    defer(() => verifier.close());
    expect((await verifier.verify(request(4))).kind).toBe('image');
  });

  it('rejects the candidate in flight when the resolver stops', async () => {
    const { store: s } = store();
    const pending = s.offer(gzipped(at(7)), 'push');
    await new Promise((resolve) => setTimeout(resolve, 20));
    await s.close();
    expect(await pending).toMatchObject({ result: 'rejected', reason: 'rejected_other' });
  });
});

describe('answers carried over to the next zone', () => {
  const query = (name: string, type: number): Query => {
    const parsed = parseQuery(encodeQuery(name, type));
    if (parsed.kind !== 'query') throw new Error('bad query');
    return parsed.query;
  };
  const names = LARGE.services.slice(0, 40).filter((s) => s.type !== 'ExternalName').map((s) => `${s.name}.${s.namespace}.svc.cluster.local`);

  it('reuses the encoded answers of unchanged names and re-encodes changed ones', () => {
    const old = ClusterZone.fromSnapshot(at(1), { ttl: 5 });
    for (const name of names) old.answer(query(name, RRType.A));
    const changed = LARGE.services.findIndex((s) => !s.headless && s.type !== 'ExternalName' && s.clusterIPs.length === 1);
    const next = at(2, { ...LARGE, services: LARGE.services.map((s, i) => (i === changed ? { ...s, clusterIPs: ['10.99.0.1'] } : s)) });
    const zone = ClusterZone.fromSnapshot(next, { ttl: 5 });
    zone.inherit(old);
    let rounds = 0;
    while (!zone.inheritSome(7)) rounds++;
    expect(rounds).toBeGreaterThan(2);
    const service = LARGE.services[changed]!;
    const changedName = `${service.name}.${service.namespace}.svc.cluster.local`;
    expect(names).toContain(changedName);
    expect(zone.inheritedAnswers).toBe(names.length - 1);
    for (const name of names.filter((n) => n !== changedName)) expect(zone.answer(query(name, RRType.A)).equals(old.answer(query(name, RRType.A))), name).toBe(true);
    const fresh = ClusterZone.fromSnapshot(next, { ttl: 5 });
    expect(zone.answer(query(changedName, RRType.A)).equals(fresh.answer(query(changedName, RRType.A)))).toBe(true);
    expect(zone.answer(query(changedName, RRType.A)).equals(old.answer(query(changedName, RRType.A)))).toBe(false);
  });

  it('never carries over the SOA, whose serial follows the generation', () => {
    const old = ClusterZone.fromSnapshot(at(1), { ttl: 5 });
    old.answer(query('cluster.local', RRType.SOA));
    const zone = ClusterZone.fromSnapshot(at(2), { ttl: 5 });
    zone.inherit(old);
    while (!zone.inheritSome(100));
    const fresh = ClusterZone.fromSnapshot(at(2), { ttl: 5 });
    expect(zone.answer(query('cluster.local', RRType.SOA)).equals(fresh.answer(query('cluster.local', RRType.SOA)))).toBe(true);
  });
});
