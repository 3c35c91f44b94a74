/**
 * The current snapshot and how a new one gets in. Every candidate, whatever its
 * source, is verified in the same order (size and schema, trusted signature,
 * cluster domain, generation not older) and only then replaces the current zone
 * — one reference swap, so queries never see a half-applied snapshot. A rejected
 * candidate changes nothing; the reason is returned, logged and counted.
 * Applied snapshots are persisted to the state directory (write, fsync, rename)
 * so a restart during a control-plane outage keeps serving.
 */
import type { KeyObject } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { HoldfastError, SnapshotError } from '../../common/errors.js';
import { writeFileAtomic } from '../../snapshot/files.js';
import { verifySignature } from '../../snapshot/sign.js';
import { parseSnapshot } from '../../snapshot/validate.js';
import type { ResolverMetrics } from '../metrics.js';
import type { DnsName } from '../wire/name.js';
import type { SnapshotV1 } from '../../snapshot/types.js';
import type { ZoneOptions } from '../zone/records.js';
import { ClusterZone } from '../zone/zone.js';

/** Where a candidate came from (a metrics label). */
export type SnapshotSource = 'file' | 'state' | 'push' | 'pull';

/** Outcome of {@link SnapshotStore.offer}. */
export type OfferResult =
  | { readonly result: 'applied'; readonly generation: number }
  | { readonly result: 'unchanged'; readonly generation: number }
  | { readonly result: 'rejected'; readonly reason: string; readonly message: string };

/** What the store needs to verify and build. */
export interface StoreOptions {
  readonly clusterDomain: DnsName;
  readonly trustedKeys: readonly KeyObject[];
  readonly allowUnsigned: boolean;
  /** Directory for the last good snapshot; undefined: no persistence. */
  readonly stateDir: string | undefined;
  readonly zone: ZoneOptions;
}

/** File name of the persisted snapshot inside the state directory. */
export const STATE_FILE = 'snapshot.json';

const REASONS: Record<string, string> = {
  HF_SNAPSHOT_SCHEMA: 'rejected_schema',
  HF_SNAPSHOT_PARSE: 'rejected_schema',
  HF_SNAPSHOT_TOO_LARGE: 'rejected_too_large',
  HF_SNAPSHOT_SIGNATURE: 'rejected_signature',
  HF_SNAPSHOT_ROLLBACK: 'rejected_rollback',
};

/** Holds the zone being served. */
export class SnapshotStore {
  private zone: ClusterZone | undefined;

  constructor(
    private options: StoreOptions,
    private readonly metrics: ResolverMetrics,
    private readonly log: Logger,
  ) {}

  /** The zone being served, or undefined before the first snapshot. */
  current(): ClusterZone | undefined {
    return this.zone;
  }

  /**
   * New keys or flags after a config reload. The current snapshot stays; a new
   * TTL applies to it at once (the records are shared, not rebuilt).
   */
  reconfigure(options: StoreOptions): void {
    this.options = options;
    if (this.zone && this.zone.ttl !== options.zone.ttl) this.zone = this.zone.withTtl(options.zone.ttl);
  }

  private install(snapshot: SnapshotV1): ClusterZone {
    const zone = ClusterZone.fromSnapshot(snapshot, this.options.zone);
    this.zone = zone;
    this.metrics.setSnapshot(zone.generation, zone.createdAt, zone.stats.records);
    return zone;
  }

  /** Verifies `bytes` and applies them when they are a newer snapshot. Never throws. */
  async offer(bytes: Buffer, source: SnapshotSource): Promise<OfferResult> {
    let outcome: OfferResult;
    try {
      outcome = this.apply(bytes);
    } catch (error) {
      const code = error instanceof HoldfastError ? error.code : 'HF_SNAPSHOT_PARSE';
      const message = error instanceof Error ? error.message : String(error);
      outcome = { result: 'rejected', reason: REASONS[code] ?? 'rejected_other', message };
    }
    const label = outcome.result === 'rejected' ? outcome.reason : outcome.result;
    this.metrics.snapshotLoads.inc({ source, result: label });
    if (outcome.result === 'rejected') {
      this.log.warn({ source, reason: outcome.reason }, `snapshot rejected: ${outcome.message}`);
    } else if (outcome.result === 'applied') {
      const zone = this.zone as ClusterZone;
      this.log.info({ source, generation: outcome.generation, ...zone.stats }, 'snapshot applied');
      if (source !== 'state') await this.persist(bytes);
    }
    return outcome;
  }

  private apply(bytes: Buffer): OfferResult {
    const signed = parseSnapshot(bytes);
    verifySignature(signed, this.options.trustedKeys, { allowUnsigned: this.options.allowUnsigned });
    const snapshot = signed.snapshot;
    if (snapshot.clusterDomain !== this.options.clusterDomain) {
      throw new SnapshotError(
        'HF_SNAPSHOT_SCHEMA',
        `snapshot is for cluster domain ${snapshot.clusterDomain}, this resolver serves ${this.options.clusterDomain}`,
      );
    }
    const current = this.zone?.generation;
    if (current !== undefined && snapshot.generation === current) return { result: 'unchanged', generation: current };
    if (current !== undefined && snapshot.generation < current) {
      throw new SnapshotError('HF_SNAPSHOT_ROLLBACK', `generation ${snapshot.generation} is older than the current ${current}`);
    }
    return { result: 'applied', generation: this.install(snapshot).generation };
  }

  private async persist(bytes: Buffer): Promise<void> {
    const dir = this.options.stateDir;
    if (dir === undefined) return;
    try {
      await mkdir(dir, { recursive: true });
      await writeFileAtomic(join(dir, STATE_FILE), bytes, 0o600);
    } catch (error) {
      this.log.error({ err: error, stateDir: dir }, 'cannot persist snapshot to the state directory');
    }
  }

  /** Loads the persisted snapshot, if any (at start, before the snapshot file). */
  async loadState(): Promise<OfferResult | undefined> {
    const dir = this.options.stateDir;
    if (dir === undefined) return undefined;
    let bytes: Buffer;
    try {
      bytes = await readFile(join(dir, STATE_FILE));
    } catch (error) {
      if ((error as { code?: string }).code !== 'ENOENT') this.log.warn({ err: error, stateDir: dir }, 'cannot read persisted snapshot');
      return undefined;
    }
    return this.offer(bytes, 'state');
  }
}
