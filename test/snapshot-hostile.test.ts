/**
 * Hostile snapshots through every source — pushed (PUT /v1/snapshot), pulled
 * from a hostile publisher on 127.0.0.1, read from the watched file — against a
 * resolver holding generation 5: each is refused with the right HTTP status and
 * `holdfast_snapshot_loads_total{result}`, logged as a warning, and leaves the
 * answers, the state file (byte for byte) and the state directory as they were.
 */
import { request } from 'node:http';
import { mkdtemp, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MAX_BODY } from '../resolver/intake/receiver.js';
import { generateKeyPair, publicKeyToPem } from '../snapshot/keys.js';
import { signSnapshot } from '../snapshot/sign.js';
import { cleanupAfterEach } from './helpers/cleanup.js';
import { gzipBomb } from '../bench/bomb.js';
import { holding, loads, manyEndpointsJson, nested, unchangedAfter, webA, withWeb } from './helpers/hostile.js';
import { demoSnapshot, signedBytes, WEB } from './helpers/snapshots.js';

const { defer } = cleanupAfterEach();
const trusted = generateKeyPair();
const stranger = generateKeyPair();
let dir: string;
let keyFile: string;
let bomb: Buffer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'holdfast-hostile-test-'));
  keyFile = join(dir, 'trusted.pub');
  await writeFile(keyFile, publicKeyToPem(trusted.publicKey));
  bomb = gzipBomb(4); // 4 GiB unpacked
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const start = (flags: Record<string, string | string[]> = {}) => holding({ 'trust-key': [keyFile], ...flags }, trusted.privateKey, defer);
const good = (generation: number) => signedBytes(demoSnapshot(generation, '10.96.99.99'), trusted.privateKey);
const tampered = () => {
  const env = signSnapshot(demoSnapshot(9), trusted.privateKey);
  return { ...env, snapshot: demoSnapshot(9, '10.66.66.66') };
};
const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const envelopeWith = (snapshotText: string) => Buffer.from(`{"snapshot":${snapshotText}}`);

