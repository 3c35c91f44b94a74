/**
 * The cluster zone, table-driven over real UDP sockets (CoreDNS
 * `plugin/test/helpers.go` style): qname, qtype, rcode, and the answer section
 * as zone-file text. Cases follow the Kubernetes DNS-Based Service Discovery
 * specification, schema 1.1.0, against the bundled demo cluster.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RRType, Rcode } from '../resolver/wire/constants.js';
import { encodeQuery, recordText } from '../resolver/wire/decode.js';
import type { Resolver } from '../resolver/resolver.js';
import { startResolver, udpQuery } from './helpers/dns.js';
import { a, startUpstream } from './helpers/upstream.js';
import type { FakeUpstream } from './helpers/upstream.js';
import { buildSnapshot, parseKubectlOutput } from '../snapshot/build.js';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The demo cluster plus an ExternalName service whose target does not exist. */
function demoSnapshotFile(): string {
  const objects = parseKubectlOutput(readFileSync('demo/demo-cluster.yaml', 'utf8'));
  objects.push({ apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'default', name: 'gone' }, spec: { type: 'ExternalName', externalName: 'gone.example.com' } });
  const { snapshot } = buildSnapshot(objects, { clusterDomain: 'cluster.local', generation: 1, now: new Date() });
  const file = join(mkdtempSync(join(tmpdir(), 'holdfast-zone-')), 'snapshot.json');
  writeFileSync(file, JSON.stringify({ snapshot }));
  return file;
}

const SOA = 'cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5';
const Z = 'svc.cluster.local';

interface Case {
  readonly why: string;
  readonly name: string;
  readonly type: number;
  readonly rcode: number;
  readonly answers: readonly string[];
  /** true: the SOA must be the authority section (negative answers, RFC 2308 §2). */
  readonly soa?: boolean;
}

