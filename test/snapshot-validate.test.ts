import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../bench/prng.js';
import { SnapshotError } from '../common/errors.js';
import { conformsToV1 } from '../snapshot/conforms.js';
import { DEFAULT_LIMITS, parseSnapshot, schemaProblems as reportingCheck, SnapshotSchemaError, validateSignedSnapshot } from '../snapshot/validate.js';
import type { SnapshotLimits } from '../snapshot/validate.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A valid envelope with two services; tests mutate a fresh copy. */
function base(): Json {
  return {
    snapshot: {
      format: 'holdfast.snapshot/v1',
      clusterDomain: 'cluster.local',
      generation: 3,
      createdAt: '2024-12-11T10:00:00.123+01:00',
      services: [
        {
          namespace: 'default', name: 'kubernetes', type: 'ClusterIP', clusterIPs: ['10.96.0.1'], headless: false,
          ports: [{ name: 'https', protocol: 'TCP', port: 443 }], publishNotReadyAddresses: false, endpoints: [],
        },
        {
          namespace: 'default', name: 'web', type: 'ClusterIP', clusterIPs: ['10.96.10.10', 'fd00:10:96::a'], headless: false,
          ports: [{ name: 'http', protocol: 'TCP', port: 80 }], publishNotReadyAddresses: false,
          endpoints: [
            { addresses: ['10.244.1.10'], hostname: 'web-0', ready: true, serving: true, terminating: false, ports: [{ name: 'http', protocol: 'TCP', port: 8080 }] },
          ],
        },
      ],
    },
  };
}

function schemaProblems(value: unknown): readonly string[] {
  try {
    validateSignedSnapshot(value);
  } catch (error) {
    expect(error).toBeInstanceOf(SnapshotSchemaError);
    expect((error as SnapshotError).code).toBe('HF_SNAPSHOT_SCHEMA');
    return (error as SnapshotSchemaError).problems;
  }
  throw new Error('expected a schema error');
}

