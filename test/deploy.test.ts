/**
 * deploy/: every kustomization renders (`kubectl kustomize`; those tests are skipped,
 * saying so, without kubectl), every object passes a strict API server's checks for
 * Kubernetes 1.29 to 1.33, and the properties the design depends on hold: the resolver
 * has no API access and no ports, updates surge, runs with two capabilities; every flag,
 * config key and HOLDFAST_* variable given to holdfast is one it accepts, and the config
 * loads with the real loaders. The commands deploy/README.md documents (keys, addresses)
 * are run as written and their result checked, so the docs and the manifests cannot drift.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFlags } from '../cli/args.js';
import { envName, flagTable, parseDuration } from '../common/options.js';
import { loadPublisherConfig, PUBLISHER_OPTIONS } from '../publisher/config.js';
import { loadConfig, OPTIONS } from '../resolver/config.js';
import type { ResolverConfig } from '../resolver/config.js';
import { generateKeyPair, privateKeyToPem } from '../snapshot/keys.js';
import { HAVE_KUBECTL, containerEnvironment, find, podSpec, render, serviceVariables, taggedBlock, volume } from './helpers/deploy.js';
import type { Container } from './helpers/deploy.js';
import { SCHEMAS, customResourceErrors, isOperatorKind, schemaErrors } from './helpers/k8s-schema.js';
import type { KubeObject } from './helpers/k8s-schema.js';
import { BIN, ROOT } from './helpers/process.js';

const DEPLOY = join(ROOT, 'deploy');
const README = readFileSync(join(DEPLOY, 'README.md'), 'utf8');
const MIGRATION = readFileSync(join(DEPLOY, 'MIGRATION.md'), 'utf8');
/** Every kustomization a user applies, relative to the repository. */
const TARGETS = ['deploy', 'deploy/overlays/ipvs', 'deploy/overlays/prometheus', 'deploy/overlays/migration'];
/** Resolver options of the node-local mode, which the base config must set. */
const NODE_SETUP_OPTIONS = ['setup-interface', 'local-ip', 'interface-name', 'setup-check-interval', 'capture-lease', 'reuse-port', 'handoff-timeout', 'iptables'];
/** Stand-ins for the ClusterIPs the API server assigns. */
const CLUSTER_IPS: Record<string, string> = { 'kube-dns-upstream': '10.96.0.11', 'holdfast-publisher': '10.96.0.12', 'holdfast-metrics': 'None' };

if (!HAVE_KUBECTL) console.warn('deploy tests: kubectl is not on PATH; the tests that render kustomizations are skipped');

const rendered = new Map<string, KubeObject[]>();
let tmp: string;
/** A signing key for loading publisher configurations (the loader reads the file). */
let signingKey: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'holdfast-deploy-'));
  signingKey = join(tmp, 'signing.key');
  writeFileSync(signingKey, privateKeyToPem(generateKeyPair().privateKey), { mode: 0o600 });
  if (HAVE_KUBECTL) {
    const all = await Promise.all(TARGETS.map((t) => render(join(ROOT, t))));
    TARGETS.forEach((t, i) => rendered.set(t, all[i] ?? []));
  }
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function objects(target = 'deploy'): KubeObject[] {
  const found = rendered.get(target);
  if (!found) throw new Error(`${target} was not rendered`);
  return found;
}

const resolverContainer = (objs: KubeObject[]): Container => podSpec(find(objs, 'DaemonSet', 'holdfast')).containers[0] as Container;
const publisherContainer = (objs: KubeObject[]): Container => podSpec(find(objs, 'Deployment', 'holdfast-publisher')).containers[0] as Container;

/** The environment kubelet would give `container`, with the Services of `objs` at the stand-in ClusterIPs. */
function environment(objs: KubeObject[], container: Container, serviceLinks: boolean) {
  const services: Record<string, string> = {};
  if (serviceLinks) {
    for (const svc of objs.filter((o) => o.kind === 'Service')) {
      Object.assign(services, serviceVariables(svc, CLUSTER_IPS[svc.metadata.name] ?? '10.96.0.99'));
    }
  }
  return containerEnvironment(container, services, { 'metadata.name': 'holdfast-publisher-7d9f-abcde' });
}

/** The resolver's configuration as the real loader reads it inside the DaemonSet's container. */
function resolverConfig(objs: KubeObject[]): ResolverConfig {
  const container = resolverContainer(objs);
  const { values } = parseFlags((container.args ?? []).slice(1), flagTable(OPTIONS));
  const configMap = find(objs, 'ConfigMap', 'holdfast-resolver');
  const mount = container.volumeMounts?.find((m) => m.name === 'config');
  const file = (configMap['data'] as Record<string, string>)['config.yaml'] ?? '';
  const parsed = parseYaml(file) as Record<string, unknown>;
  const files: Record<string, string> = {
    [`${mount?.mountPath}/config.yaml`]: stringifyYaml(parsed),
    '/etc/resolv.conf': 'nameserver 10.0.0.2\n',
  };
  const readFile = (path: string) => {
    const text = files[path];
    if (text === undefined) throw new Error(`ENOENT: ${path}`);
    return text;
  };
  return loadConfig({ flags: values as Record<string, string>, env: environment(objs, container, true).env, readFile });
}

