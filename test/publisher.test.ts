/**
 * The publisher end to end: a fake kube-apiserver in this process speaking the
 * real list/watch protocol (so client-node's informers run for real), the
 * publisher, and resolvers receiving its pushes — every hop over real sockets
 * on loopback. Covers initial sync, changes reaching DNS answers within the
 * debounce plus a second, API outages, restarts, leader handover, targets that
 * are down, discovery, and a resolver killed while the API is down.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Publisher } from '../publisher/publisher.js';
import { STATE_FILES } from '../publisher/state.js';
import type { Resolver } from '../resolver/resolver.js';
import { startFakeApiserver, daemonSet, endpointSlice, pod, service } from './helpers/apiserver.js';
import type { FakeApiserver } from './helpers/apiserver.js';
import { startResolver } from './helpers/dns.js';
import { serveResolver, spawnHoldfast } from './helpers/process.js';
import { addresses, FAST, startPublisher, until, writeKeys } from './helpers/publisher.js';
import type { KeyFiles } from './helpers/publisher.js';

const WEB = 'web.default.svc.cluster.local';
const API = 'api.default.svc.cluster.local';
const LEASE = ['kube-system', 'holdfast-publisher'] as const;

let dir: string;
let keys: KeyFiles;
let api: FakeApiserver;
const cleanups: (() => Promise<void>)[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'holdfast-publisher-'));
  keys = await writeKeys(dir);
  api = await startFakeApiserver();
  api.apply(service('default', 'web', { clusterIP: '10.96.0.10' }));
  api.apply(endpointSlice('default', 'web-a1', 'web', ['10.0.0.1']));
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await api.close();
  await rm(dir, { recursive: true, force: true });
});

async function publisher(flags: Record<string, string | string[]> = {}): Promise<Publisher> {
  const p = await startPublisher(api, dir, keys, flags);
  cleanups.push(() => p.stop());
  return p;
}

/** A resolver trusting the test key, receiving pushes on 127.0.0.1 (or `receiver`). */
async function resolver(receiver = '127.0.0.1:0', stateDir = join(dir, `resolver-${cleanups.length}`)): Promise<{ resolver: Resolver; port: number; target: string }> {
  const r = await startResolver({ 'receiver-listen': receiver, 'trust-key': keys.publicKey, 'state-dir': stateDir });
  cleanups.push(() => r.resolver.stop());
  const address = r.resolver.receiverAddress;
  return { resolver: r.resolver, port: r.port, target: `http://${address?.host ?? ''}:${address?.port ?? 0}` };
}

/** A port free on 127.0.0.1 right now. */
async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function metric(port: number, line: RegExp): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const m = text.split('\n').find((l) => line.test(l));
  return m === undefined ? 0 : Number(m.split(' ').pop());
}

