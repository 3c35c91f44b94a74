/**
 * Reading an untrusted snapshot: size limits, optional gzip, JSON, and a
 * hand-written schema check of the v1 envelope whose errors name the field path
 * and the service, e.g.
 * `services[3] (default/web).endpoints[0].addresses[1]: "10.0.0.x" is not an IPv4 or IPv6 address`.
 * Up to {@link MAX_REPORTED_PROBLEMS} problems are reported together. A quick
 * check without paths (`conforms.ts`) passes valid snapshots first.
 */
import { gunzipSync } from 'node:zlib';
import { SnapshotError } from '../common/errors.js';
import { isDnsLabel, isDnsName, isIpAddress, isRfc3339, show } from './names.js';
import { conformsToV1 } from './conforms.js';
import { MAX_CLUSTER_IPS, PROTOCOLS, SERVICE_TYPES, SNAPSHOT_FORMAT } from './types.js';
import { MAX_VIEW_NAMESPACES } from './view.js';
import type { SignedSnapshot } from './types.js';

/** True when `bytes` start with the gzip magic (RFC 1952 §2.3.1). */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Size limits applied to a snapshot before and while it is read. */
export interface SnapshotLimits {
  /** Largest accepted input (compressed or not), in bytes. Default 64 MiB. */
  readonly maxInputBytes: number;
  /** Largest JSON text, after gunzip when compressed, in bytes. Default 64 MiB. */
  readonly maxJsonBytes: number;
  /** Most services. Default 100 000. */
  readonly maxServices: number;
  /** Most endpoints of one service. Default 10 000. */
  readonly maxEndpointsPerService: number;
  /** Most endpoints in all. Default 1 000 000. */
  readonly maxTotalEndpoints: number;
  /** Most addresses of one endpoint. Default 100, the Kubernetes limit (discovery/v1 Endpoint.addresses). */
  readonly maxAddressesPerEndpoint: number;
  /** Most ports of one service or endpoint. Default 1 000 (an EndpointSlice holds at most 100). */
  readonly maxPorts: number;
}


/** The default {@link SnapshotLimits}. */
export const DEFAULT_LIMITS: SnapshotLimits = Object.freeze({
  maxInputBytes: 64 * 1024 * 1024,
  maxJsonBytes: 64 * 1024 * 1024,
  maxServices: 100_000,
  maxEndpointsPerService: 10_000,
  maxTotalEndpoints: 1_000_000,
  maxAddressesPerEndpoint: 100,
  maxPorts: 1_000,
});

/** How many schema problems one error lists at most. */
export const MAX_REPORTED_PROBLEMS = 20;

/** A schema failure (code HF_SNAPSHOT_SCHEMA); `problems` holds each fault, field path first. */
export class SnapshotSchemaError extends SnapshotError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[], truncated: boolean) {
    const more = truncated ? ` (first ${problems.length} shown)` : '';
    const head = problems.length === 1 && !truncated ? 'invalid snapshot' : `invalid snapshot, ${problems.length} problems${more}`;
    super('HF_SNAPSHOT_SCHEMA', `${head}: ${problems.join('; ')}`);
    this.name = 'SnapshotSchemaError';
    this.problems = problems;
  }
}

/**
 * Parses snapshot bytes: plain JSON or gzip (magic 1f 8b), within `limits`.
 * Throws SnapshotError with code HF_SNAPSHOT_TOO_LARGE (over a limit),
 * HF_SNAPSHOT_PARSE (bad gzip, UTF-8 or JSON) or HF_SNAPSHOT_SCHEMA
 * ({@link SnapshotSchemaError}). Does not check the signature (see `sign.ts`).
 */
