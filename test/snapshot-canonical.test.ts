import { describe, expect, it } from 'vitest';
import { seededRandom } from '../bench/prng.js';
import { canonicalJson, signingInput } from '../snapshot/canonical.js';
import { referenceCanonicalJson } from './helpers/canonical-reference.js';
import { SMALL_SIGNING_INPUT, smallSnapshot } from './snapshot-fixtures.js';

describe('canonicalJson', () => {
  it.each([
    ['sorted keys, no whitespace', { b: 1, a: [true, false, null], c: 'x' }, '{"a":[true,false,null],"b":1,"c":"x"}'],
    ['nested objects sorted too', { z: { y: 1, x: 2 }, a: [{ d: 1, c: 2 }] }, '{"a":[{"c":2,"d":1}],"z":{"x":2,"y":1}}'],
    ['string escapes as JSON.stringify', { s: '\u0000\n"\\é€😀\u2028' }, '{"s":"\\u0000\\n\\"\\\\é€😀\u2028"}'],
    ['undefined members left out', { a: undefined, b: 2 }, '{"b":2}'],
    ['negative zero is 0', { n: -0 }, '{"n":0}'],
    ['negative and large safe integers', [-5, 9007199254740991], '[-5,9007199254740991]'],
    ['empty containers', { a: {}, b: [] }, '{"a":{},"b":[]}'],
    // RFC 8785 §3.2.3 example: keys sort by UTF-16 code units.
    [
      'RFC 8785 key order',
      { '\u20ac': 1, '\r': 2, '\ufb33': 3, '1': 4, '\ud83d\ude00': 5, '\u0080': 6, '\u00f6': 7 },
      '{"\\r":2,"1":4,"\u0080":6,"\u00f6":7,"\u20ac":1,"\ud83d\ude00":5,"\ufb33":3}',
    ],
  ])('%s', (_name, value, expected) => {
    expect(canonicalJson(value)).toBe(expected);
  });

  it.each([
    ['a fraction', { n: 1.5 }, /not a safe integer/],
    ['NaN', [Number.NaN], /not a safe integer/],
    ['an unsafe integer', [2 ** 53], /not a safe integer/],
    ['undefined in an array', [1, undefined], /undefined in an array/],
    ['a lone surrogate', ['\ud800x'], /lone surrogate/],
    ['a Date', { d: new Date(0) }, /not a plain object/],
    ['a bigint', { b: 1n }, /bigint/],
  ])('rejects %s', (_name, value, message) => {
    expect(() => canonicalJson(value)).toThrow(message);
  });
});

describe('signingInput', () => {
  it('is the prefix plus the canonical snapshot (golden)', () => {
    expect(signingInput(smallSnapshot()).toString('utf8')).toBe(SMALL_SIGNING_INPUT);
  });

  it('does not depend on key order', () => {
    const reordered = reverseKeys(smallSnapshot()) as ReturnType<typeof smallSnapshot>;
    expect(JSON.stringify(reordered)).not.toBe(JSON.stringify(smallSnapshot()));
    expect(signingInput(reordered).equals(signingInput(smallSnapshot()))).toBe(true);
  });
});

/** A deep copy with every object's keys in reverse insertion order. */
function reverseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reverseKeys);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value).reverse().map(([k, v]) => [k, reverseKeys(v)]));
}

