/**
 * Builds a snapshot from Kubernetes objects: v1 Services and discovery.k8s.io/v1
 * EndpointSlices, joined by the `kubernetes.io/service-name` label within a
 * namespace. Everything that cannot be used is reported in `problems`, naming the
 * object (`skipped EndpointSlice ns/x: ...`) or the part left out of it; nothing is
 * dropped silently. The output passes `validate.ts`.
 */
import { InputError } from '../common/errors.js';
import { canonicalJson } from './canonical.js';
import { isDnsLabel, isDnsName, isIpAddress, show } from './names.js';
import { isIP } from 'node:net';
import { SNAPSHOT_FORMAT } from './types.js';
import type { EndpointV1, PortV1, ServiceType, ServiceV1, SnapshotV1 } from './types.js';

export { parseKubectlOutput } from './kubectl.js';

/** Inputs of {@link buildSnapshot} besides the objects. */
export interface BuildOptions {
  /** Cluster DNS domain, lower case, no trailing dot. */
  readonly clusterDomain: string;
  /** Generation of the new snapshot (must exceed the one resolvers hold). */
  readonly generation: number;
  /** Creation time written into `createdAt`. */
  readonly now: Date;
}

/** A built snapshot and every reason an input object (or part of one) was not used. */
export interface BuildResult {
  readonly snapshot: SnapshotV1;
  readonly problems: string[];
}

/** The label that ties an EndpointSlice to its Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

const SERVICE_TYPES: readonly string[] = ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'];
const PROTOCOLS: readonly string[] = ['TCP', 'UDP', 'SCTP'];

type Obj = Record<string, unknown>;

interface Draft {
  service: Omit<ServiceV1, 'endpoints'>;
  endpoints: EndpointV1[];
}

/**
 * Builds an (unsigned) snapshot from `objects`. Services are sorted by namespace
 * then name; endpoints by their canonical encoding, exact duplicates (the same
 * endpoint in two slices) kept once. Throws InputError only for bad options.
 */
export function buildSnapshot(objects: readonly unknown[], options: BuildOptions): BuildResult {
  if (!isDnsName(options.clusterDomain)) throw new InputError(`cluster domain ${show(options.clusterDomain)} is not a lower-case DNS name without trailing dot`);
  if (!Number.isSafeInteger(options.generation) || options.generation < 0) throw new InputError(`generation ${options.generation} is not a non-negative integer`);
  const problems: string[] = [];
  const drafts = new Map<string, Draft>();
  const slices: Obj[] = [];
  const seenSlices = new Set<string>();
  objects.forEach((object, i) => {
    if (!isObj(object)) {
      problems.push(`skipped item ${i}: not an object`);
      return;
    }
    const kind = typeof object['kind'] === 'string' ? object['kind'] : '(no kind)';
    const apiVersion = object['apiVersion'];
    const label = `${kind} ${ref(object)}`;
    if (kind === 'Service' && apiVersion === 'v1') {
      const draft = convertService(object, label, problems);
      if (!draft) return;
      const key = `${draft.service.namespace}/${draft.service.name}`;
      if (drafts.has(key)) problems.push(`skipped ${label}: duplicate of an earlier Service with the same namespace/name`);
      else drafts.set(key, draft);
    } else if (kind === 'EndpointSlice' && apiVersion === 'discovery.k8s.io/v1') {
      const key = ref(object);
      if (seenSlices.has(key)) problems.push(`skipped ${label}: duplicate of an earlier EndpointSlice with the same namespace/name`);
      else slices.push(object);
      seenSlices.add(key);
    } else if (kind === 'EndpointSlice') {
      problems.push(`skipped ${label}: apiVersion ${show(apiVersion)} is not supported (expected discovery.k8s.io/v1)`);
    } else if (kind === 'Endpoints') {
      problems.push(`skipped ${label}: v1 Endpoints are not read; holdfast uses EndpointSlices (kubectl get svc,endpointslices)`);
    } else {
      problems.push(`skipped ${label}: not a v1 Service or discovery.k8s.io/v1 EndpointSlice`);
    }
  });
  for (const slice of slices) addSlice(slice, drafts, problems);

  const services: ServiceV1[] = [...drafts.values()]
    .map((d) => ({ ...d.service, endpoints: sortEndpoints(d.endpoints) }))
    .sort((a, b) => compare(a.namespace, b.namespace) || compare(a.name, b.name));
  const snapshot: SnapshotV1 = {
    format: SNAPSHOT_FORMAT,
    clusterDomain: options.clusterDomain,
    generation: options.generation,
    createdAt: options.now.toISOString(),
    services,
  };
  return { snapshot, problems };
}

