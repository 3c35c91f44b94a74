/**
 * The quick schema check of a v1 envelope: true or false, no messages, no field
 * paths. A valid snapshot — the common case — costs one pass over its values,
 * about four times less than the reporting check in `validate.ts`, which builds
 * a path string for every value it visits and only runs when this one says no.
 *
 * Every rule here is a rule of the reporting check, written so that `true` here
 * implies no problem there (a test compares them on random mutations). A `false`
 * for a value the reporting check accepts would only cost time.
 */
import { isDnsLabel, isDnsName, isIpAddress, isRfc3339 } from './names.js';
import { MAX_CLUSTER_IPS, PROTOCOLS, SERVICE_TYPES, SNAPSHOT_FORMAT } from './types.js';
import type { SnapshotLimits } from './validate.js';

type Obj = Record<string, unknown>;

const KEY_ID = /^[0-9a-f]{16}$/;
const SIGNATURE_VALUE = /^[A-Za-z0-9+/]{86}==$/;

function isObject(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Enumerable members, inherited ones too (here the count then does not match and
 * the reporting check decides; canonical.ts first makes sure the prototypes add none).
 */
export function members(value: object): number {
  let n = 0;
  for (const _ in value) n++;
  return n;
}

/** True when `value` is a v1 envelope within `limits` that the reporting check would accept as it is. */
export function conformsToV1(value: unknown, limits: SnapshotLimits): boolean {
  if (!isObject(value)) return false;
  const { snapshot, signature } = value;
  if (members(value) !== (signature === undefined ? 1 : 2)) return false;
  if (signature !== undefined && !conformingSignature(signature)) return false;
  if (!isObject(snapshot) || members(snapshot) !== 5) return false;
  const { format, clusterDomain, generation, createdAt, services } = snapshot;
  if (format !== SNAPSHOT_FORMAT || typeof clusterDomain !== 'string' || !isDnsName(clusterDomain)) return false;
  if (!Number.isSafeInteger(generation) || (generation as number) < 0) return false;
  if (typeof createdAt !== 'string' || !isRfc3339(createdAt)) return false;
  if (!Array.isArray(services) || services.length > limits.maxServices) return false;
  let total = 0;
  let previousNamespace = '';
  let previousName: string | undefined;
  for (const service of services as unknown[]) {
    const endpoints = conformingService(service, limits);
    if (endpoints === undefined) return false;
    total += endpoints;
    if (total > limits.maxTotalEndpoints) return false;
    const { namespace, name } = service as { namespace: string; name: string };
    // Strictly ascending (namespace, name): sorted, and no duplicates.
    if (previousName !== undefined && (namespace < previousNamespace || (namespace === previousNamespace && name <= previousName))) return false;
    previousNamespace = namespace;
    previousName = name;
  }
  return true;
}

function conformingSignature(value: unknown): boolean {
  if (!isObject(value) || members(value) !== 3) return false;
  const { algorithm, keyId, value: text } = value;
  return algorithm === 'ed25519' && typeof keyId === 'string' && KEY_ID.test(keyId) && typeof text === 'string' && SIGNATURE_VALUE.test(text);
}

/** The endpoint count of a conforming service, else undefined. */
function conformingService(value: unknown, limits: SnapshotLimits): number | undefined {
  if (!isObject(value)) return undefined;
  const { namespace, name, type, clusterIPs, headless, ports, externalName, publishNotReadyAddresses, endpoints } = value;
  if (members(value) !== (externalName === undefined ? 8 : 9)) return undefined;
  if (typeof namespace !== 'string' || !isDnsLabel(namespace) || typeof name !== 'string' || !isDnsLabel(name)) return undefined;
  if (typeof type !== 'string' || !SERVICE_TYPES.includes(type)) return undefined;
  if (typeof headless !== 'boolean' || typeof publishNotReadyAddresses !== 'boolean') return undefined;
  if (!addresses(clusterIPs, 0, MAX_CLUSTER_IPS, true)) return undefined;
  const ips = clusterIPs as string[];
  if ((headless || type === 'ExternalName') && ips.length > 0) return undefined;
  if (type === 'ExternalName') {
    if (typeof externalName !== 'string' || !isDnsName(externalName) || headless) return undefined;
  } else if (externalName !== undefined) {
    return undefined;
  }
  if (!conformingPorts(ports, limits) || !Array.isArray(endpoints) || endpoints.length > limits.maxEndpointsPerService) return undefined;
  for (const endpoint of endpoints as unknown[]) if (!conformingEndpoint(endpoint, limits)) return undefined;
  return endpoints.length;
}

function conformingEndpoint(value: unknown, limits: SnapshotLimits): boolean {
  if (!isObject(value)) return false;
  const { addresses: list, hostname, ready, serving, terminating, ports } = value;
  if (members(value) !== (hostname === undefined ? 5 : 6)) return false;
  if (hostname !== undefined && (typeof hostname !== 'string' || !isDnsLabel(hostname))) return false;
  return typeof ready === 'boolean' && typeof serving === 'boolean' && typeof terminating === 'boolean' && addresses(list, 1, limits.maxAddressesPerEndpoint, false) && conformingPorts(ports, limits);
}

/** An array of `min` to `max` IP addresses, `distinct` ones if asked (cluster IPs, two at most). */
function addresses(value: unknown, min: number, max: number, distinct: boolean): boolean {
  if (!Array.isArray(value) || value.length < min || value.length > max) return false;
  for (let i = 0; i < value.length; i++) {
    const ip: unknown = value[i];
    if (typeof ip !== 'string' || !isIpAddress(ip)) return false;
    if (distinct) for (let j = 0; j < i; j++) if (value[j] === ip) return false; // two addresses at most in practice
  }
  return true;
}

/** Up to `limits.maxPorts` distinct ports; a long list is checked for duplicates through a Set, not pairwise. */
function conformingPorts(value: unknown, limits: SnapshotLimits): boolean {
  if (!Array.isArray(value) || value.length > limits.maxPorts) return false;
  const seen = value.length > 8 ? new Set<string>() : undefined;
  for (let i = 0; i < value.length; i++) {
    const port: unknown = value[i];
    if (!isObject(port) || members(port) !== 3) return false;
    const { name, protocol, port: number } = port;
    if (typeof name !== 'string' || (name !== '' && !isDnsLabel(name))) return false;
    if (typeof protocol !== 'string' || !PROTOCOLS.includes(protocol)) return false;
    if (typeof number !== 'number' || !Number.isInteger(number) || number < 1 || number > 65535) return false;
    if (seen) {
      const key = `${name}/${protocol}/${number}`;
      if (seen.has(key)) return false;
      seen.add(key);
      continue;
    }
    for (let j = 0; j < i; j++) {
      const other = value[j] as Obj;
      if (other['name'] === name && other['protocol'] === protocol && other['port'] === number) return false;
    }
  }
  return true;
}