describe('canonicalJson against the reference encoder', () => {
  const STRINGS = ['', 'web', 'db-0', '10.0.0.1', 'fd00::1', 'é€😀', '\u2028\u2029', 'tab\there', 'quote"back\\slash', '\u0000\u001f\u007f', 'x\\ud800', '\\\\ud83d', '\ud83d\ude00'];
  const LONE = ['\ud800', 'a\udfff', '\ude00\ud83d', 'x\ud83d'];
  const KEYS = ['zzz', '1', '10', '9', '\r', '', 'A', 'é', '\ud83d\ude00', '\ufb33'];

  function snapshotLike(rand: () => number): Record<string, unknown> {
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
    const port = () => ({ name: pick(['', 'http', 'dns']), protocol: pick(['TCP', 'UDP']), port: 1 + Math.floor(rand() * 65535) });
    const endpoint = () => {
      const e: Record<string, unknown> = { addresses: [pick(STRINGS), '10.1.2.3'], ready: rand() < 0.8, serving: true, terminating: false, ports: [port()] };
      if (rand() < 0.3) e['hostname'] = pick(STRINGS);
      return e;
    };
    const service = () => {
      const s: Record<string, unknown> = {
        namespace: pick(STRINGS), name: pick(STRINGS), type: 'ClusterIP', clusterIPs: rand() < 0.5 ? [] : ['10.96.0.1', 'fd00::a'],
        headless: rand() < 0.2, ports: Array.from({ length: Math.floor(rand() * 3) }, port), publishNotReadyAddresses: false,
        endpoints: Array.from({ length: Math.floor(rand() * 4) }, endpoint),
      };
      if (rand() < 0.1) s['externalName'] = pick(STRINGS);
      return s;
    };
    return { format: 'holdfast.snapshot/v1', clusterDomain: 'cluster.local', generation: Math.floor(rand() * 2 ** 40), createdAt: pick(STRINGS), services: Array.from({ length: 1 + Math.floor(rand() * 4) }, service) };
  }

  /** Every object and array in `value`, with the way to replace a member of it. */
  function containers(value: unknown, out: (Record<string, unknown> | unknown[])[] = []): (Record<string, unknown> | unknown[])[] {
    if (typeof value === 'object' && value !== null) {
      out.push(value as Record<string, unknown> | unknown[]);
      for (const member of Object.values(value)) containers(member, out);
    }
    return out;
  }

  const ODD_VALUES: (() => unknown)[] = [
    () => -0, () => 1.5, () => Number.NaN, () => 2 ** 53, () => -5, () => null, () => new Date(0), () => 1n, () => () => 1, () => Symbol('s'),
    () => undefined, () => [1, undefined], () => [, 1], () => ({ b: 1, a: { d: 2, c: 3 } }), () => Object.assign(Object.create(null), { z: 1, y: 'x' }),
    () => true, () => 'plain', () => LONE[0], () => ({ '10': 1, '9': 2, a: 3, '\r': 4 }),
  ];

  class Member {}

  function mutate(root: Record<string, unknown>, rand: () => number): void {
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
    const target = pick(containers(root));
    const keys = Object.keys(target);
    const key = keys.length > 0 ? pick(keys) : '0';
    const record = target as Record<string, unknown>;
    switch (Math.floor(rand() * 8)) {
      case 0: record[pick(KEYS)] = pick(STRINGS); break; // an unknown member
      case 1: record[key] = undefined; break;
      case 2: delete record[key]; break;
      case 3: record[key] = pick([...STRINGS, ...LONE]); break;
      case 4: record[key] = pick(ODD_VALUES)(); break;
      case 5: { // the same members in reverse order
        const entries = Object.entries(record).reverse();
        for (const [k] of entries) delete record[k];
        for (const [k, v] of entries) record[k] = v;
        break;
      }
      case 6: if (!Array.isArray(target)) Object.setPrototypeOf(target, Member.prototype); break; // same members, not a plain object
      default: if (!Array.isArray(target)) Object.setPrototypeOf(target, null);
    }
  }

  function outcome(encode: (value: unknown) => string, value: unknown): string {
    try {
      return `ok ${encode(value)}`;
    } catch (error) {
      return `${(error as Error).name}: ${(error as Error).message}`;
    }
  }

  it('gives the same bytes, or the same error, for 2,000 random snapshot-like values', () => {
    const rand = seededRandom(20241211);
    let fastShaped = 0;
    for (let i = 0; i < 2000; i++) {
      const value = snapshotLike(rand);
      const mutations = Math.floor(rand() * 3); // a third stay exactly of the v1 shape
      if (mutations === 0) fastShaped++;
      for (let m = 0; m < mutations; m++) mutate(value, rand);
      const expected = outcome(referenceCanonicalJson, value);
      expect(outcome(canonicalJson, value), `case ${i}: ${expected.slice(0, 200)}`).toBe(expected);
    }
    expect(fastShaped).toBeGreaterThan(500);
  });

  it('matches on a built snapshot and on its JSON round trip', () => {
    const snapshot = smallSnapshot();
    const roundTrip: unknown = JSON.parse(JSON.stringify(reverseKeys(snapshot)));
    expect(canonicalJson(snapshot)).toBe(referenceCanonicalJson(snapshot));
    expect(canonicalJson(roundTrip)).toBe(referenceCanonicalJson(snapshot));
  });

  it('names the path of a lone surrogate found after the fast path', () => {
    const snapshot = smallSnapshot();
    const bad = { ...snapshot, services: [{ ...snapshot.services[0]!, name: 'x\ud800' }] };
    expect(() => canonicalJson(bad)).toThrow('$.services[0].name: string contains a lone surrogate');
    const escapedText = { ...snapshot, services: [{ ...snapshot.services[0]!, name: 'x\\ud800' }] };
    expect(canonicalJson(escapedText)).toBe(referenceCanonicalJson(escapedText));
  });

  it.each([
    ['a toJSON on Array.prototype', Array.prototype, 'toJSON', false],
    ['an enumerable member of Object.prototype named like an optional field', Object.prototype, 'externalName', true],
  ])('does not take the fast path with %s', (_what, proto, key, enumerable) => {
    // Every object counted would see an inherited member: the top level has no prototype,
    // and the one service no ports or endpoints, whose counts would not match.
    const small = smallSnapshot();
    const snapshot = Object.assign(Object.create(null) as object, { ...small, services: [{ ...small.services[0]!, ports: [], endpoints: [] }] });
    Object.defineProperty(proto, key, { value: enumerable ? 'polluted' : () => 'polluted', configurable: true, writable: true, enumerable });
    try {
      expect(canonicalJson(snapshot)).toBe(referenceCanonicalJson(snapshot));
    } finally {
      delete (proto as Record<string, unknown>)[key];
    }
  });
});
