/**
 * What happens to one resolver under test, per wall-clock second and per phase:
 * client queries by outcome, lookups and their latency, failed requests, the
 * queries that reached its upstreams, and, for the services whose endpoints
 * changed during the outage, whether answers after it were stale or fresh.
 *
 * A lookup counts in the second and the phase in which it started.
 */
import type { PodPlan } from './pods.js';
import type { LookupResult, Outcome } from './stub.js';
import type { Phase, Timeline } from './timeline.js';
import type { InstanceCounts } from './upstream-sim.js';

/** Counters of one wall-clock second. */
export interface Bucket {
  readonly queries: Record<Outcome, number>;
  lookups: number;
  lookupsOk: number;
  readonly latencies: number[];
  requestsFailed: number;
  shed: number;
  readonly upstream: InstanceCounts;
  staleAnswers: number;
  freshAnswers: number;
}

/** Lookups of one phase (or part of one). */
export interface Tally {
  lookups: number;
  ok: number;
  readonly latencies: number[];
}

const newTally = (): Tally => ({ lookups: 0, ok: 0, latencies: [] });

function newBucket(): Bucket {
  return {
    queries: { data: 0, nodata: 0, nxdomain: 0, servfail: 0, other: 0, timeout: 0 },
    lookups: 0,
    lookupsOk: 0,
    latencies: [],
    requestsFailed: 0,
    shed: 0,
    upstream: { kubeDns: 0, kubeDnsDropped: 0, kubeDnsFailed: 0, external: 0 },
    staleAnswers: 0,
    freshAnswers: 0,
  };
}

/** The record of one resolver. */
export class Recorder {
  readonly buckets: Bucket[] = [];
  readonly phases: Record<Phase, Tally> = { warmup: newTally(), outage: newTally(), recovery: newTally() };
  /** Warm-up lookups in its second half: the steady state "before". */
  readonly before = newTally();
  /** Outage lookups by pods started during the outage. */
  readonly freshPods = newTally();
  /** Outage lookups after this resolver's restart. */
  readonly afterRestart = newTally();
  /** Scenario seconds from the outage start to the first failed lookup. */
  firstFailure: number | undefined;
  /** Scenario second of the restart, and how long the resolver was away (wall ms). */
  restart: { at: number; gapMs: number } | undefined;
  /** Scenario second of the last stale answer after the outage. */
  lastStale: number | undefined;

  constructor(
    private readonly timeline: Timeline,
    private readonly t0: number,
  ) {}

  private bucket(wallMs: number): Bucket {
    const i = Math.max(0, Math.floor((wallMs - this.t0) / 1000));
    while (this.buckets.length <= i) this.buckets.push(newBucket());
    return this.buckets[i] as Bucket;
  }

  /** A client query attempt ended now. */
  query(outcome: Outcome): void {
    this.bucket(performance.now()).queries[outcome]++;
  }

  /** A lookup that started at `startedMs` ended. */
  lookup(result: LookupResult, startedMs: number, pod: PodPlan): void {
    const b = this.bucket(startedMs);
    b.lookups++;
    if (result.ok) b.lookupsOk++;
    b.latencies.push(result.ms);
    const s = this.timeline.scenario(startedMs - this.t0);
    const phase = this.timeline.phase(s);
    const tallies = [this.phases[phase]];
    if (phase === 'warmup' && s >= this.timeline.warmup / 2) tallies.push(this.before);
    if (phase === 'outage' && pod.fresh) tallies.push(this.freshPods);
    if (phase === 'outage' && this.restart && s >= this.restart.at) tallies.push(this.afterRestart);
    for (const t of tallies) {
      t.lookups++;
      if (result.ok) t.ok++;
      t.latencies.push(result.ms);
    }
    if (!result.ok && phase === 'outage') {
      const since = s - this.timeline.outageStart;
      if (this.firstFailure === undefined || since < this.firstFailure) this.firstFailure = since;
    }
  }

  /** A request failed after its retries, or was shed. */
  request(kind: 'failed' | 'shed'): void {
    const b = this.bucket(performance.now());
    if (kind === 'failed') b.requestsFailed++;
    else b.shed++;
  }

  /** Upstream queries of the second that ended at `wallMs`. */
  upstream(counts: InstanceCounts, wallMs: number): void {
    const u = this.bucket(wallMs - 500).upstream;
    u.kubeDns += counts.kubeDns;
    u.kubeDnsDropped += counts.kubeDnsDropped;
    u.kubeDnsFailed += counts.kubeDnsFailed;
    u.external += counts.external;
  }

  /** An answer for a changed service, now: `fresh` when it has the new endpoints. */
  changedAnswer(fresh: boolean): void {
    const now = performance.now();
    const s = this.timeline.scenario(now - this.t0);
    if (s < this.timeline.outageEnd) return;
    const b = this.bucket(now);
    if (fresh) b.freshAnswers++;
    else {
      b.staleAnswers++;
      this.lastStale = s;
    }
  }
}
