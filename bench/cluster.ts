/**
 * A synthetic cluster for the snapshot bench: Kubernetes Services and
 * discovery.k8s.io/v1 EndpointSlices as `kubectl get svc,endpointslices -A -o json`
 * would list them, deterministic for a given size.
 *
 * Shape: 25 services per namespace; 3 % ExternalName, 10 % headless (most of
 * them StatefulSet-like, with hostnames), 2 % NodePort, 1 % LoadBalancer, the
 * rest ClusterIP; one service in five dual-stack (an IPv6 cluster IP and an IPv6
 * slice per IPv4 slice); one to three ports, most of them named. Endpoints are
 * spread with a long tail (most services have a few, some have hundreds), cut
 * into slices of at most 100 as the EndpointSlice controller does; 5 % are not
 * ready and 1 % terminating.
 */
import { seededRandom } from './prng.js';

/** Size of the synthetic cluster. */
export interface ClusterSize {
  readonly services: number;
  /** Endpoints in all (an endpoint of a dual-stack service in both slices counts twice). */
  readonly endpoints: number;
}

const PORT_SETS: readonly (readonly { name?: string; protocol?: string; port: number; targetPort: number }[])[] = [
  [{ name: 'http', port: 80, targetPort: 8080 }],
  [{ name: 'http', port: 80, targetPort: 8080 }, { name: 'metrics', port: 9090, targetPort: 9090 }],
  [{ name: 'grpc', port: 9000, targetPort: 9000 }, { name: 'http', port: 80, targetPort: 8080 }, { name: 'metrics', port: 9090, targetPort: 9090 }],
  [{ port: 443, targetPort: 8443 }],
  [{ name: 'dns', protocol: 'UDP', port: 53, targetPort: 5353 }, { name: 'dns-tcp', protocol: 'TCP', port: 53, targetPort: 5353 }],
  [{ name: 'postgres', port: 5432, targetPort: 5432 }],
];

const SLICE_SIZE = 100;

const ipv4 = (base: number, n: number) => {
  const v = (base + n) >>> 0;
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
};

type Kind = 'ExternalName' | 'headless' | 'NodePort' | 'LoadBalancer' | 'ClusterIP';

function kindOf(i: number): Kind {
  const r = i % 100;
  if (r < 3) return 'ExternalName';
  if (r < 13) return 'headless';
  if (r < 15) return 'NodePort';
  if (r < 16) return 'LoadBalancer';
  return 'ClusterIP';
}

/** Endpoint counts per service: a long-tailed spread summing to `total` over the services that have endpoints. */
function spread(kinds: readonly Kind[], dual: readonly boolean[], total: number, rand: () => number): number[] {
  const weights = kinds.map((k, i) => (k === 'ExternalName' ? 0 : (dual[i] ? 2 : 1) / Math.max(0.02, rand()) ** 0.9));
  const sum = weights.reduce((a, b) => a + b, 0);
  const counts = weights.map((w, i) => (w === 0 ? 0 : Math.min(10_000, Math.max(dual[i] ? 2 : 1, Math.floor((w / sum) * total)))));
  let left = total - counts.reduce((a, b) => a + b, 0);
  for (let i = 0; left !== 0 && i < counts.length * 4; i++) {
    const j = i % counts.length;
    const c = counts[j] as number;
    if (kinds[j] === 'ExternalName') continue;
    if (left > 0 && c < 10_000) {
      counts[j] = c + 1;
      left--;
    } else if (left < 0 && c > (dual[j] ? 2 : 1)) {
      counts[j] = c - 1;
      left++;
    }
  }
  return counts;
}

/** The Services and EndpointSlices of a synthetic cluster of `size`. */
export function syntheticCluster(size: ClusterSize, seed = 1): unknown[] {
  const rand = seededRandom(seed);
  const kinds = Array.from({ length: size.services }, (_, i) => kindOf(i));
  const dual = kinds.map((k, i) => (k === 'ClusterIP' || k === 'headless') && i % 5 === 1);
  const counts = spread(kinds, dual, size.endpoints, rand);
  const objects: unknown[] = [];
  let podCounter = 0;
  for (let i = 0; i < size.services; i++) {
    const namespace = `team-${String(Math.floor(i / 25)).padStart(4, '0')}`;
    const name = `svc-${String(i % 25).padStart(2, '0')}-${(i * 2654435761 >>> 0).toString(36).slice(0, 5)}`;
    const kind = kinds[i] as Kind;
    const ports = PORT_SETS[i % PORT_SETS.length] as (typeof PORT_SETS)[number];
    const spec: Record<string, unknown> = { type: kind === 'headless' ? 'ClusterIP' : kind, ports: ports.map(({ targetPort: _, ...p }) => ({ protocol: 'TCP', ...p })) };
    if (kind === 'ExternalName') {
      spec['externalName'] = `${name}.example.com`;
      delete spec['ports'];
    } else if (kind === 'headless') {
      spec['clusterIP'] = 'None';
      spec['clusterIPs'] = ['None'];
    } else {
      const v4 = ipv4(0x0a600000, i + 10);
      spec['clusterIP'] = v4;
      spec['clusterIPs'] = dual[i] ? [v4, `fd00:10:96::${(i + 10).toString(16)}`] : [v4];
    }
    objects.push({ apiVersion: 'v1', kind: 'Service', metadata: { namespace, name }, spec });
    const count = counts[i] as number;
    if (count === 0) continue;
    const families = dual[i] ? (['IPv4', 'IPv6'] as const) : (['IPv4'] as const);
    const perFamily = Math.ceil(count / families.length);
    const statefulSet = kind === 'headless' && i % 10 < 7;
    const slicePorts = ports.map((p) => ({ name: p.name ?? '', protocol: p.protocol ?? 'TCP', port: p.targetPort }));
    const podBase = podCounter;
    podCounter += perFamily;
    let made = 0;
    for (const family of families) {
      const n = Math.min(perFamily, count - made);
      made += n;
      for (let start = 0, slice = 0; start < n; start += SLICE_SIZE, slice++) {
        const endpoints = [];
        for (let j = start; j < Math.min(n, start + SLICE_SIZE); j++) {
          const pod = podBase + j;
          const address = family === 'IPv4' ? ipv4(0x0a400000, pod) : `fd00:10:244:${(pod >>> 16).toString(16)}::${(pod & 0xffff).toString(16)}`;
          const roll = rand();
          const endpoint: Record<string, unknown> = {
            addresses: [address],
            conditions: roll < 0.05 ? { ready: false, serving: false, terminating: roll < 0.01 } : { ready: true, serving: true, terminating: false },
            targetRef: { kind: 'Pod', namespace, name: `${name}-${j}` },
          };
          if (statefulSet) endpoint['hostname'] = `${name}-${j}`;
          endpoints.push(endpoint);
        }
        objects.push({
          apiVersion: 'discovery.k8s.io/v1',
          kind: 'EndpointSlice',
          metadata: { namespace, name: `${name}-${family.toLowerCase()}-${slice}`, labels: { 'kubernetes.io/service-name': name } },
          addressType: family,
          endpoints,
          ports: slicePorts,
        });
      }
    }
  }
  return objects;
}
