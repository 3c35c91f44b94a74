/**
 * The model cluster of the stampede replay: S services in S/20 namespaces (most
 * ClusterIP, some dual-stack, 15 % headless with 2–6 endpoints, half of those with
 * StatefulSet-style hostnames), popularity skewed by a Zipf law over a random
 * ranking, a few dozen external names, and the endpoint changes that queue up
 * during the outage (the most popular headless services get new pod IPs).
 *
 * Built deterministically from a seed, so the harness, the simulated kube-dns
 * and the snapshot all see the same cluster. The same model becomes a signed
 * holdfast snapshot through the project's own builder (`snapshot/build.ts`).
 */
import { buildSnapshot } from '../../snapshot/build.js';
import type { SnapshotV1 } from '../../snapshot/types.js';
import { hash32, Rng, Zipf } from './random.js';

/** The cluster DNS zone of the model. */
export const ZONE = 'cluster.local';
/** The node's own search domain (like `ec2.internal` or `c.<project>.internal`), answered by the external resolver. */
export const HOST_DOMAIN = 'corp.internal';

/** What shapes the model. */
export interface ModelOptions {
  readonly services: number;
  readonly seed: number;
  /** `spread`: each service's TTL uniform over 1..ttlSpreadSeconds; `coredns`: 30 s everywhere. */
  readonly ttls: 'spread' | 'coredns';
  readonly ttlSpreadSeconds: number;
  /** How many (popular, headless) services get new endpoints during the outage. */
  readonly changed: number;
}

/** One endpoint: a pod IP and, for StatefulSet pods, a hostname. */
export interface ModelEndpoint {
  readonly ip: string;
  readonly hostname?: string;
}

/** One service of the model. */
export interface ModelService {
  readonly namespace: string;
  readonly name: string;
  /** `<name>.<namespace>.svc.cluster.local`. */
  readonly fqdn: string;
  /** Popularity rank, 0 = most asked for. */
  readonly rank: number;
  readonly headless: boolean;
  /** IPv4 cluster IP, then the IPv6 one for dual-stack services; empty when headless. */
  readonly clusterIPs: readonly string[];
  /** Endpoints while the control plane is up before the outage. */
  readonly endpoints: readonly ModelEndpoint[];
  /** Endpoints after the outage (differ only when `changed`). */
  readonly endpointsAfter: readonly ModelEndpoint[];
  readonly changed: boolean;
  /** TTL kube-dns gives its records, in scenario seconds. */
  readonly ttl: number;
}

/** A name outside the cluster, answered by the external resolver. */
export interface ExternalHost {
  readonly name: string;
  readonly ipv4: string;
  readonly ipv6: string | undefined;
  readonly ttl: number;
}

/** The whole model. */
export interface ClusterModel {
  readonly options: ModelOptions;
  readonly namespaces: readonly string[];
  readonly services: readonly ModelService[];
  /** Services by popularity rank. */
  readonly byRank: readonly ModelService[];
  readonly byFqdn: ReadonlyMap<string, ModelService>;
  readonly external: readonly ExternalHost[];
  readonly externalByName: ReadonlyMap<string, ExternalHost>;
  readonly popularity: Zipf;
  /** Negative-answer TTL (SOA minimum) kube-dns gives for `name`, in scenario seconds. */
  negativeTtl(name: string): number;
}

const WORDS = ['api', 'auth', 'billing', 'cart', 'catalog', 'checkout', 'config', 'db', 'events', 'feed', 'gateway', 'images', 'index', 'inventory', 'kafka', 'ledger', 'mail', 'metrics', 'orders', 'payments', 'profile', 'queue', 'rank', 'redis', 'search', 'session', 'shipping', 'stock', 'users', 'web'];
const EXTERNAL_ZONES = ['example.com', 'example.net', 'example.org'];

const podIP = (n: number, block: number) => `10.${block}.${(n >> 8) & 255}.${n & 255}`;

