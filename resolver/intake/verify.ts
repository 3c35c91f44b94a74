/**
 * Everything a snapshot candidate goes through before it may be served, as one
 * function with plain-data input and output, so that it runs the same on the
 * serving thread (small snapshots) and in the verification process
 * (`verify-process.ts`): size and schema, trusted signature, cluster domain,
 * generation newer than the one served, then the zone, built and packed.
 *
 * A generation names one content: the same generation again is "unchanged"
 * when its content is the same (whatever the key that signed it or the
 * encoding it came in), and rejected as a conflict when it is not — a replay
 * of an old generation number over new content, or two publishers that both
 * think they are active, must not swap answers without a newer generation.
 *
 * A pull with `--namespaces` wants one view (`snapshot/view.ts`): a candidate
 * holding anything else (the whole cluster from a publisher that ignored the
 * filter, another namespace list) is refused. A view carries the generation of
 * the snapshot it was cut from, so the view asked for replaces another view of
 * the same generation (a resolver whose --namespaces changed) instead of
 * counting as "unchanged".
 */
import { createHash } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { HoldfastError, SnapshotError } from '../../common/errors.js';
import { signingInput } from '../../snapshot/canonical.js';
import { verifySignature } from '../../snapshot/sign.js';
import { parseSnapshot } from '../../snapshot/validate.js';
import { viewKey } from '../../snapshot/view.js';
import { zoneRecords } from '../zone/records.js';
import { packZone } from '../zone/table.js';
import type { ZoneImage } from '../zone/table.js';

/** One candidate and what it is checked against. */
export interface VerifyRequest {
  readonly bytes: Uint8Array;
  readonly clusterDomain: string;
  readonly trustedKeys: readonly KeyObject[];
  readonly allowUnsigned: boolean;
  /** TTL of the zone's records. */
  readonly ttl: number;
  /** Generation served now; undefined before the first snapshot. */
  readonly current: number | undefined;
  /** `viewKey` of the snapshot served now ('' for the whole cluster). */
  readonly currentView?: string | undefined;
  /** `viewKey` of the namespaces a pull asked for; undefined: any snapshot will do. */
  readonly wantedView?: string;
  /** {@link SnapshotIdentity.digest} of the snapshot served now. */
  readonly currentDigest: string | undefined;
}

/** What tells one snapshot's content and signer apart. */
export interface SnapshotIdentity {
  /** SHA-256 (hex) of the signing input: the same for the same content, however encoded or signed. */
  readonly digest: string;
  /** Key id of the trusted key that signed it; undefined for an unsigned snapshot (--allow-unsigned). */
  readonly keyId: string | undefined;
}

/** What became of a candidate. `code` is a HoldfastError code, undefined for any other failure. */
export type VerifyOutcome =
  | { readonly kind: 'image'; readonly image: ZoneImage; readonly identity: SnapshotIdentity }
  | { readonly kind: 'unchanged'; readonly generation: number }
  | { readonly kind: 'error'; readonly code: string | undefined; readonly message: string };

/** Verifies `request.bytes` and, when they hold a newer snapshot, builds its zone. Never throws. */
export function verifyCandidate(request: VerifyRequest): VerifyOutcome {
  try {
    const signed = parseSnapshot(request.bytes);
    const input = signingInput(signed.snapshot);
    const { keyId } = verifySignature(signed, request.trustedKeys, { allowUnsigned: request.allowUnsigned, signingInput: input });
    const digest = createHash('sha256').update(input).digest('hex');
    const snapshot = signed.snapshot;
    if (snapshot.clusterDomain !== request.clusterDomain) {
      throw new SnapshotError('HF_SNAPSHOT_SCHEMA', `snapshot is for cluster domain ${snapshot.clusterDomain}, this resolver serves ${request.clusterDomain}`);
    }
    const view = viewKey(snapshot.namespaces);
    const wanted = request.wantedView;
    if (wanted !== undefined && view !== wanted) {
      throw new SnapshotError(
        'HF_SNAPSHOT_VIEW',
        `snapshot holds ${view === '' ? 'every namespace' : `namespaces ${view}`}, not the namespaces asked for (${wanted}); a publisher that ignores ?namespaces= is older than this resolver`,
      );
    }
    const current = request.current;
    const otherView = wanted !== undefined && request.currentView !== wanted;
    if (current !== undefined && snapshot.generation === current && !otherView) {
      if (request.currentDigest === undefined || request.currentDigest === digest) return { kind: 'unchanged', generation: current };
      throw new SnapshotError(
        'HF_SNAPSHOT_CONFLICT',
        `generation ${current} is served already with other content (sha256 ${request.currentDigest.slice(0, 12)}…, this one ${digest.slice(0, 12)}…): a generation is never reused; publish a newer one`,
      );
    }
    if (current !== undefined && snapshot.generation < current) {
      throw new SnapshotError('HF_SNAPSHOT_ROLLBACK', `generation ${snapshot.generation} is older than the current ${current}`);
    }
    return { kind: 'image', image: packZone(zoneRecords(snapshot, { ttl: request.ttl })), identity: { digest, keyId } };
  } catch (error) {
    return { kind: 'error', code: error instanceof HoldfastError ? error.code : undefined, message: error instanceof Error ? error.message : String(error) };
  }
}
