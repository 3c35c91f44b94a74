/**
 * The current snapshot and how a new one gets in. Every candidate, whatever its
 * source, is verified in the same order (size and schema, trusted signature,
 * cluster domain, generation not older) and only then replaces the current zone
 * — one reference swap, so queries never see a half-applied snapshot. A rejected
 * candidate changes nothing; the reason is returned, logged and counted.
 * Applied snapshots are persisted to the state directory (write, fsync, rename)
 * so a restart during a control-plane outage keeps serving; a process killed
 * mid-write leaves at most a temporary file, removed at the next start
 * (`bench/crash.ts` kills resolvers mid-write to check it).
 *
 * Candidates are taken one at a time, in the order they arrive: two pushes at
 * once cannot race, and since each is checked against the zone served when its
 * turn comes, the newest generation wins. Verifying and building the zone of a
 * large snapshot takes hundreds of milliseconds, so it runs in a child process
 * at the lowest priority (`verifier.ts`) and the serving thread only swaps in
 * the packed result; small plain-JSON snapshots, a millisecond or two of work,
 * are verified in place.
 */
import type { KeyObject } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { readFileUpTo, removeStrayTemps, writeFileAtomic } from '../../snapshot/files.js';
import { DEFAULT_LIMITS, isGzip } from '../../snapshot/validate.js';
import { keyId } from '../../snapshot/keys.js';
import type { ResolverMetrics } from '../metrics.js';
import type { DnsName } from '../wire/name.js';
import type { ZoneOptions } from '../zone/records.js';
import { inheritInSlices } from '../zone/inherit.js';
import { viewKey } from '../../snapshot/view.js';
import { ClusterZone } from '../zone/zone.js';
import { Verifier } from './verifier.js';
import { verifyCandidate } from './verify.js';
import type { SnapshotIdentity, VerifyOutcome, VerifyRequest } from './verify.js';

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
  /**
   * Plain-JSON candidates up to this size are verified on the serving thread;
   * larger and gzip ones (which may expand a thousandfold) in the verification
   * process. Default {@link INLINE_MAX_BYTES}; 0 sends every candidate there.
   */
  readonly inlineMaxBytes?: number;
  /** How long the verification process stays after a candidate, in ms. Default {@link VERIFIER_IDLE_MS}. */
  readonly verifierIdleMs?: number;
}

/**
 * Who writes in the state directory: this resolver's id, and the ids of the
 * resolvers alive there now (the instance registry, `node/instances.ts`), whose
 * temporary files are not strays.
 */
export interface StateOwners {
  readonly id: string;
  liveIds(): Promise<ReadonlySet<string>>;
}

/** File name of the persisted snapshot inside the state directory. */
export const STATE_FILE = 'snapshot.json';

/** Default {@link StoreOptions.inlineMaxBytes}: about 100 endpoints, verified in about a millisecond. */
export const INLINE_MAX_BYTES = 32 * 1024;

/**
 * Default {@link StoreOptions.verifierIdleMs}: long enough for a burst of pushes to
 * find the process warm (a cold one adds about 0.4 s to an apply), short enough
 * that a quiet resolver does not keep its memory.
 */
export const VERIFIER_IDLE_MS = 60_000;

const REASONS: Record<string, string> = {
  HF_SNAPSHOT_SCHEMA: 'rejected_schema',
  HF_SNAPSHOT_PARSE: 'rejected_schema',
  HF_SNAPSHOT_TOO_LARGE: 'rejected_too_large',
  HF_SNAPSHOT_SIGNATURE: 'rejected_signature',
  HF_SNAPSHOT_ROLLBACK: 'rejected_rollback',
  HF_SNAPSHOT_CONFLICT: 'rejected_conflict',
  HF_SNAPSHOT_VIEW: 'rejected_namespaces',
};

