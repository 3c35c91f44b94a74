/**
 * Snapshots for intake tests: the demo cluster at any generation, with web's
 * cluster IP changed so a test can tell by a DNS query which one is served.
 */
import { readFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { signSnapshot } from '../../snapshot/sign.js';
import type { SignedSnapshot, SnapshotV1 } from '../../snapshot/types.js';

/** The service whose cluster IP {@link demoSnapshot} varies. */
export const WEB = 'web.default.svc.cluster.local';

const DEMO: SnapshotV1 = (JSON.parse(readFileSync('demo/demo-snapshot.json', 'utf8')) as SignedSnapshot).snapshot;

/** The demo snapshot at `generation`, with web's IPv4 cluster IP set to `webIP`. */
export function demoSnapshot(generation: number, webIP = '10.96.10.10', clusterDomain = 'cluster.local'): SnapshotV1 {
  return {
    ...DEMO,
    clusterDomain,
    generation,
    services: DEMO.services.map((s) => (s.namespace === 'default' && s.name === 'web' ? { ...s, clusterIPs: [webIP, ...s.clusterIPs.slice(1)] } : s)),
  };
}

/** {@link demoSnapshot} signed with `key`, as the JSON bytes a publisher sends. */
export function signedDemo(key: KeyObject, generation: number, webIP = '10.96.10.10'): Buffer {
  return signedBytes(demoSnapshot(generation, webIP), key);
}

/** JSON bytes of `snapshot` signed by `key`. */
export const signedBytes = (snapshot: SnapshotV1, key: KeyObject) => Buffer.from(JSON.stringify(signSnapshot(snapshot, key)));
