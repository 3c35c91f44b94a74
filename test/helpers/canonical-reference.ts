/**
 * The first canonical JSON encoder of holdfast (`snapshot/canonical.ts` before the
 * fast path), kept verbatim as the reference the current encoder must match byte
 * for byte, and error for error: signatures made by either must verify with both.
 */

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** The reference encoding of `value`; throws TypeError as the encoder does. */
export function referenceCanonicalJson(value: unknown): string {
  const parts: string[] = [];
  encode(value, parts, '$');
  return parts.join('');
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
