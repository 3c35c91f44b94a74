/**
 * Object factories for the fake kube-apiserver, in the real JSON shapes and
 * with the defaults a real server fills in (a Service's clusterIPs,
 * ipFamilies and sessionAffinity; a port's protocol and targetPort; an
 * endpoint's serving and terminating conditions). Feed them to `apply()`.
 */
import type { KubeObject, ObjectMeta } from './apiserver-store.js';

/** A Service or EndpointSlice port; protocol defaults to TCP. */
export interface PortInput {
  readonly name?: string;
  readonly port: number;
  readonly protocol?: 'TCP' | 'UDP' | 'SCTP';
  /** Service only; defaults to `port`. */
  readonly targetPort?: number | string;
}

/** Options of {@link service}. */
export interface ServiceOptions {
  /** Defaults to an address in 10.96.0.0/16 derived from namespace and name; 'None' for headless. */
  readonly clusterIP?: string;
  /** Defaults to [clusterIP]. */
  readonly clusterIPs?: readonly string[];
  readonly type?: 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';
  readonly externalName?: string;
  readonly ports?: readonly PortInput[];
  readonly publishNotReadyAddresses?: boolean;
  readonly labels?: Readonly<Record<string, string>>;
  readonly selector?: Readonly<Record<string, string>>;
}

const DEFAULT_PORTS: readonly PortInput[] = [{ name: 'http', port: 80 }];

function meta(namespace: string, name: string, labels?: Readonly<Record<string, string>>): ObjectMeta {
  return labels === undefined ? { name, namespace } : { name, namespace, labels: { ...labels } };
}

function derivedClusterIP(namespace: string, name: string): string {
  let hash = 0;
  for (const char of `${namespace}/${name}`) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return `10.96.${(hash >>> 8) & 0xff}.${(hash & 0xff) || 1}`;
}

/** A v1 Service (type ClusterIP unless told). */
export function service(namespace: string, name: string, options: ServiceOptions = {}): KubeObject {
  const type = options.type ?? 'ClusterIP';
  const spec: Record<string, unknown> = { type, sessionAffinity: 'None' };
  if (type === 'ExternalName') {
    spec['externalName'] = options.externalName ?? 'example.com';
  } else {
    const clusterIP = options.clusterIP ?? derivedClusterIP(namespace, name);
    const clusterIPs = options.clusterIPs ?? [clusterIP];
    Object.assign(spec, {
      clusterIP,
      clusterIPs: [...clusterIPs],
      ipFamilies: clusterIPs.map((ip) => (ip.includes(':') ? 'IPv6' : 'IPv4')),
      ipFamilyPolicy: clusterIPs.length > 1 ? 'RequireDualStack' : 'SingleStack',
      internalTrafficPolicy: 'Cluster',
      ports: (options.ports ?? DEFAULT_PORTS).map((p) => ({ ...p, protocol: p.protocol ?? 'TCP', targetPort: p.targetPort ?? p.port })),
    });
  }
  if (options.selector !== undefined) spec['selector'] = { ...options.selector };
  if (options.publishNotReadyAddresses !== undefined) spec['publishNotReadyAddresses'] = options.publishNotReadyAddresses;
  return { apiVersion: 'v1', kind: 'Service', metadata: meta(namespace, name, options.labels), spec, status: { loadBalancer: {} } };
}

/** One endpoint of a slice: an address (ready), or its fields. */
export type EndpointInput =
  | string
  | {
      readonly address: string;
      readonly ready?: boolean;
      /** Defaults to `ready`. */
      readonly serving?: boolean;
      readonly terminating?: boolean;
      readonly hostname?: string;
      readonly nodeName?: string;
    };

/** Options of {@link endpointSlice}. */
export interface EndpointSliceOptions {
  /** Defaults to IPv6 when the first address has a colon, else IPv4. */
  readonly addressType?: 'IPv4' | 'IPv6' | 'FQDN';
  readonly ports?: readonly PortInput[];
}

/** A discovery.k8s.io/v1 EndpointSlice of `service`, one endpoint per address. */
export function endpointSlice(namespace: string, name: string, service: string, addresses: readonly EndpointInput[], options: EndpointSliceOptions = {}): KubeObject {
  const endpoints = addresses.map((input) => {
    const e = typeof input === 'string' ? { address: input } : input;
    const ready = e.ready ?? true;
    const endpoint: Record<string, unknown> = {
      addresses: [e.address],
      conditions: { ready, serving: e.serving ?? ready, terminating: e.terminating ?? false },
    };
    if (e.hostname !== undefined) endpoint['hostname'] = e.hostname;
    if (e.nodeName !== undefined) endpoint['nodeName'] = e.nodeName;
    return endpoint;
  });
  const first = addresses[0];
  const firstAddress = typeof first === 'string' ? first : first?.address;
  const labels = { 'kubernetes.io/service-name': service, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' };
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { ...meta(namespace, name, labels), generateName: `${service}-` },
    addressType: options.addressType ?? (firstAddress?.includes(':') === true ? 'IPv6' : 'IPv4'),
    endpoints,
    ports: (options.ports ?? DEFAULT_PORTS).map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP' })),
  };
}

/** A v1 Pod; Running and Ready unless `phase` says otherwise. */
export function pod(namespace: string, name: string, labels: Readonly<Record<string, string>>, podIP: string, options: { phase?: string; nodeName?: string } = {}): KubeObject {
  const phase = options.phase ?? 'Running';
  const spec: Record<string, unknown> = { containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }] };
  if (options.nodeName !== undefined) spec['nodeName'] = options.nodeName;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: meta(namespace, name, labels),
    spec,
    status: {
      phase,
      podIP,
      podIPs: [{ ip: podIP }],
      conditions: [{ type: 'Ready', status: phase === 'Running' ? 'True' : 'False' }],
    },
  };
}

/** An apps/v1 DaemonSet selecting pods by `matchLabels` (its template carries them). */
export function daemonSet(namespace: string, name: string, matchLabels: Readonly<Record<string, string>>): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: meta(namespace, name),
    spec: {
      selector: { matchLabels: { ...matchLabels } },
      template: { metadata: { labels: { ...matchLabels } }, spec: { containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }] } },
    },
  };
}

/** A coordination.k8s.io/v1 Lease; `spec` as given (MicroTime strings need six fractional digits). */
export function lease(namespace: string, name: string, spec: Readonly<Record<string, unknown>> = {}): KubeObject {
  return { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: meta(namespace, name), spec: { ...spec } };
}