const cases: Case[] = [
  // §2.4.1 ClusterIP A/AAAA, dual-stack
  { why: 'ClusterIP A', name: `web.default.${Z}`, type: RRType.A, rcode: 0, answers: [`web.default.${Z}. 5 IN A 10.96.10.10`] },
  { why: 'ClusterIP AAAA (dual-stack)', name: `web.default.${Z}`, type: RRType.AAAA, rcode: 0, answers: [`web.default.${Z}. 5 IN AAAA fd00:10:96::a`] },
  { why: 'single-stack service has no AAAA: NODATA', name: `kubernetes.default.${Z}`, type: RRType.AAAA, rcode: 0, answers: [], soa: true },
  { why: 'NodePort is a ClusterIP service too', name: `checkout.shop.${Z}`, type: RRType.A, rcode: 0, answers: [`checkout.shop.${Z}. 5 IN A 10.96.20.6`] },
  { why: 'LoadBalancer is a ClusterIP service too', name: `prometheus.monitoring.${Z}`, type: RRType.A, rcode: 0, answers: [`prometheus.monitoring.${Z}. 5 IN A 10.96.30.7`] },
  { why: 'TXT at a service name: NODATA', name: `web.default.${Z}`, type: RRType.TXT, rcode: 0, answers: [], soa: true },
  // §2.4.2 SRV for named ports of a ClusterIP service
  { why: 'SRV of a named port', name: `_http._tcp.web.default.${Z}`, type: RRType.SRV, rcode: 0, answers: [`_http._tcp.web.default.${Z}. 5 IN SRV 0 100 80 web.default.${Z}.`] },
  { why: 'SRV of a UDP port', name: `_dns._udp.kube-dns.kube-system.${Z}`, type: RRType.SRV, rcode: 0, answers: [`_dns._udp.kube-dns.kube-system.${Z}. 5 IN SRV 0 100 53 kube-dns.kube-system.${Z}.`] },
  { why: 'wrong protocol for a port: NXDOMAIN', name: `_dns._tcp.kube-dns.kube-system.${Z}`, type: RRType.SRV, rcode: 3, answers: [], soa: true },
  { why: 'unnamed port has no SRV: _tcp name does not exist', name: `_tcp.cart.shop.${Z}`, type: RRType.SRV, rcode: 3, answers: [], soa: true },
  { why: '_proto label below a ClusterIP service is an empty non-terminal', name: `_tcp.web.default.${Z}`, type: RRType.SRV, rcode: 0, answers: [], soa: true },
  { why: 'A at an SRV name: NODATA', name: `_http._tcp.web.default.${Z}`, type: RRType.A, rcode: 0, answers: [], soa: true },
  // §2.5 headless services
  {
    why: 'headless A: one record per ready endpoint, not-ready left out',
    name: `db.default.${Z}`,
    type: RRType.A,
    rcode: 0,
    answers: [`db.default.${Z}. 5 IN A 10.244.1.20`, `db.default.${Z}. 5 IN A 10.244.2.21`],
  },
  { why: 'headless hostname A', name: `db-0.db.default.${Z}`, type: RRType.A, rcode: 0, answers: [`db-0.db.default.${Z}. 5 IN A 10.244.1.20`] },
  { why: 'not-ready endpoint hostname does not exist', name: `db-2.db.default.${Z}`, type: RRType.A, rcode: 3, answers: [], soa: true },
  {
    why: 'headless SRV points at endpoint hostnames',
    name: `_postgres._tcp.db.default.${Z}`,
    type: RRType.SRV,
    rcode: 0,
    answers: [`_postgres._tcp.db.default.${Z}. 5 IN SRV 0 50 5432 db-0.db.default.${Z}.`, `_postgres._tcp.db.default.${Z}. 5 IN SRV 0 50 5432 db-1.db.default.${Z}.`],
  },
  {
    why: 'headless endpoints without hostname are named by dashed IP',
    name: `_grpc._tcp.workers.default.${Z}`,
    type: RRType.SRV,
    rcode: 0,
    answers: [`_grpc._tcp.workers.default.${Z}. 5 IN SRV 0 50 9090 10-244-1-30.workers.default.${Z}.`, `_grpc._tcp.workers.default.${Z}. 5 IN SRV 0 50 9090 10-244-2-31.workers.default.${Z}.`],
  },
  { why: 'dashed-IP name resolves', name: `10-244-1-30.workers.default.${Z}`, type: RRType.A, rcode: 0, answers: [`10-244-1-30.workers.default.${Z}. 5 IN A 10.244.1.30`] },
  { why: 'publishNotReadyAddresses publishes a not-ready endpoint', name: `payments.shop.${Z}`, type: RRType.A, rcode: 0, answers: [`payments.shop.${Z}. 5 IN A 10.244.2.60`] },
  { why: '... and its hostname', name: `payments-0.payments.shop.${Z}`, type: RRType.A, rcode: 0, answers: [`payments-0.payments.shop.${Z}. 5 IN A 10.244.2.60`] },
  { why: 'headless service name has no AAAA here: NODATA', name: `db.default.${Z}`, type: RRType.AAAA, rcode: 0, answers: [], soa: true },
  // §2.6 ExternalName
  {
    why: 'ExternalName: CNAME, then the target resolved upstream',
    name: `search.default.${Z}`,
    type: RRType.A,
    rcode: 0,
    answers: [`search.default.${Z}. 5 IN CNAME www.example.com.`, 'www.example.com. 60 IN A 192.0.2.80'],
  },
  {
    why: 'ExternalName whose target does not exist: NXDOMAIN after the CNAME (RFC 6604)',
    name: `gone.default.${Z}`,
    type: RRType.A,
    rcode: 3,
    answers: [`gone.default.${Z}. 5 IN CNAME gone.example.com.`],
  },
  { why: 'ExternalName CNAME query', name: `search.default.${Z}`, type: RRType.CNAME, rcode: 0, answers: [`search.default.${Z}. 5 IN CNAME www.example.com.`] },
  // §2.4.3 and §2.5.4 PTR
  { why: 'PTR of a cluster IP', name: '1.0.96.10.in-addr.arpa', type: RRType.PTR, rcode: 0, answers: [`1.0.96.10.in-addr.arpa. 5 IN PTR kubernetes.default.${Z}.`] },
  {
    why: 'PTR of an IPv6 cluster IP',
    name: 'a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa',
    type: RRType.PTR,
    rcode: 0,
    answers: [`a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa. 5 IN PTR web.default.${Z}.`],
  },
  { why: 'PTR of a headless endpoint names its hostname', name: '20.1.244.10.in-addr.arpa', type: RRType.PTR, rcode: 0, answers: [`20.1.244.10.in-addr.arpa. 5 IN PTR db-0.db.default.${Z}.`] },
  { why: 'PTR of a dashed-name endpoint', name: '31.2.244.10.in-addr.arpa', type: RRType.PTR, rcode: 0, answers: [`31.2.244.10.in-addr.arpa. 5 IN PTR 10-244-2-31.workers.default.${Z}.`] },
  // §2.3 schema version; apex
  { why: 'dns-version TXT', name: 'dns-version.cluster.local', type: RRType.TXT, rcode: 0, answers: ['dns-version.cluster.local. 5 IN TXT "1.1.0"'] },
  { why: 'SOA at the apex', name: 'cluster.local', type: RRType.SOA, rcode: 0, answers: [SOA] },
  { why: 'NS at the apex', name: 'cluster.local', type: RRType.NS, rcode: 0, answers: ['cluster.local. 5 IN NS ns.dns.cluster.local.'] },
  { why: 'A at the apex: NODATA', name: 'cluster.local', type: RRType.A, rcode: 0, answers: [], soa: true },
  // Negative answers: NXDOMAIN vs NODATA
  { why: 'svc.<zone> is an empty non-terminal', name: Z, type: RRType.A, rcode: 0, answers: [], soa: true },
  { why: 'a namespace with services is an empty non-terminal', name: `default.${Z}`, type: RRType.A, rcode: 0, answers: [], soa: true },
  { why: 'a namespace without services does not exist', name: `nosuchns.${Z}`, type: RRType.A, rcode: 3, answers: [], soa: true },
  { why: 'unknown service', name: `nope.default.${Z}`, type: RRType.A, rcode: 3, answers: [], soa: true },
  { why: 'names under a ClusterIP service do not exist', name: `x.web.default.${Z}`, type: RRType.A, rcode: 3, answers: [], soa: true },
  { why: 'search-path expansion of an external name', name: `www.example.com.default.${Z}`, type: RRType.A, rcode: 3, answers: [], soa: true },
  { why: 'search-path expansion with ndots', name: 'web.default.svc.cluster.local.default.svc.cluster.local', type: RRType.AAAA, rcode: 3, answers: [], soa: true },
  { why: 'unknown name directly under the apex', name: 'foo.cluster.local', type: RRType.A, rcode: 3, answers: [], soa: true },
];

