/**
 * Snapshot intake with real signed snapshots: verification at start (trusted key,
 * tampering, schema, cluster domain), the watched file (newer generation applied,
 * rollback and invalid files rejected with the old answers kept), and persistence
 * in the state directory across a restart.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Resolver } from '../resolver/resolver.js';
import { RRType } from '../resolver/wire/constants.js';
import { encodeQuery, recordText } from '../resolver/wire/decode.js';
import { generateKeyPair, publicKeyToPem } from '../snapshot/keys.js';
import { signSnapshot } from '../snapshot/sign.js';
import type { SignedSnapshot, SnapshotV1 } from '../snapshot/types.js';
import { udpQuery } from './helpers/dns.js';
import { startResolverRetrying, startUpstream } from './helpers/upstream.js';
import type { FakeUpstream } from './helpers/upstream.js';

const WEB = 'web.default.svc.cluster.local';
const DEMO: SnapshotV1 = (JSON.parse(readFileSync('demo/demo-snapshot.json', 'utf8')) as SignedSnapshot).snapshot;

/** The demo snapshot at `generation`, with web's IPv4 cluster IP set to `webIP`. */
function snapshot(generation: number, webIP = '10.96.10.10', clusterDomain = 'cluster.local'): SnapshotV1 {
  return {
    ...DEMO,
    clusterDomain,
    generation,
    services: DEMO.services.map((s) => (s.namespace === 'default' && s.name === 'web' ? { ...s, clusterIPs: [webIP, ...s.clusterIPs.slice(1)] } : s)),
  };
}

const trusted = generateKeyPair();
const stranger = generateKeyPair();

let dir: string;
let keyFile: string;
let upstream: FakeUpstream;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'holdfast-intake-'));
  keyFile = join(dir, 'trusted.pub');
  await writeFile(keyFile, publicKeyToPem(trusted.publicKey));
  upstream = await startUpstream({ kind: 'servfail' });
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

afterAll(async () => {
  await upstream.close();
  await rm(dir, { recursive: true, force: true });
});

let fileCounter = 0;

/** Writes `content` to `path` atomically (temporary file, then rename), as publishers do. */
async function publish(path: string, content: unknown): Promise<void> {
  const temp = `${path}.${++fileCounter}.tmp`;
  await writeFile(temp, typeof content === 'string' ? content : JSON.stringify(content));
  await rename(temp, path);
}

async function newFile(content: unknown): Promise<string> {
  const path = join(dir, `snapshot-${++fileCounter}.json`);
  await publish(path, content);
  return path;
}

async function start(flags: Record<string, string | string[] | boolean>): Promise<{ resolver: Resolver; port: number; metricsPort: number }> {
  const started = await startResolverRetrying({ 'trust-key': [keyFile], upstream: [upstream.address], 'upstream-timeout': '200ms', ...flags });
  cleanups.push(() => started.resolver.stop()); // stop() is idempotent: tests may stop earlier
  return started;
}

async function webA(port: number): Promise<{ rcode: number; answers: string[] }> {
  const reply = await udpQuery(port, encodeQuery(WEB, RRType.A));
  return { rcode: reply.rcode, answers: reply.answers.map(recordText) };
}

const served = (ip: string) => ({ rcode: 0, answers: [`${WEB}. 5 IN A ${ip}`] });
const SERVFAIL = { rcode: 2, answers: [] };

