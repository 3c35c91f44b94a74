/**
 * The query mix of the overload bench, as encoded queries: 40 % cluster-zone
 * names (every service of the demo snapshot), 40 % cache hits (500 names), 20 %
 * forwarded misses (a new name each); or, `silent`, misses only, to 50 names at a
 * time under a prefix the fake upstream never answers (fresh names every 20 000
 * queries, so the SERVFAIL remembered for a failed name does not answer them).
 * Queries are made by patching digits into templates, so a load generator can
 * make hundreds of thousands per second.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeQuery } from '../resolver/wire/decode.js';
import { parseSnapshot } from '../snapshot/validate.js';
import { clusterQueries, typeCode } from './queries.js';
import { root } from './tools.js';

/** Encodes a `name type` line (dnsperf's format). */
export function encodeLine(line: string): Buffer {
  const [name = '', type = 'A'] = line.split(' ');
  return encodeQuery(name, typeCode(type), { recursionDesired: true });
}

/** A query for `prefix` + 8 decimal digits + `suffix`, whose digits are rewritten per query. */
class Template {
  private readonly bytes: Buffer;
  private readonly at: number;

  constructor(prefix: string, suffix: string) {
    this.bytes = encodeLine(`${prefix}00000000${suffix} A`);
    this.at = 12 + 1 + prefix.length;
  }

  /** A fresh copy with `n` (mod 10⁸) as the digits. */
  make(n: number): Buffer {
    const q = Buffer.from(this.bytes);
    q.write(String(n % 100_000_000).padStart(8, '0'), this.at, 'latin1');
    return q;
  }
}

/** Makes the n-th query of the mix; `tag` keeps the miss names of one run apart from another's. */
export function queryMix(tag: string, silent: boolean): (n: number) => Buffer {
  const label = tag.replace(/[^a-z0-9-]/gi, '').slice(0, 20) || 'x';
  if (silent) {
    const silentName = new Template(`silent-${label}-`, '.example.org');
    return (n) => silentName.make(Math.floor(n / 20_000) * 100 + (n % 50));
  }
  const zone = clusterQueries(parseSnapshot(readFileSync(join(root, 'demo', 'demo-snapshot.json'))).snapshot).map(encodeLine);
  const hits = Array.from({ length: 500 }, (_, i) => encodeLine(`hit-${i}.example.org A`));
  const miss = new Template(`m-${label}-`, '.example.org');
  return (n) => {
    const k = n % 10;
    if (k < 4) return Buffer.from(zone[n % zone.length] as Buffer);
    if (k < 8) return Buffer.from(hits[n % hits.length] as Buffer);
    return miss.make(n);
  };
}
