import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InputError } from '../common/errors.js';
import { buildSnapshot, parseKubectlOutput } from '../snapshot/build.js';
import { canonicalJson } from '../snapshot/canonical.js';
import type { ServiceV1, SnapshotV1 } from '../snapshot/types.js';
import { validateSignedSnapshot } from '../snapshot/validate.js';

const OPTIONS = { clusterDomain: 'cluster.local', generation: 42, now: new Date('2024-12-11T10:00:00Z') };

function build(objects: unknown[]): { snapshot: SnapshotV1; problems: string[] } {
  const result = buildSnapshot(objects, OPTIONS);
  validateSignedSnapshot(JSON.parse(JSON.stringify({ snapshot: result.snapshot }))); // must always pass
  return result;
}

function service(snapshot: SnapshotV1, id: string): ServiceV1 {
  const found = snapshot.services.find((s) => `${s.namespace}/${s.name}` === id);
  if (!found) throw new Error(`no service ${id}`);
  return found;
}

const STREAM = `
apiVersion: v1
kind: Service
metadata: {name: api, namespace: app}
spec:
  clusterIP: 10.96.5.5
  ports: [{name: http, port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: api-1
  namespace: app
  labels: {kubernetes.io/service-name: api}
addressType: IPv4
endpoints:
- addresses: [10.244.0.9]
  conditions: {}
- addresses: [10.244.0.8]
  conditions: {ready: false}
- addresses: [10.244.0.7]
  conditions: {ready: false, serving: true, terminating: true}
ports: [{port: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: fq, namespace: app, labels: {kubernetes.io/service-name: api}}
addressType: FQDN
endpoints: [{addresses: [db.example.com]}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: orphan-x, namespace: app, labels: {kubernetes.io/service-name: gone}}
addressType: IPv4
endpoints: [{addresses: [10.244.0.50]}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: nolabel, namespace: app}
addressType: IPv4
endpoints: [{addresses: [10.244.0.51]}]
---
`;