describe('cluster zone (spec 1.1.0) over UDP', () => {
  let resolver: Resolver;
  let port: number;
  let upstream: FakeUpstream;
  beforeAll(async () => {
    upstream = await startUpstream((q) =>
      q.name === 'www.example.com' ? { kind: 'answer', records: [a('www.example.com', '192.0.2.80')] } : { kind: 'answer', records: [], rcode: 3 },
    );
    ({ resolver, port } = await startResolver({ 'snapshot-file': demoSnapshotFile(), 'allow-unsigned': true, upstream: [upstream.address] }));
  });
  afterAll(async () => {
    await resolver.stop();
    await upstream.close();
  });

  it.each(cases)('$why: $name', async (c) => {
    const reply = await udpQuery(port, encodeQuery(c.name, c.type, { ednsUdpSize: 1232 }));
    expect(reply.rcode).toBe(c.rcode);
    expect(reply.aa).toBe(true);
    expect(reply.answers.map(recordText).sort()).toEqual([...c.answers].sort());
    if (c.soa) expect(reply.authority.map(recordText)).toEqual([SOA]);
    else expect(reply.authority).toEqual([]);
  });

  it('matches case-insensitively and keeps the query case in question and answer', async () => {
    const reply = await udpQuery(port, encodeQuery('WeB.DeFaUlT.svc.CLUSTER.local', RRType.A));
    expect(reply.questions[0]?.name).toBe('WeB.DeFaUlT.svc.CLUSTER.local');
    expect(reply.answers[0]?.name).toBe('WeB.DeFaUlT.svc.CLUSTER.local');
    expect(reply.answers.map(recordText)).toEqual([`web.default.${Z}. 5 IN A 10.96.10.10`]);
    // A second query in other case is served from the same template; it must carry its own case and ID.
    const again = await udpQuery(port, encodeQuery('web.DEFAULT.svc.cluster.local', RRType.A, { id: 777 }));
    expect(again.id).toBe(777);
    expect(again.questions[0]?.name).toBe('web.DEFAULT.svc.cluster.local');
  });

  it('answers non-recursive queries for the cluster zone, echoing RD=0', async () => {
    const reply = await udpQuery(port, encodeQuery(`web.default.${Z}`, RRType.A, { recursionDesired: false }));
    expect(reply.rcode).toBe(Rcode.NOERROR);
    expect(reply.rd).toBe(false);
    expect(reply.answers).toHaveLength(1);
  });

  it('refuses classes other than IN for the cluster zone', async () => {
    const reply = await udpQuery(port, encodeQuery(`web.default.${Z}`, RRType.A, { class: 3 }));
    expect(reply.rcode).toBe(Rcode.REFUSED);
  });
});
