/**
 * The fake kube-apiserver (test/helpers/apiserver.ts) against the real
 * @kubernetes/client-node 2.x: lists, informers (ListWatch), bookmarks, 410
 * re-lists, outages, Lease concurrency and paging behave as on a real cluster.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { AppsV1Api, CoordinationV1Api, CoreV1Api, KubeConfig, ListWatch, V1MicroTime, Watch, makeInformer } from '@kubernetes/client-node';
import type { KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import { cleanupAfterEach } from './helpers/cleanup.js';
import { daemonSet, endpointSlice, pod, service, startFakeApiserver } from './helpers/apiserver.js';
import type { FakeApiserver, FakeApiserverOptions } from './helpers/apiserver.js';
import { eventually } from './upstream-helpers.js';

const { defer } = cleanupAfterEach();

async function apiserver(options?: FakeApiserverOptions): Promise<FakeApiserver> {
  const api = await startFakeApiserver(options);
  defer(() => api.close());
  return api;
}

/** A ListWatch (not started) with the callbacks logged and no reconnect back-off. */
function informer<T extends KubernetesObject>(api: FakeApiserver, path: string, list: () => Promise<KubernetesListObject<T>>) {
  const lw = new ListWatch<T>(path, new Watch(api.kubeConfig()), list, false, undefined, undefined, { delayFn: () => Promise.resolve() });
  const log: string[] = [];
  const errors: unknown[] = [];
  lw.on('add', (o) => log.push(`add ${o.metadata?.name ?? ''}`));
  lw.on('update', (o) => log.push(`update ${o.metadata?.name ?? ''}`));
  lw.on('delete', (o) => log.push(`delete ${o.metadata?.name ?? ''}`));
  lw.on('error', (e) => errors.push(e));
  defer(() => lw.stop());
  const names = () => lw.list().map((o) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`).sort();
  return { lw, log, errors, names };
}

function serviceInformer(api: FakeApiserver, path = '/api/v1/services') {
  const core = api.kubeConfig().makeApiClient(CoreV1Api);
  return informer(api, path, () => core.listServiceForAllNamespaces());
}

/** A fake apiserver with services `names` in 'default', and a started service informer whose watch is open. */
async function watchedServices(names: readonly string[], path?: string) {
  const api = await apiserver();
  for (const name of names) api.apply(service('default', name));
  const watched = serviceInformer(api, path);
  await watched.lw.start();
  await eventually(() => api.openWatches === 1);
  return { api, ...watched };
}

const watchRequests = (api: FakeApiserver) => api.requests.filter((r) => r.query['watch'] === 'true');
const listRequests = (api: FakeApiserver) => api.requests.filter((r) => r.query['watch'] === undefined);

/** Opens a raw watch with client-node's Watch; resolves with the events once the server ends the stream. */
function watchUntilEnd(api: FakeApiserver, path: string, query: Record<string, string>, onEvent?: (type: string) => void) {
  const events: { type: string; object: KubernetesObject & { code?: number; reason?: string } }[] = [];
  return new Promise<typeof events>((resolve, reject) => {
    void new Watch(api.kubeConfig()).watch(
      path,
      query,
      (type, object) => {
        events.push({ type, object });
        onEvent?.(type);
      },
      (err) => (err ? reject(err as Error) : resolve(events)),
    );
  });
}

describe('lists and gets', () => {
  test('lists in the real shape: items without kind, one resourceVersion; gets carry kind; absent is a 404 Status', async () => {
    const api = await apiserver();
    api.apply(service('default', 'web', { clusterIP: '10.96.0.10' }));
    api.apply(endpointSlice('default', 'web-abc', 'web', ['10.0.0.1', { address: '10.0.0.2', ready: false }]));
    const raw = (await (await fetch(`${api.url}/apis/discovery.k8s.io/v1/namespaces/default/endpointslices`)).json()) as Record<string, unknown>;
    expect(raw).toMatchObject({ kind: 'EndpointSliceList', apiVersion: 'discovery.k8s.io/v1', metadata: { resourceVersion: api.resourceVersion } });
    const [item] = raw['items'] as Record<string, unknown>[];
    expect(item?.['kind']).toBeUndefined();
    expect(item).toMatchObject({ addressType: 'IPv4', metadata: { labels: { 'kubernetes.io/service-name': 'web' } } });

    const core = api.kubeConfig().makeApiClient(CoreV1Api);
    const services = await core.listServiceForAllNamespaces();
    const [svc] = services.items;
    // The generated client deserialises lists: Date objects for timestamps, no kind on items.
    expect(svc?.kind).toBeUndefined();
    expect(svc?.metadata?.creationTimestamp).toBeInstanceOf(Date);
    expect(svc?.spec?.clusterIP).toBe('10.96.0.10');
    const one = (await (await fetch(`${api.url}/api/v1/namespaces/default/services/web`)).json()) as Record<string, unknown>;
    expect(one).toMatchObject({ kind: 'Service', apiVersion: 'v1', metadata: { name: 'web', uid: expect.any(String) } });

    const apps = api.kubeConfig().makeApiClient(AppsV1Api);
    const absent = await apps.readNamespacedDaemonSet({ namespace: 'kube-system', name: 'holdfast' }).catch((e: unknown) => e);
    // Errors are ApiException with the code; the body of an undeclared code is the raw JSON text.
    expect(absent).toMatchObject({ code: 404 });
    expect(JSON.parse((absent as { body: string }).body)).toMatchObject({ kind: 'Status', reason: 'NotFound', code: 404, details: { name: 'holdfast', group: 'apps', kind: 'daemonsets' } });
    api.apply(daemonSet('kube-system', 'holdfast', { app: 'holdfast' }));
    expect((await apps.readNamespacedDaemonSet({ namespace: 'kube-system', name: 'holdfast' })).spec?.selector.matchLabels).toEqual({ app: 'holdfast' });
    expect((await fetch(`${api.url}/api/v1/widgets`)).status).toBe(404);
  });

  test('label selectors pick pods in one namespace or all', async () => {
    const api = await apiserver();
    api.apply(pod('kube-system', 'hf-1', { app: 'holdfast', tier: 'node' }, '10.0.0.1'));
    api.apply(pod('kube-system', 'hf-2', { app: 'holdfast', tier: 'edge' }, '10.0.0.2'));
    api.apply(pod('default', 'hf-3', { app: 'holdfast', tier: 'node' }, '10.0.0.3'));
    const core = api.kubeConfig().makeApiClient(CoreV1Api);
    const names = (list: { items: { metadata?: { name?: string } }[] }) => list.items.map((p) => p.metadata?.name);
    expect(names(await core.listNamespacedPod({ namespace: 'kube-system', labelSelector: 'app=holdfast,tier=node' }))).toEqual(['hf-1']);
    expect(names(await core.listPodForAllNamespaces({ labelSelector: 'tier==node' }))).toEqual(['hf-3', 'hf-1']);
    expect(names(await core.listPodForAllNamespaces({ labelSelector: 'tier in (node, edge),app!=other' }))).toEqual(['hf-3', 'hf-1', 'hf-2']);
    expect((await core.listNamespacedPod({ namespace: 'kube-system', labelSelector: 'app=holdfast' })).items[0]?.status?.podIP).toBe('10.0.0.1');
    await expect(core.listPodForAllNamespaces({ labelSelector: 'app=(' })).rejects.toMatchObject({ code: 400 });
  });

  test('limit and continue page through one consistent resourceVersion; a compacted continue is 410', async () => {
    const api = await apiserver();
    for (const name of ['a', 'b', 'c', 'd', 'e']) api.apply(service('default', name));
    const core = api.kubeConfig().makeApiClient(CoreV1Api);
    const first = await core.listServiceForAllNamespaces({ limit: 2 });
    expect(first.items.map((s) => s.metadata?.name)).toEqual(['a', 'b']);
    expect(first.metadata?.remainingItemCount).toBe(3);
    api.remove('Service', 'default', 'c');
    api.apply(service('default', 'bb'));
    const second = await core.listServiceForAllNamespaces({ limit: 2, _continue: first.metadata?._continue ?? '' });
    expect(second.items.map((s) => s.metadata?.name)).toEqual(['c', 'd']);
    expect(second.metadata?.resourceVersion).toBe(first.metadata?.resourceVersion);
    const third = await core.listServiceForAllNamespaces({ limit: 2, _continue: second.metadata?._continue ?? '' });
    expect(third.items.map((s) => s.metadata?.name)).toEqual(['e']);
    expect(third.metadata?._continue).toBeUndefined();
    api.compact();
    await expect(core.listServiceForAllNamespaces({ limit: 2, _continue: first.metadata?._continue ?? '' })).rejects.toMatchObject({ code: 410 });
  });
});

describe('informers', () => {
  test('initial list, then adds, updates and deletes from the watch', async () => {
    const { api, lw, log, errors, names } = await watchedServices(['web']);
    expect(names()).toEqual(['default/web']);
    api.apply(service('default', 'api'));
    api.apply(service('default', 'web', { clusterIP: '10.96.9.9' }));
    api.remove('Service', 'default', 'api');
    await eventually(() => log.length === 4);
    expect(log).toEqual(['add web', 'add api', 'update web', 'delete api']);
    // Watch events are raw JSON: kind present, timestamps are strings (list items had Dates and no kind).
    const web = lw.get('web', 'default') as KubernetesObject & { spec: { clusterIP: string } };
    expect(web).toMatchObject({ kind: 'Service', spec: { clusterIP: '10.96.9.9' } });
    expect(typeof web.metadata?.creationTimestamp).toBe('string');
    expect(lw.latestResourceVersion()).toBe(api.resourceVersion);
    expect(errors).toEqual([]);
    expect(api.openWatches).toBe(1);
  });

  test('a BOOKMARK (asked for in the path) advances latestResourceVersion without callbacks', async () => {
    const { api, lw, log } = await watchedServices(['web'], '/api/v1/services?allowWatchBookmarks=true');
    expect(watchRequests(api)[0]?.query['allowWatchBookmarks']).toBe('true');
    api.apply(pod('default', 'p', { app: 'x' }, '10.0.0.1'));
    expect(lw.latestResourceVersion()).not.toBe(api.resourceVersion);
    api.bookmark();
    await eventually(() => lw.latestResourceVersion() === api.resourceVersion);
    expect(log).toEqual(['add web']);
  });

  test('compact + closeWatches: the resume gets 410, the ListWatch re-lists and converges, deletes included', async () => {
    const { api, lw, log, errors, names } = await watchedServices(['a', 'b', 'c']);
    const seen = lw.latestResourceVersion();
    // All in one tick: the ended streams carry none of these changes.
    api.closeWatches();
    api.remove('Service', 'default', 'b');
    api.apply(service('default', 'c', { clusterIP: '10.96.7.7' }));
    api.apply(service('default', 'd'));
    api.compact();
    await eventually(() => names().join() === 'default/a,default/c,default/d' && api.openWatches === 1);
    expect(log.slice(3).sort()).toEqual(['add d', 'delete b', 'update c']);
    expect(watchRequests(api).map((r) => r.query['resourceVersion'])).toEqual(['4', seen, api.resourceVersion]);
    expect(listRequests(api)).toHaveLength(2);
    expect(errors).toEqual([]);
  });

  test('a 503 outage reaches the error callback and the ListWatch stays down until start() after restore', async () => {
    const { api, lw, errors, names } = await watchedServices(['a']);
    await api.outage('503');
    await eventually(() => errors.length === 1);
    expect(errors[0]).toMatchObject({ statusCode: 503 });
    const requestsSoFar = api.requests.length;
    api.remove('Service', 'default', 'a');
    api.apply(service('default', 'b'));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(api.requests.length).toBe(requestsSoFar);
    await api.restore();
    await lw.start();
    await eventually(() => names().join() === 'default/b');
    expect(errors).toHaveLength(1);
  });

  test("a 'refuse' outage cuts the watch and refuses connections; restore listens on the same port", async () => {
    const { api, lw, errors, names } = await watchedServices(['a']);
    await api.outage('refuse');
    await eventually(() => errors.length >= 1);
    // undici's TypeError: 'terminated' (cause: other side closed) for the cut stream, 'fetch failed' for a refused connect.
    expect(errors[0]).toBeInstanceOf(TypeError);
    await expect(fetch(`${api.url}/api/v1/services`)).rejects.toMatchObject({ cause: { code: 'ECONNREFUSED' } });
    api.apply(service('default', 'b'));
    await api.restore();
    await lw.start();
    await eventually(() => names().join() === 'default/a,default/b');
  });

  test('makeInformer works against the fake with a kubeconfig file and a required token', async () => {
    const api = await apiserver({ token: 's3cret' });
    expect((await fetch(`${api.url}/api/v1/services`)).status).toBe(401);
    const dir = await mkdtemp(join(tmpdir(), 'holdfast-apiserver-'));
    defer(() => rm(dir, { recursive: true, force: true }));
    const config = new KubeConfig();
    config.loadFromFile(await api.kubeconfig(dir));
    const core = config.makeApiClient(CoreV1Api);
    api.apply(service('default', 'web'));
    const inf = makeInformer(config, '/api/v1/namespaces/default/services', () => core.listNamespacedService({ namespace: 'default' }));
    defer(() => inf.stop());
    await inf.start();
    expect(inf.list().map((s) => s.metadata?.name)).toEqual(['web']);
    expect(api.requests.filter((r) => r.status === 401)).toHaveLength(1);
  });
});

describe('watch streams', () => {
  test('timeoutSeconds ends the stream; a compacted resourceVersion gets one ERROR 410 event', async () => {
    const api = await apiserver();
    api.apply(service('default', 'a'));
    const started = performance.now();
    const live = await watchUntilEnd(api, '/api/v1/services', { resourceVersion: '0', timeoutSeconds: '1' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(990);
    expect(live.map((e) => `${e.type} ${e.object.metadata?.name ?? ''}`)).toEqual(['ADDED a']);
    api.apply(service('default', 'b'));
    api.compact();
    const expired = await watchUntilEnd(api, '/api/v1/services', { resourceVersion: '2' });
    expect(expired).toEqual([{ type: 'ERROR', object: expect.objectContaining({ kind: 'Status', code: 410, reason: 'Expired' }) }]);
  });

  test('selector and namespace watches: an object that stops matching arrives as DELETED', async () => {
    const api = await apiserver();
    const from = api.resourceVersion;
    api.apply(pod('other', 'x', { app: 'holdfast' }, '10.0.0.9'));
    api.apply(pod('kube-system', 'p', { app: 'holdfast' }, '10.0.0.1'));
    api.apply(pod('kube-system', 'p', { app: 'moved' }, '10.0.0.1'));
    api.apply(pod('kube-system', 'p', { app: 'holdfast' }, '10.0.0.2'));
    let count = 0;
    const events = watchUntilEnd(api, '/api/v1/namespaces/kube-system/pods', { resourceVersion: from, labelSelector: 'app=holdfast' }, () => {
      if (++count === 4) api.closeWatches();
    });
    api.remove('Pod', 'kube-system', 'p');
    const got = (await events).map((e) => `${e.type} ${String(e.object.metadata?.labels?.['app'])} ${e.object.metadata?.resourceVersion ?? ''}`);
    expect(got).toEqual(['ADDED holdfast 3', 'DELETED holdfast 4', 'ADDED holdfast 5', 'DELETED holdfast 6']);
  });
});

describe('leases', () => {
  test('create, AlreadyExists, Conflict on a stale resourceVersion, Invalid without one, MicroTime format', async () => {
    const api = await apiserver();
    const leases = api.kubeConfig().makeApiClient(CoordinationV1Api);
    const ns = 'kube-system';
    await expect(leases.readNamespacedLease({ namespace: ns, name: 'holdfast' })).rejects.toMatchObject({ code: 404 });
    const body = { metadata: { name: 'holdfast' }, spec: { holderIdentity: 'node-a', leaseDurationSeconds: 15, renewTime: new V1MicroTime() } };
    const created = await leases.createNamespacedLease({ namespace: ns, body });
    expect(created.metadata?.resourceVersion).toBe(api.resourceVersion);
    // MicroTime fields come back as strings (the generated client does not turn them into Dates).
    expect(created.spec?.renewTime).toMatch(/\.\d{6}Z$/);
    await expect(leases.createNamespacedLease({ namespace: ns, body })).rejects.toMatchObject({ code: 409 });

    const renew = (resourceVersion: string | undefined, renewTime: Date = new V1MicroTime()) =>
      leases.replaceNamespacedLease({ namespace: ns, name: 'holdfast', body: { metadata: { name: 'holdfast', ...(resourceVersion === undefined ? {} : { resourceVersion }) }, spec: { holderIdentity: 'node-a', renewTime } } });
    const renewed = await renew(created.metadata?.resourceVersion);
    expect(Number(renewed.metadata?.resourceVersion)).toBeGreaterThan(Number(created.metadata?.resourceVersion));
    expect(renewed.metadata?.uid).toBe(created.metadata?.uid);
    const stale = await renew(created.metadata?.resourceVersion).catch((e: unknown) => e);
    expect(stale).toMatchObject({ code: 409 });
    expect(JSON.parse((stale as { body: string }).body)).toMatchObject({ reason: 'Conflict' });
    await expect(renew(undefined)).rejects.toMatchObject({ code: 422 });
    // A plain Date serialises with milliseconds, which a real apiserver cannot parse as MicroTime.
    await expect(renew(renewed.metadata?.resourceVersion, new Date())).rejects.toMatchObject({ code: 400 });
    expect(api.get('Lease', ns, 'holdfast')?.metadata.resourceVersion).toBe(renewed.metadata?.resourceVersion);
  });
});
