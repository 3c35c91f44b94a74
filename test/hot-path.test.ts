/**
 * The per-query shortcuts give what the straightforward code gave: names read
 * from the question (one string, escapes on a slow path), answers rendered from
 * kept bytes (NODATA included), and counts kept in typed arrays that prom-client
 * shows exactly as its own Counter and Histogram would.
 */
import { readFileSync } from 'node:fs';
import { Counter, Histogram, Registry } from 'prom-client';
import type { Metric } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { CellHistogram } from '../resolver/metric-cells.js';
import { ResolverMetrics } from '../resolver/metrics.js';
import { RRType } from '../resolver/wire/constants.js';
import { encodeQuery } from '../resolver/wire/decode.js';
import { parseQuery } from '../resolver/wire/query.js';
import type { Query } from '../resolver/wire/query.js';
import { ClusterZone } from '../resolver/zone/zone.js';
import { parseSnapshot } from '../snapshot/validate.js';

/** The question name as the parser read it before: one string per label, folded and escaped with regular expressions. */
function referenceName(wire: Buffer): string | undefined {
  let pos = 12;
  let total = 1;
  const labels: string[] = [];
  for (;;) {
    const len = wire[pos];
    if (len === undefined || len > 63) return undefined;
    if (len === 0) return labels.join('.');
    total += len + 1;
    if (total > 255 || pos + 1 + len > wire.length) return undefined;
    labels.push(wire.toString('latin1', pos + 1, pos + 1 + len).replace(/[A-Z]/g, (c) => c.toLowerCase()).replace(/[.\\]/g, (c) => `\\${c}`));
    pos += len + 1;
  }
}

/** A query packet whose question name is made of `labels` (raw bytes each), type A, class IN. */
function rawQuery(labels: readonly Buffer[]): Buffer {
  const name = Buffer.concat([...labels.flatMap((l) => [Buffer.from([l.length]), l]), Buffer.from([0])]);
  const header = Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
  return Buffer.concat([header, name, Buffer.from([0, 1, 0, 1])]);
}

const parsedName = (wire: Buffer) => {
  const parsed = parseQuery(wire);
  return parsed.kind === 'query' ? parsed.query.name : undefined;
};

describe('question names', () => {
  const label = (text: string) => Buffer.from(text, 'latin1');
  it.each([
    { what: 'lower case', labels: ['web', 'default', 'svc', 'cluster', 'local'] },
    { what: 'upper and mixed case', labels: ['WeB', 'DEFAULT', 'Svc', 'cluster', 'LOCAL'] },
    { what: "a '.' inside a label", labels: ['a.b', 'Example', 'com'] },
    { what: "a '\\' inside a label", labels: ['a\\b', 'com'] },
    { what: 'bytes above 127 and controls', labels: ['\u00c4\u00ff\u0001', 'Z'] },
    { what: 'the root', labels: [] },
    { what: '@ [ ` { (next to the letters)', labels: ['@[`{', 'AZaz'] },
  ])('$what: as before', ({ labels }) => {
    const wire = rawQuery(labels.map(label));
    expect(parsedName(wire)).toBe(referenceName(wire));
    expect(parsedName(wire)).toBeDefined();
  });

  it('accepts a name of 255 octets and rejects one of 256, as before', () => {
    const fill = (octets: number) => {
      const labels: Buffer[] = [];
      let left = octets - 1; // the root octet
      while (left > 0) {
        const len = Math.min(63, left - 1);
        labels.push(Buffer.alloc(len, 'A'));
        left -= len + 1;
      }
      return rawQuery(labels);
    };
    expect(parsedName(fill(255))).toBe(referenceName(fill(255)));
    expect(parsedName(fill(255))).toHaveLength(253);
    expect(referenceName(fill(256))).toBeUndefined();
    expect(parseQuery(fill(256)).kind).toBe('error');
  });
});