/** Builds the model for `options`. */
export function buildCluster(options: ModelOptions): ClusterModel {
  const rng = new Rng(options.seed);
  const nsCount = Math.max(1, Math.round(options.services / 20));
  const namespaces = Array.from({ length: nsCount }, (_, i) => `team-${String(i).padStart(3, '0')}`);
  const ranks = rng.shuffle(Array.from({ length: options.services }, (_, i) => i));
  let nextPod = 1;
  const drafts = ranks.map((rank, i) => {
    const headless = rng.chance(0.15);
    const dualStack = !headless && rng.chance(0.1);
    const count = headless ? rng.between(2, 6) : 2;
    const stateful = headless && rng.chance(0.5);
    const name = `${rng.pick(WORDS)}-${i}`;
    const endpoints = Array.from({ length: count }, (_, k): ModelEndpoint => {
      const ip = podIP(nextPod++, 244);
      return stateful ? { ip, hostname: `${name}-${k}` } : { ip };
    });
    const clusterIPs = headless ? [] : [`10.96.${(i + 1) >> 8}.${(i + 1) & 255}`, ...(dualStack ? [`fd00:10:96::${(i + 1).toString(16)}`] : [])];
    const ttl = options.ttls === 'coredns' ? 30 : rng.between(1, options.ttlSpreadSeconds);
    return { namespace: namespaces[i % nsCount] as string, name, rank, headless, clusterIPs, endpoints, ttl };
  });
  const changedRanks = new Set(
    drafts
      .filter((d) => d.headless)
      .sort((a, b) => a.rank - b.rank)
      .slice(0, options.changed)
      .map((d) => d.rank),
  );
  let nextNew = 1;
  const services: ModelService[] = drafts.map((d) => {
    const changed = changedRanks.has(d.rank);
    const endpointsAfter = changed ? d.endpoints.map((e) => ({ ...e, ip: podIP(nextNew++, 245) })) : d.endpoints;
    return { ...d, fqdn: `${d.name}.${d.namespace}.svc.${ZONE}`, endpointsAfter, changed };
  });
  const byRank = [...services].sort((a, b) => a.rank - b.rank);
  const external = Array.from({ length: 40 }, (_, i): ExternalHost => {
    const name = `${rng.pick(['api', 'cdn', 'login', 'storage', 'telemetry'])}-${i}.${EXTERNAL_ZONES[i % EXTERNAL_ZONES.length] as string}`;
    return { name, ipv4: `198.51.100.${i + 1}`, ipv6: rng.chance(0.5) ? `2001:db8::${(i + 1).toString(16)}` : undefined, ttl: rng.between(60, 300) };
  });
  return {
    options,
    namespaces,
    services,
    byRank,
    byFqdn: new Map(services.map((s) => [s.fqdn, s])),
    external,
    externalByName: new Map(external.map((h) => [h.name, h])),
    popularity: new Zipf(options.services, 1),
    negativeTtl: (name) => (options.ttls === 'coredns' ? 30 : 1 + (hash32(name) % options.ttlSpreadSeconds)),
  };
}

/** The model as Kubernetes objects (Services and EndpointSlices), before or after the outage. */
function kubernetesObjects(model: ClusterModel, after: boolean): unknown[] {
  return model.services.flatMap((s) => {
    const service = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { namespace: s.namespace, name: s.name },
      spec: {
        type: 'ClusterIP',
        clusterIP: s.headless ? 'None' : s.clusterIPs[0],
        clusterIPs: s.headless ? ['None'] : s.clusterIPs,
        ports: [{ name: 'http', protocol: 'TCP', port: 80 }],
      },
    };
    const slice = {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { namespace: s.namespace, name: `${s.name}-ipv4`, labels: { 'kubernetes.io/service-name': s.name } },
      addressType: 'IPv4',
      ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
      endpoints: (after ? s.endpointsAfter : s.endpoints).map((e) => ({ addresses: [e.ip], ...(e.hostname ? { hostname: e.hostname } : {}), conditions: { ready: true } })),
    };
    return [service, slice];
  });
}

/** The model as an (unsigned) holdfast snapshot; `after` selects the endpoints after the outage. */
export function clusterSnapshot(model: ClusterModel, generation: number, after: boolean): SnapshotV1 {
  const { snapshot, problems } = buildSnapshot(kubernetesObjects(model, after), { clusterDomain: ZONE, generation, now: new Date() });
  if (problems.length > 0) throw new Error(`model snapshot: ${problems.join('; ')}`);
  return snapshot;
}