describe('validateSignedSnapshot', () => {
  it('accepts a valid envelope, signed or not', () => {
    expect(validateSignedSnapshot(base()).snapshot.services).toHaveLength(2);
    const signed = { ...base(), signature: { algorithm: 'ed25519', keyId: '0123456789abcdef', value: `${'A'.repeat(86)}==` } };
    expect(validateSignedSnapshot(signed).signature?.keyId).toBe('0123456789abcdef');
  });

  const web = (e: Json): Json => e['snapshot'].services[1];
  const ep = (e: Json): Json => web(e)['endpoints'][0];
  const cases: [string, (e: Json) => void, string][] = [
    ['format tag', (e) => { e['snapshot'].format = 'holdfast.snapshot/v2'; }, 'format: "holdfast.snapshot/v2" is not "holdfast.snapshot/v1"'],
    ['upper-case domain', (e) => { e['snapshot'].clusterDomain = 'Cluster.local'; }, 'clusterDomain: "Cluster.local" is not a lower-case DNS name'],
    ['trailing dot', (e) => { e['snapshot'].clusterDomain = 'cluster.local.'; }, 'clusterDomain: "cluster.local." is not'],
    ['negative generation', (e) => { e['snapshot'].generation = -1; }, 'generation: -1 is not a non-negative safe integer'],
    ['fractional generation', (e) => { e['snapshot'].generation = 1.5; }, 'generation: 1.5 is not'],
    ['string generation', (e) => { e['snapshot'].generation = '4'; }, 'generation: "4" is not'],
    ['createdAt text', (e) => { e['snapshot'].createdAt = 'yesterday'; }, 'createdAt: "yesterday" is not an RFC 3339 date-time'],
    ['createdAt month 13', (e) => { e['snapshot'].createdAt = '2024-13-01T00:00:00Z'; }, 'createdAt: "2024-13-01T00:00:00Z" is not'],
    ['createdAt Feb 30', (e) => { e['snapshot'].createdAt = '2024-02-30T00:00:00Z'; }, 'createdAt: "2024-02-30T00:00:00Z" is not'],
    ['unknown top-level field', (e) => { e['snapshot'].extra = 1; }, 'snapshot: unknown field "extra"'],
    ['unknown envelope field', (e) => { e['sig'] = 1; }, 'envelope: unknown field "sig"'],
    ['missing field', (e) => { delete e['snapshot'].services; }, 'snapshot: missing field "services"'],
    ['services not an array', (e) => { e['snapshot'].services = {}; }, 'services: expected an array, got an object'],
    ['upper-case namespace', (e) => { web(e)['namespace'] = 'Default'; }, 'services[1] (Default/web).namespace: "Default" is not a valid namespace'],
    ['64-character name', (e) => { web(e)['name'] = 'a'.repeat(64); }, `services[1] (default/${'a'.repeat(64)}).name:`],
    ['type enum', (e) => { web(e)['type'] = 'Ingress'; }, 'services[1] (default/web).type: "Ingress" is not one of ClusterIP, NodePort, LoadBalancer, ExternalName'],
    ['bad cluster IP', (e) => { web(e)['clusterIPs'] = ['10.0.0.x']; }, 'services[1] (default/web).clusterIPs[0]: "10.0.0.x" is not an IPv4 or IPv6 address'],
    ['IPv6 zone index', (e) => { web(e)['clusterIPs'] = ['fe80::1%eth0']; }, 'services[1] (default/web).clusterIPs[0]: "fe80::1%eth0" is not an IPv4'],
    ['headless with cluster IPs', (e) => { web(e)['headless'] = true; }, 'services[1] (default/web).clusterIPs: must be empty for a headless service'],
    ['headless not boolean', (e) => { web(e)['headless'] = 'false'; }, 'services[1] (default/web).headless: expected a boolean, got string "false"'],
    ['ExternalName without name', (e) => { Object.assign(web(e), { type: 'ExternalName', clusterIPs: [] }); }, 'services[1] (default/web): missing field "externalName"'],
    ['ExternalName bad name', (e) => { Object.assign(web(e), { type: 'ExternalName', clusterIPs: [], externalName: 'www.example.com.' }); }, 'services[1] (default/web).externalName: "www.example.com." is not a lower-case DNS name'],
    ['externalName on ClusterIP', (e) => { web(e)['externalName'] = 'x.example'; }, 'services[1] (default/web).externalName: only allowed for type ExternalName'],
    ['protocol enum', (e) => { web(e)['ports'][0].protocol = 'HTTP'; }, 'services[1] (default/web).ports[0].protocol: "HTTP" is not one of TCP, UDP, SCTP'],
    ['port 0', (e) => { web(e)['ports'][0].port = 0; }, 'services[1] (default/web).ports[0].port: 0 is not a port number (1-65535)'],
    ['port 65536', (e) => { web(e)['ports'][0].port = 65536; }, 'services[1] (default/web).ports[0].port: 65536 is not'],
    ['port name case', (e) => { web(e)['ports'][0].name = 'HTTP'; }, `services[1] (default/web).ports[0].name: "HTTP" is not '' or a valid port name`],
    ['duplicate port', (e) => { web(e)['ports'].push({ name: 'http', protocol: 'TCP', port: 80 }); }, 'services[1] (default/web).ports[1]: duplicate port "http" TCP 80'],
    ['bad endpoint address', (e) => { ep(e)['addresses'].push('10.0.0.x'); }, 'services[1] (default/web).endpoints[0].addresses[1]: "10.0.0.x" is not an IPv4 or IPv6 address'],
    ['no addresses', (e) => { ep(e)['addresses'] = []; }, 'services[1] (default/web).endpoints[0].addresses: must hold at least one address'],
    ['hostname', (e) => { ep(e)['hostname'] = 'web_0'; }, 'services[1] (default/web).endpoints[0].hostname: "web_0" is not a valid hostname'],
    ['ready not boolean', (e) => { ep(e)['ready'] = 'yes'; }, 'services[1] (default/web).endpoints[0].ready: expected a boolean, got string "yes"'],
    ['endpoint port', (e) => { ep(e)['ports'][0].port = 1.5; }, 'services[1] (default/web).endpoints[0].ports[0].port: 1.5 is not a port number'],
    ['unknown endpoint field', (e) => { ep(e)['zone'] = 'a'; }, 'services[1] (default/web).endpoints[0]: unknown field "zone"'],
    ['duplicate service', (e) => { e['snapshot'].services.push(structuredClone(web(e))); }, 'services[2] (default/web): duplicate service default/web'],
    ['unsorted services', (e) => { e['snapshot'].services.reverse(); }, 'services[1] (default/kubernetes): services are not sorted'],
    ['service not an object', (e) => { e['snapshot'].services[1] = 'web'; }, 'services[1]: expected an object, got string "web"'],
    ['signature algorithm', (e) => { e['signature'] = { algorithm: 'rsa', keyId: '0123456789abcdef', value: `${'A'.repeat(86)}==` }; }, 'signature.algorithm: "rsa" is not supported'],
    ['signature keyId', (e) => { e['signature'] = { algorithm: 'ed25519', keyId: 'XYZ', value: `${'A'.repeat(86)}==` }; }, 'signature.keyId: "XYZ" is not 16 lower-case hex digits'],
  ];
  it.each(cases)('names the field: %s', (_name, mutate, expected) => {
    const envelope = base();
    mutate(envelope);
    const problems = schemaProblems(envelope);
    expect(problems.some((p) => p.startsWith(expected)), `${JSON.stringify(problems)} has no problem starting with ${expected}`).toBe(true);
  });

  it('reports several problems together in one error', () => {
    const envelope = base();
    envelope['snapshot'].generation = -1;
    web(envelope)['type'] = 'Foo';
    ep(envelope)['addresses'] = ['nope'];
    const error = (() => { try { validateSignedSnapshot(envelope); } catch (e) { return e as Error; } return undefined; })();
    expect(error?.message).toMatch(/^invalid snapshot, 3 problems: generation: .*; services\[1\] \(default\/web\)\.type: .*; services\[1\] \(default\/web\)\.endpoints\[0\]\.addresses\[0\]: "nope"/);
  });

  it('stops at 20 problems and says so', () => {
    const envelope = base();
    ep(envelope)['addresses'] = Array.from({ length: 50 }, (_, i) => `bad-${i}`);
    const problems = schemaProblems(envelope);
    expect(problems).toHaveLength(20);
    expect(() => validateSignedSnapshot(envelope)).toThrow(/20 problems \(first 20 shown\)/);
  });
});