export function parseSnapshot(bytes: Uint8Array, limits: Partial<SnapshotLimits> = {}): SignedSnapshot {
  const lim: SnapshotLimits = { ...DEFAULT_LIMITS, ...limits };
  if (bytes.length > lim.maxInputBytes) {
    throw new SnapshotError('HF_SNAPSHOT_TOO_LARGE', `snapshot is ${bytes.length} bytes, over the limit of ${lim.maxInputBytes}`);
  }
  let json: Uint8Array = bytes;
  if (isGzip(bytes)) {
    try {
      json = gunzipSync(bytes, { maxOutputLength: lim.maxJsonBytes });
    } catch (error) {
      if (error instanceof RangeError || (error as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new SnapshotError('HF_SNAPSHOT_TOO_LARGE', `gzip snapshot decompresses to more than ${lim.maxJsonBytes} bytes`, { cause: error });
      }
      throw new SnapshotError('HF_SNAPSHOT_PARSE', `snapshot is not valid gzip: ${messageOf(error)}`, { cause: error });
    }
  } else if (bytes.length > lim.maxJsonBytes) {
    throw new SnapshotError('HF_SNAPSHOT_TOO_LARGE', `snapshot is ${bytes.length} bytes, over the limit of ${lim.maxJsonBytes}`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(json);
  } catch (error) {
    throw new SnapshotError('HF_SNAPSHOT_PARSE', 'snapshot is not valid UTF-8', { cause: error });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new SnapshotError('HF_SNAPSHOT_PARSE', `snapshot is not valid JSON: ${messageOf(error)}`, { cause: error });
  }
  return validateSignedSnapshot(value, lim);
}

/**
 * Checks an already parsed value against the v1 envelope schema and returns it
 * typed. Throws {@link SnapshotSchemaError}, or SnapshotError HF_SNAPSHOT_TOO_LARGE
 * when a count limit is exceeded.
 */
export function validateSignedSnapshot(value: unknown, limits: Partial<SnapshotLimits> = {}): SignedSnapshot {
  const lim: SnapshotLimits = { ...DEFAULT_LIMITS, ...limits };
  if (conformsToV1(value, lim)) return value as SignedSnapshot;
  const { problems, truncated } = schemaProblems(value, lim);
  if (problems.length > 0) throw new SnapshotSchemaError(problems, truncated);
  return value as SignedSnapshot;
}

/**
 * The reporting check alone: up to {@link MAX_REPORTED_PROBLEMS} problems, each
 * with its field path, and whether more were left out. Throws SnapshotError
 * HF_SNAPSHOT_TOO_LARGE when a count limit is exceeded before that many are found.
 * {@link validateSignedSnapshot} runs it only when the quick check
 * (`conforms.ts`) says no.
 */
export function schemaProblems(value: unknown, limits: SnapshotLimits): { readonly problems: readonly string[]; readonly truncated: boolean } {
  const c = new Checker();
  try {
    checkEnvelope(c, value, limits);
  } catch (error) {
    if (error !== FULL) throw error;
  }
  return { problems: c.problems, truncated: c.truncated };
}

/** Thrown inside the checker to stop once enough problems are collected. */
const FULL = Symbol('full');

class Checker {
  readonly problems: string[] = [];
  truncated = false;

  add(path: string, message: string): void {
    if (this.problems.length >= MAX_REPORTED_PROBLEMS) {
      this.truncated = true;
      throw FULL;
    }
    this.problems.push(`${path}: ${message}`);
  }

  /** The value as a record with exactly the allowed fields, reporting missing and unknown ones. */
  object(path: string, value: unknown, required: readonly string[], optional: readonly string[] = []): Record<string, unknown> | undefined {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.add(path, `expected an object, got ${kindOf(value)}`);
      return undefined;
    }
    const record = value as Record<string, unknown>;
    for (const key of required) if (!(key in record)) this.add(path, `missing field "${key}"`);
    for (const key of Object.keys(record)) {
      if (!required.includes(key) && !optional.includes(key)) this.add(path, `unknown field ${show(key)}`);
    }
    return record;
  }

  array(path: string, value: unknown): readonly unknown[] | undefined {
    if (!Array.isArray(value)) {
      this.add(path, `expected an array, got ${kindOf(value)}`);
      return undefined;
    }
    return value;
  }

  string(path: string, value: unknown): value is string {
    if (typeof value === 'string') return true;
    this.add(path, `expected a string, got ${kindOf(value)}`);
    return false;
  }

  boolean(path: string, value: unknown): void {
    if (typeof value !== 'boolean') this.add(path, `expected a boolean, got ${kindOf(value)}`);
  }

  label(path: string, value: unknown, what: string): void {
    if (this.string(path, value) && !isDnsLabel(value)) this.add(path, `${show(value)} is not a valid ${what} (lower-case RFC 1123 label, at most 63 characters)`);
  }

  ip(path: string, value: unknown): void {
    if (this.string(path, value) && !isIpAddress(value)) this.add(path, `${show(value)} is not an IPv4 or IPv6 address`);
  }
}

function checkEnvelope(c: Checker, value: unknown, lim: SnapshotLimits): void {
  const env = c.object('envelope', value, ['snapshot'], ['signature']);
  if (!env) return;
  if (env['signature'] !== undefined) {
    const sig = c.object('signature', env['signature'], ['algorithm', 'keyId', 'value']);
    if (sig) {
      if (sig['algorithm'] !== 'ed25519') c.add('signature.algorithm', `${show(sig['algorithm'])} is not supported (expected "ed25519")`);
      const id = sig['keyId'];
      if (c.string('signature.keyId', id) && !/^[0-9a-f]{16}$/.test(id)) c.add('signature.keyId', `${show(id)} is not 16 lower-case hex digits`);
      const val = sig['value'];
      if (c.string('signature.value', val) && !/^[A-Za-z0-9+/]{86}==$/.test(val)) c.add('signature.value', 'is not a base64 Ed25519 signature (64 bytes)');
    }
  }
  const snap = c.object('snapshot', env['snapshot'], ['format', 'clusterDomain', 'generation', 'createdAt', 'services'], ['namespaces']);
  if (!snap) return;
  if (snap['format'] !== SNAPSHOT_FORMAT) c.add('format', `${show(snap['format'])} is not "${SNAPSHOT_FORMAT}"`);
  const domain = snap['clusterDomain'];
  if (c.string('clusterDomain', domain) && !isDnsName(domain)) {
    c.add('clusterDomain', `${show(domain)} is not a lower-case DNS name without trailing dot`);
  }
  const gen = snap['generation'];
  if (typeof gen !== 'number' || !Number.isSafeInteger(gen) || gen < 0) c.add('generation', `${show(gen)} is not a non-negative safe integer`);
  const created = snap['createdAt'];
  if (c.string('createdAt', created) && !isRfc3339(created)) c.add('createdAt', `${show(created)} is not an RFC 3339 date-time`);
  const view = snap['namespaces'] === undefined ? undefined : checkNamespaces(c, snap['namespaces']);
  const services = c.array('services', snap['services']);
  if (!services) return;
  if (services.length > lim.maxServices) {
    throw new SnapshotError('HF_SNAPSHOT_TOO_LARGE', `snapshot has ${services.length} services, over the limit of ${lim.maxServices}`);
  }
  let totalEndpoints = 0;
  let previous: string | undefined;
  const seen = new Set<string>();
  services.forEach((service, i) => {
    const ns = (service as { namespace?: unknown } | null)?.namespace;
    const name = (service as { name?: unknown } | null)?.name;
    const id = typeof ns === 'string' && typeof name === 'string' ? `${ns}/${name}` : undefined;
    const path = id !== undefined && /^[\x21-\x7e]{1,128}$/.test(id) ? `services[${i}] (${id})` : `services[${i}]`;
    const endpoints = checkService(c, path, service, lim);
    totalEndpoints += endpoints;
    if (totalEndpoints > lim.maxTotalEndpoints) {
      throw new SnapshotError('HF_SNAPSHOT_TOO_LARGE', `snapshot has more than ${lim.maxTotalEndpoints} endpoints in all`);
    }
    if (id === undefined || typeof ns !== 'string' || typeof name !== 'string') return;
    if (view !== undefined && !view.has(ns)) c.add(`${path}.namespace`, `${show(ns)} is not among the snapshot's namespaces`);
    if (seen.has(id)) c.add(path, `duplicate service ${id}`);
    seen.add(id);
    const key = `${ns}\u0000${name}`;
    if (previous !== undefined && key < previous) c.add(path, 'services are not sorted by namespace, then name');
    previous = key;
  });
}

/**
 * Checks the namespace list of a filtered snapshot: DNS labels, sorted, each
 * once, at most {@link MAX_VIEW_NAMESPACES}. Returns the set (empty when it is not a list).
 */
function checkNamespaces(c: Checker, value: unknown): ReadonlySet<string> {
  const list = c.array('namespaces', value) ?? [];
  if (list.length === 0 || list.length > MAX_VIEW_NAMESPACES) c.add('namespaces', `${list.length} namespaces: a filtered snapshot names 1 to ${MAX_VIEW_NAMESPACES}`);
  let previous: string | undefined;
  list.slice(0, MAX_VIEW_NAMESPACES).forEach((ns, i) => {
    c.label(`namespaces[${i}]`, ns, 'namespace');
    if (typeof ns === 'string' && previous !== undefined && ns <= previous) c.add(`namespaces[${i}]`, 'namespaces are not sorted, each once');
    if (typeof ns === 'string') previous = ns;
  });
  return new Set(list.filter((ns): ns is string => typeof ns === 'string'));
}

/** Checks one service; returns its endpoint count. */
function checkService(c: Checker, path: string, value: unknown, lim: SnapshotLimits): number {
  const svc = c.object(path, value, ['namespace', 'name', 'type', 'clusterIPs', 'headless', 'ports', 'publishNotReadyAddresses', 'endpoints'], ['externalName']);
  if (!svc) return 0;
  c.label(`${path}.namespace`, svc['namespace'], 'namespace');
  c.label(`${path}.name`, svc['name'], 'service name');
  const type = svc['type'];
  if (typeof type !== 'string' || !SERVICE_TYPES.includes(type)) c.add(`${path}.type`, `${show(type)} is not one of ${SERVICE_TYPES.join(', ')}`);
  c.boolean(`${path}.headless`, svc['headless']);
  c.boolean(`${path}.publishNotReadyAddresses`, svc['publishNotReadyAddresses']);
  const ips = c.array(`${path}.clusterIPs`, svc['clusterIPs']);
  if (ips && ips.length > MAX_CLUSTER_IPS) {
    c.add(`${path}.clusterIPs`, `holds ${ips.length} addresses; a service has at most ${MAX_CLUSTER_IPS} (one per IP family)`);
  } else if (ips) {
    ips.forEach((ip, j) => c.ip(`${path}.clusterIPs[${j}]`, ip));
    if (new Set(ips).size !== ips.length) c.add(`${path}.clusterIPs`, 'contains duplicates');
    if (svc['headless'] === true && ips.length > 0) c.add(`${path}.clusterIPs`, 'must be empty for a headless service');
    if (type === 'ExternalName' && ips.length > 0) c.add(`${path}.clusterIPs`, 'must be empty for an ExternalName service');
  }
  const ext = svc['externalName'];
  if (type === 'ExternalName') {
    if (ext === undefined) c.add(path, 'missing field "externalName" (required for type ExternalName)');
    else if (c.string(`${path}.externalName`, ext) && !isDnsName(ext)) c.add(`${path}.externalName`, `${show(ext)} is not a lower-case DNS name without trailing dot`);
    if (svc['headless'] === true) c.add(`${path}.headless`, 'an ExternalName service cannot be headless');
  } else if (ext !== undefined) {
    c.add(`${path}.externalName`, `only allowed for type ExternalName (type is ${show(type)})`);
  }
  checkPorts(c, `${path}.ports`, svc['ports'], lim);
  const endpoints = c.array(`${path}.endpoints`, svc['endpoints']);
  if (!endpoints) return 0;
  if (endpoints.length > lim.maxEndpointsPerService) {
    throw new SnapshotError('HF_SNAPSHOT_TOO_LARGE', `${path} has ${endpoints.length} endpoints, over the limit of ${lim.maxEndpointsPerService}`);
  }
  endpoints.forEach((endpoint, j) => checkEndpoint(c, `${path}.endpoints[${j}]`, endpoint, lim));
  return endpoints.length;
}

function checkEndpoint(c: Checker, path: string, value: unknown, lim: SnapshotLimits): void {
  const ep = c.object(path, value, ['addresses', 'ready', 'serving', 'terminating', 'ports'], ['hostname']);
  if (!ep) return;
  const addresses = c.array(`${path}.addresses`, ep['addresses']);
  if (addresses && addresses.length > lim.maxAddressesPerEndpoint) {
    throw new SnapshotError('HF_SNAPSHOT_TOO_LARGE', `${path} has ${addresses.length} addresses, over the limit of ${lim.maxAddressesPerEndpoint}`);
  }
  if (addresses) {
    if (addresses.length === 0) c.add(`${path}.addresses`, 'must hold at least one address');
    addresses.forEach((address, k) => c.ip(`${path}.addresses[${k}]`, address));
  }
  if (ep['hostname'] !== undefined) c.label(`${path}.hostname`, ep['hostname'], 'hostname');
  c.boolean(`${path}.ready`, ep['ready']);
  c.boolean(`${path}.serving`, ep['serving']);
  c.boolean(`${path}.terminating`, ep['terminating']);
  checkPorts(c, `${path}.ports`, ep['ports'], lim);
}

/**
 * Ports of a service or endpoint. Port names follow Kubernetes: '' or a DNS_LABEL
 * (ValidateDNS1123Label for Service and discovery/v1 EndpointSlice ports); they
 * become the `_name` label of SRV records.
 */
function checkPorts(c: Checker, path: string, value: unknown, lim: SnapshotLimits): void {
  const ports = c.array(path, value);
  if (!ports) return;
  if (ports.length > lim.maxPorts) throw new SnapshotError('HF_SNAPSHOT_TOO_LARGE', `${path} has ${ports.length} ports, over the limit of ${lim.maxPorts}`);
  const seen = new Set<string>();
  ports.forEach((port, k) => {
    const p = c.object(`${path}[${k}]`, port, ['name', 'protocol', 'port']);
    if (!p) return;
    const name = p['name'];
    if (c.string(`${path}[${k}].name`, name) && name !== '' && !isDnsLabel(name)) {
      c.add(`${path}[${k}].name`, `${show(name)} is not '' or a valid port name (lower-case RFC 1123 label)`);
    }
    const protocol = p['protocol'];
    if (typeof protocol !== 'string' || !PROTOCOLS.includes(protocol)) c.add(`${path}[${k}].protocol`, `${show(protocol)} is not one of ${PROTOCOLS.join(', ')}`);
    const number = p['port'];
    if (typeof number !== 'number' || !Number.isInteger(number) || number < 1 || number > 65535) {
      c.add(`${path}[${k}].port`, `${show(number)} is not a port number (1-65535)`);
    }
    const key = `${String(name)}/${String(protocol)}/${String(number)}`;
    if (seen.has(key)) c.add(`${path}[${k}]`, `duplicate port ${show(name)} ${String(protocol)} ${String(number)}`);
    seen.add(key);
  });
}

function kindOf(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${show(value, 40)}`;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