describe('publishing', () => {
  it('publishes the cluster at start; adds, updates and deletes reach DNS answers within the debounce plus a second', async () => {
    const r = await resolver();
    const p = await publisher({ target: [r.target] });
    await until(() => addresses(r.port, WEB), '10.96.0.10');
    const first = p.currentGeneration() ?? 0;

    api.apply(service('default', 'api', { clusterIP: '10.96.0.20' }));
    expect(await until(() => addresses(r.port, API), '10.96.0.20', 3000)).toBeLessThan(200 + 1000);

    api.apply(service('default', 'db', { clusterIP: 'None' }));
    api.apply(endpointSlice('default', 'db-x', 'db', ['10.0.1.1', '10.0.1.2']));
    expect(await until(() => addresses(r.port, 'db.default.svc.cluster.local'), '10.0.1.1,10.0.1.2', 3000)).toBeLessThan(1200);
    api.apply(endpointSlice('default', 'db-x', 'db', ['10.0.1.3']));
    expect(await until(() => addresses(r.port, 'db.default.svc.cluster.local'), '10.0.1.3', 3000)).toBeLessThan(1200);

    api.remove('Service', 'default', 'api');
    expect(await until(() => addresses(r.port, API), 'NXDOMAIN', 3000)).toBeLessThan(1200);
    expect(p.currentGeneration()).toBeGreaterThan(first);

    const port = p.address?.port ?? 0;
    expect(await metric(port, /^holdfast_publisher_pushes_total\{result="applied"\}/)).toBeGreaterThanOrEqual(4);
    expect(await metric(port, /^holdfast_publisher_leader /)).toBe(1);
    expect(await metric(port, /^holdfast_publisher_watch_events_total\{resource="endpointslices",type="ADDED"\}/)).toBeGreaterThanOrEqual(1);
    await until(() => metric(port, new RegExp(`^holdfast_publisher_target_lag_generations\\{target="${r.target}/v1/snapshot"\\}`)), 0);
  });

  it('follows bookmarks, and after 410 Gone re-lists and converges, deletes made while disconnected included', async () => {
    api.apply(service('default', 'api', { clusterIP: '10.96.0.20' }));
    const r = await resolver();
    const p = await publisher({ target: [r.target] });
    await until(() => addresses(r.port, API), '10.96.0.20');
    const port = p.address?.port ?? 0;
    api.bookmark();
    await until(async () => (await metric(port, /^holdfast_publisher_watch_events_total\{resource="services",type="BOOKMARK"\}/)) > 0, true);

    // An apiserver restart: streams end, and history before the restart is gone.
    const listsBefore = api.requests.filter((q) => q.path === '/api/v1/services' && q.query['watch'] === undefined).length;
    api.closeWatches();
    api.remove('Service', 'default', 'api');
    api.apply(service('default', 'new', { clusterIP: '10.96.0.30' }));
    api.compact();
    await until(() => addresses(r.port, 'new.default.svc.cluster.local'), '10.96.0.30', 5000);
    await until(() => addresses(r.port, API), 'NXDOMAIN');
    const lists = api.requests.filter((q) => q.path === '/api/v1/services' && q.query['watch'] === undefined).length;
    expect(lists).toBe(listsBefore + 1);
  });

  it('serves GET /v1/snapshot with an ETag, gzip on request, and 304 for the current generation', async () => {
    const p = await publisher({ lease: 'none' });
    await until(() => p.currentGeneration() !== undefined, true);
    const url = `http://127.0.0.1:${p.address?.port ?? 0}/v1/snapshot`;
    const plain = await fetch(url, { headers: { 'accept-encoding': 'identity' } });
    const etag = plain.headers.get('etag');
    expect(etag).toBe(`"${p.currentGeneration()}"`);
    const body = JSON.parse(await plain.text()) as { snapshot: { services: { name: string }[] }; signature: { keyId: string } };
    expect(body.snapshot.services.map((s) => s.name)).toEqual(['web']);
    expect(body.signature.keyId).toMatch(/^[0-9a-f]{16}$/);
    const again = await fetch(url, { headers: { 'if-none-match': etag ?? '' } });
    expect(again.status).toBe(304);
    const ready = await fetch(`http://127.0.0.1:${p.address?.port ?? 0}/readyz`);
    expect(ready.status).toBe(200);
  });

  it('feeds a resolver that pulls (--snapshot-url): new generations arrive, unchanged ones cost a 304', async () => {
    const p = await publisher({ lease: 'none' });
    await until(() => p.currentGeneration() !== undefined, true);
    const r = await startResolver({ 'snapshot-url': `http://127.0.0.1:${p.address?.port ?? 0}`, 'snapshot-pull-interval': '200ms', 'trust-key': keys.publicKey });
    cleanups.push(() => r.resolver.stop());
    await until(() => addresses(r.port, WEB), '10.96.0.10');
    api.apply(service('default', 'api', { clusterIP: '10.96.0.20' }));
    await until(() => addresses(r.port, API), '10.96.0.20', 3000);
    const port = p.address?.port ?? 0;
    await until(async () => (await metric(port, /^holdfast_publisher_pull_requests_total\{result="304"\}/)) >= 2, true);
    expect(await metric(port, /^holdfast_publisher_pull_requests_total\{result="200"\}/)).toBe(2);
  });
});

