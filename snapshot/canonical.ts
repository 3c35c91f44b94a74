/**
 * Canonical JSON encoding of snapshot values, the byte string a signature covers.
 *
 * The rules are those of RFC 8785 (JSON Canonicalization Scheme) restricted to the
 * value types a snapshot holds: object members sorted by key (UTF-16 code units,
 * RFC 8785 §3.2.3), no whitespace, strings escaped as ECMAScript JSON.stringify does
 * (§3.2.2.2), and numbers limited to safe integers, so the number serialization of
 * §3.2.2.3 reduces to plain decimal digits. Object members whose value is
 * `undefined` are left out, as JSON.stringify does, so a snapshot written with
 * JSON.stringify and read back encodes to the same bytes.
 *
 * Two encoders give the same bytes. A snapshot of exactly the v1 shape
 * (`types.ts`) is copied into objects whose members are created in sorted order
 * and handed to one native JSON.stringify, which keeps insertion order: about
 * eight times faster than walking it in JavaScript. Anything else, including a
 * snapshot with one unexpected member or type anywhere, goes through the generic
 * encoder, which also produces the errors (with the path of the offending value).
 */
import { members } from './conforms.js';
import type { EndpointV1, PortV1, ServiceV1, SnapshotV1 } from './types.js';

/** The domain-separation prefix of the signing input; ends with a newline. */
export const SIGNING_PREFIX = 'holdfast-snapshot-v1\n';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** Characters after which a string needs more than plain quoting: escapes, or a surrogate to check. */
const SPECIAL = /[\u0000-\u001f"\\\uD800-\uDFFF]/;

/**
 * Encodes `value` canonically. Throws a TypeError for values outside the snapshot
 * model: non-integer or unsafe numbers, strings with lone surrogates (RFC 8785
 * §3.2.2.2 requires well-formed strings), `undefined` in arrays, functions, bigints,
 * symbols, and objects that are not plain objects or arrays.
 */
export function canonicalJson(value: unknown): string {
  const copy = prototypeIsClean() ? sortedSnapshot(value) : undefined;
  if (copy !== undefined) {
    const text = JSON.stringify(copy);
    // JSON.stringify writes a lone surrogate as a \udxxx escape, its only \u escape
    // besides control characters; the generic encoder then names the culprit.
    if (!hasSurrogateEscape(text)) return text;
  }
  return new GenericEncoder().value(value);
}

/** The bytes an Ed25519 snapshot signature is made over: {@link SIGNING_PREFIX} + canonical(snapshot), UTF-8. */
export function signingInput(snapshot: SnapshotV1): Buffer {
  return Buffer.from(SIGNING_PREFIX + canonicalJson(snapshot), 'utf8');
}

// ---------------------------------------------------------------------------
// The snapshot-shaped fast path: a copy with members in sorted order, or undefined.

/**
 * The fast path counts members with for-in, which also sees inherited enumerable
 * ones, and relies on JSON.stringify calling no `toJSON`: only take it when the
 * prototypes add neither.
 */
function prototypeIsClean(): boolean {
  for (const _ in {}) return false;
  return !('toJSON' in Array.prototype);
}

function isPlain(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return (proto === Object.prototype || proto === null) && !Array.isArray(value);
}

const isInteger = (value: unknown): value is number => Number.isSafeInteger(value);

function sortedSnapshot(value: unknown): SnapshotV1 | undefined {
  if (!isPlain(value)) return undefined;
  const { clusterDomain, createdAt, format, generation, namespaces, services } = value;
  if (members(value) !== (namespaces === undefined ? 5 : 6)) return undefined;
  if (typeof clusterDomain !== 'string' || typeof createdAt !== 'string' || typeof format !== 'string' || !isInteger(generation) || !Array.isArray(services)) return undefined;
  const view = namespaces === undefined ? undefined : strings(namespaces);
  if (namespaces !== undefined && view === undefined) return undefined;
  const copies: ServiceV1[] = new Array<ServiceV1>(services.length);
  for (let i = 0; i < services.length; i++) {
    const service = sortedService(services[i]);
    if (service === undefined) return undefined;
    copies[i] = service;
  }
  // JSON.stringify leaves out `namespaces: undefined`, as the generic encoder does.
  return { clusterDomain, createdAt, format, generation, namespaces: view, services: copies } as SnapshotV1;
}

function sortedService(value: unknown): ServiceV1 | undefined {
  if (!isPlain(value)) return undefined;
  const { clusterIPs, endpoints, externalName, headless, name, namespace, ports, publishNotReadyAddresses, type } = value;
  if (members(value) !== (externalName === undefined ? 8 : 9)) return undefined;
  if (externalName !== undefined && typeof externalName !== 'string') return undefined;
  if (typeof headless !== 'boolean' || typeof name !== 'string' || typeof namespace !== 'string' || typeof publishNotReadyAddresses !== 'boolean' || typeof type !== 'string') return undefined;
  const ips = strings(clusterIPs);
  const portCopies = sortedPorts(ports);
  if (ips === undefined || portCopies === undefined || !Array.isArray(endpoints)) return undefined;
  const endpointCopies: EndpointV1[] = new Array<EndpointV1>(endpoints.length);
  for (let i = 0; i < endpoints.length; i++) {
    const endpoint = sortedEndpoint(endpoints[i]);
    if (endpoint === undefined) return undefined;
    endpointCopies[i] = endpoint;
  }
  return { clusterIPs: ips, endpoints: endpointCopies, externalName, headless, name, namespace, ports: portCopies, publishNotReadyAddresses, type } as ServiceV1;
}

function sortedEndpoint(value: unknown): EndpointV1 | undefined {
  if (!isPlain(value)) return undefined;
  const { addresses, hostname, ports, ready, serving, terminating } = value;
  if (members(value) !== (hostname === undefined ? 5 : 6)) return undefined;
  if (hostname !== undefined && typeof hostname !== 'string') return undefined;
  if (typeof ready !== 'boolean' || typeof serving !== 'boolean' || typeof terminating !== 'boolean') return undefined;
  const addressCopies = strings(addresses);
  const portCopies = sortedPorts(ports);
  if (addressCopies === undefined || portCopies === undefined) return undefined;
  // JSON.stringify leaves out `hostname: undefined`, as the generic encoder does.
  return { addresses: addressCopies, hostname, ports: portCopies, ready, serving, terminating } as EndpointV1;
}

function sortedPorts(value: unknown): PortV1[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const copies: PortV1[] = new Array<PortV1>(value.length);
  for (let i = 0; i < value.length; i++) {
    const port: unknown = value[i];
    if (!isPlain(port) || members(port) !== 3) return undefined;
    const { name, port: number, protocol } = port;
    if (typeof name !== 'string' || !isInteger(number) || typeof protocol !== 'string') return undefined;
    copies[i] = { name, port: number, protocol } as PortV1;
  }
  return copies;
}

function strings(value: unknown): string[] | undefined {
  if (!Array.isArray(value)) return undefined;
  for (let i = 0; i < value.length; i++) if (typeof value[i] !== 'string') return undefined;
  return value.slice() as string[]; // a fresh array: the original might carry its own toJSON
}

/** True when `text` (JSON.stringify output) holds an escaped surrogate, i.e. a lone one. */
function hasSurrogateEscape(text: string): boolean {
  for (let at = text.indexOf('\\ud'); at !== -1; at = text.indexOf('\\ud', at + 1)) {
    let backslashes = 0;
    while (text.charCodeAt(at - 1 - backslashes) === 0x5c) backslashes++;
    if (backslashes % 2 === 0) return true; // this backslash starts an escape; an odd count means it is an escaped '\'
  }
  return false;
}

// ---------------------------------------------------------------------------
// The generic encoder: any value of the model, errors with the path of the fault.

class GenericEncoder {
  /** Path segments of the value being encoded, joined only for an error message. */
  private readonly path: (string | number)[] = [];

  value(value: unknown): string {
    switch (typeof value) {
      case 'string':
        return this.string(value, 'string');
      case 'number':
        if (!Number.isSafeInteger(value)) this.fail(`${value} is not a safe integer`);
        return value === 0 ? '0' : String(value); // -0 encodes as 0
      case 'boolean':
        return value ? 'true' : 'false';
      case 'object':
        if (value === null) return 'null';
        return Array.isArray(value) ? this.array(value) : this.object(value);
      default:
        return this.fail(`cannot encode a value of type ${typeof value}`);
    }
  }

  private string(text: string, what: 'string' | 'key'): string {
    if (!SPECIAL.test(text)) return `"${text}"`;
    if (LONE_SURROGATE.test(text)) this.fail(`${what} contains a lone surrogate`);
    return JSON.stringify(text);
  }

  private array(value: readonly unknown[]): string {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      const item = value[i];
      this.path.push(i);
      if (item === undefined) this.fail('undefined in an array');
      out += this.value(item);
      this.path.pop();
    }
    return `${out}]`;
  }

  private object(value: object): string {
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) this.fail('not a plain object');
    const record = value as Record<string, unknown>;
    // Default sort compares UTF-16 code units, as RFC 8785 §3.2.3 requires.
    const keys = Object.keys(record).sort();
    let out = '{';
    let first = true;
    for (const key of keys) {
      const member = record[key];
      if (member === undefined) continue;
      if (!first) out += ',';
      first = false;
      out += `${this.string(key, 'key')}:`;
      this.path.push(key);
      out += this.value(member);
      this.path.pop();
    }
    return `${out}}`;
  }

  private fail(message: string): never {
    let where = '$';
    for (const segment of this.path) where += typeof segment === 'number' ? `[${segment}]` : `.${segment}`;
    throw new TypeError(`${where}: ${message}`);
  }
}