function convertService(object: Obj, label: string, problems: string[]): Draft | undefined {
  const meta = isObj(object['metadata']) ? object['metadata'] : {};
  const namespace = meta['namespace'];
  const name = meta['name'];
  if (typeof namespace !== 'string' || !isDnsLabel(namespace)) return skip(problems, label, `metadata.namespace ${show(namespace)} is not a DNS label`);
  if (typeof name !== 'string' || !isDnsLabel(name)) return skip(problems, label, `metadata.name ${show(name)} is not a DNS label`);
  const spec = isObj(object['spec']) ? object['spec'] : {};
  const type = spec['type'] ?? 'ClusterIP';
  if (typeof type !== 'string' || !SERVICE_TYPES.includes(type)) return skip(problems, label, `spec.type ${show(type)} is not one of ${SERVICE_TYPES.join(', ')}`);
  const ports = convertPorts(spec['ports'], 'spec.ports', label, problems);
  const publishNotReadyAddresses = spec['publishNotReadyAddresses'] === true;
  if (type === 'ExternalName') {
    const raw = spec['externalName'];
    const externalName = typeof raw === 'string' ? raw.toLowerCase().replace(/\.$/, '') : raw;
    if (typeof externalName !== 'string' || !isDnsName(externalName)) return skip(problems, label, `spec.externalName ${show(raw)} is not a DNS name`);
    return { service: { namespace, name, type, clusterIPs: [], headless: false, ports, externalName, publishNotReadyAddresses }, endpoints: [] };
  }
  const list = Array.isArray(spec['clusterIPs']) && spec['clusterIPs'].length > 0 ? (spec['clusterIPs'] as unknown[]) : [spec['clusterIP']];
  const headless = spec['clusterIP'] === 'None' || list[0] === 'None';
  const clusterIPs: string[] = [];
  list.forEach((ip, i) => {
    if (ip === undefined || ip === null || ip === '' || ip === 'None') return;
    if (typeof ip !== 'string' || !isIpAddress(ip)) problems.push(`${label}: spec.clusterIPs[${i}] ${show(ip)} is not an IP address; left out`);
    else if (headless) problems.push(`${label}: spec.clusterIPs[${i}] ${show(ip)} on a headless service; left out`);
    else if (!clusterIPs.includes(ip)) clusterIPs.push(ip);
  });
  return { service: { namespace, name, type: type as ServiceType, clusterIPs, headless, ports, publishNotReadyAddresses }, endpoints: [] };
}