describe('parseKubectlOutput + buildSnapshot', () => {
  it('builds the demo cluster (kind: List YAML) with no problems', () => {
    const { snapshot, problems } = build(parseKubectlOutput(readFileSync(new URL('../demo/demo-cluster.yaml', import.meta.url), 'utf8')));
    expect(problems).toEqual([]);
    expect(snapshot.services.map((s) => `${s.namespace}/${s.name}`)).toEqual([
      'default/db', 'default/kubernetes', 'default/search', 'default/web', 'default/workers',
      'kube-system/kube-dns', 'monitoring/prometheus', 'shop/cart', 'shop/checkout', 'shop/payments',
    ]);
    const web = service(snapshot, 'default/web');
    expect(web.clusterIPs).toEqual(['10.96.10.10', 'fd00:10:96::a']);
    expect(web.endpoints.flatMap((e) => e.addresses)).toEqual(expect.arrayContaining(['10.244.1.10', 'fd00:10:244:1::a']));
    expect(web.endpoints.every((e) => e.ready)).toBe(true); // includes one with conditions: {}
    const db = service(snapshot, 'default/db');
    expect(db).toMatchObject({ headless: true, clusterIPs: [], ports: [{ name: 'postgres', protocol: 'TCP', port: 5432 }] });
    expect(db.endpoints.map((e) => [e.hostname, e.ready])).toEqual([['db-0', true], ['db-1', true], ['db-2', false]]);
    expect(service(snapshot, 'default/search')).toMatchObject({ type: 'ExternalName', externalName: 'www.example.com', clusterIPs: [], headless: false });
    expect(service(snapshot, 'kube-system/kube-dns').ports.map((p) => `${p.name}/${p.protocol}/${p.port}`)).toEqual(['dns/UDP/53', 'dns-tcp/TCP/53', 'metrics/TCP/9153']);
    expect(snapshot).toMatchObject({ format: 'holdfast.snapshot/v1', clusterDomain: 'cluster.local', generation: 42, createdAt: '2024-12-11T10:00:00.000Z' });
  });

  it('reads a multi-document stream: condition defaults, FQDN and orphan slices reported', () => {
    const { snapshot, problems } = build(parseKubectlOutput(STREAM));
    const api = service(snapshot, 'app/api');
    expect(api.clusterIPs).toEqual(['10.96.5.5']); // from spec.clusterIP
    expect(api.ports).toEqual([{ name: 'http', protocol: 'TCP', port: 80 }]);
    // Sorted by address text; unset ready → true, unset serving → ready, unset terminating → false.
    expect(api.endpoints.map((e) => [e.addresses[0], e.ready, e.serving, e.terminating])).toEqual([
      ['10.244.0.7', false, true, true],
      ['10.244.0.8', false, false, false],
      ['10.244.0.9', true, true, false],
    ]);
    expect(api.endpoints[0]?.ports).toEqual([{ name: '', protocol: 'TCP', port: 8080 }]);
    expect(problems).toEqual([
      expect.stringMatching(/^skipped EndpointSlice app\/fq: addressType FQDN is not supported/),
      expect.stringMatching(/^skipped EndpointSlice app\/orphan-x: its Service app\/gone is not in the input/),
      expect.stringMatching(/^skipped EndpointSlice app\/nolabel: no kubernetes.io\/service-name label/),
    ]);
  });

  it('reads a JSON List and a JSON single object', () => {
    const list = {
      apiVersion: 'v1', kind: 'List', items: [
        { apiVersion: 'v1', kind: 'Service', metadata: { name: 'dual', namespace: 'ns' }, spec: { clusterIP: '10.96.0.7', clusterIPs: ['10.96.0.7', 'fd00::7'], ports: [{ port: 53, protocol: 'UDP' }] } },
        { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'dual-6', namespace: 'ns', labels: { 'kubernetes.io/service-name': 'dual' } }, addressType: 'IPv6', endpoints: [{ addresses: ['fd00::1:1'] }], ports: [{ name: '', port: 53, protocol: 'UDP' }] },
        { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'dual-4', namespace: 'ns', labels: { 'kubernetes.io/service-name': 'dual' } }, addressType: 'IPv4', endpoints: [{ addresses: ['10.244.0.1'] }], ports: [{ name: '', port: 53, protocol: 'UDP' }] },
      ],
    };
    const { snapshot, problems } = build(parseKubectlOutput(JSON.stringify(list, null, 2)));
    expect(problems).toEqual([]);
    const dual = service(snapshot, 'ns/dual');
    expect(dual.clusterIPs).toEqual(['10.96.0.7', 'fd00::7']);
    expect(dual.endpoints.map((e) => e.addresses[0])).toEqual(['10.244.0.1', 'fd00::1:1']);
    expect(parseKubectlOutput(JSON.stringify(list.items[0]))).toHaveLength(1);
  });

  it('reports every object or part it cannot use, naming it', () => {
    const objects = [
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'ns' } },
      { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'svc', namespace: 'ns' } },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'Bad_Name', namespace: 'ns' }, spec: { clusterIP: '10.96.0.9' } },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'svc', namespace: 'ns' }, spec: { clusterIP: '10.96.0.8', ports: [{ name: 'x', port: 0 }, { name: 'ok', port: 1 }] } },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'svc', namespace: 'ns' }, spec: { clusterIP: '10.96.0.10' } },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'ext', namespace: 'ns' }, spec: { type: 'ExternalName', externalName: 'Example.COM.' } },
      {
        apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 's1', namespace: 'ns', labels: { 'kubernetes.io/service-name': 'svc' } },
        addressType: 'IPv4', endpoints: [{ addresses: ['10.0.0.x'] }, { addresses: ['fd00::1', '10.0.0.2'], hostname: 'Not_A_Label' }],
      },
      { apiVersion: 'discovery.k8s.io/v1beta1', kind: 'EndpointSlice', metadata: { name: 'old', namespace: 'ns' } },
      'junk',
    ];
    const { snapshot, problems } = build(objects);
    expect(problems).toEqual([
      'skipped Pod ns/p: not a v1 Service or discovery.k8s.io/v1 EndpointSlice',
      expect.stringMatching(/^skipped Endpoints ns\/svc: v1 Endpoints are not read/),
      'skipped Service ns/Bad_Name: metadata.name "Bad_Name" is not a DNS label',
      'Service ns/svc: spec.ports[0] port 0 is not 1-65535; left out',
      'skipped Service ns/svc: duplicate of an earlier Service with the same namespace/name',
      'skipped EndpointSlice ns/old: apiVersion "discovery.k8s.io/v1beta1" is not supported (expected discovery.k8s.io/v1)',
      'skipped item 8: not an object',
      'EndpointSlice ns/s1: endpoints[0].addresses[0] "10.0.0.x" is not an IPv4 address; left out',
      'EndpointSlice ns/s1: endpoints[0] has no usable address; left out',
      'EndpointSlice ns/s1: endpoints[1].addresses[0] "fd00::1" is not an IPv4 address; left out',
      'EndpointSlice ns/s1: endpoints[1].hostname "Not_A_Label" is not a DNS label; left out',
    ]);
    const svc = service(snapshot, 'ns/svc');
    expect(svc.clusterIPs).toEqual(['10.96.0.8']);
    expect(svc.ports).toEqual([{ name: 'ok', protocol: 'TCP', port: 1 }]);
    expect(svc.endpoints).toEqual([{ addresses: ['10.0.0.2'], ready: true, serving: true, terminating: false, ports: [] }]);
    expect(service(snapshot, 'ns/ext').externalName).toBe('example.com');
  });

  it('is deterministic: input order does not change the output', () => {
    const objects = parseKubectlOutput(readFileSync(new URL('../demo/demo-cluster.yaml', import.meta.url), 'utf8'));
    const shuffled = [...objects].reverse();
    expect(canonicalJson(build(shuffled).snapshot)).toBe(canonicalJson(build(objects).snapshot));
  });
});

describe('parseKubectlOutput errors', () => {
  it.each([
    ['broken YAML', 'items:\n  - a: [1,\n b: }\n', /input is neither JSON nor YAML: document 1: /],
    ['broken JSON', '{"kind": "List", "items": [}', /input is neither JSON nor YAML/],
    ['a scalar', 'hello', /input is not a Kubernetes object or List \(got string\)/],
    ['an object without kind', 'a: 1\n', /no "kind" field/],
    ['a second document without kind', 'kind: Service\n---\nfoo: bar\n', /document 2 is not a Kubernetes object/],
    ['empty input', '', /input contains no Kubernetes objects/],
    ['an empty List', 'kind: List\nitems: []\n', /input contains no Kubernetes objects/],
  ])('rejects %s with an InputError', (_name, text, message) => {
    expect(() => parseKubectlOutput(text)).toThrow(InputError);
    expect(() => parseKubectlOutput(text)).toThrow(message);
  });
});
