/**
 * Test helpers for the publisher: a signing key pair on disk, a publisher
 * started in-process against a fake apiserver (127.0.0.1, port 0, short
 * debounce and lease timings), and polling for what a resolver answers.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadPublisherConfig } from '../../publisher/config.js';
import { Publisher } from '../../publisher/publisher.js';
import { RRType } from '../../resolver/wire/constants.js';
import { encodeQuery } from '../../resolver/wire/decode.js';
import { generateKeyPair, privateKeyToPem, publicKeyToPem } from '../../snapshot/keys.js';
import { quietLogger, udpQuery } from './dns.js';
import type { FakeApiserver } from './apiserver.js';

/** Paths of a key pair written for a test. */
export interface KeyFiles {
  readonly privateKey: string;
  readonly publicKey: string;
}

/** Writes a fresh Ed25519 key pair into `dir`. */
export async function writeKeys(dir: string, name = 'signing'): Promise<KeyFiles> {
  const pair = generateKeyPair();
  const privateKey = join(dir, `${name}.key`);
  const publicKey = join(dir, `${name}.pub`);
  await writeFile(privateKey, privateKeyToPem(pair.privateKey), { mode: 0o600 });
  await writeFile(publicKey, publicKeyToPem(pair.publicKey));
  return { privateKey, publicKey };
}

/** Test timings: 200 ms debounce, 1 s lease renewed every 200 ms, 200 ms push backoff cap. */
export const FAST = {
  listen: '127.0.0.1:0',
  debounce: '200ms',
  'lease-duration': '1s',
  'lease-renew': '200ms',
  'push-backoff-max': '1s',
  'push-timeout': '2s',
  'api-qps': '50',
  'api-burst': '50',
} as const;

/** Starts a publisher in-process against `api` with `flags` added to {@link FAST}. */
export async function startPublisher(api: FakeApiserver, dir: string, keys: KeyFiles, flags: Record<string, string | string[]> = {}): Promise<Publisher> {
  const kubeconfig = await api.kubeconfig(dir);
  const config = loadPublisherConfig({ flags: { ...FAST, kubeconfig, 'signing-key': keys.privateKey, ...flags }, env: {} });
  return Publisher.start(config, quietLogger());
}

/** The A records (addresses, sorted) a resolver on `port` gives for `name`, or the rcode name when none. */
export async function addresses(port: number, name: string): Promise<string> {
  const reply = await udpQuery(port, encodeQuery(name, RRType.A));
  if (reply.rcode === 3) return 'NXDOMAIN';
  if (reply.rcode === 2) return 'SERVFAIL';
  const ips = reply.answers.flatMap((r) => (r.data.type === 'A' ? [r.data.address] : [])).sort();
  return ips.length > 0 ? ips.join(',') : 'NODATA';
}

/** Polls `probe` every 25 ms until it returns `expected`; resolves to the ms it took; rejects after `timeoutMs` with the last value. */
export async function until<T>(probe: () => Promise<T> | T, expected: T, timeoutMs = 5000): Promise<number> {
  const started = performance.now();
  let last: T | undefined;
  while (performance.now() - started < timeoutMs) {
    try {
      last = await probe();
      if (last === expected) return performance.now() - started;
    } catch {
      // not there yet
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`still ${String(last)} (expected ${String(expected)}) after ${timeoutMs} ms`);
}