describe('when things fail', () => {
  it('keeps the last snapshot through an apiserver outage, without hammering it, and publishes again after', async () => {
    const r = await resolver();
    const p = await publisher({ target: [r.target] });
    await until(() => addresses(r.port, WEB), '10.96.0.10');
    const before = p.currentGeneration();

    await api.outage('503');
    const port = p.address?.port ?? 0;
    await until(async () => (await metric(port, /^holdfast_publisher_informer_errors_total\{resource="services"\}/)) > 0, true, 5000);
    const from = api.requests.length;
    await new Promise((resolve) => setTimeout(resolve, 2000));
    // Two informers backing off from 1 s, the lease every 200 ms: a trickle, not a loop.
    expect(api.requests.length - from).toBeLessThan(25);
    expect(await addresses(r.port, WEB)).toBe('10.96.0.10');
    expect(p.currentGeneration()).toBe(before);
    expect((await fetch(`http://127.0.0.1:${port}/v1/snapshot`)).headers.get('etag')).toBe(`"${before}"`);

    await api.restore();
    api.apply(service('default', 'api', { clusterIP: '10.96.0.20' }));
    await until(() => addresses(r.port, API), '10.96.0.20', 10_000);
    expect(p.currentGeneration()).toBeGreaterThan(before ?? 0);
  });

  it('keeps pushing to a target that is down, with backoff, until it is back', async () => {
    const receiverPort = await freePort();
    const p = await publisher({ target: [`http://127.0.0.1:${receiverPort}`] });
    await until(() => (p.targetStatus()[0]?.failures ?? 0) >= 2, true, 5000);
    expect(p.targetStatus()[0]?.lastResult).toBe('unreachable');
    const r = await resolver(`127.0.0.1:${receiverPort}`);
    await until(() => addresses(r.port, WEB), '10.96.0.10', 3000);
    await until(() => p.targetStatus()[0]?.lag, 0);
  });

  it('survives its own restart without going back in generation, serving the persisted snapshot while the API is down', async () => {
    const state = join(dir, 'publisher-state');
    const r = await resolver();
    const p1 = await publisher({ target: [r.target], 'state-dir': state });
    await until(() => addresses(r.port, WEB), '10.96.0.10');
    const g1 = p1.currentGeneration() ?? 0;
    await p1.stop();

    await api.outage('refuse');
    const p2 = await publisher({ target: [r.target], 'state-dir': state });
    expect(p2.currentGeneration()).toBe(g1);
    const res = await fetch(`http://127.0.0.1:${p2.address?.port ?? 0}/v1/snapshot`, { headers: { 'accept-encoding': 'gzip' } });
    expect(res.headers.get('etag')).toBe(`"${g1}"`);

    await api.restore();
    api.apply(service('default', 'api', { clusterIP: '10.96.0.20' }));
    await until(() => addresses(r.port, API), '10.96.0.20', 10_000);
    expect(p2.currentGeneration()).toBeGreaterThan(g1);
    const meta = JSON.parse(await readFile(join(state, STATE_FILES.meta), 'utf8')) as { generation: number };
    expect(meta.generation).toBe(p2.currentGeneration());
  });

  it('a resolver killed with -9 while the API is down answers from its persisted snapshot as soon as it is back', async () => {
    const state = join(dir, 'resolver-state');
    const common = ['--trust-key', keys.publicKey, '--state-dir', state, '--upstream', '127.0.0.1:9'];
    const first = await serveResolver([...common, '--receiver-listen', '127.0.0.1:0']);
    const receiver = (first.proc.logs.find((l) => l['msg'] === 'resolver serving')?.['receiver'] ?? {}) as { port: number };
    const p = await publisher({ target: [`http://127.0.0.1:${receiver.port}`] });
    await until(() => addresses(first.port, WEB), '10.96.0.10');
    // The receiver answers 204 once the snapshot is also on disk; the zone is served a moment before.
    await until(() => p.targetStatus()[0]?.lastResult, 'applied');

    await api.outage('refuse');
    first.proc.child.kill('SIGKILL');
    await first.proc.exited;
    const second = await serveResolver(common);
    expect(await addresses(second.port, WEB)).toBe('10.96.0.10');
  });
});

