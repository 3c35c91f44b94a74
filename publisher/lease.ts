/**
 * Leader election over a coordination.k8s.io/v1 Lease, as client-go's
 * leaderelection does it: every `renewMs` the leader writes `renewTime`; a
 * standby takes the lease once it has seen no change to it for
 * `leaseDuration` (measured on its own clock, so clock skew between nodes does
 * not matter); writes use the Lease's resourceVersion, so two candidates never
 * both win. A leader that cannot renew for most of the lease duration steps
 * down. On shutdown the leader releases the lease so a standby takes over at
 * its next try.
 *
 * The lease also records the highest generation published
 * (`holdfast.io/generation` annotation): a generation is reserved there before
 * any snapshot carrying it leaves the publisher, so a new leader always
 * continues above it.
 */
import type { Logger } from 'pino';
import { KubeApiError } from '../common/errors.js';
import type { KubeApi } from './kube/api.js';
import type { PublisherMetrics } from './metrics.js';

/** Annotation holding the highest generation reserved by any leader. */
export const GENERATION_ANNOTATION = 'holdfast.io/generation';

/** How leadership is decided. */
export interface Elector {
  /** True while this replica may build and publish. */
  readonly leader: boolean;
  /** True when another replica is known to hold a live lease. */
  readonly otherLeader: boolean;
  /** Highest generation recorded in the lease (0 when none). */
  readonly floor: number;
  /** Records `generation` as used; false when that cannot be done as leader now. */
  reserve(generation: number): Promise<boolean>;
  start(onChange: (leader: boolean) => void): void;
  stop(): Promise<void>;
}

/** Without --lease: always the leader (one replica). */
export class SoloElector implements Elector {
  readonly leader = true;
  readonly otherLeader = false;
  readonly floor = 0;
  reserve(): Promise<boolean> {
    return Promise.resolve(true);
  }
  start(onChange: (leader: boolean) => void): void {
    onChange(true);
  }
  stop(): Promise<void> {
    return Promise.resolve();
  }
}

/** Timing and identity of a {@link LeaseElector}. */
export interface LeaseOptions {
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  readonly durationMs: number;
  readonly renewMs: number;
}

interface Lease {
  metadata: { name: string; namespace: string; resourceVersion?: string; annotations?: Record<string, string> };
  spec: { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string; leaseTransitions?: number };
}

/** A MicroTime as the API writes it: RFC 3339 with microseconds. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Leader election on a Lease. */
export class LeaseElector implements Elector {
  leader = false;
  floor = 0;
  private lease: Lease | undefined;
  /** Local time at which the lease record last changed (holder or renewTime). */
  private observedAt = 0;
  private lastRenew = 0;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private onChange: (leader: boolean) => void = () => undefined;
  private tick: Promise<void> = Promise.resolve();

  constructor(
    private readonly api: KubeApi,
    private readonly options: LeaseOptions,
    private readonly metrics: PublisherMetrics,
    private readonly log: Logger,
    private readonly now: () => number = () => performance.now(),
    private readonly wallNow: () => number = Date.now,
  ) {}

