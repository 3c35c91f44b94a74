/**
 * Wire-level cases: golden bytes checked both ways (hickory `rr/rdata/a.rs` style),
 * truncation by whole RRsets, reverse names, and zone records the demo does not cover.
 */
import { describe, expect, it } from 'vitest';
import { RRType } from '../resolver/wire/constants.js';
import { decodeMessage, encodeQuery, recordText } from '../resolver/wire/decode.js';
import { encodeTemplate } from '../resolver/wire/encode.js';
import { parseQuery } from '../resolver/wire/query.js';
import type { Query } from '../resolver/wire/query.js';
import { renderTemplate } from '../resolver/wire/reply.js';
import { truncateReply } from '../resolver/wire/truncate.js';
import { dashedLabel, reverseName } from '../resolver/zone/reverse.js';
import { zoneRecords } from '../resolver/zone/records.js';
import type { SnapshotV1 } from '../snapshot/types.js';

function query(bytes: Buffer): Query {
  const parsed = parseQuery(bytes);
  if (parsed.kind !== 'query') throw new Error(`not a query: ${parsed.kind}`);
  return parsed.query;
}

describe('golden bytes', () => {
  // id 0x1234, RD, one question web.default.svc.cluster.local A IN
  const QUERY_HEX = '123401000001000000000000037765620764656661756c740373766307636c7573746572056c6f63616c0000010001';
  // the reply: QR AA RD RA, one answer, owner compressed to the question (c00c), TTL 5, 10.96.10.10
  const REPLY_HEX =
    '123485800001000100000000037765620764656661756c740373766307636c7573746572056c6f63616c0000010001' + 'c00c00010001000000050004' + '0a600a0a';

  it('encodes the query and parses it back', () => {
    const bytes = encodeQuery('web.default.svc.cluster.local', RRType.A, { id: 0x1234 });
    expect(bytes.toString('hex')).toBe(QUERY_HEX);
    const q = query(Buffer.from(QUERY_HEX, 'hex'));
    expect(q).toMatchObject({ id: 0x1234, name: 'web.default.svc.cluster.local', type: 1, class: 1, recursionDesired: true, edns: undefined });
  });

  it('renders a template into exactly the expected reply, and decodes it back', () => {
    const template = encodeTemplate({
      name: 'web.default.svc.cluster.local',
      type: RRType.A,
      rcode: 0,
      authoritative: true,
      answers: [{ name: 'web.default.svc.cluster.local', ttl: 5, data: { type: 'A', address: '10.96.10.10' } }],
      authority: [],
      additional: [],
    });
    const reply = renderTemplate(template, query(Buffer.from(QUERY_HEX, 'hex')));
    expect(reply.toString('hex')).toBe(REPLY_HEX);
    const decoded = decodeMessage(reply);
    expect(decoded.answers.map(recordText)).toEqual(['web.default.svc.cluster.local. 5 IN A 10.96.10.10']);
    expect(decoded).toMatchObject({ id: 0x1234, qr: true, aa: true, rd: true, ra: true, tc: false });
  });
});

describe('truncation', () => {
  const big = (n: number) =>
    renderTemplate(
      encodeTemplate({
        name: 'big.example',
        type: RRType.A,
        rcode: 0,
        authoritative: false,
        answers: Array.from({ length: n }, (_, i) => ({ name: 'big.example', ttl: 60, data: { type: 'A' as const, address: `192.0.2.${i + 1}` } })),
        authority: [{ name: 'example', ttl: 60, data: { type: 'NS', target: 'ns.example' } }],
        additional: [],
      }),
      query(encodeQuery('big.example', RRType.A, { ednsUdpSize: 512 })),
    );

  it('leaves a reply that fits untouched', () => {
    const reply = big(3);
    expect(truncateReply(reply, 512)).toBe(reply);
  });

  it('drops a whole RRset that does not fit, sets TC, keeps OPT, and fixes the counts', () => {
    const reply = big(40); // 40 × 16 bytes of answers: more than 512
    const cut = truncateReply(reply, 512);
    expect(cut.length).toBeLessThanOrEqual(512);
    const decoded = decodeMessage(cut);
    expect(decoded.tc).toBe(true);
    expect(decoded.answers).toHaveLength(0); // never a partial RRset
    expect(decoded.authority).toHaveLength(0);
    expect(decoded.edns?.udpSize).toBe(1232);
  });

  it('keeps answer RRsets that fit and drops the authority that does not, with TC', () => {
    const reply = big(28); // answers fit in 512, the NS after them does not
    const cut = truncateReply(reply, reply.length - 5);
    const decoded = decodeMessage(cut);
    expect(decoded.answers).toHaveLength(28);
    expect(decoded.authority).toHaveLength(0);
    expect(decoded.tc).toBe(true);
  });
});

describe('reverse names and dashed labels', () => {
  it.each([
    ['10.96.0.1', '1.0.96.10.in-addr.arpa', '10-96-0-1'],
    ['fd00:10:96::a', 'a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa', 'fd00-10-96--a'],
    ['::ffff:10.0.0.1', '1.0.0.0.0.0.a.0.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa', '--ffff-10-0-0-1'],
  ])('%s → %s', (ip, reverse, dashed) => {
    expect(reverseName(ip)).toBe(reverse);
    expect(dashedLabel(ip)).toBe(dashed);
  });
});

describe('zone records beyond the demo', () => {
  const snapshot: SnapshotV1 = {
    format: 'holdfast.snapshot/v1',
    clusterDomain: 'cluster.local',
    generation: 7,
    createdAt: '2026-11-21T00:00:00Z',
    services: [
      { namespace: 'a', name: 'empty', type: 'ClusterIP', clusterIPs: [], headless: true, ports: [], publishNotReadyAddresses: false, endpoints: [] },
      {
        namespace: 'a',
        name: 'nr',
        type: 'ClusterIP',
        clusterIPs: [],
        headless: true,
        ports: [{ name: 'http', protocol: 'TCP', port: 80 }],
        publishNotReadyAddresses: false,
        endpoints: [{ addresses: ['10.0.0.9'], hostname: 'p-0', ready: false, serving: true, terminating: true, ports: [{ name: 'http', protocol: 'TCP', port: 8080 }] }],
      },
    ],
  };
  const zone = zoneRecords(snapshot, { ttl: 5 });

  it('a headless service without endpoints exists (NODATA), with no records', () => {
    expect(zone.nodes.get('empty.a.svc.cluster.local')?.size).toBe(0);
  });

  it('a not-ready endpoint publishes nothing: no A, no hostname, no SRV, no PTR', () => {
    expect(zone.nodes.get('nr.a.svc.cluster.local')?.size).toBe(0);
    expect(zone.nodes.has('p-0.nr.a.svc.cluster.local')).toBe(false);
    expect(zone.nodes.has('_http._tcp.nr.a.svc.cluster.local')).toBe(false);
    expect(zone.reverse.size).toBe(0);
  });

  it('the SOA serial is the generation', () => {
    expect(zone.soa.data).toMatchObject({ type: 'SOA', serial: 7, minimum: 5 });
  });
});