async function metrics(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

/** Polls `check` every 25 ms until it returns true; fails after `timeoutMs`. */
async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('verification at start', () => {
  it('serves a snapshot signed by a trusted key', async () => {
    const file = await newFile(signSnapshot(snapshot(5), trusted.privateKey));
    const { port, metricsPort } = await start({ 'snapshot-file': file });
    expect(await webA(port)).toEqual(served('10.96.10.10'));
    const text = await metrics(metricsPort);
    expect(text).toContain('holdfast_snapshot_loads_total{source="file",result="applied"} 1');
    expect(text).toMatch(/^holdfast_snapshot_generation 5$/m);
  });

  const tampered = (): SignedSnapshot => {
    const signed = signSnapshot(snapshot(5), trusted.privateKey);
    return { ...signed, snapshot: snapshot(5, '10.96.66.66') };
  };

  it.each([
    { what: 'signed by a key that is not trusted', content: () => signSnapshot(snapshot(5), stranger.privateKey), reason: 'rejected_signature' },
    { what: 'tampered with after signing (a cluster IP changed)', content: tampered, reason: 'rejected_signature' },
    { what: 'unsigned (no --allow-unsigned)', content: () => ({ snapshot: snapshot(5) }), reason: 'rejected_signature' },
    { what: 'for another cluster domain', content: () => signSnapshot(snapshot(5, '10.96.10.10', 'other.local'), trusted.privateKey), reason: 'rejected_schema' },
    { what: 'not a snapshot at all', content: () => ({ snapshot: { format: 'holdfast.snapshot/v1' } }), reason: 'rejected_schema' },
    { what: 'not JSON', content: () => '{"snapshot": ', reason: 'rejected_schema' },
  ])('rejects a snapshot $what: cluster names get SERVFAIL, not forwarded', async ({ content, reason }) => {
    const file = await newFile(content());
    const before = upstream.count();
    const { port, metricsPort } = await start({ 'snapshot-file': file });
    expect(await webA(port)).toEqual(SERVFAIL);
    expect((await udpQuery(port, encodeQuery('nope.default.svc.cluster.local', RRType.A))).rcode).toBe(2);
    expect(upstream.count()).toBe(before);
    const text = await metrics(metricsPort);
    expect(text).toContain(`holdfast_snapshot_loads_total{source="file",result="${reason}"} 1`);
    expect(text).not.toContain('result="applied"');
    expect(text).toMatch(/^holdfast_snapshot_generation 0$/m);
  });
});

describe('the watched snapshot file', () => {
  async function watching(): Promise<{ file: string; port: number; metricsPort: number }> {
    const file = await newFile(signSnapshot(snapshot(10), trusted.privateKey));
    const { port, metricsPort } = await start({ 'snapshot-file': file, 'snapshot-poll-interval': '100ms' });
    expect(await webA(port)).toEqual(served('10.96.10.10'));
    return { file, port, metricsPort };
  }

  it('applies a newer generation written in its place', async () => {
    const { file, port, metricsPort } = await watching();
    await publish(file, signSnapshot(snapshot(11, '10.96.11.11'), trusted.privateKey));
    await eventually('generation 11 to be served', async () => (await webA(port)).answers[0]?.endsWith('10.96.11.11') ?? false);
    expect(await webA(port)).toEqual(served('10.96.11.11'));
    expect(await metrics(metricsPort)).toMatch(/^holdfast_snapshot_generation 11$/m);
  });

  it.each([
    { what: 'an older generation', content: () => signSnapshot(snapshot(9, '10.96.9.9'), trusted.privateKey), reason: 'rejected_rollback' },
    { what: 'a schema-invalid file', content: () => ({ snapshot: { ...snapshot(12, '10.96.12.12'), generation: 'twelve' } }), reason: 'rejected_schema' },
    { what: 'a newer generation signed by another key', content: () => signSnapshot(snapshot(12, '10.96.12.12'), stranger.privateKey), reason: 'rejected_signature' },
  ])('rejects $what and keeps the old answers', async ({ content, reason }) => {
    const { file, port, metricsPort } = await watching();
    await publish(file, content());
    await eventually(`a ${reason} load`, async () => (await metrics(metricsPort)).includes(`holdfast_snapshot_loads_total{source="file",result="${reason}"} 1`));
    expect(await webA(port)).toEqual(served('10.96.10.10'));
    expect(await metrics(metricsPort)).toMatch(/^holdfast_snapshot_generation 10$/m);
  });

  it('keeps serving when the file is deleted, and applies it when it comes back newer', async () => {
    const { file, port, metricsPort } = await watching();
    await rm(file);
    await new Promise((resolve) => setTimeout(resolve, 300)); // three polls
    expect(await webA(port)).toEqual(served('10.96.10.10'));
    expect(await metrics(metricsPort)).not.toContain('result="rejected');
    await publish(file, signSnapshot(snapshot(13, '10.96.13.13'), trusted.privateKey));
    await eventually('generation 13 to be served', async () => (await webA(port)).answers[0]?.endsWith('10.96.13.13') ?? false);
  });
});

describe('persistence in the state directory', () => {
  it('keeps the last applied snapshot (mode 0600) and serves it after a restart without the file', async () => {
    const stateDir = join(dir, `state-${++fileCounter}`);
    const file = await newFile(signSnapshot(snapshot(20, '10.96.20.20'), trusted.privateKey));
    const first = await start({ 'snapshot-file': file, 'state-dir': stateDir });
    expect(await webA(first.port)).toEqual(served('10.96.20.20'));
    await first.resolver.stop();

    const persisted = join(stateDir, 'snapshot.json');
    expect((await stat(persisted)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(persisted, 'utf8'))).toEqual(JSON.parse(await readFile(file, 'utf8')));
    await rm(file);

    const second = await start({ 'state-dir': stateDir });
    expect(await webA(second.port)).toEqual(served('10.96.20.20'));
    expect(await metrics(second.metricsPort)).toContain('holdfast_snapshot_loads_total{source="state",result="applied"} 1');
  });

  it('persists a newer snapshot taken from the watched file', async () => {
    const stateDir = join(dir, `state-${++fileCounter}`);
    const file = await newFile(signSnapshot(snapshot(30), trusted.privateKey));
    const { port } = await start({ 'snapshot-file': file, 'state-dir': stateDir, 'snapshot-poll-interval': '100ms' });
    await publish(file, signSnapshot(snapshot(31, '10.96.31.31'), trusted.privateKey));
    await eventually('generation 31 to be served', async () => (await webA(port)).answers[0]?.endsWith('10.96.31.31') ?? false);
    await eventually('generation 31 to be persisted', async () => {
      const text = await readFile(join(stateDir, 'snapshot.json'), 'utf8').catch(() => '{}');
      return (JSON.parse(text) as { snapshot?: { generation?: number } }).snapshot?.generation === 31;
    });
  });

  it('prefers a newer persisted snapshot over an older snapshot file', async () => {
    const stateDir = join(dir, `state-${++fileCounter}`);
    const newer = await newFile(signSnapshot(snapshot(41, '10.96.41.41'), trusted.privateKey));
    const first = await start({ 'snapshot-file': newer, 'state-dir': stateDir });
    await first.resolver.stop();
    const older = await newFile(signSnapshot(snapshot(40, '10.96.40.40'), trusted.privateKey));
    const second = await start({ 'snapshot-file': older, 'state-dir': stateDir });
    expect(await webA(second.port)).toEqual(served('10.96.41.41'));
    expect(await metrics(second.metricsPort)).toContain('holdfast_snapshot_loads_total{source="file",result="rejected_rollback"} 1');
  });

  it('verifies the persisted snapshot again at start: a tampered state file is not served', async () => {
    const stateDir = join(dir, `state-${++fileCounter}`);
    const file = await newFile(signSnapshot(snapshot(50), trusted.privateKey));
    const first = await start({ 'snapshot-file': file, 'state-dir': stateDir });
    await first.resolver.stop();
    const persisted = join(stateDir, 'snapshot.json');
    const signed = JSON.parse(await readFile(persisted, 'utf8')) as SignedSnapshot;
    await writeFile(persisted, JSON.stringify({ ...signed, snapshot: snapshot(50, '10.96.66.66') }));
    const second = await start({ 'state-dir': stateDir });
    expect(await webA(second.port)).toEqual(SERVFAIL);
    expect(await metrics(second.metricsPort)).toContain('holdfast_snapshot_loads_total{source="state",result="rejected_signature"} 1');
  });
});
