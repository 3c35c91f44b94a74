/**
 * Sidecar mode: the publisher's namespace-filtered snapshots (GET
 * /v1/snapshot?namespaces=a,b), a resolver pulling one with --namespaces as an
 * unprivileged user, answering from it and forwarding the names of other
 * namespaces, switching views, refusing a snapshot that is not the view it asked
 * for, never using itself as an upstream, and binding port 53 without any
 * capability in a pod-like network namespace (net.ipv4.ip_unprivileged_port_start,
 * as deploy/sidecar does). Everything over real sockets on loopback, against a
 * fake kube-apiserver speaking the real list/watch protocol.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Publisher } from '../publisher/publisher.js';
import { ConfigError } from '../common/errors.js';
import { loadConfig } from '../resolver/config.js';
import { RRType } from '../resolver/wire/constants.js';
import { encodeQuery } from '../resolver/wire/decode.js';
import { publicKeyFromPem, privateKeyFromPem } from '../snapshot/keys.js';
import { signSnapshot, verifySignature } from '../snapshot/sign.js';
import type { SignedSnapshot } from '../snapshot/types.js';
import { filterSnapshot } from '../snapshot/view.js';
import { endpointSlice, service, startFakeApiserver } from './helpers/apiserver.js';
import type { FakeApiserver } from './helpers/apiserver.js';
import { startResolver, udpQuery } from './helpers/dns.js';
import { netnsSupport } from './helpers/netns.js';
import { BIN, errorLines, runHoldfast, serveResolver, spawnHoldfast } from './helpers/process.js';
import { addresses, startPublisher, until, writeKeys } from './helpers/publisher.js';
import type { KeyFiles } from './helpers/publisher.js';
import { demoSnapshot } from './helpers/snapshots.js';
import { a, startUpstream } from './helpers/upstream.js';

/** nobody, nogroup. */
const NOBODY = 65534;

/**
 * Who the unprivileged resolvers run as: nobody, when nobody can run this
 * checkout's holdfast with this Node; else (a checkout in a 0700 directory such
 * as a fresh mktemp -d, or Node under /root) root with every capability dropped.
 * What the sidecar relies on is the same in both: no capability at all, so port 53
 * only through net.ipv4.ip_unprivileged_port_start.
 */
const UNPRIVILEGED = (() => {
  const asNobody = spawnSync(process.execPath, [BIN, '--help'], { uid: NOBODY, gid: NOBODY, cwd: '/', stdio: 'ignore' });
  const uid = asNobody.status === 0 ? NOBODY : 0;
  const ids = uid === NOBODY ? [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups'] : [];
  return { uid, command: ['setpriv', ...ids, '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs'] };
})();
/** What the stand-in kube-dns answers for every name. */
const KUBE_DNS_ANSWER = '10.200.0.1';

let dir: string;
let keys: KeyFiles;
let api: FakeApiserver;
const cleanups: (() => Promise<void>)[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'holdfast-sidecar-'));
  await chmod(dir, 0o755); // the unprivileged resolvers read the public key here
  keys = await writeKeys(dir);
  api = await startFakeApiserver();
  api.apply(service('shop', 'web', { clusterIP: '10.96.1.1' }));
  api.apply(endpointSlice('shop', 'web-a', 'web', ['10.1.0.1']));
  api.apply(service('payments', 'api', { clusterIP: '10.96.2.1' }));
  api.apply(service('other', 'secret', { clusterIP: '10.96.3.1' }));
  api.apply(service('kube-system', 'kube-dns', { clusterIP: '10.96.0.10' }));
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await api.close();
  await rm(dir, { recursive: true, force: true });
});

async function publisher(): Promise<{ publisher: Publisher; url: string }> {
  const p = await startPublisher(api, dir, keys, { lease: 'none' });
  cleanups.push(() => p.stop());
  await until(() => p.currentGeneration() !== undefined, true);
  return { publisher: p, url: `http://127.0.0.1:${p.address?.port ?? 0}/v1/snapshot` };
}

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  const res = await fetch(url, { headers });
  return { status: res.status, headers: Object.fromEntries(res.headers), body: Buffer.from(await res.arrayBuffer()) };
}

async function metric(port: number, line: RegExp): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const m = text.split('\n').find((l) => line.test(l));
  return m === undefined ? 0 : Number(m.split(' ').pop());
}

const namespacesOf = (signed: SignedSnapshot) => [...new Set(signed.snapshot.services.map((s) => s.namespace))].sort();