describe('answers rendered from kept bytes', () => {
  const snapshot = parseSnapshot(readFileSync('demo/demo-snapshot.json')).snapshot;
  const query = (wire: Buffer): Query => {
    const parsed = parseQuery(wire);
    if (parsed.kind !== 'query') throw new Error('not a query');
    return parsed.query;
  };
  const variants = [
    { id: 1, recursionDesired: true },
    { id: 2, recursionDesired: false, ednsUdpSize: 1232 },
    { id: 3, ednsUdpSize: 4096, dnssecOk: true },
    { id: 4, class: 255 },
  ];
  it.each([
    { what: 'a positive answer', name: 'web.default.svc.cluster.local', type: RRType.A },
    { what: 'NODATA (no AAAA)', name: 'kubernetes.default.svc.cluster.local', type: RRType.AAAA },
    { what: 'NODATA of a type without a kept answer', name: 'web.default.svc.cluster.local', type: 99 },
    { what: 'NXDOMAIN', name: 'nope.default.svc.cluster.local', type: RRType.A },
  ])('$what: the same bytes as a first answer, whatever the query before', ({ name, type }) => {
    for (const first of variants) {
      for (const second of variants) {
        const zone = ClusterZone.fromSnapshot(snapshot, { ttl: 5 });
        zone.answer(query(encodeQuery(name.toUpperCase(), type, first)));
        const wire = encodeQuery(name.replace(/^./, (c) => c.toUpperCase()), type, second);
        const fresh = ClusterZone.fromSnapshot(snapshot, { ttl: 5 }).answer(query(wire));
        expect(zone.answer(query(wire)).toString('hex'), `${first.id} then ${second.id}`).toBe(fresh.toString('hex'));
      }
    }
  });
});

describe('counts kept in typed arrays', () => {
  it('a CellHistogram reads like a prom-client Histogram fed the same values', async () => {
    const buckets = [0.001, 0.01, 0.1, 1];
    const theirs = new Registry();
    const ours = new Registry();
    const reference = new Histogram({ name: 'h_seconds', help: 'h.', labelNames: ['transport'], buckets, registers: [theirs] });
    const cells = new CellHistogram<'transport'>({ name: 'h_seconds', help: 'h.', buckets, series: [{ transport: 'udp' }, { transport: 'tcp' }] });
    ours.registerMetric(cells as unknown as Metric);
    for (const [series, value] of [[0, 0.0005], [0, 0.001], [0, 0.05], [0, 3], [0, 0.2], [1, 0.02]] as const) {
      reference.observe({ transport: series === 0 ? 'udp' : 'tcp' }, value);
      cells.observe(series, value);
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
    expect(await ours.getMetricsAsJSON()).toEqual(await theirs.getMetricsAsJSON());
  });

  it('requests and cache hits show the label sets counted, as a prom-client Counter does', async () => {
    const metrics = new ResolverMetrics();
    const reference = new Counter({ name: 'holdfast_dns_requests_total', help: 'x', labelNames: ['transport', 'qtype', 'rcode'], registers: [] });
    for (const [transport, qtype, rcode, qname, rname] of [
      ['udp', 1, 0, 'A', 'NOERROR'],
      ['udp', 1, 0, 'A', 'NOERROR'],
      ['tcp', 33, 3, 'SRV', 'NXDOMAIN'],
      ['udp', 99, 16, 'other', 'BADVERS'],
      ['udp', 1234, 9, 'other', 'other'],
      ['udp', 4321, 10, 'other', 'other'],
    ] as const) {
      metrics.countRequest(transport, qtype, rcode, 0.0001);
      reference.inc({ transport, qtype: qname, rcode: rname });
    }
    const values = async (c: { get(): Promise<{ values: unknown[] }> }) => (await c.get()).values;
    expect(new Set(await values(metrics.requests))).toEqual(new Set(await values(reference)));
    metrics.countCacheHit(false);
    metrics.countCacheHit(true);
    metrics.countCacheHit(true);
    expect(await values(metrics.cacheHits)).toEqual(
      expect.arrayContaining([
        { labels: { type: 'success' }, value: 1 },
        { labels: { type: 'denial' }, value: 2 },
      ]),
    );
    const text = await metrics.registry.metrics();
    expect(text).toContain('holdfast_dns_request_duration_seconds_count{transport="udp"} 5');
    expect(text).toContain('holdfast_dns_request_duration_seconds_count{transport="tcp"} 1');
  });
});
