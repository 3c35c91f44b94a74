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
 */
import type { SnapshotV1 } from './types.js';

/** The domain-separation prefix of the signing input; ends with a newline. */
export const SIGNING_PREFIX = 'holdfast-snapshot-v1\n';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Encodes `value` canonically. Throws a TypeError for values outside the snapshot
 * model: non-integer or unsafe numbers, strings with lone surrogates (RFC 8785
 * §3.2.2.2 requires well-formed strings), `undefined` in arrays, functions, bigints,
 * symbols, and objects that are not plain objects or arrays.
 */
export function canonicalJson(value: unknown): string {
  const parts: string[] = [];
  encode(value, parts, '$');
  return parts.join('');
}

/** The bytes an Ed25519 snapshot signature is made over: {@link SIGNING_PREFIX} + canonical(snapshot), UTF-8. */
export function signingInput(snapshot: SnapshotV1): Buffer {
  return Buffer.from(SIGNING_PREFIX + canonicalJson(snapshot), 'utf8');
}

function encode(value: unknown, out: string[], path: string): void {
  switch (typeof value) {
    case 'string':
      if (LONE_SURROGATE.test(value)) throw new TypeError(`${path}: string contains a lone surrogate`);
      out.push(JSON.stringify(value));
      return;
    case 'number':
      if (!Number.isSafeInteger(value)) throw new TypeError(`${path}: ${value} is not a safe integer`);
      out.push(String(value === 0 ? 0 : value)); // -0 encodes as 0
      return;
    case 'boolean':
      out.push(value ? 'true' : 'false');
      return;
    case 'object':
      if (value === null) {
        out.push('null');
      } else if (Array.isArray(value)) {
        encodeArray(value, out, path);
      } else {
        encodeObject(value, out, path);
      }
      return;
    default:
      throw new TypeError(`${path}: cannot encode a value of type ${typeof value}`);
  }
}

function encodeArray(value: readonly unknown[], out: string[], path: string): void {
  out.push('[');
  for (let i = 0; i < value.length; i++) {
    if (i > 0) out.push(',');
    const item = value[i];
    if (item === undefined) throw new TypeError(`${path}[${i}]: undefined in an array`);
    encode(item, out, `${path}[${i}]`);
  }
  out.push(']');
}

function encodeObject(value: object, out: string[], path: string): void {
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) throw new TypeError(`${path}: not a plain object`);
  const record = value as Record<string, unknown>;
  // Default sort compares UTF-16 code units, as RFC 8785 §3.2.3 requires.
  const keys = Object.keys(record).filter((key) => record[key] !== undefined).sort();
  out.push('{');
  keys.forEach((key, i) => {
    if (i > 0) out.push(',');
    if (LONE_SURROGATE.test(key)) throw new TypeError(`${path}: key contains a lone surrogate`);
    out.push(JSON.stringify(key), ':');
    encode(record[key], out, `${path}.${key}`);
  });
  out.push('}');
}
