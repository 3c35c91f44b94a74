import { describe, expect, it } from 'vitest';
import { canonicalJson, signingInput } from '../snapshot/canonical.js';
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