describe.skipIf(!HAVE_KUBECTL)('rendered manifests', () => {
  it.each(TARGETS)('%s renders', (target) => {
    expect(objects(target).length).toBeGreaterThan(10);
  });

  it.each(SCHEMAS.map((s) => [s.kubernetes, s] as const))('every built-in object is valid for Kubernetes %s', (_, schema) => {
    const errors = TARGETS.flatMap((t) => objects(t).filter((o) => !isOperatorKind(o)).flatMap((o) => schemaErrors(o, schema).map((e) => `${t}: ${e}`)));
    expect(errors).toEqual([]);
  });

  it('every monitoring object is valid for the Prometheus operator', async () => {
    const crs = objects('deploy/overlays/prometheus').filter(isOperatorKind);
    expect(crs.map((o) => o.kind).sort()).toEqual(['PodMonitor', 'PrometheusRule', 'ServiceMonitor']);
    const errors = (await Promise.all(crs.map(customResourceErrors))).flat();
    expect(errors).toEqual([]);
  });

  it('deploy/ alone needs no CRDs and owns no Namespace, and all of it is in kube-system', () => {
    for (const o of objects()) {
      expect(isOperatorKind(o), `${o.kind} ${o.metadata.name}`).toBe(false);
      expect(o.kind).not.toBe('Namespace');
    }
    for (const o of TARGETS.flatMap(objects)) {
      if (!o.kind.startsWith('Cluster')) expect(o.metadata.namespace, `${o.kind} ${o.metadata.name}`).toBe('kube-system');
      // MIGRATION.md removes holdfast by this label.
      expect(o.metadata.labels?.['app.kubernetes.io/part-of'], `${o.kind} ${o.metadata.name}`).toBe('holdfast');
    }
  });

  it('the resolver has no access to the API', () => {
    const objs = objects();
    const ds = find(objs, 'DaemonSet', 'holdfast');
    const spec = podSpec(ds);
    expect(spec['serviceAccountName']).toBe('holdfast');
    expect(spec['automountServiceAccountToken']).toBe(false);
    expect(find(objs, 'ServiceAccount', 'holdfast')['automountServiceAccountToken']).toBe(false);
    const bindings = objs.filter((o) => o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding');
    expect(bindings.length).toBeGreaterThan(0);
    for (const b of bindings) {
      const subjects = (b['subjects'] ?? []) as { kind: string; name: string }[];
      expect(subjects.filter((s) => s.kind === 'ServiceAccount' && s.name === 'holdfast'), b.metadata.name).toEqual([]);
    }
  });

  it('the publisher may do what it calls and nothing else', () => {
    const objs = objects();
    const rules = (name: string, kind: string) =>
      ((find(objs, kind, name)['rules'] ?? []) as { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }[]).flatMap((r) =>
        r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${g}/${res}/${v}${r.resourceNames ? `=${r.resourceNames.join(',')}` : ''}`))),
      );
    expect(rules('holdfast-publisher', 'ClusterRole').sort()).toEqual(['/services/list', '/services/watch', 'discovery.k8s.io/endpointslices/list', 'discovery.k8s.io/endpointslices/watch']);
    expect(rules('holdfast-publisher', 'Role').sort()).toEqual([
      '/pods/list',
      '/pods/watch',
      'apps/daemonsets/get=holdfast',
      'coordination.k8s.io/leases/create',
      'coordination.k8s.io/leases/get=holdfast-publisher',
      'coordination.k8s.io/leases/update=holdfast-publisher',
    ]);
    // The names in the rules are the ones the publisher is told to use.
    const { values } = parseFlags((publisherContainer(objs).args ?? []).slice(1), flagTable(PUBLISHER_OPTIONS));
    expect(values['discover']).toBe(`kube-system/${find(objs, 'DaemonSet', 'holdfast').metadata.name}`);
    expect(values['lease']).toBe('kube-system/holdfast-publisher');
  });

  it.each(TARGETS)('%s: the DaemonSet surges one pod per node, declares no ports and runs everywhere', (target) => {
    const ds = find(objects(target), 'DaemonSet', 'holdfast');
    const spec = ds['spec'] as { updateStrategy: unknown; minReadySeconds?: number };
    expect(spec.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
    const pod = podSpec(ds);
    for (const c of pod.containers) expect(c.ports, c.name).toBeUndefined();
    expect(pod['initContainers']).toBeUndefined();
    expect(pod['hostNetwork']).toBe(true);
    expect(pod['dnsPolicy']).toBe('Default');
    expect(pod['priorityClassName']).toBe('system-node-critical');
    expect(pod['tolerations']).toEqual([{ operator: 'Exists' }]);
  });

  it('the resolver runs with NET_ADMIN and NET_BIND_SERVICE only, on a read-only root', () => {
    const c = resolverContainer(objects());
    expect(c.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'], add: ['NET_ADMIN', 'NET_BIND_SERVICE'] },
    });
    const ds = find(objects(), 'DaemonSet', 'holdfast');
    const mounts = Object.fromEntries((c.volumeMounts ?? []).map((m) => [m.mountPath, m]));
    expect(volume(ds, mounts['/var/lib/holdfast']?.name ?? '')['hostPath']).toEqual({ path: '/var/lib/holdfast', type: 'DirectoryOrCreate' });
    expect(volume(ds, mounts['/run/xtables.lock']?.name ?? '')['hostPath']).toEqual({ path: '/run/xtables.lock', type: 'FileOrCreate' });
    expect(volume(ds, mounts['/tmp']?.name ?? '')['emptyDir']).toBeDefined();
    // Probes reach the node IP: the metrics port must listen on it.
    const config = resolverConfig(objects());
    expect(config.metricsListen).toEqual({ host: '0.0.0.0', port: 9253 });
    for (const probe of ['livenessProbe', 'readinessProbe']) {
      expect((c[probe] as { httpGet: { port: number } }).httpGet.port).toBe(config.metricsListen.port);
    }
    expect(config.stateDir).toBe('/var/lib/holdfast');
  });

  it('the resolver has time to hand over and drain within its grace period', () => {
    const ds = find(objects(), 'DaemonSet', 'holdfast');
    const grace = podSpec(ds)['terminationGracePeriodSeconds'] as number;
    const file = parseYaml((find(objects(), 'ConfigMap', 'holdfast-resolver')['data'] as Record<string, string>)['config.yaml'] ?? '') as Record<string, string>;
    const handoff = parseDuration(file['handoff-timeout'] ?? '') ?? Infinity;
    expect(handoff + resolverConfig(objects()).shutdownGraceMs).toBeLessThan(grace * 1000);
  });

  it('the publisher: two replicas on different nodes, a budget, no root, a read-only root', () => {
    const objs = objects();
    const deployment = find(objs, 'Deployment', 'holdfast-publisher');
    expect((deployment['spec'] as { replicas: number }).replicas).toBe(2);
    const pod = podSpec(deployment);
    const affinity = JSON.stringify(pod['affinity']);
    expect(affinity).toContain('podAntiAffinity');
    expect(affinity).toContain('kubernetes.io/hostname');
    expect(pod['securityContext']).toMatchObject({ runAsNonRoot: true, runAsUser: 65532 });
    expect(publisherContainer(objs).securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(volume(deployment, 'state')['emptyDir']).toBeDefined();
    const pdb = find(objs, 'PodDisruptionBudget', 'holdfast-publisher')['spec'] as { minAvailable: number; selector: unknown };
    expect(pdb.minAvailable).toBe(1);
    expect(pdb.selector).toEqual((deployment['spec'] as { selector: unknown }).selector);
  });

  it('every flag and HOLDFAST_* variable given to holdfast is an option of its command', () => {
    for (const target of TARGETS) {
      const objs = objects(target);
      for (const [container, table] of [
        [resolverContainer(objs), OPTIONS],
        [publisherContainer(objs), PUBLISHER_OPTIONS],
      ] as const) {
        const [command, ...flags] = container.args ?? [];
        expect(command).toBe(container.name);
        expect(() => parseFlags(flags, flagTable(table)), `${target} ${container.name}`).not.toThrow();
        const known = Object.keys(table).map(envName);
        for (const e of container.env ?? []) if (e.name.startsWith('HOLDFAST_')) expect(known, `${target} ${container.name}`).toContain(e.name);
      }
    }
  });

  it('every $(VAR) resolves, and no Service variable shadows a HOLDFAST_* option', () => {
    for (const target of TARGETS) {
      const objs = objects(target);
      expect(podSpec(find(objs, 'Deployment', 'holdfast-publisher'))['enableServiceLinks']).toBe(false);
      expect(podSpec(find(objs, 'DaemonSet', 'holdfast'))['enableServiceLinks']).toBe(true);
      expect(environment(objs, resolverContainer(objs), true).unresolved).toEqual([]);
      expect(environment(objs, publisherContainer(objs), false).unresolved).toEqual([]);
      const options = new Set(Object.keys(OPTIONS).map(envName));
      const injected = objs.filter((o) => o.kind === 'Service').flatMap((s) => Object.keys(serviceVariables(s, '10.96.0.99')));
      expect(injected.filter((v) => options.has(v))).toEqual([]);
    }
  });

  it.each(['deploy', 'deploy/overlays/ipvs'])('%s: the resolver config loads with the real loader', (target) => {
    const config = resolverConfig(objects(target));
    const ipvs = target.endsWith('ipvs');
    expect(config.listen.map((l) => `${l.host}:${l.port}`)).toEqual(ipvs ? ['169.254.20.10:53'] : ['169.254.20.10:53', '10.96.0.10:53']);
    expect(config.clusterDomain).toBe('cluster.local');
    expect(config.clusterFallback).toMatchObject([{ host: CLUSTER_IPS['kube-dns-upstream'], port: 53, forceTcp: true }]);
    expect(config.snapshotUrls).toEqual([`http://${CLUSTER_IPS['holdfast-publisher']}:9255/v1/snapshot`]);
    expect(config.receiverListen).toEqual({ host: '0.0.0.0', port: 9254 });
    expect(config.trustKeys).toEqual(['/etc/holdfast/trust/holdfast.pub']);
    expect(config.corednsCompatibleMetrics).toBe(true);
    // The publisher pushes to the receiver's port, and the pull URL names the publisher's.
    const publisher = parseFlags((publisherContainer(objects(target)).args ?? []).slice(1), flagTable(PUBLISHER_OPTIONS)).values;
    expect(Number(publisher['target-port'])).toBe(config.receiverListen?.port);
    const service = find(objects(target), 'Service', 'holdfast-publisher')['spec'] as { ports: { port: number }[] };
    expect(config.snapshotUrls[0]).toContain(`:${service.ports[0]?.port}/`);
  });

  it('the node-setup options are resolver options, and the base config sets each', () => {
    const file = parseYaml((find(objects(), 'ConfigMap', 'holdfast-resolver')['data'] as Record<string, string>)['config.yaml'] ?? '') as Record<string, unknown>;
    for (const key of NODE_SETUP_OPTIONS) {
      expect(Object.keys(OPTIONS)).toContain(key);
      expect(file, key).toHaveProperty(key);
    }
    const config = resolverConfig(objects());
    expect(config.nodeSetup?.localIps).toEqual(['169.254.20.10', '10.96.0.10']);
    expect(config.nodeSetup?.dnsPort).toBe(53);
    expect(config.reusePort).toBe(true);
  });

  it('the IPVS config is the base config with the kube-dns ClusterIP left out', () => {
    const base = parseYaml(readFileSync(join(DEPLOY, 'base', 'resolver-config.yaml'), 'utf8')) as Record<string, unknown>;
    const ipvs = parseYaml(readFileSync(join(DEPLOY, 'overlays', 'ipvs', 'resolver-config.yaml'), 'utf8')) as Record<string, unknown>;
    expect({ ...ipvs, listen: base['listen'], 'local-ip': base['local-ip'] }).toEqual(base);
    expect(ipvs['listen']).toEqual(['169.254.20.10:53']);
    expect(ipvs['local-ip']).toEqual(['169.254.20.10']);
  });

  it('the migration overlay runs the resolver only on switched nodes', () => {
    expect(podSpec(find(objects('deploy/overlays/migration'), 'DaemonSet', 'holdfast'))['nodeSelector']).toEqual({ 'holdfast.io/dns': 'holdfast' });
    expect(podSpec(find(objects(), 'DaemonSet', 'holdfast'))['nodeSelector']).toBeUndefined();
  });

  it('the image tag is the package version', () => {
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    for (const target of TARGETS) {
      for (const c of [resolverContainer(objects(target)), publisherContainer(objects(target))]) expect(c['image']).toBe(`holdfast:${version}`);
    }
  });
});

describe('keys', () => {
  it('no private key is committed or rendered', () => {
    const tracked = execFileSync('git', ['ls-files', 'deploy'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean);
    const walk = (dir: string): string[] =>
      readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? walk(join(dir, f)) : [relative(ROOT, join(dir, f))]));
    for (const file of new Set([...tracked, ...walk(DEPLOY)])) {
      expect(file).not.toMatch(/\.(key|pem)$/);
      expect(readFileSync(join(ROOT, file), 'utf8'), file).not.toMatch(/-----BEGIN [A-Z ]*PRIVATE KEY-----/);
    }
    for (const objs of rendered.values()) expect(objs.filter((o) => o.kind === 'Secret')).toEqual([]);
    // Where the documented keygen writes is ignored by git.
    expect(execFileSync('git', ['check-ignore', 'keys/holdfast.key'], { cwd: ROOT, encoding: 'utf8' }).trim()).toBe('keys/holdfast.key');
  });

  it.skipIf(!HAVE_KUBECTL)('the documented commands make the Secret and ConfigMap the pods mount, and the publisher loads the key', () => {
    const dir = join(tmp, 'keys-doc');
    execFileSync('mkdir', ['-p', dir]);
    // `holdfast` is the CLI of this checkout; `kubectl create` prints what it would create.
    const prelude = `holdfast() { "${process.execPath}" "${BIN}" "$@"; }\nkubectl() { command kubectl "$@" --dry-run=client -o yaml; echo ---; }\n`;
    const out = execFileSync('sh', ['-e', '-c', prelude + taggedBlock(README, 'keys')], { cwd: dir, encoding: 'utf8', env: { ...process.env, KUBECONFIG: join(dir, 'none') } });
    const created = out
      .split(/^---$/m)
      .map((d) => parseYaml(d) as KubeObject | null)
      .filter((o): o is KubeObject => o?.kind === 'Secret' || o?.kind === 'ConfigMap');
    const objs = objects();
    const publisher = find(objs, 'Deployment', 'holdfast-publisher');
    const secret = find(created, 'Secret', (volume(publisher, 'signing-key')['secret'] as { secretName: string }).secretName);
    const trust = find(created, 'ConfigMap', (volume(find(objs, 'DaemonSet', 'holdfast'), 'trust')['configMap'] as { name: string }).name);
    for (const o of [secret, trust]) expect(o.metadata.namespace).toBe('kube-system');
    // The files the flags name are keys of those objects, under the mount paths.
    const { values } = parseFlags((publisherContainer(objs).args ?? []).slice(1), flagTable(PUBLISHER_OPTIONS));
    const keyPath = String(values['signing-key']);
    const keyMount = publisherContainer(objs).volumeMounts?.find((m) => m.name === 'signing-key')?.mountPath ?? '';
    expect(Object.keys(secret['data'] as object).map((k) => `${keyMount}/${k}`)).toContain(keyPath);
    const trustMount = resolverContainer(objs).volumeMounts?.find((m) => m.name === 'trust')?.mountPath ?? '';
    const trusted = Object.keys(trust['data'] as object).map((k) => `${trustMount}/${k}`);
    for (const path of resolverConfig(objs).trustKeys) expect(trusted).toContain(path);
    // The publisher's configuration loads with the key keygen wrote.
    const key = join(dir, 'keys', 'holdfast.key');
    expect(existsSync(key)).toBe(true);
    const env = environment(objs, publisherContainer(objs), false).env;
    const config = loadPublisherConfig({ flags: { ...(values as Record<string, string>), 'signing-key': key }, env });
    expect(config.clusterDomain).toBe('cluster.local');
    expect(config.discover).toMatchObject({ namespace: 'kube-system', name: 'holdfast', port: 9254 });
    expect(config.lease?.identity).toMatch(/^holdfast-publisher-7d9f-abcde_/);
  });
});

describe.skipIf(!HAVE_KUBECTL)('documented customisations', () => {
  /** Runs a block of a deploy/ document in a scratch copy of deploy/, with `kubectl apply -k DIR` turned into rendering DIR. */
  async function runDoc(name: string, doc = README): Promise<{ dir: string; applied: string[] }> {
    const dir = join(tmp, name);
    cpSync(DEPLOY, join(dir, 'deploy'), { recursive: true });
    const block = taggedBlock(doc, name);
    const applied = [...block.matchAll(/^kubectl apply -k (\S+)$/gm)].map((m) => m[1] ?? '');
    execFileSync('sh', ['-e', '-c', block.replace(/^kubectl apply -k .*$/gm, '')], { cwd: dir });
    return { dir, applied };
  }
  /** The `s/OLD/NEW/` replacements of the sed commands in a README block. */
  const replacements = (name: string) => [...taggedBlock(README, name).matchAll(/s\/((?:\\.|[^/])+)\/([^/]+)\/g/g)].map((m) => ({ from: (m[1] ?? '').replace(/\\/g, ''), to: m[2] ?? '' }));

  async function check(dirs: string[], expectIp: string | undefined, expectDomain: string | undefined): Promise<void> {
    for (const dir of dirs) {
      const objs = await render(dir);
      for (const schema of SCHEMAS) expect(objs.flatMap((o) => schemaErrors(o, schema))).toEqual([]);
      const config = resolverConfig(objs);
      if (expectIp) expect(config.listen.map((l) => l.host)).toContain(expectIp);
      expect(JSON.stringify(config)).not.toContain('10.96.0.10');
      if (expectDomain) {
        expect(config.clusterDomain).toBe(expectDomain);
        const publisher = publisherContainer(objs);
        const { values } = parseFlags((publisher.args ?? []).slice(1), flagTable(PUBLISHER_OPTIONS));
        expect(loadPublisherConfig({ flags: { ...(values as Record<string, string>), 'signing-key': signingKey }, env: environment(objs, publisher, false).env }).clusterDomain).toBe(expectDomain);
      }
    }
  }

  it('another kube-dns ClusterIP, with sed', async () => {
    const [ip] = replacements('cluster-ip');
    expect(ip?.from).toBe('10.96.0.10');
    const { dir } = await runDoc('cluster-ip');
    await check([join(dir, 'deploy')], ip?.to, undefined);
  });

  it('another cluster domain, with sed', async () => {
    const [domain] = replacements('cluster-domain');
    expect(domain?.from).toBe('cluster.local');
    const { dir } = await runDoc('cluster-domain');
    const objs = await render(join(dir, 'deploy'));
    expect(resolverConfig(objs).clusterDomain).toBe(domain?.to);
    // The IPVS overlay keeps the kube-dns address out whatever the domain.
    expect(resolverConfig(await render(join(dir, 'deploy', 'overlays', 'ipvs'))).clusterDomain).toBe(domain?.to);
    const env = environment(objs, publisherContainer(objs), false).env;
    expect(env['HOLDFAST_CLUSTER_DOMAIN']).toBe(domain?.to);
  });

  it('the migration in IPVS mode', async () => {
    const { dir, applied } = await runDoc('migration-ipvs', MIGRATION);
    expect(applied).toEqual(['holdfast-migration']);
    const objs = await render(join(dir, 'holdfast-migration'));
    for (const schema of SCHEMAS) expect(objs.flatMap((o) => schemaErrors(o, schema))).toEqual([]);
    expect(podSpec(find(objs, 'DaemonSet', 'holdfast'))['nodeSelector']).toEqual({ 'holdfast.io/dns': 'holdfast' });
    expect(resolverConfig(objs).listen.map((l) => `${l.host}:${l.port}`)).toEqual(['169.254.20.10:53']);
  });

  it('an overlay of your own', async () => {
    const [ip, domain] = replacements('overlay');
    const { dir, applied } = await runDoc('overlay');
    expect(applied).toEqual(['my-cluster']);
    await check(applied.map((a) => join(dir, a)), ip?.to, domain?.to);
    const objs = await render(join(dir, 'my-cluster'));
    expect(resolverContainer(objs)['image']).toMatch(/^registry\.example\.com\/holdfast:/);
  });
});

describe('alerts and dashboard', async () => {
  const { parser } = await import('@prometheus-io/lezer-promql');
  const { ResolverMetrics } = await import('../resolver/metrics.js');
  const { UpstreamMetrics } = await import('../resolver/forward/metrics.js');
  const { pullErrorCounter } = await import('../resolver/intake/pull.js');
  const { PublisherMetrics } = await import('../publisher/metrics.js');
  const { NodeSetupMetrics } = await import('../resolver/node/metrics.js');
  const names = new Set<string>();
  // Every metric of a resolver's registry (some are added by the parts that use them) and of a publisher's.
  const resolver = new ResolverMetrics();
  new UpstreamMetrics(resolver.registry);
  pullErrorCounter(resolver.registry);
  new NodeSetupMetrics(resolver.registry);
  for (const m of [resolver, new PublisherMetrics()]) for (const metric of await m.registry.getMetricsAsJSON()) names.add(metric.name);
  const dashboard = JSON.parse(readFileSync(join(DEPLOY, 'grafana', 'holdfast.json'), 'utf8')) as { uid: string; panels: { id: number; type: string; title: string; targets?: { expr: string }[] }[] };
  const rulesFile = parseYaml(readFileSync(join(DEPLOY, 'components', 'prometheus', 'rules.yaml'), 'utf8')) as {
    spec: { groups: { rules: { alert: string; expr: string; labels: { severity: string }; annotations: Record<string, string> }[] }[] };
  };
  const rules = rulesFile.spec.groups.flatMap((g) => g.rules);

  /** Syntax errors of a PromQL expression, and the holdfast metrics it names that do not exist. */
  function problems(expr: string): string[] {
    const out: string[] = [];
    parser.parse(expr).iterate({ enter: (n) => void (n.type.isError && out.push(`syntax error at ${n.from} in ${expr}`)) });
    for (const [metric] of expr.matchAll(/\bholdfast_[a-z0-9_]+/g)) {
      const stem = metric.replace(/_(bucket|sum|count)$/, '');
      if (!names.has(metric) && !names.has(stem)) out.push(`${metric} is not a holdfast metric (in ${expr})`);
    }
    return out;
  }

  it('every alert parses, names metrics that exist, and says what it means', () => {
    expect(rules.length).toBeGreaterThanOrEqual(12);
    expect(new Set(rules.map((r) => r.alert)).size).toBe(rules.length);
    for (const r of rules) {
      expect(problems(r.expr), r.alert).toEqual([]);
      expect(['critical', 'warning', 'info'], r.alert).toContain(r.labels.severity);
      expect(r.annotations['summary'], r.alert).toBeTruthy();
      expect(r.annotations['description'], r.alert).toBeTruthy();
    }
    // The docs list exactly these alerts.
    const documented = [...README.matchAll(/^\| (Holdfast\w+) \|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(rules.map((r) => r.alert).sort());
    expect(readFileSync(join(ROOT, 'README.md'), 'utf8')).toContain(`${rules.length} alerts`);
    const all = rules.map((r) => r.expr).join('\n');
    for (const metric of ['holdfast_snapshot_age_seconds', 'holdfast_cache_stale_served_total', 'holdfast_upstream_circuit_open', 'holdfast_upstream_errors_total', 'holdfast_publisher_informer_errors_total', 'holdfast_publisher_api_requests_total', 'holdfast_node_setup_errors_total', 'holdfast_ready', 'holdfast_publisher_target_lag_generations']) {
      expect(all).toContain(metric);
    }
  });

  it('every dashboard query parses and names metrics that exist', () => {
    const panels = dashboard.panels.filter((p) => p.type !== 'row');
    expect(panels.length).toBeGreaterThanOrEqual(15);
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
    for (const p of panels) {
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      // Grafana's interval variables are not PromQL.
      for (const t of p.targets ?? []) expect(problems(t.expr.replace(/\$__\w+/g, '5m')), p.title).toEqual([]);
    }
  });

  it.skipIf(!HAVE_KUBECTL)('the dashboard ConfigMap is grafana/holdfast.json, labelled for the Grafana sidecar', () => {
    const cm = find(objects('deploy/overlays/prometheus'), 'ConfigMap', 'holdfast-dashboard');
    expect(cm.metadata.name).toBe('holdfast-dashboard');
    expect(cm.metadata.labels?.['grafana_dashboard']).toBe('1');
    expect((cm['data'] as Record<string, string>)['holdfast.json']).toBe(readFileSync(join(DEPLOY, 'grafana', 'holdfast.json'), 'utf8'));
  });
});

describe.skipIf(!HAVE_KUBECTL)('the sidecar example (deploy/sidecar)', () => {
  const SIDECAR = join(DEPLOY, 'sidecar');
  const sidecarReadme = readFileSync(join(SIDECAR, 'README.md'), 'utf8');
  const holdfast = (objs: KubeObject[]): Container => {
    const init = (podSpec(find(objs, 'Deployment', 'web'))['initContainers'] ?? []) as Container[];
    const found = init.find((c) => c.name === 'holdfast');
    if (!found) throw new Error('no holdfast initContainer');
    return found;
  };
  /** The pod's /etc/resolv.conf, as kubelet writes it from dnsConfig. */
  const podResolvConf = (objs: KubeObject[]) => {
    const dns = podSpec(find(objs, 'Deployment', 'web'))['dnsConfig'] as { nameservers: string[]; searches: string[]; options: { name: string; value: string }[] };
    return `${dns.nameservers.map((n) => `nameserver ${n}`).join('\n')}\nsearch ${dns.searches.join(' ')}\noptions ${dns.options.map((o) => `${o.name}:${o.value}`).join(' ')}\n`;
  };
  /** The sidecar's configuration as the real loader reads it in the pod (its resolv.conf included). */
  const sidecarConfig = (objs: KubeObject[]): ResolverConfig => {
    const container = holdfast(objs);
    const { values } = parseFlags((container.args ?? []).slice(1), flagTable(OPTIONS));
    const file = (find(objs, 'ConfigMap', 'holdfast-sidecar')['data'] as Record<string, string>)['config.yaml'] ?? '';
    const mount = container.volumeMounts?.find((m) => m.name === 'holdfast-config');
    const files: Record<string, string> = { [`${mount?.mountPath}/config.yaml`]: file, '/etc/resolv.conf': podResolvConf(objs) };
    const readFile = (path: string) => {
      const text = files[path];
      if (text === undefined) throw new Error(`ENOENT: ${path}`);
      return text;
    };
    return loadConfig({ flags: values as Record<string, string>, env: containerEnvironment(container, {}, {}).env, readFile });
  };

  it('renders, and every object is valid for every Kubernetes version tested', async () => {
    const objs = await render(SIDECAR);
    expect(objs.map((o) => `${o.kind}/${o.metadata.namespace}`).sort()).toEqual(['ConfigMap/app', 'Deployment/app']);
    for (const schema of SCHEMAS) expect(objs.flatMap((o) => schemaErrors(o, schema)), schema.kubernetes).toEqual([]);
  });

  it('holdfast is a native sidecar the application waits for, answering the pod DNS on the address it points at', async () => {
    const objs = await render(SIDECAR);
    const spec = podSpec(find(objs, 'Deployment', 'web'));
    const c = holdfast(objs);
    const [command, ...flags] = c.args ?? [];
    expect(command).toBe('resolver');
    expect(() => parseFlags(flags, flagTable(OPTIONS))).not.toThrow();
    expect(c['restartPolicy']).toBe('Always');
    const config = sidecarConfig(objs);
    expect(config.metricsListen.host).toBe('0.0.0.0');
    for (const probe of ['startupProbe', 'readinessProbe']) expect((c[probe] as { httpGet: { path: string; port: number } }).httpGet).toEqual({ path: '/readyz', port: config.metricsListen.port });
    // The pod's resolv.conf names the sidecar, with a ClusterFirst pod's search path and ndots.
    const namespace = find(objs, 'Deployment', 'web').metadata.namespace ?? '';
    expect(spec['dnsPolicy']).toBe('None');
    expect(podResolvConf(objs)).toBe(`nameserver 127.0.0.1\nsearch ${namespace}.svc.${config.clusterDomain} svc.${config.clusterDomain} ${config.clusterDomain}\noptions ndots:5\n`);
    expect(config.listen).toContainEqual({ host: '127.0.0.1', port: 53 });
    // Its upstream is kube-dns, never itself; the pod's own namespace is in its view.
    expect(config.upstreams.map((u) => u.label)).toEqual(['10.96.0.10:53']);
    expect(config.clusterFallback.map((u) => u.label)).toEqual(['10.96.0.10:53']);
    expect(config.warnings).toEqual([]);
    expect(config.namespaces).toContain(namespace);
  });

  it('runs non-root with no capability, port 53 allowed by the pod sysctl; state in an emptyDir; key from the trust ConfigMap', async () => {
    const objs = await render(SIDECAR);
    const deployment = find(objs, 'Deployment', 'web');
    const c = holdfast(objs);
    expect(c.securityContext).toEqual({ runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    const config = sidecarConfig(objs);
    const sysctls = (podSpec(deployment)['securityContext'] as { sysctls: { name: string; value: string }[] }).sysctls;
    const start = Number(sysctls.find((s) => s.name === 'net.ipv4.ip_unprivileged_port_start')?.value);
    expect(start).toBeLessThanOrEqual(Math.min(...config.listen.map((l) => l.port), config.metricsListen.port));
    const mounts = Object.fromEntries((c.volumeMounts ?? []).map((m) => [m.mountPath, m.name]));
    expect(volume(deployment, mounts[config.stateDir ?? ''] ?? '')['emptyDir']).toBeDefined();
    const [trust] = config.trustKeys;
    const trustMount = (c.volumeMounts ?? []).find((m) => trust?.startsWith(`${m.mountPath}/`));
    expect(volume(deployment, trustMount?.name ?? '')['configMap']).toEqual({ name: 'holdfast-trust' });
    const resources = c['resources'] as { requests: { memory: string }; limits: { memory: string; cpu?: string } };
    const mi = (text: string) => Number(/^(\d+)Mi$/.exec(text)?.[1]);
    expect(mi(resources.limits.memory)).toBeGreaterThan(mi(resources.requests.memory));
    expect(resources.limits.cpu).toBeUndefined();
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    expect(c['image']).toBe(`holdfast:${version}`);
  });

  it('pulls from the publisher Service of deploy/, on its port', async () => {
    const config = sidecarConfig(await render(SIDECAR));
    const publisher = find(objects(), 'Service', 'holdfast-publisher');
    const port = (publisher['spec'] as { ports: { port: number }[] }).ports[0]?.port;
    expect(config.snapshotUrls).toEqual([`http://${publisher.metadata.name}.${publisher.metadata.namespace}.svc.${config.clusterDomain}:${port}/v1/snapshot`]);
  });

  it('"Make it yours" in its README gives a valid pod for another namespace, views and kube-dns', async () => {
    const dir = join(tmp, 'sidecar-own');
    cpSync(DEPLOY, join(dir, 'deploy'), { recursive: true });
    execFileSync('sh', ['-e', '-c', taggedBlock(sidecarReadme, 'sidecar-own')], { cwd: dir });
    const objs = await render(join(dir, 'deploy', 'sidecar'));
    for (const schema of SCHEMAS) expect(objs.flatMap((o) => schemaErrors(o, schema))).toEqual([]);
    expect(objs.map((o) => o.metadata.namespace)).toEqual(['shop', 'shop']);
    expect(podResolvConf(objs)).toContain('search shop.svc.cluster.local svc.cluster.local cluster.local\n');
    const config = sidecarConfig(objs);
    expect(config.namespaces).toEqual(['payments', 'shop']);
    expect(config.upstreams.map((u) => u.label)).toEqual(['10.100.0.10:53']);
    expect(JSON.stringify(config)).not.toContain('10.96.0.10');
  });
});