function tooLarge(bytes: Uint8Array, limits: Partial<SnapshotLimits> = {}): string {
  try {
    parseSnapshot(bytes, limits);
  } catch (error) {
    expect((error as SnapshotError).code).toBe('HF_SNAPSHOT_TOO_LARGE');
    return (error as Error).message;
  }
  throw new Error('expected HF_SNAPSHOT_TOO_LARGE');
}

describe('parseSnapshot', () => {
  const json = Buffer.from(JSON.stringify(base()));

  it('reads plain JSON and gzip alike', () => {
    expect(parseSnapshot(json)).toEqual(base());
    expect(parseSnapshot(gzipSync(json))).toEqual(base());
  });

  it('reads the committed demo snapshot', () => {
    const demo = parseSnapshot(readFileSync(new URL('../demo/demo-snapshot.json', import.meta.url)));
    expect(demo.snapshot.services.map((s) => `${s.namespace}/${s.name}`)).toContain('default/web');
  });

  it.each([
    ['not JSON', Buffer.from('{"snapshot":'), /not valid JSON/],
    ['bad UTF-8', Buffer.from([0x7b, 0xff, 0x7d]), /not valid UTF-8/],
    ['corrupt gzip', Buffer.concat([gzipSync(json).subarray(0, 20), Buffer.alloc(20)]), /not valid gzip/],
  ])('rejects %s with HF_SNAPSHOT_PARSE', (_name, bytes, message) => {
    expect(() => parseSnapshot(bytes)).toThrow(message);
    try { parseSnapshot(bytes); } catch (error) { expect((error as SnapshotError).code).toBe('HF_SNAPSHOT_PARSE'); }
  });

  it('rejects a gzip bomb over the default 64 MiB limit', () => {
    // 70 MiB of JSON (a valid prefix padded with spaces) compresses to about 70 KiB.
    const padded = Buffer.alloc(70 * 1024 * 1024, 0x20);
    json.copy(padded);
    const bomb = gzipSync(padded, { level: 9 });
    expect(bomb.length).toBeLessThan(1024 * 1024);
    expect(tooLarge(bomb)).toMatch(/decompresses to more than 67108864 bytes/);
  });

  it('applies configured byte limits to input and JSON', () => {
    expect(tooLarge(json, { maxInputBytes: 100 })).toMatch(/over the limit of 100/);
    expect(tooLarge(json, { maxJsonBytes: 100 })).toMatch(/over the limit of 100/);
    expect(tooLarge(gzipSync(json), { maxJsonBytes: 100 })).toMatch(/decompresses to more than 100 bytes/);
  });

  it('applies count limits', () => {
    expect(tooLarge(json, { maxServices: 1 })).toMatch(/2 services, over the limit of 1/);
    const many = base();
    many['snapshot'].services[1].endpoints.push({ ...many['snapshot'].services[1].endpoints[0], addresses: ['10.244.1.11'] });
    const bytes = Buffer.from(JSON.stringify(many));
    expect(tooLarge(bytes, { maxEndpointsPerService: 1 })).toMatch(/services\[1\] \(default\/web\) has 2 endpoints, over the limit of 1/);
    expect(tooLarge(bytes, { maxTotalEndpoints: 1 })).toMatch(/more than 1 endpoints/);
    expect(parseSnapshot(bytes, { maxEndpointsPerService: 2, maxTotalEndpoints: 2 }).snapshot.services).toHaveLength(2);
  });
});