  private get path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(this.options.namespace)}/leases`;
  }

  get otherLeader(): boolean {
    const holder = this.lease?.spec.holderIdentity;
    return !this.leader && !!holder && holder !== this.options.identity && this.now() - this.observedAt < this.options.durationMs;
  }

  start(onChange: (leader: boolean) => void): void {
    this.onChange = onChange;
    this.running = true;
    this.schedule(0);
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    if (!this.running) return;
    this.timer = setTimeout(() => {
      void this.serial(() => this.attempt()).finally(() => this.schedule(this.options.renewMs));
    }, ms);
  }

  /** Runs lease writes one at a time, so our own writes never conflict with each other. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tick.then(fn);
    this.tick = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private setLeader(leader: boolean, why: string): void {
    if (leader === this.leader) return;
    this.leader = leader;
    this.metrics.leader.set(leader ? 1 : 0);
    this.metrics.leaderTransitions.inc();
    this.log.info({ lease: `${this.options.namespace}/${this.options.name}`, identity: this.options.identity, floor: this.floor }, leader ? `became the leader: ${why}` : `stopped leading: ${why}`);
    this.onChange(leader);
  }

  private observe(lease: Lease): void {
    const before = this.lease;
    if (!before || before.spec.holderIdentity !== lease.spec.holderIdentity || before.spec.renewTime !== lease.spec.renewTime) this.observedAt = this.now();
    this.lease = lease;
    const recorded = Number(lease.metadata.annotations?.[GENERATION_ANNOTATION] ?? 0);
    if (Number.isSafeInteger(recorded) && recorded > this.floor) this.floor = recorded;
  }

  private desired(current: Lease | undefined, transition: boolean): Lease {
    const wall = this.wallNow();
    const spec = current?.spec ?? {};
    return {
      metadata: {
        name: this.options.name,
        namespace: this.options.namespace,
        ...(current?.metadata.resourceVersion ? { resourceVersion: current.metadata.resourceVersion } : {}),
        annotations: { ...(current?.metadata.annotations ?? {}), [GENERATION_ANNOTATION]: String(this.floor) },
      },
      spec: {
        holderIdentity: this.options.identity,
        leaseDurationSeconds: Math.max(1, Math.ceil(this.options.durationMs / 1000)),
        acquireTime: transition || !spec.acquireTime ? microTime(wall) : spec.acquireTime,
        renewTime: microTime(wall),
        leaseTransitions: (spec.leaseTransitions ?? 0) + (transition && current ? 1 : 0),
      },
    };
  }

  private async write(lease: Lease, create: boolean): Promise<Lease> {
    const body = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', ...lease };
    return create
      ? this.api.request<Lease>('POST', this.path, 'leases', { body })
      : this.api.request<Lease>('PUT', `${this.path}/${encodeURIComponent(this.options.name)}`, 'leases', { body });
  }

  /** One round: read the lease; renew it, take it, or stand by. */
  private async attempt(): Promise<void> {
    try {
      let current: Lease | undefined;
      try {
        current = await this.api.request<Lease>('GET', `${this.path}/${encodeURIComponent(this.options.name)}`, 'leases');
        this.observe(current);
      } catch (error) {
        if (!(error instanceof KubeApiError && error.status === 404)) throw error;
      }
      const holder = current?.spec.holderIdentity ?? '';
      const mine = holder === this.options.identity;
      const expired = !holder || this.now() - this.observedAt >= this.options.durationMs;
      if (!mine && !expired) {
        this.setLeader(false, `lease held by ${holder}`);
        return;
      }
      const written = await this.write(this.desired(current, !mine), current === undefined);
      this.observe(written);
      this.lastRenew = this.now();
      this.setLeader(true, mine ? 'lease renewed' : current ? `lease of ${holder || 'nobody'} expired` : 'lease created');
    } catch (error) {
      const conflict = error instanceof KubeApiError && error.status === 409;
      if (conflict) {
        this.setLeader(false, 'another replica updated the lease first');
        return;
      }
      if (this.leader && this.now() - this.lastRenew > this.options.durationMs - this.options.renewMs) {
        this.setLeader(false, `cannot renew the lease: ${(error as Error).message}`);
      } else {
        this.log.debug({ err: error }, 'lease round failed');
      }
    }
  }

  /**
   * Writes `generation` into the lease while still holding it. Returns false
   * (and the generation must not be published) when not the leader or the
   * write fails; the next renewal retries.
   */
  reserve(generation: number): Promise<boolean> {
    return this.serial(() => this.record(generation));
  }

  private async record(generation: number): Promise<boolean> {
    if (!this.leader || !this.lease) return false;
    const previous = this.floor;
    this.floor = Math.max(this.floor, generation);
    try {
      const written = await this.write(this.desired(this.lease, false), false);
      this.observe(written);
      this.lastRenew = this.now();
      return true;
    } catch (error) {
      this.floor = previous;
      if (error instanceof KubeApiError && error.status === 409) this.setLeader(false, 'another replica updated the lease first');
      this.log.warn({ generation, err: error }, 'cannot record the generation in the lease; publishing waits');
      return false;
    }
  }

  /** Stops electing; a leader releases the lease (holder cleared) so a standby takes over at once. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.serial(() => this.release());
  }

  private async release(): Promise<void> {
    if (!this.leader || !this.lease) return;
    const release = this.desired(this.lease, false);
    release.spec = { ...release.spec, holderIdentity: '', leaseDurationSeconds: 1 };
    try {
      await this.write(release, false);
    } catch (error) {
      this.log.warn({ err: error }, 'cannot release the lease; a standby takes over when it expires');
    }
    this.setLeader(false, 'shutting down');
  }
}