/** Holds the zone being served. */
export class SnapshotStore {
  private zone: ClusterZone | undefined;
  /** Content digest and signer of the zone served. */
  private identity: SnapshotIdentity | undefined;
  private owners: StateOwners | undefined;
  /** The removal of stray temporary files started by {@link loadState}. */
  private cleaning: Promise<void> = Promise.resolve();
  /** Offers in arrival order: each starts when the one before has finished. */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly verifier: Verifier;
  /** Event-loop delay while a candidate is verified elsewhere (1 ms resolution). */
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 1 });
  /** Told of every zone that becomes the one served (the worker threads, `workers/pool.ts`). */
  private readonly zoneListeners: ((zone: ClusterZone) => void)[] = [];

  constructor(
    private options: StoreOptions,
    private readonly metrics: ResolverMetrics,
    private readonly log: Logger,
  ) {
    this.verifier = new Verifier(log, options.verifierIdleMs ?? VERIFIER_IDLE_MS);
  }

  /** The zone being served, or undefined before the first snapshot. */
  current(): ClusterZone | undefined {
    return this.zone;
  }

  /** Tells the store whose temporary files in the state directory are not strays (call before {@link loadState}). */
  setOwners(owners: StateOwners): void {
    this.owners = owners;
  }

  /** `viewKey` of the snapshot served ('' for the whole cluster), or undefined before the first. */
  currentView(): string | undefined {
    return this.zone && viewKey(this.zone.image.namespaces);
  }

  /** Calls `listener` with every zone that becomes the one served from now on. */
  onZone(listener: (zone: ClusterZone) => void): void {
    this.zoneListeners.push(listener);
  }

  private announce(zone: ClusterZone): void {
    for (const listener of this.zoneListeners) listener(zone);
  }

  /**
   * New keys or flags after a config reload. The current snapshot stays; a new
   * TTL applies to it at once (the records are shared, not rebuilt).
   */
  reconfigure(options: StoreOptions): void {
    this.options = options;
    const signer = this.identity?.keyId;
    if (signer !== undefined && !options.trustedKeys.some((key) => keyId(key) === signer)) {
      this.log.warn(
        { generation: this.zone?.generation, keyId: signer },
        'the snapshot being served is signed by a key that is no longer trusted: it stays served, but a restart will not load it from the state directory until a snapshot signed by a trusted key arrives',
      );
    }
    if (this.zone && this.zone.ttl !== options.zone.ttl) {
      this.zone = this.zone.withTtl(options.zone.ttl);
      this.announce(this.zone);
    }
  }

  /**
   * Verifies `bytes` and applies them when they are a newer snapshot. With
   * `wantedView` (pulls: the `viewKey` of --namespaces, '' without), only that
   * view is accepted, and it replaces another view of the same generation. Never throws.
   */
  offer(bytes: Buffer, source: SnapshotSource, wantedView?: string): Promise<OfferResult> {
    const received = performance.now();
    const done = this.queue.then(() => this.take(bytes, source, received, wantedView));
    this.queue = done.catch(() => undefined); // take() does not throw; if it did, the next offer still runs
    return done;
  }

  private async take(bytes: Buffer, source: SnapshotSource, received: number, wantedView: string | undefined): Promise<OfferResult> {
    const { outcome, longestBlock } = await this.verify(bytes, wantedView);
    let result: OfferResult;
    if (outcome.kind === 'image') {
      result = this.swap(new ClusterZone(outcome.image), outcome.identity, wantedView !== undefined);
    } else if (outcome.kind === 'unchanged') {
      result = { result: 'unchanged', generation: outcome.generation };
    } else {
      result = { result: 'rejected', reason: REASONS[outcome.code ?? 'HF_SNAPSHOT_PARSE'] ?? 'rejected_other', message: outcome.message };
    }
    if (result.result === 'rejected') return this.refuse(source, result.reason, result.message);
    this.metrics.snapshotLoads.inc({ source, result: result.result });
    if (result.result === 'applied') {
      const seconds = (performance.now() - received) / 1000;
      this.metrics.setApply(seconds, longestBlock / 1000, bytes.length);
      const zone = this.zone as ClusterZone;
      this.log.info({ source, generation: result.generation, ...zone.stats, bytes: bytes.length, applyMs: Math.round(seconds * 1000), longestBlockMs: Math.round(longestBlock) }, 'snapshot applied');
      if (source !== 'state') await this.persist(bytes);
    }
    return result;
  }

  /**
   * Reads the file at `path` (called `what` in messages) and offers it; one over
   * the size limit is refused unread. Throws when it cannot be read.
   */
  async offerFile(path: string, source: SnapshotSource, what: string): Promise<OfferResult> {
    const read = await readFileUpTo(path, DEFAULT_LIMITS.maxInputBytes);
    if ('tooLarge' in read) return this.refuse(source, 'rejected_too_large', `${what} is ${read.tooLarge} bytes, over the ${DEFAULT_LIMITS.maxInputBytes}-byte limit`);
    return this.offer(read.bytes, source);
  }

  /**
   * Counts and logs a candidate refused before it could be offered (a body or
   * file over the size limit, not read), the same way as one the store refuses.
   */
  refuse(source: SnapshotSource, reason: string, message: string): OfferResult {
    this.metrics.snapshotLoads.inc({ source, result: reason });
    this.log.warn({ source, reason }, `snapshot rejected: ${message}`);
    return { result: 'rejected', reason, message };
  }

  /** The outcome, and the longest event-loop block (ms) seen meanwhile. */
  private async verify(bytes: Buffer, wantedView: string | undefined): Promise<{ outcome: VerifyOutcome; longestBlock: number }> {
    const request: VerifyRequest = {
      ...(wantedView === undefined ? {} : { wantedView }),
      currentView: this.currentView(),
      bytes,
      clusterDomain: this.options.clusterDomain,
      trustedKeys: this.options.trustedKeys,
      allowUnsigned: this.options.allowUnsigned,
      ttl: this.options.zone.ttl,
      current: this.zone?.generation,
      currentDigest: this.identity?.digest,
    };
    const gzip = isGzip(bytes);
    if (!gzip && bytes.length <= (this.options.inlineMaxBytes ?? INLINE_MAX_BYTES)) {
      const start = performance.now();
      const outcome = verifyCandidate(request);
      return { outcome, longestBlock: performance.now() - start };
    }
    this.loopDelay.reset();
    this.loopDelay.enable();
    try {
      const outcome = await this.verifier.verify(request);
      return { outcome, longestBlock: this.loopDelay.count > 0 ? this.loopDelay.max / 1e6 : 0 };
    } finally {
      this.loopDelay.disable();
    }
  }

  /**
   * Serves `zone` unless, by now, the zone served is as new (and, with
   * `viewSwitch`, the same view: another view of the same generation is replaced).
   */
  private swap(zone: ClusterZone, identity: SnapshotIdentity, viewSwitch: boolean): OfferResult {
    const current = this.zone?.generation;
    const sameView = viewKey(zone.image.namespaces) === viewKey(this.zone?.image.namespaces);
    if (current !== undefined && zone.generation === current && (sameView || !viewSwitch)) return { result: 'unchanged', generation: current };
    if (current !== undefined && zone.generation < current) {
      return { result: 'rejected', reason: 'rejected_rollback', message: `generation ${zone.generation} is older than the current ${current}` };
    }
    const previous = this.zone;
    const next = zone.ttl === this.options.zone.ttl ? zone : zone.withTtl(this.options.zone.ttl);
    this.zone = next;
    this.identity = identity;
    this.metrics.setSnapshot(zone.generation, zone.createdAt, zone.stats.records);
    this.metrics.setSigningKey(identity.keyId);
    if (previous) inheritInSlices(next, previous, () => this.zone, this.log);
    this.announce(next);
    return { result: 'applied', generation: zone.generation };
  }

  private async persist(bytes: Buffer): Promise<void> {
    const dir = this.options.stateDir;
    if (dir === undefined) return;
    try {
      await mkdir(dir, { recursive: true });
      await writeFileAtomic(join(dir, STATE_FILE), bytes, 0o600, this.owners?.id);
    } catch (error) {
      this.log.error({ err: error, stateDir: dir }, 'cannot persist snapshot to the state directory');
    }
  }

  /**
   * Loads the persisted snapshot, if any (at start, before the snapshot file),
   * and starts removing the temporary files that writers killed mid-write left
   * behind (in the background: telling a dead writer from a live one takes a
   * second, see {@link StateOwners.liveIds}).
   * One that does not verify any more (a key no longer trusted, a damaged file)
   * is not served and is said so; the file stays until a new snapshot replaces it.
   */
  async loadState(): Promise<OfferResult | undefined> {
    const dir = this.options.stateDir;
    if (dir === undefined) return undefined;
    this.cleaning = this.removeStrays(dir);
    const file = join(dir, STATE_FILE);
    let result: OfferResult;
    try {
      result = await this.offerFile(file, 'state', file);
    } catch (error) {
      if ((error as { code?: string }).code !== 'ENOENT') this.log.warn({ err: error, stateDir: dir }, 'cannot read persisted snapshot');
      return undefined;
    }
    if (result.result === 'rejected') {
      this.log.warn(
        { stateDir: dir, reason: result.reason },
        `the persisted snapshot ${file} is not served (${result.message}); cluster names wait for a new snapshot from the publisher`,
      );
    }
    return result;
  }

  private async removeStrays(dir: string): Promise<void> {
    const live = await this.owners?.liveIds();
    const strays = await removeStrayTemps(join(dir, STATE_FILE), (owner) => live?.has(owner) === true);
    if (strays.length > 0) this.log.info({ stateDir: dir, removed: strays }, 'removed temporary files left by an interrupted write');
  }

  /** Ends the verification process (at shutdown); a candidate being verified ends rejected. */
  async close(): Promise<void> {
    await this.cleaning;
    await this.verifier.close();
  }
}