describe('publisher: namespace-filtered snapshots', () => {
  it('serves a view signed with its key, holding only the namespaces asked for, at the generation of the full snapshot, cached per set', async () => {
    const { publisher: p, url } = await publisher();
    const port = p.address?.port ?? 0;
    const full = await get(url);
    const fullSnapshot = JSON.parse(full.body.toString()) as SignedSnapshot;
    expect(namespacesOf(fullSnapshot)).toEqual(['kube-system', 'other', 'payments', 'shop']);

    const view = await get(`${url}?namespaces=shop,payments`, { 'accept-encoding': 'gzip' });
    expect(view.status).toBe(200);
    expect(view.headers['content-encoding']).toBe('gzip');
    expect(view.headers.etag).toBe(full.headers.etag);
    const signed = JSON.parse(view.body.toString()) as SignedSnapshot; // fetch has unpacked it
    expect(signed.snapshot.namespaces).toEqual(['payments', 'shop']);
    expect(namespacesOf(signed)).toEqual(['payments', 'shop']);
    expect(signed.snapshot.services.map((s) => `${s.namespace}/${s.name}`)).toEqual(['payments/api', 'shop/web']);
    expect(signed.snapshot.generation).toBe(fullSnapshot.snapshot.generation);
    expect(signed.snapshot.createdAt).toBe(fullSnapshot.snapshot.createdAt);
    // A real signature over the filtered content, by the publisher's key.
    const publicKey = publicKeyFromPem(await readFile(keys.publicKey, 'utf8'), keys.publicKey);
    expect(verifySignature(signed, [publicKey]).status).toBe('valid');
    const file = join(dir, 'view.json');
    await writeFile(file, JSON.stringify(signed));
    const inspected = await runHoldfast(['snapshot', 'inspect', file, '--trust-key', keys.publicKey]);
    expect(inspected.code).toBe(0);
    expect(inspected.stdout).toContain(`generation:     ${signed.snapshot.generation}`);
    expect(inspected.stdout).toMatch(/namespaces: +2 \(filtered to payments, shop\)/);
    expect(inspected.stdout).toMatch(/signature: +valid/);
    // The namespace list is signed too: widening it breaks the signature.
    const widened = { ...signed, snapshot: { ...signed.snapshot, namespaces: ['other', 'payments', 'shop'] } };
    expect(() => verifySignature(widened, [publicKey])).toThrow(/does not match/);

    // The same set in another spelling is the same view, from the cache; a 304 for its generation.
    const again = await get(`${url}?namespaces=shop&namespaces=payments,shop`);
    expect(JSON.parse(again.body.toString())).toEqual(signed);
    expect((await get(`${url}?namespaces=payments,shop`, { 'if-none-match': full.headers.etag ?? '' })).status).toBe(304);
    expect(await metric(port, /^holdfast_publisher_view_builds_total /)).toBe(1);
    expect(await metric(port, /^holdfast_publisher_view_cache_entries /)).toBe(1);
    expect(await metric(port, /^holdfast_publisher_filtered_pull_requests_total\{result="200"\}/)).toBe(2);
    expect(await metric(port, /^holdfast_publisher_filtered_pull_requests_total\{result="304"\}/)).toBe(1);
    expect(await metric(port, /^holdfast_publisher_pull_requests_total\{result="200"\}/)).toBe(3);

    // A change anywhere makes a new generation; the view follows it and is built again.
    api.apply(service('shop', 'cart', { clusterIP: '10.96.1.2' }));
    await until(() => p.currentGeneration() !== signed.snapshot.generation, true);
    const next = JSON.parse((await get(`${url}?namespaces=payments,shop`)).body.toString()) as SignedSnapshot;
    expect(next.snapshot.generation).toBe(p.currentGeneration());
    expect(next.snapshot.services.map((s) => `${s.namespace}/${s.name}`)).toEqual(['payments/api', 'shop/cart', 'shop/web']);
    expect(await metric(port, /^holdfast_publisher_view_builds_total /)).toBe(2);
  });

  it('answers 400 naming the problem for a bad namespace list or an unknown parameter', async () => {
    const { publisher: p, url } = await publisher();
    const cases: [string, RegExp][] = [
      ['namespaces=Shop', /namespaces: "Shop" is not a namespace name/],
      ['namespaces=', /namespaces: "" is not a namespace name/],
      ['namespaces=shop,,payments', /namespaces: "" is not a namespace name/],
      ['namespaces=shop/x', /"shop\/x" is not a namespace name/],
      [`namespaces=${Array.from({ length: 65 }, (_, i) => `ns${i}`).join(',')}`, /65 namespaces, more than the 64 a view may name/],
      ['ns=shop', /unknown query parameter "ns" \(only "namespaces" is known\)/],
    ];
    for (const [query, message] of cases) {
      const res = await get(`${url}?${query}`);
      expect(res.status, query).toBe(400);
      expect((JSON.parse(res.body.toString()) as { error: string }).error, query).toMatch(message);
    }
    const port = p.address?.port ?? 0;
    expect(await metric(port, /^holdfast_publisher_pull_requests_total\{result="400"\}/)).toBe(cases.length);
    expect(await metric(port, /^holdfast_publisher_view_builds_total /)).toBe(0);
  });
});

