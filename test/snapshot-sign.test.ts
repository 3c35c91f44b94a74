import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyError, SnapshotError } from '../common/errors.js';
import { generateKeyPair, keyId, loadPrivateKey, loadPublicKey, privateKeyToPem, publicKeyToPem } from '../snapshot/keys.js';
import { signSnapshot, verifySignature } from '../snapshot/sign.js';
import type { SignedSnapshot } from '../snapshot/types.js';
import { FIXED_KEY_ID, FIXED_PRIVATE_PEM, FIXED_PUBLIC_PEM, SMALL_SIGNATURE, smallSnapshot } from './snapshot-fixtures.js';

function expectSignatureError(fn: () => unknown, message: RegExp): void {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SnapshotError);
    expect((error as SnapshotError).code).toBe('HF_SNAPSHOT_SIGNATURE');
    expect((error as Error).message).toMatch(message);
    return;
  }
  throw new Error('expected a signature error');
}

describe('signSnapshot / verifySignature', () => {
  const a = generateKeyPair();
  const b = generateKeyPair();

  it('matches an OpenSSL signature and key id for a fixed key (golden)', () => {
    const signed = signSnapshot(smallSnapshot(), createPrivateKey(FIXED_PRIVATE_PEM));
    expect(signed.signature).toEqual({ algorithm: 'ed25519', keyId: FIXED_KEY_ID, value: SMALL_SIGNATURE });
    expect(keyId(createPublicKey(FIXED_PUBLIC_PEM))).toBe(FIXED_KEY_ID);
  });

  it('verifies a valid signature and survives a JSON round trip', () => {
    const signed: SignedSnapshot = JSON.parse(JSON.stringify(signSnapshot(smallSnapshot(), a.privateKey)));
    expect(verifySignature(signed, [a.publicKey])).toEqual({ status: 'valid', keyId: keyId(a.publicKey) });
  });

  it('rejects a tampered snapshot', () => {
    const signed = signSnapshot(smallSnapshot(), a.privateKey);
    const tampered = { ...signed, snapshot: { ...signed.snapshot, generation: 8 } };
    expectSignatureError(() => verifySignature(tampered, [a.publicKey]), /does not match/);
  });

  it('rejects a snapshot signed by a key that is not trusted', () => {
    const signed = signSnapshot(smallSnapshot(), a.privateKey);
    expectSignatureError(() => verifySignature(signed, [b.publicKey]), new RegExp(`unknown key id ${keyId(a.publicKey)}`));
    expectSignatureError(() => verifySignature(signed, []), /no keys are trusted/);
    // Unknown keys stay an error even when unsigned snapshots are allowed.
    expectSignatureError(() => verifySignature(signed, [b.publicKey], { allowUnsigned: true }), /unknown key id/);
  });

  it('rejects a signature made by another key under a trusted key id', () => {
    const byB = signSnapshot(smallSnapshot(), b.privateKey);
    const forged: SignedSnapshot = { snapshot: byB.snapshot, signature: { ...byB.signature!, keyId: keyId(a.publicKey) } };
    expectSignatureError(() => verifySignature(forged, [a.publicKey, b.publicKey]), /does not match/);
  });

  it('rejects a malformed signature value', () => {
    const signed = signSnapshot(smallSnapshot(), a.privateKey);
    const bad: SignedSnapshot = { snapshot: signed.snapshot, signature: { ...signed.signature!, value: 'AAAA' } };
    expectSignatureError(() => verifySignature(bad, [a.publicKey]), /64 bytes/);
  });

  it('rejects unsigned snapshots unless allowed', () => {
    const unsigned: SignedSnapshot = { snapshot: smallSnapshot() };
    expectSignatureError(() => verifySignature(unsigned, [a.publicKey]), /unsigned/);
    expect(verifySignature(unsigned, [a.publicKey], { allowUnsigned: true })).toEqual({ status: 'unsigned' });
  });

  it('accepts either of two trusted keys (rotation)', () => {
    const byA = signSnapshot(smallSnapshot(), a.privateKey);
    const byB = signSnapshot(smallSnapshot(), b.privateKey);
    expect(verifySignature(byA, [a.publicKey, b.publicKey]).keyId).toBe(keyId(a.publicKey));
    expect(verifySignature(byB, [a.publicKey, b.publicKey]).keyId).toBe(keyId(b.publicKey));
  });
});

describe('key files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'holdfast-keys-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function write(name: string, text: string): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, text);
    return path;
  }

  it('loads PEM keys written by the exporters', async () => {
    const pair = generateKeyPair();
    const priv = await loadPrivateKey(await write('k.key', privateKeyToPem(pair.privateKey)));
    const pub = await loadPublicKey(await write('k.pub', publicKeyToPem(pair.publicKey)));
    expect(keyId(createPublicKey(priv))).toBe(keyId(pub));
  });

  it.each([
    ['a missing file', async () => join(dir, 'nope.pub'), /cannot read public key file .*nope\.pub: no such file/],
    ['a private key', async () => write('priv-as-pub.pem', FIXED_PRIVATE_PEM), /priv-as-pub\.pem: is a private key/],
    ['garbage', async () => write('garbage.pub', 'hello\n'), /garbage\.pub: not an SPKI PEM public key/],
    [
      'an RSA key',
      async () => write('rsa.pub', generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString()),
      /rsa\.pub: is a rsa key; holdfast snapshot keys are ed25519/,
    ],
  ])('loadPublicKey refuses %s with a KeyError naming the file', async (_name, make, message) => {
    const path = await make();
    const error = await loadPublicKey(path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeyError);
    expect((error as Error).message).toMatch(message);
  });

  it('loadPrivateKey refuses a public key, naming the file', async () => {
    const path = await write('pub-as-priv.pem', FIXED_PUBLIC_PEM);
    await expect(loadPrivateKey(path)).rejects.toThrow(/pub-as-priv\.pem: not a PKCS#8 PEM private key/);
  });
});