/** Every hostile kind, as pushed. */
const HOSTILE: { what: string; body: () => Buffer | string; status: number; reason: string }[] = [
  { what: 'unsigned', body: () => json({ snapshot: demoSnapshot(9) }), status: 403, reason: 'rejected_signature' },
  { what: 'signed by an unknown key', body: () => signedBytes(demoSnapshot(9), stranger.privateKey), status: 403, reason: 'rejected_signature' },
  { what: 'tampered, then re-signed by an untrusted key', body: () => signedBytes(tampered().snapshot, stranger.privateKey), status: 403, reason: 'rejected_signature' },
  { what: 'tampered without re-signing', body: () => json(tampered()), status: 403, reason: 'rejected_signature' },
  {
    what: "carrying another snapshot's signature",
    body: () => json({ snapshot: demoSnapshot(9), signature: signSnapshot(demoSnapshot(8), trusted.privateKey).signature }),
    status: 403,
    reason: 'rejected_signature',
  },
  { what: 'rolled back to an older generation', body: () => signedBytes(demoSnapshot(3, '10.96.3.3'), trusted.privateKey), status: 409, reason: 'rejected_rollback' },
  { what: 'replayed: the current generation with other content', body: () => signedBytes(demoSnapshot(5, '10.96.55.55'), trusted.privateKey), status: 409, reason: 'rejected_conflict' },
  { what: 'truncated JSON', body: () => good(9).subarray(0, 700), status: 400, reason: 'rejected_schema' },
  { what: 'truncated gzip', body: () => { const z = gzipSync(good(9)); return z.subarray(0, z.length - 30); }, status: 400, reason: 'rejected_schema' },
  { what: 'a gzip bomb (4 GiB from 4 MB)', body: () => bomb, status: 413, reason: 'rejected_too_large' },
  { what: 'over the body limit', body: () => Buffer.alloc(DEFAULT_MAX_BODY + 1, 0x20), status: 413, reason: 'rejected_too_large' },
  { what: 'a million unclosed [', body: () => '['.repeat(1_000_000), status: 400, reason: 'rejected_schema' },
  { what: 'a million nested arrays as the envelope', body: () => nested(1_000_000), status: 400, reason: 'rejected_schema' },
  {
    what: 'a million nested arrays as a field',
    body: () => envelopeWith(`{"format":${nested(1_000_000)},"clusterDomain":"cluster.local","generation":9,"createdAt":"2024-12-11T10:00:00Z","services":[]}`),
    status: 400,
    reason: 'rejected_schema',
  },
  { what: 'schema-invalid (generation "nine")', body: () => json({ ...signSnapshot(demoSnapshot(9), trusted.privateKey), snapshot: { ...demoSnapshot(9), generation: 'nine' } }), status: 400, reason: 'rejected_schema' },
  { what: 'for another cluster domain', body: () => signedBytes(demoSnapshot(9, '10.96.9.9', 'other.local'), trusted.privateKey), status: 400, reason: 'rejected_schema' },
  { what: 'a generation past 2^53', body: () => envelopeWith(JSON.stringify(demoSnapshot(9)).replace('"generation":9', '"generation":18446744073709551616')), status: 400, reason: 'rejected_schema' },
  { what: 'a million endpoints for one name (gzip)', body: () => gzipSync(manyEndpointsJson(9, 1_000_000), { level: 1 }), status: 413, reason: 'rejected_too_large' },
  { what: '10 001 endpoints for one name', body: () => manyEndpointsJson(9, 10_001), status: 413, reason: 'rejected_too_large' },
  {
    what: '101 addresses for one endpoint',
    body: () => signedBytes(withWeb(9, (web) => ({ ...web, endpoints: [{ ...web.endpoints[0], addresses: Array.from({ length: 101 }, (_, i) => `10.244.${i >> 8}.${i & 255}`) }] })), trusted.privateKey),
    status: 413,
    reason: 'rejected_too_large',
  },
  { what: 'a name that is not a DNS label', body: () => signedBytes(withWeb(9, (web) => ({ ...web, name: 'Web_Server' })), trusted.privateKey), status: 400, reason: 'rejected_schema' },
  { what: 'an IP that does not parse', body: () => signedBytes(withWeb(9, (web) => ({ ...web, clusterIPs: ['10.96.300.1'] })), trusted.privateKey), status: 400, reason: 'rejected_schema' },
  { what: 'three cluster IPs', body: () => signedBytes(withWeb(9, (web) => ({ ...web, clusterIPs: ['10.96.1.1', '10.96.1.2', '10.96.1.3'] })), trusted.privateKey), status: 400, reason: 'rejected_schema' },
  {
    what: 'a duplicate service',
    body: () => {
      const s = demoSnapshot(9);
      const web = s.services.findIndex((v) => v.name === 'web' && v.namespace === 'default');
      return signedBytes({ ...s, services: [...s.services.slice(0, web + 1), s.services[web]!, ...s.services.slice(web + 1)] }, trusted.privateKey);
    },
    status: 400,
    reason: 'rejected_schema',
  },
  { what: 'a huge TTL (no such field)', body: () => signedBytes(withWeb(9, (web) => ({ ...web, ttl: 2 ** 40 })), trusted.privateKey), status: 400, reason: 'rejected_schema' },
  { what: 'a negative port', body: () => signedBytes(withWeb(9, (web) => ({ ...web, ports: [{ name: 'http', protocol: 'TCP', port: -80 }] })), trusted.privateKey), status: 400, reason: 'rejected_schema' },
  {
    what: '1001 ports on a service',
    body: () => signedBytes(withWeb(9, (web) => ({ ...web, ports: Array.from({ length: 1001 }, (_, i) => ({ name: '', protocol: 'TCP', port: i + 1 })) })), trusted.privateKey),
    status: 413,
    reason: 'rejected_too_large',
  },
];