/** A state directory the unprivileged resolver may write (an emptyDir in the pod). */
async function ownedDir(name: string): Promise<string> {
  const path = join(dir, name);
  await mkdir(path);
  await chown(path, UNPRIVILEGED.uid, UNPRIVILEGED.uid);
  return path;
}

/** Uid and effective capabilities of a running process, from /proc. */
async function identity(pid: number): Promise<{ uid: string; capEff: string }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return { uid: /^Uid:\s+(\d+)/m.exec(status)?.[1] ?? '', capEff: /^CapEff:\s+(\S+)/m.exec(status)?.[1] ?? '' };
}

describe('resolver --namespaces (sidecar)', () => {
  it('runs without any capability (as nobody where it can), answers its namespaces from the pulled view and sends other names to its upstream', async () => {
    const { url } = await publisher();
    const kubeDns = await startUpstream({ kind: 'answer', records: [] });
    kubeDns.setBehaviour((q) => ({ kind: 'answer', records: [a(q.name, KUBE_DNS_ANSWER)] }));
    cleanups.push(() => kubeDns.close());
    const state = await ownedDir('state');
    const { proc, port, metricsPort } = await serveResolver(
      ['--snapshot-url', url, '--namespaces', 'shop,payments', '--trust-key', keys.publicKey, '--state-dir', state, '--upstream', kubeDns.address, '--cluster-fallback', kubeDns.address],
      {},
      { command: UNPRIVILEGED.command },
    );
    expect(await identity(proc.child.pid ?? 0)).toEqual({ uid: String(UNPRIVILEGED.uid), capEff: '0000000000000000' });

    // Until the first pull has brought the view, cluster names go to --cluster-fallback.
    await until(() => addresses(port, 'web.shop.svc.cluster.local'), '10.96.1.1');
    kubeDns.queries.splice(0);
    const web = await udpQuery(port, encodeQuery('web.shop.svc.cluster.local', RRType.A));
    expect(web.aa).toBe(true); // from the snapshot
    expect(await addresses(port, 'api.payments.svc.cluster.local')).toBe('10.96.2.1');
    expect(await addresses(port, 'nope.shop.svc.cluster.local')).toBe('NXDOMAIN');
    expect(kubeDns.queries).toEqual([]);
    // Other namespaces are not in the view: kube-dns answers them, not NXDOMAIN from here.
    expect(await addresses(port, 'secret.other.svc.cluster.local')).toBe(KUBE_DNS_ANSWER);
    expect(await addresses(port, 'example.org')).toBe(KUBE_DNS_ANSWER);
    expect(kubeDns.queries.map((q) => q.name)).toEqual(['secret.other.svc.cluster.local', 'example.org']);

    // The state file (an emptyDir in the pod) holds the view as pulled (gzip), written just after the swap.
    await until(() => readFile(join(state, 'snapshot.json')).then(() => true), true);
    expect(proc.logs.filter((l) => Number(l['level']) >= 50)).toEqual([]);
    const persisted = JSON.parse(gunzipSync(await readFile(join(state, 'snapshot.json'))).toString()) as SignedSnapshot;
    expect(persisted.snapshot.namespaces).toEqual(['payments', 'shop']);
    expect(namespacesOf(persisted)).toEqual(['payments', 'shop']);
    expect(await metric(metricsPort, /^holdfast_snapshot_loads_total\{source="pull",result="applied"\}/)).toBe(1);
  });

  it('takes the new view of the same generation at once when --namespaces changes on reload', async () => {
    const { publisher: p, url } = await publisher();
    const kubeDns = await startUpstream((q) => ({ kind: 'answer', records: [a(q.name, KUBE_DNS_ANSWER)] }));
    cleanups.push(() => kubeDns.close());
    const flags = { 'snapshot-url': url, 'trust-key': keys.publicKey, upstream: [kubeDns.address], 'snapshot-pull-interval': '200ms', 'log-level': 'silent' };
    const r = await startResolver({ ...flags, namespaces: ['shop'] });
    cleanups.push(() => r.resolver.stop());
    await until(() => addresses(r.port, 'web.shop.svc.cluster.local'), '10.96.1.1');
    const generation = r.resolver.store.current()?.generation;
    expect(generation).toBe(p.currentGeneration());
    expect(await addresses(r.port, 'secret.other.svc.cluster.local')).toBe(KUBE_DNS_ANSWER);

    await r.resolver.reload(loadConfig({ flags: { listen: ['127.0.0.1:0'], 'metrics-listen': '127.0.0.1:0', ...flags, namespaces: ['other'] }, env: {} }));
    await until(() => addresses(r.port, 'secret.other.svc.cluster.local'), '10.96.3.1');
    expect(r.resolver.store.current()?.generation).toBe(generation);
    expect(r.resolver.store.currentView()).toBe('other');
    expect(await addresses(r.port, 'web.shop.svc.cluster.local')).toBe(KUBE_DNS_ANSWER);
    expect(await metric(r.metricsPort, /^holdfast_snapshot_loads_total\{source="pull",result="applied"\}/)).toBe(2);
    // Later pulls of that view are 304s (If-None-Match again), not rejections.
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(await metric(r.metricsPort, /^holdfast_snapshot_loads_total\{source="pull",result="rejected/)).toBe(0);
    expect(await metric(p.address?.port ?? 0, /^holdfast_publisher_filtered_pull_requests_total\{result="304"\}/)).toBeGreaterThan(0);
  });

  it('refuses a snapshot that is not the view it asked for (a publisher that ignores ?namespaces=)', async () => {
    const privateKey = privateKeyFromPem(await readFile(keys.privateKey, 'utf8'), keys.privateKey);
    const whole = Buffer.from(JSON.stringify(signSnapshot(demoSnapshot(7), privateKey)));
    const otherView = Buffer.from(JSON.stringify(signSnapshot(filterSnapshot(demoSnapshot(8), ['kube-system']), privateKey)));
    let body = whole;
    const asked: string[] = [];
    const old = createServer((req, res) => {
      asked.push(req.url ?? '');
      res.writeHead(200, { etag: '"7"', 'content-type': 'application/json' }).end(body);
    });
    await new Promise<void>((resolve) => old.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => old.close(() => resolve())));
    const r = await startResolver({ 'snapshot-url': `http://127.0.0.1:${(old.address() as { port: number }).port}/v1/snapshot`, namespaces: 'default', 'trust-key': keys.publicKey, 'snapshot-pull-interval': '100ms' });
    cleanups.push(() => r.resolver.stop());
    const rejected = /^holdfast_snapshot_loads_total\{source="pull",result="rejected_namespaces"\}/;
    await until(async () => (await metric(r.metricsPort, rejected)) >= 1, true);
    expect(asked[0]).toBe('/v1/snapshot?namespaces=default');
    body = otherView;
    await until(async () => (await metric(r.metricsPort, rejected)) >= 2, true, 15_000);
    expect(r.resolver.store.current()).toBeUndefined();
    expect(await addresses(r.port, 'web.default.svc.cluster.local')).toBe('SERVFAIL');
  });
});

describe('upstreams that are the resolver itself', () => {
  const load = (flags: Record<string, string | string[]>, resolvConf?: string) =>
    loadConfig({ flags: { 'allow-unsigned': true, ...flags }, env: {}, ...(resolvConf === undefined ? {} : { resolvConf }) });

  it('drops an own listen address from the upstreams with a warning, and exits 2 when nothing else is left', async () => {
    const kept = load({ listen: ['127.0.0.1:53'] }, 'search shop.svc.cluster.local\nnameserver 127.0.0.1\nnameserver 10.96.0.10\n');
    expect(kept.upstreams.map((u) => u.label)).toEqual(['10.96.0.10:53']);
    expect(kept.warnings).toEqual(["/etc/resolv.conf: 127.0.0.1:53 is this resolver's own listen address; not used as an upstream (it would loop)"]);
    // A wildcard listener is every local address, loopback included; another port is another server.
    expect(load({ listen: ['0.0.0.0:5300'], upstream: ['127.0.0.2:5300', '127.0.0.1:53'] }).upstreams.map((u) => u.label)).toEqual(['127.0.0.1:53']);
    expect(load({ listen: ['[::1]:53'], 'cluster-fallback': ['[::1]:53', '10.96.0.10'], upstream: ['10.96.0.10'] }).clusterFallback.map((u) => u.label)).toEqual(['10.96.0.10:53']);
    expect(() => load({ listen: ['127.0.0.1:53'] }, 'nameserver 127.0.0.1\noptions ndots:5\n')).toThrow(ConfigError);
    try {
      load({ listen: ['127.0.0.1:53'] }, 'nameserver 127.0.0.1\n');
    } catch (error) {
      expect((error as ConfigError).problems).toEqual([
        "/etc/resolv.conf: 127.0.0.1:53 is this resolver's own listen address, and no other upstream is left (asking itself would loop); give --upstream, e.g. the pod's original nameserver (the kube-dns ClusterIP)",
      ]);
    }
    const cli = await runHoldfast(['resolver', '--listen', '127.0.0.1:5399', '--upstream', '127.0.0.1:5399', '--metrics-listen', '127.0.0.1:0']);
    expect(cli.code).toBe(2);
    expect(errorLines(cli.stderr)).toEqual(["holdfast resolver: --upstream: 127.0.0.1:5399 is this resolver's own listen address, and no other upstream is left (asking itself would loop); give --upstream, e.g. the pod's original nameserver (the kube-dns ClusterIP)"]);
  });

  it('uses the resolv.conf text read at start (kept for reloads) rather than the file as it is now', () => {
    const config = loadConfig({ flags: { listen: ['127.0.0.1:53'] }, env: {}, resolvConf: 'nameserver 10.96.0.10\n', readFile: () => 'nameserver 127.0.0.1\n' });
    expect(config.upstreams.map((u) => u.label)).toEqual(['10.96.0.10:53']);
    expect(config.warnings).toEqual([]);
  });

  it('rejects --namespaces without --snapshot-url and names that are not namespaces', () => {
    expect(() => load({ upstream: ['127.0.0.1:9'], namespaces: ['shop'] })).toThrow(/--namespaces: filters pulled snapshots: it needs --snapshot-url/);
    expect(() => load({ upstream: ['127.0.0.1:9'], 'snapshot-url': ['http://127.0.0.1:9'], namespaces: ['shop,Bad_ns'] })).toThrow(/--namespaces: "Bad_ns" is not a namespace name/);
    expect(load({ upstream: ['127.0.0.1:9'], 'snapshot-url': ['http://127.0.0.1:9'], namespaces: ['shop,payments', 'shop'] }).namespaces).toEqual(['payments', 'shop']);
  });
});

const NETNS = netnsSupport();

describe.skipIf(NETNS !== undefined)('port 53 without capabilities, in a pod-like network namespace', () => {
  it('binds 127.0.0.1:53 and [::1]:53 with no capability (as nobody where it can) once ip_unprivileged_port_start is 53, and not before', async () => {
    const ns = `hf-sidecar-${process.pid}`;
    const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });
    spawnSync('ip', ['netns', 'del', ns]);
    ip('netns', 'add', ns);
    cleanups.push(async () => void spawnSync('ip', ['netns', 'del', ns]));
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    const privateKey = privateKeyFromPem(await readFile(keys.privateKey, 'utf8'), keys.privateKey);
    const view = join(dir, 'view.json');
    await writeFile(view, JSON.stringify(signSnapshot(filterSnapshot(demoSnapshot(5), ['default']), privateKey)));
    await chmod(view, 0o644);
    const state = await ownedDir('state');
    // As a pod's container: its own network namespace, no capabilities (none to inherit,
    // none in the bounding set), no supplementary groups.
    const command = ['ip', 'netns', 'exec', ns, ...UNPRIVILEGED.command];
    const args = ['resolver', '--listen', '127.0.0.1:53', '--listen', '[::1]:53', '--metrics-listen', '127.0.0.1:9253', '--snapshot-file', view, '--trust-key', keys.publicKey, '--state-dir', state, '--upstream', '127.0.0.1:1053'];

    const refused = spawnHoldfast(args, {}, { command });
    expect((await refused.exited).code).toBe(1);
    expect(refused.stderr).toMatch(/127\.0\.0\.1:53.*(EACCES|permission denied)/i);

    ip('netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.ip_unprivileged_port_start=53');
    const proc = spawnHoldfast(args, {}, { command });
    await proc.waitLog('resolver serving');
    expect(await identity(proc.child.pid ?? 0)).toEqual({ uid: String(UNPRIVILEGED.uid), capEff: '0000000000000000' });
    const dig = (server: string) => ip('netns', 'exec', ns, 'dig', '+short', '+tries=1', '+time=2', `@${server}`, 'web.default.svc.cluster.local').trim();
    expect(dig('127.0.0.1')).toBe('10.96.10.10');
    expect(dig('::1')).toBe('10.96.10.10');
  });
});
