/**
 * Rotating the snapshot signing key with a real resolver process, the way
 * deploy/README.md tells an operator to: trust A → trust A and B (SIGHUP) →
 * the publisher signs with B → trust B alone (SIGHUP) → restart. At each step
 * the served snapshot, holdfast_snapshot_signing_key_info and what is refused
 * are checked; and a restart whose persisted snapshot is signed by a key no
 * longer trusted warns and keeps running instead of crashing.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RRType, Rcode } from '../resolver/wire/constants.js';
import { encodeQuery } from '../resolver/wire/decode.js';
import { generateKeyPair, keyId, publicKeyToPem } from '../snapshot/keys.js';
import { loads, webA } from './helpers/hostile.js';
import { udpQuery } from './helpers/dns.js';
import { serveResolver } from './helpers/process.js';
import type { Running } from './helpers/process.js';
import { signedDemo, WEB } from './helpers/snapshots.js';

const A = generateKeyPair();
const B = generateKeyPair();
const idA = keyId(A.publicKey);
const idB = keyId(B.publicKey);
let dir: string;
let pubA: string;
let pubB: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'holdfast-rotation-'));
  pubA = join(dir, 'a.pub');
  pubB = join(dir, 'b.pub');
  await writeFile(pubA, publicKeyToPem(A.publicKey));
  await writeFile(pubB, publicKeyToPem(B.publicKey));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** A resolver reading its trusted keys from `config` (so SIGHUP can change them), with a receiver and `stateDir`. */
async function resolver(config: string, stateDir: string) {
  const { proc, port, metricsPort } = await serveResolver(['--config', config, '--state-dir', stateDir, '--receiver-listen', '127.0.0.1:0', '--upstream', '127.0.0.1:9']);
  const serving = await proc.waitLog('resolver serving');
  const url = `http://127.0.0.1:${(serving['receiver'] as { port: number }).port}/v1/snapshot`;
  const push = async (body: Buffer) => (await fetch(url, { method: 'PUT', body })).status;
  const signer = async () => /^holdfast_snapshot_signing_key_info\{key="([^"]+)"\} 1$/m.exec(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text())?.[1];
  return { proc, port, metricsPort, push, signer };
}

/** Writes the config with `keys` trusted and, for a running resolver, reloads it with SIGHUP. */
async function trust(config: string, keys: string[], proc?: Running): Promise<void> {
  await writeFile(config, `trust-key: [${keys.join(', ')}]\n`);
  if (!proc) return;
  const mark = proc.logs.length;
  proc.child.kill('SIGHUP');
  await proc.waitLog('configuration reloaded', mark);
}

describe('key rotation', () => {
  it('walks the documented procedure: A, then A+B, then B alone, then a restart', async () => {
    const config = join(dir, 'walk.yaml');
    const stateDir = join(dir, 'walk-state');
    await trust(config, [pubA]);
    const first = await resolver(config, stateDir);

    expect(await first.push(signedDemo(A.privateKey, 1, '10.96.1.1'))).toBe(204);
    expect(await first.signer()).toBe(idA);
    expect(await first.push(signedDemo(B.privateKey, 2, '10.96.2.2'))).toBe(403); // B is not trusted yet

    await trust(config, [pubA, pubB], first.proc); // step 2: every node trusts both
    expect(await first.push(signedDemo(B.privateKey, 2, '10.96.2.2'))).toBe(204); // step 3: the publisher signs with B
    expect(await first.signer()).toBe(idB); // what the operator waits for on every node
    expect(await webA(first.port)).toEqual([`${WEB}. 5 IN A 10.96.2.2`]);

    await trust(config, [pubB], first.proc); // step 4: A dropped
    expect(await first.push(signedDemo(A.privateKey, 3, '10.96.3.3'))).toBe(403);
    expect(await webA(first.port)).toEqual([`${WEB}. 5 IN A 10.96.2.2`]);
    expect(await first.signer()).toBe(idB);
    expect(await loads(first.metricsPort, 'push', 'rejected_signature')).toBe(2);

    first.proc.child.kill('SIGTERM');
    expect((await first.proc.exited).code).toBe(0);
    const second = await resolver(config, stateDir); // B alone
    expect(await webA(second.port)).toEqual([`${WEB}. 5 IN A 10.96.2.2`]);
    expect(await loads(second.metricsPort, 'state', 'applied')).toBe(1);
    expect(await second.signer()).toBe(idB);
  });

  it('warns when the snapshot served is signed by a key a reload stops trusting, and keeps serving it', async () => {
    const config = join(dir, 'drop.yaml');
    await trust(config, [pubA, pubB]);
    const r = await resolver(config, join(dir, 'drop-state'));
    expect(await r.push(signedDemo(A.privateKey, 1, '10.96.1.1'))).toBe(204);
    await trust(config, [pubB], r.proc);
    const warning = r.proc.logs.find((l) => /signed by a key that is no longer trusted/.test(String(l['msg'])));
    expect(warning?.['keyId']).toBe(idA);
    expect(await webA(r.port)).toEqual([`${WEB}. 5 IN A 10.96.1.1`]);
  });

  it('starts with a clear warning, not a crash, when the persisted snapshot is signed by a key no longer trusted', async () => {
    const config = join(dir, 'restart.yaml');
    const stateDir = join(dir, 'restart-state');
    await trust(config, [pubA]);
    const first = await resolver(config, stateDir);
    expect(await first.push(signedDemo(A.privateKey, 7, '10.96.7.7'))).toBe(204);
    first.proc.child.kill('SIGTERM');
    await first.proc.exited;

    await trust(config, [pubB]); // A dropped too early: this node never got a B-signed snapshot
    const second = await resolver(config, stateDir);
    const warning = await second.proc.waitLog(/^the persisted snapshot .* is not served/);
    expect(warning['level']).toBe(40);
    expect(String(warning['msg'])).toContain(`unknown key id ${idA}`);
    expect(await loads(second.metricsPort, 'state', 'rejected_signature')).toBe(1);
    expect((await udpQuery(second.port, encodeQuery(WEB, RRType.A))).rcode).toBe(Rcode.SERVFAIL); // never NXDOMAIN without data
    expect(second.proc.child.exitCode).toBeNull();

    expect(await second.push(signedDemo(B.privateKey, 8, '10.96.8.8'))).toBe(204); // the next B-signed snapshot heals it
    expect(await webA(second.port)).toEqual([`${WEB}. 5 IN A 10.96.8.8`]);
    expect(await second.signer()).toBe(idB);
  });
});
