/**
 * Everything a snapshot candidate goes through before it may be served, as one
 * function with plain-data input and output, so that it runs the same on the
 * serving thread (small snapshots) and in the verification process
 * (`verify-process.ts`): size and schema, trusted signature, cluster domain,
 * generation newer than the one served, then the zone, built and packed.
 *
 * A pull with `--namespaces` wants one view (`snapshot/view.ts`): a candidate
 * holding anything else (the whole cluster from a publisher that ignored the
 * filter, another namespace list) is refused. A view carries the generation of
 * the snapshot it was cut from, so the view asked for replaces another view of
 * the same generation (a resolver whose --namespaces changed) instead of
 * counting as "unchanged".
 */
import type { KeyObject } from 'node:crypto';
import { HoldfastError, SnapshotError } from '../../common/errors.js';
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
}

/** What became of a candidate. `code` is a HoldfastError code, undefined for any other failure. */
export type VerifyOutcome =
  | { readonly kind: 'image'; readonly image: ZoneImage }
  | { readonly kind: 'unchanged'; readonly generation: number }
  | { readonly kind: 'error'; readonly code: string | undefined; readonly message: string };

/** Verifies `request.bytes` and, when they hold a newer snapshot, builds its zone. Never throws. */
export function verifyCandidate(request: VerifyRequest): VerifyOutcome {
  try {
    const signed = parseSnapshot(request.bytes);
    verifySignature(signed, request.trustedKeys, { allowUnsigned: request.allowUnsigned });
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
    if (current !== undefined && snapshot.generation === current && !otherView) return { kind: 'unchanged', generation: current };
    if (current !== undefined && snapshot.generation < current) {
      throw new SnapshotError('HF_SNAPSHOT_ROLLBACK', `generation ${snapshot.generation} is older than the current ${current}`);
    }
    return { kind: 'image', image: packZone(zoneRecords(snapshot, { ttl: request.ttl })) };
  } catch (error) {
    return { kind: 'error', code: error instanceof HoldfastError ? error.code : undefined, message: error instanceof Error ? error.message : String(error) };
  }
}
