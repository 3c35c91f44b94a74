/**
 * Ed25519 snapshot signing keys (node:crypto): generation, PEM encoding, loading
 * from files with errors that name the file, and key ids.
 *
 * Private keys are PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), public keys SPKI PEM
 * (`-----BEGIN PUBLIC KEY-----`), the forms `openssl genpkey -algorithm ed25519`
 * and `openssl pkey -pubout` produce.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { KeyError } from '../common/errors.js';

/** An Ed25519 key pair. */
export interface KeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

/** Generates a new Ed25519 key pair. */
export function generateKeyPair(): KeyPair {
  return generateKeyPairSync('ed25519');
}

/** PKCS#8 PEM text of a private key. */
export function privateKeyToPem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** SPKI PEM text of a public key. */
export function publicKeyToPem(key: KeyObject): string {
  return key.export({ type: 'spki', format: 'pem' }).toString();
}

/**
 * Key id of a public key: the first 16 hex digits of SHA-256 over its SPKI DER
 * encoding. Written into each signature so a verifier picks the right trusted key.
 */
export function keyId(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex').slice(0, 16);
}

/**
 * Parses a PKCS#8 PEM Ed25519 private key. `source` (a file name) is used in the
 * KeyError when the text is not one.
 */
export function privateKeyFromPem(text: string, source: string): KeyObject {
  if (!text.includes('-----BEGIN PRIVATE KEY-----')) {
    throw new KeyError(`${source}: not a PKCS#8 PEM private key (expected '-----BEGIN PRIVATE KEY-----')`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: text, format: 'pem' });
  } catch (error) {
    throw new KeyError(`${source}: cannot parse private key: ${messageOf(error)}`, { cause: error });
  }
  requireEd25519(key, source);
  return key;
}

/**
 * Parses an SPKI PEM Ed25519 public key. A private key is refused (it must not be
 * handed out to the nodes that only verify). `source` names the file in errors.
 */
export function publicKeyFromPem(text: string, source: string): KeyObject {
  if (text.includes('PRIVATE KEY-----')) {
    throw new KeyError(`${source}: is a private key; give the public key (holdfast.pub) instead`);
  }
  if (!text.includes('-----BEGIN PUBLIC KEY-----')) {
    throw new KeyError(`${source}: not an SPKI PEM public key (expected '-----BEGIN PUBLIC KEY-----')`);
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: text, format: 'pem' });
  } catch (error) {
    throw new KeyError(`${source}: cannot parse public key: ${messageOf(error)}`, { cause: error });
  }
  requireEd25519(key, source);
  return key;
}

/** Reads and parses a private key file (PKCS#8 PEM, Ed25519); KeyError naming the file on failure. */
export async function loadPrivateKey(path: string): Promise<KeyObject> {
  return privateKeyFromPem(await readKeyFile(path, 'private'), path);
}

/** Reads and parses a public key file (SPKI PEM, Ed25519); KeyError naming the file on failure. */
export async function loadPublicKey(path: string): Promise<KeyObject> {
  return publicKeyFromPem(await readKeyFile(path, 'public'), path);
}

async function readKeyFile(path: string, kind: 'private' | 'public'): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new KeyError(`cannot read ${kind} key file ${path}: ${describeFsError(error)}`, { cause: error });
  }
}

function requireEd25519(key: KeyObject, source: string): void {
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new KeyError(`${source}: is a ${key.asymmetricKeyType ?? 'unknown'} key; holdfast snapshot keys are ed25519`);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Short text for a file-system error: 'no such file', 'permission denied', or the message. */
export function describeFsError(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    case 'ENOTDIR':
      return 'a parent is not a directory';
    default:
      return messageOf(error);
  }
}