describe('pushed', () => {
  it.each(HOSTILE)('refuses a snapshot $what with $status ($reason) and changes nothing', async ({ body, status, reason }) => {
    const h = await start();
    const res = await h.put(body());
    expect(res.status).toBe(status);
    expect(res.headers.get('etag')).toBe('"5"');
    expect(((await res.json()) as { reason: string }).reason).toBe(reason);
    await unchangedAfter(h, 'push', reason);
  });

  it('takes a replay of the current generation with the same content as unchanged (304), however encoded', async () => {
    const h = await start();
    const again = signedBytes(demoSnapshot(5), trusted.privateKey);
    expect((await h.put(again)).status).toBe(304);
    expect((await h.put(gzipSync(again))).status).toBe(304);
    expect(await loads(h.metricsPort, 'push', 'unchanged')).toBe(2);
    expect(await webA(h.port)).toEqual([`${WEB}. 5 IN A 10.96.10.10`]);
  });

  it('stops reading a chunked body at the limit, answers 413 or hangs up, and counts it', async () => {
    const h = await start();
    const port = h.resolver.receiverAddress?.port ?? 0;
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    const outcome = await new Promise<string>((resolve) => {
      const req = request({ host: '127.0.0.1', port, method: 'PUT', path: '/v1/snapshot', headers: { 'transfer-encoding': 'chunked' } }, (res) => {
        res.resume();
        resolve(String(res.statusCode));
      });
      req.on('error', (error) => resolve(`error ${error.message}`));
      let sent = 0;
      const pump = () => {
        while (sent < 2 * DEFAULT_MAX_BODY && !req.destroyed) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    expect(outcome).toMatch(/^(413|error .*)$/);
    await unchangedAfter(h, 'push', 'rejected_too_large');
  });

  it('applies a good snapshot after all of that', async () => {
    const h = await start();
    for (const { body } of HOSTILE.slice(0, 8)) await h.put(body());
    expect((await h.put(good(9))).status).toBe(204);
    expect(await webA(h.port)).toEqual([`${WEB}. 5 IN A 10.96.99.99`]);
  });
});

describe('pulled from a hostile publisher', () => {
  /** Answers 503 until `serve` is called. */
  async function publisher() {
    let answer: { body: Buffer; headers: Record<string, string> } | undefined;
    const server = createServer((_req, res) => {
      if (!answer) return void res.writeHead(503).end();
      res.writeHead(200, { 'content-type': 'application/json', etag: '"9"', ...answer.headers }).end(answer.body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    defer(() => new Promise<void>((resolve) => server.close(() => resolve()).closeAllConnections()));
    const address = server.address();
    const url = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/v1/snapshot`;
    return { url, serve: (body: Buffer, headers: Record<string, string>) => void (answer = { body, headers }) };
  }

  it.each([
    { what: 'signed by an unknown key', body: () => signedBytes(demoSnapshot(9), stranger.privateKey), headers: {}, reason: 'rejected_signature' },
    { what: 'tampered without re-signing', body: () => json(tampered()), headers: {}, reason: 'rejected_signature' },
    { what: 'a gzip bomb sent as Content-Encoding: gzip', body: () => bomb, headers: { 'content-encoding': 'gzip' }, reason: 'rejected_too_large' },
    { what: 'a million nested arrays', body: () => Buffer.from(nested(1_000_000)), headers: {}, reason: 'rejected_schema' },
    { what: 'the current generation with other content', body: () => signedBytes(demoSnapshot(5, '10.96.55.55'), trusted.privateKey), headers: { etag: '"5"' }, reason: 'rejected_conflict' },
  ])('refuses a snapshot $what ($reason) and changes nothing', async ({ body, headers, reason }) => {
    const hostile = await publisher();
    const h = await start({ 'snapshot-url': [hostile.url], 'snapshot-pull-interval': '1h' });
    await h.resolver.puller?.settled(); // the first round, answered 503
    hostile.serve(body(), headers);
    expect(await h.resolver.puller?.pollNow()).toBe('failed');
    await unchangedAfter(h, 'pull', reason);
  });
});

describe('read from the watched file', () => {
  let counter = 0;
  async function watched() {
    const file = join(dir, `snapshot-${++counter}.json`);
    const h = await start({ 'snapshot-file': file, 'snapshot-poll-interval': '100ms' });
    const replace = async (content: Buffer) => {
      await writeFile(`${file}.tmp`, content);
      await rename(`${file}.tmp`, file);
    };
    return { h, file, replace };
  }
  const seen = async (metricsPort: number, reason: string) => {
    for (let i = 0; i < 200 && (await loads(metricsPort, 'file', reason)) === 0; i++) await new Promise((resolve) => setTimeout(resolve, 25));
  };

  it.each([
    { what: 'tampered, then re-signed by an untrusted key', body: () => signedBytes(tampered().snapshot, stranger.privateKey), reason: 'rejected_signature' },
    { what: 'rolled back', body: () => signedBytes(demoSnapshot(4, '10.96.4.4'), trusted.privateKey), reason: 'rejected_rollback' },
    { what: 'a gzip bomb', body: () => bomb, reason: 'rejected_too_large' },
    { what: 'truncated', body: () => good(9).subarray(0, 500), reason: 'rejected_schema' },
  ])('refuses a file $what ($reason) and changes nothing', async ({ body, reason }) => {
    const { h, replace } = await watched();
    await replace(body());
    await seen(h.metricsPort, reason);
    await unchangedAfter(h, 'file', reason);
  });

  it('refuses a file over the size limit without reading it', async () => {
    const { h, file } = await watched();
    await writeFile(file, '');
    await truncate(file, 8 * DEFAULT_MAX_BODY); // sparse: 512 MiB that would have been read whole
    await seen(h.metricsPort, 'rejected_too_large');
    await unchangedAfter(h, 'file', 'rejected_too_large');
    expect(h.logs.some((l) => String(l['msg']).includes(`is ${8 * DEFAULT_MAX_BODY} bytes, over the ${DEFAULT_MAX_BODY}-byte limit`))).toBe(true);
  });
});