describe('the quick check (conforms.ts) against the reporting check', () => {
  const VALUES: (() => unknown)[] = [
    () => 'web', () => 'Web', () => '', () => 'a.b', () => '10.0.0.1', () => 'fd00::1', () => 'fe80::1%eth0', () => '10.0.0.x', () => 'ExternalName',
    () => 'ClusterIP', () => 'UDP', () => 'HTTP', () => 'x.example.com', () => '2024-12-11T10:00:00Z', () => 'ed25519', () => '0123456789abcdef',
    () => 0, () => 1, () => -1, () => 1.5, () => 65536, () => 2 ** 53, () => true, () => false, () => null, () => undefined,
    () => [], () => ['10.0.0.1', '10.0.0.1'], () => ['10.0.0.2'], () => ({}), () => ({ name: 'http', protocol: 'TCP', port: 80 }),
  ];
  const FIELDS = ['zone', 'name', 'hostname', 'externalName', 'signature', 'extra'];

  function containers(value: unknown, out: object[] = []): object[] {
    if (typeof value === 'object' && value !== null) {
      out.push(value);
      for (const member of Object.values(value)) containers(member, out);
    }
    return out;
  }

  function mutate(root: Json, rand: () => number): void {
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
    const target = pick(containers(root)) as Json;
    const keys = Object.keys(target);
    const key = keys.length > 0 ? pick(keys) : '0';
    switch (Math.floor(rand() * 5)) {
      case 0: target[key] = pick(VALUES)(); break;
      case 1: if (Array.isArray(target)) target.splice(Number(key), 1); else delete target[key]; break; // no holes: JSON has none
      case 2: if (!Array.isArray(target)) target[pick(FIELDS)] = pick(VALUES)(); break;
      case 3: if (Array.isArray(target) && target.length > 0) target.push(structuredClone(target[0])); break; // duplicates
      default: if (Array.isArray(target)) target.reverse();
    }
  }

  it('accepts exactly what the reporting check accepts, over 3,000 random mutations', () => {
    const rand = seededRandom(1211);
    let accepted = 0;
    for (let i = 0; i < 3000; i++) {
      const envelope: Json = base();
      if (rand() < 0.5) envelope['signature'] = { algorithm: 'ed25519', keyId: '0123456789abcdef', value: `${'A'.repeat(86)}==` };
      if (rand() < 0.3) Object.assign(envelope['snapshot'].services[0], { type: 'ExternalName', clusterIPs: [], externalName: 'x.example.com' });
      const mutations = Math.floor(rand() * 3);
      for (let m = 0; m < mutations; m++) mutate(envelope, rand);
      const limits = rand() < 0.1 ? { ...DEFAULT_LIMITS, maxServices: 1, maxEndpointsPerService: 1, maxTotalEndpoints: 1 } : DEFAULT_LIMITS;
      let reported: string;
      try {
        const { problems } = reportingCheck(envelope, limits);
        reported = problems.length === 0 ? 'valid' : problems.join('; ');
      } catch (error) {
        reported = (error as Error).message;
      }
      expect(conformsToV1(envelope, limits), `case ${i}: ${reported} ${JSON.stringify(envelope)}`).toBe(reported === 'valid');
      if (reported === 'valid') accepted++;
    }
    expect(accepted).toBeGreaterThan(500);
  });
});
