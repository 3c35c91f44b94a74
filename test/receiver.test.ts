/**
 * Snapshot pushes: `PUT /v1/snapshot` on --receiver-listen, verified like every
 * other source, answered 204 / 304 / 400 / 403 / 409 / 413, persisted; and the
 * break-glass `holdfast snapshot push` command against it.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RRType, Rcode } from '../resolver/wire/constants.js';
import { encodeQuery, recordText } from '../resolver/wire/decode.js';
import { buildSnapshot, parseKubectlOutput } from '../snapshot/build.js';
import { generateKeyPair, publicKeyToPem } from '../snapshot/keys.js';
import { signSnapshot } from '../snapshot/sign.js';
import type { SnapshotV1 } from '../snapshot/types.js';
import { cleanupAfterEach } from './helpers/cleanup.js';
import { startResolver, udpQuery } from './helpers/dns.js';

const run = promisify(execFile);
const { defer } = cleanupAfterEach();
const trusted = generateKeyPair();
const stranger = generateKeyPair();
const WEB = 'web.default.svc.cluster.local';
let dir: string;
let keyFile: string;
let demoObjects: unknown[];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'holdfast-receiver-'));
  keyFile = join(dir, 'trusted.pub');
  await writeFile(keyFile, publicKeyToPem(trusted.publicKey));
  demoObjects = parseKubectlOutput(await readFile('demo/demo-cluster.yaml', 'utf8'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

function snapshot(generation: number, webIP = '10.96.10.10'): SnapshotV1 {
  const { snapshot: s } = buildSnapshot(demoObjects, { clusterDomain: 'cluster.local', generation, now: new Date() });
  return { ...s, services: s.services.map((v) => (v.name === 'web' ? { ...v, clusterIPs: [webIP] } : v)) };
}
const signed = (s: SnapshotV1, key = trusted.privateKey) => Buffer.from(JSON.stringify(signSnapshot(s, key)));

async function receiver(extra: Record<string, string> = {}) {
  const stateDir = join(dir, `state-${Math.random().toString(36).slice(2)}`);
  const started = await startResolver({ 'trust-key': [keyFile], 'receiver-listen': '127.0.0.1:0', 'state-dir': stateDir, ...extra });
  defer(() => started.resolver.stop());
  const url = `http://127.0.0.1:${started.resolver.receiverAddress?.port}/v1/snapshot`;
  const put = (body: Buffer, headers: Record<string, string> = {}) => fetch(url, { method: 'PUT', body, headers });
  const web = async () => (await udpQuery(started.port, encodeQuery(WEB, RRType.A))).answers.map(recordText);
  return { ...started, url, put, web, stateDir };
}

describe('PUT /v1/snapshot', () => {
  it('applies a signed, newer snapshot (204, ETag), persists it, and says 304 for the same again', async () => {
    const r = await receiver();
    expect((await udpQuery(r.port, encodeQuery(WEB, RRType.A))).rcode).toBe(Rcode.SERVFAIL); // nothing yet
    const five = signed(snapshot(5));
    const first = await r.put(gzipSync(five), { 'content-encoding': 'gzip' });
    expect(first.status).toBe(204);
    expect(first.headers.get('etag')).toBe('"5"');
    expect(await r.web()).toEqual([`${WEB}. 5 IN A 10.96.10.10`]);
    const persisted = await stat(join(r.stateDir, 'snapshot.json'));
    expect(persisted.mode & 0o777).toBe(0o600);
    expect((await r.put(five)).status).toBe(304); // the same content, plain JSON this time
    expect((await r.put(Buffer.from('ignored'), { 'if-none-match': '"5"' })).status).toBe(304);
    const status = await fetch(r.url.replace(/snapshot$/, 'snapshot/status'));
    expect(await status.json()).toEqual({ generation: 5 });
  });

  it.each([
    { what: 'signed by an unknown key', status: 403, reason: 'rejected_signature', body: () => signed(snapshot(9), stranger.privateKey) },
    {
      what: 'tampered after signing',
      status: 403,
      reason: 'rejected_signature',
      body: () => {
        const env = signSnapshot(snapshot(9), trusted.privateKey);
        return Buffer.from(JSON.stringify({ ...env, snapshot: { ...env.snapshot, generation: 10 } }));
      },
    },
    { what: 'unsigned', status: 403, reason: 'rejected_signature', body: () => Buffer.from(JSON.stringify({ snapshot: snapshot(9) })) },
    { what: 'older than the current one', status: 409, reason: 'rejected_rollback', body: () => signed(snapshot(2, '10.96.99.99')) },
    { what: 'not JSON', status: 400, reason: 'rejected_schema', body: () => Buffer.from('{"snapshot": ') },
    { what: 'truncated gzip', status: 400, reason: 'rejected_schema', body: () => gzipSync(signed(snapshot(9))).subarray(0, 200) },
    {
      what: 'schema-invalid',
      status: 400,
      reason: 'rejected_schema',
      body: () => signed({ ...snapshot(9), services: [{ ...snapshot(9).services[0]!, clusterIPs: ['10.0.0.x'] }] } as SnapshotV1),
    },
    { what: 'a gzip bomb', status: 413, reason: 'rejected_too_large', body: () => gzipSync(Buffer.alloc(70 * 1024 * 1024, 0x20)) },
  ])('refuses a snapshot $what with $status and changes nothing', async ({ status, reason, body }) => {
    const r = await receiver();
    expect((await r.put(signed(snapshot(5)))).status).toBe(204);
    const res = await r.put(body());
    expect(res.status).toBe(status);
    expect(((await res.json()) as { reason: string }).reason).toBe(reason);
    expect(res.headers.get('etag')).toBe('"5"');
    expect(await r.web()).toEqual([`${WEB}. 5 IN A 10.96.10.10`]);
    const metrics = await (await fetch(`http://127.0.0.1:${r.metricsPort}/metrics`)).text();
    expect(metrics).toContain(`holdfast_snapshot_loads_total{source="push",result="${reason}"} 1`);
  });

  it('answers 405 to other methods and 404 to other paths', async () => {
    const r = await receiver();
    expect((await fetch(r.url)).status).toBe(405);
    expect((await fetch(r.url.replace('/v1/snapshot', '/v2'), { method: 'PUT', body: 'x' })).status).toBe(404);
  });

  it('refuses to start with a receiver and no trusted key', async () => {
    await expect(startResolver({ 'receiver-listen': '127.0.0.1:0' })).rejects.toThrow(/--trust-key/);
  });
});

describe('holdfast snapshot push', () => {
  const cli = (...args: string[]) => run(process.execPath, ['bin/holdfast', 'snapshot', 'push', ...args]).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

  it('applies, then reports already current, then exits 1 with the reason for an older generation', async () => {
    const r = await receiver();
    const newer = join(dir, 'push-7.json');
    const older = join(dir, 'push-3.json');
    await writeFile(newer, signed(snapshot(7, '10.96.10.77')));
    await writeFile(older, signed(snapshot(3)));
    const target = `http://127.0.0.1:${r.resolver.receiverAddress?.port}`;

    const applied = await cli('--to', target, newer);
    expect(applied.code).toBe(0);
    expect(applied.stdout).toContain(`${target}/v1/snapshot: applied (now "7")`);
    expect(await r.web()).toEqual([`${WEB}. 5 IN A 10.96.10.77`]);

    expect((await cli('--to', target, newer)).stdout).toContain('already current ("7")');

    const refused = await cli('--to', target, older);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('refused (409 rejected_rollback: generation 3 is older than the current 7)');
  });

  it('exits 1 naming a target that cannot be reached, and 2 for a bad URL', async () => {
    const file = join(dir, 'push-1.json');
    await writeFile(file, signed(snapshot(1)));
    const down = await cli('--to', 'http://127.0.0.1:9/', '--timeout', '2s', file);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/http:\/\/127\.0\.0\.1:9\/v1\/snapshot: unreachable/);
    const bad = await cli('--to', 'not a url', file);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--to: 'not a url' is not a URL");
  });

  it('refuses to send a file no resolver would accept', async () => {
    const file = join(dir, 'broken.json');
    await writeFile(file, '{"snapshot": {}}');
    const res = await cli('--to', 'http://127.0.0.1:9/', file);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("snapshot: missing field \"format\"");
  });
});
