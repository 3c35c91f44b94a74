/**
 * Signing and verifying snapshots with Ed25519 over the canonical signing input
 * (`snapshot/canonical.ts`). Verification accepts several trusted keys at once, so
 * a signing key can be rotated: trust old and new, switch the publisher, drop old.
 */
import { createPublicKey, sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { SnapshotError } from '../common/errors.js';
import { signingInput } from './canonical.js';
import { keyId } from './keys.js';
import type { SignedSnapshot, SnapshotV1 } from './types.js';

/** Length of an Ed25519 signature in bytes (RFC 8032 §5.1.6). */
const SIGNATURE_BYTES = 64;

/** Signs `snapshot` with an Ed25519 private key; the key id is that of the matching public key. */
export function signSnapshot(snapshot: SnapshotV1, privateKey: KeyObject): SignedSnapshot {
  const value = sign(null, signingInput(snapshot), privateKey).toString('base64');
  return {
    snapshot,
    signature: { algorithm: 'ed25519', keyId: keyId(createPublicKey(privateKey)), value },
  };
}

/** Options of {@link verifySignature}. */
export interface VerifyOptions {
  /** Accept a snapshot that carries no signature (demo and bootstrap only). Default false. */
  readonly allowUnsigned?: boolean;
  /** `signingInput(signed.snapshot)` when the caller has it already (it is the costly part for a large snapshot). */
  readonly signingInput?: Buffer;
}

/** Outcome of a successful {@link verifySignature}. */
export type VerifyResult =
  | { readonly status: 'valid'; readonly keyId: string }
  | { readonly status: 'unsigned'; readonly keyId?: undefined };

/**
 * Verifies the envelope's signature against `trustedKeys` (any of them may match;
 * the signature's keyId selects the key). Returns `{status: 'valid', keyId}`, or
 * `{status: 'unsigned'}` for an unsigned snapshot when `allowUnsigned` is set.
 * Throws SnapshotError('HF_SNAPSHOT_SIGNATURE') when the snapshot is unsigned and
 * that is not allowed, when the key id is not among the trusted keys (also with
 * `allowUnsigned`: a signature that cannot be checked is a misconfiguration worth
 * reporting), or when the signature does not verify.
 */
export function verifySignature(
  signed: SignedSnapshot,
  trustedKeys: readonly KeyObject[],
  options: VerifyOptions = {},
): VerifyResult {
  const signature = signed.signature;
  if (signature === undefined) {
    if (options.allowUnsigned === true) return { status: 'unsigned' };
    throw new SnapshotError('HF_SNAPSHOT_SIGNATURE', 'snapshot is unsigned and unsigned snapshots are not allowed');
  }
  if (signature.algorithm !== 'ed25519') {
    throw new SnapshotError('HF_SNAPSHOT_SIGNATURE', `unsupported signature algorithm ${JSON.stringify(signature.algorithm)}`);
  }
  const byId = new Map<string, KeyObject>();
  for (const key of trustedKeys) byId.set(keyId(key), key);
  const key = byId.get(signature.keyId);
  if (key === undefined) {
    const known = byId.size === 0 ? 'no keys are trusted' : `trusted key ids: ${[...byId.keys()].join(', ')}`;
    throw new SnapshotError('HF_SNAPSHOT_SIGNATURE', `snapshot is signed by unknown key id ${signature.keyId} (${known})`);
  }
  const bytes = decodeBase64(signature.value);
  if (bytes?.length !== SIGNATURE_BYTES) {
    throw new SnapshotError('HF_SNAPSHOT_SIGNATURE', 'signature value is not a base64 Ed25519 signature (64 bytes)');
  }
  let ok: boolean;
  try {
    ok = verify(null, options.signingInput ?? signingInput(signed.snapshot), key, bytes);
  } catch (error) {
    throw new SnapshotError('HF_SNAPSHOT_SIGNATURE', `cannot verify signature: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  if (!ok) {
    throw new SnapshotError('HF_SNAPSHOT_SIGNATURE', `signature by key ${signature.keyId} does not match the snapshot content`);
  }
  return { status: 'valid', keyId: signature.keyId };
}

/** Strict base64 decoding (Buffer.from silently skips bad characters); undefined when malformed. */
export function decodeBase64(text: string): Buffer | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return undefined;
  return Buffer.from(text, 'base64');
}