describe('replicas', () => {
  it('a standby takes over within the lease duration when the leader is killed, and generations keep rising', async () => {
    const r = await resolver();
    const kubeconfig = await api.kubeconfig(dir);
    const flags = Object.entries({ ...FAST, kubeconfig, 'signing-key': keys.privateKey, target: r.target, identity: 'replica-a', 'log-level': 'info' }).flatMap(([k, v]) => [`--${k}`, v]);
    const a = spawnHoldfast(['publisher', ...flags]);
    await a.waitLog(/became the leader/);
    await until(() => addresses(r.port, WEB), '10.96.0.10');
    const b = await publisher({ target: [r.target], identity: 'replica-b' });
    const standby = await fetch(`http://127.0.0.1:${b.address?.port ?? 0}/readyz`);
    expect(standby.status).toBe(503);
    expect(await standby.json()).toMatchObject({ ready: false, leader: false });
    expect(api.get('Lease', ...LEASE)?.['spec']).toMatchObject({ holderIdentity: 'replica-a' });
    const generationA = Number((api.get('Lease', ...LEASE)?.['metadata'] as { annotations: Record<string, string> }).annotations['holdfast.io/generation']);

    a.child.kill('SIGKILL');
    const killed = performance.now();
    await until(() => (api.get('Lease', ...LEASE)?.['spec'] as { holderIdentity?: string }).holderIdentity, 'replica-b', 5000);
    expect(performance.now() - killed).toBeLessThan(1000 + 1000); // lease duration + one renew period and slack

    api.apply(service('default', 'api', { clusterIP: '10.96.0.20' }));
    await until(() => addresses(r.port, API), '10.96.0.20', 3000);
    expect(b.currentGeneration()).toBeGreaterThan(generationA);
  });

  it('a leader shutting down releases the lease, so the standby takes over at its next try', async () => {
    const a = await startPublisher(api, dir, keys, { identity: 'replica-a' });
    await until(() => a.currentGeneration() !== undefined, true);
    const b = await publisher({ identity: 'replica-b' });
    const before = a.currentGeneration() ?? 0;
    await a.stop();
    const stopped = performance.now();
    await until(() => (api.get('Lease', ...LEASE)?.['spec'] as { holderIdentity?: string }).holderIdentity, 'replica-b', 3000);
    expect(performance.now() - stopped).toBeLessThan(700);
    await until(() => (b.currentGeneration() ?? 0) > before, true, 3000);
  });
});

describe('discovery', () => {
  it('pushes to the pods of the resolver DaemonSet, and to the persisted list while the API is down', async () => {
    const port = await freePort('127.0.0.2');
    const one = await resolver(`127.0.0.2:${port}`);
    const two = await resolver(`127.0.0.3:${port}`);
    api.apply(daemonSet('kube-system', 'holdfast', { app: 'holdfast' }));
    api.apply(pod('kube-system', 'holdfast-1', { app: 'holdfast' }, '127.0.0.2'));
    api.apply(pod('kube-system', 'holdfast-2', { app: 'holdfast' }, '127.0.0.3'));
    api.apply(pod('kube-system', 'other', { app: 'other' }, '127.0.0.4'));
    const state = join(dir, 'publisher-state');
    const p = await publisher({ discover: 'kube-system/holdfast', 'target-port': String(port), 'state-dir': state });
    await until(() => addresses(one.port, WEB), '10.96.0.10');
    await until(() => addresses(two.port, WEB), '10.96.0.10');
    const persisted = async () => (await readFile(join(state, STATE_FILES.targets), 'utf8')).replace(/\s/g, '');
    await until(persisted, JSON.stringify([`http://127.0.0.2:${port}/v1/snapshot`, `http://127.0.0.3:${port}/v1/snapshot`]));
    await p.stop();

    // The API goes away; node two's resolver is replaced by one without state.
    await api.outage('refuse');
    await two.resolver.stop();
    const fresh = await resolver(`127.0.0.3:${port}`, join(dir, 'fresh-state'));
    expect(await addresses(fresh.port, WEB)).toBe('SERVFAIL');
    await publisher({ discover: 'kube-system/holdfast', 'target-port': String(port), 'state-dir': state });
    await until(() => addresses(fresh.port, WEB), '10.96.0.10', 3000);
  });
});