function addSlice(slice: Obj, drafts: Map<string, Draft>, problems: string[]): void {
  const label = `EndpointSlice ${ref(slice)}`;
  const meta = isObj(slice['metadata']) ? slice['metadata'] : {};
  const labels = isObj(meta['labels']) ? meta['labels'] : {};
  const owner = labels[SERVICE_NAME_LABEL];
  const addressType = slice['addressType'];
  if (addressType === 'FQDN') {
    skip(problems, label, 'addressType FQDN is not supported (deprecated; no DNS records are made from it)');
    return;
  }
  if (addressType !== 'IPv4' && addressType !== 'IPv6') {
    skip(problems, label, `addressType ${show(addressType)} is not IPv4 or IPv6`);
    return;
  }
  if (typeof owner !== 'string') {
    skip(problems, label, `no ${SERVICE_NAME_LABEL} label, so it belongs to no Service`);
    return;
  }
  const draft = drafts.get(`${String(meta['namespace'])}/${owner}`);
  if (!draft) {
    skip(problems, label, `its Service ${String(meta['namespace'])}/${owner} is not in the input (or was skipped)`);
    return;
  }
  const family = addressType === 'IPv4' ? 4 : 6;
  const ports = convertPorts(slice['ports'], 'ports', label, problems);
  const endpoints = slice['endpoints'] ?? [];
  if (!Array.isArray(endpoints)) {
    skip(problems, label, 'endpoints is not an array');
    return;
  }
  endpoints.forEach((raw: unknown, i) => {
    const where = `endpoints[${i}]`;
    if (!isObj(raw)) {
      problems.push(`${label}: ${where} is not an object; left out`);
      return;
    }
    const addresses: string[] = [];
    const list = Array.isArray(raw['addresses']) ? (raw['addresses'] as unknown[]) : [];
    list.forEach((address, j) => {
      if (typeof address === 'string' && isIpAddress(address) && isIP(address) === family) {
        if (!addresses.includes(address)) addresses.push(address);
      } else {
        problems.push(`${label}: ${where}.addresses[${j}] ${show(address)} is not an ${addressType} address; left out`);
      }
    });
    if (addresses.length === 0) {
      problems.push(`${label}: ${where} has no usable address; left out`);
      return;
    }
    const conditions = isObj(raw['conditions']) ? raw['conditions'] : {};
    const ready = typeof conditions['ready'] === 'boolean' ? conditions['ready'] : true;
    const serving = typeof conditions['serving'] === 'boolean' ? conditions['serving'] : ready;
    const terminating = typeof conditions['terminating'] === 'boolean' ? conditions['terminating'] : false;
    const hostname = raw['hostname'];
    if (typeof hostname === 'string' && isDnsLabel(hostname)) {
      draft.endpoints.push({ addresses, hostname, ready, serving, terminating, ports });
    } else {
      if (hostname !== undefined && hostname !== null) problems.push(`${label}: ${where}.hostname ${show(hostname)} is not a DNS label; left out`);
      draft.endpoints.push({ addresses, ready, serving, terminating, ports });
    }
  });
}

function convertPorts(value: unknown, field: string, label: string, problems: string[]): PortV1[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    problems.push(`${label}: ${field} is not an array; left out`);
    return [];
  }
  const ports: PortV1[] = [];
  value.forEach((raw: unknown, i) => {
    const where = `${field}[${i}]`;
    const p = isObj(raw) ? raw : {};
    const name = p['name'] ?? '';
    const protocol = p['protocol'] ?? 'TCP';
    const port = p['port'];
    let reason: string | undefined;
    if (typeof name !== 'string' || (name !== '' && !isDnsLabel(name))) reason = `name ${show(name)} is not a DNS label`;
    else if (typeof protocol !== 'string' || !PROTOCOLS.includes(protocol)) reason = `protocol ${show(protocol)} is not TCP, UDP or SCTP`;
    else if (port === undefined || port === null) reason = 'has no port number';
    else if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) reason = `port ${show(port)} is not 1-65535`;
    if (reason !== undefined) {
      problems.push(`${label}: ${where} ${reason}; left out`);
      return;
    }
    const converted = { name, protocol, port } as PortV1;
    if (ports.some((q) => q.name === converted.name && q.protocol === converted.protocol && q.port === converted.port)) return;
    ports.push(converted);
  });
  return ports;
}

function sortEndpoints(endpoints: readonly EndpointV1[]): EndpointV1[] {
  const byKey = new Map<string, EndpointV1>();
  for (const endpoint of endpoints) byKey.set(canonicalJson(endpoint), endpoint);
  return [...byKey.entries()].sort(([a], [b]) => compare(a, b)).map(([, endpoint]) => endpoint);
}

function skip(problems: string[], label: string, reason: string): undefined {
  problems.push(`skipped ${label}: ${reason}`);
  return undefined;
}

/** `namespace/name` of an object for messages (or just the name when cluster-scoped). */
function ref(object: Obj): string {
  const meta = isObj(object['metadata']) ? object['metadata'] : {};
  const name = typeof meta['name'] === 'string' ? meta['name'] : '(no name)';
  return typeof meta['namespace'] === 'string' ? `${meta['namespace']}/${name}` : name;
}

function isObj(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
