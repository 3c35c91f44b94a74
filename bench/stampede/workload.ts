/**
 * The applications on one node: each pod makes requests at a steady rate, and
 * every request starts with a lookup of one of its dependencies (most used
 * first, Zipf). When a lookup fails the application retries it after an
 * exponential backoff with jitter, and a pod whose requests keep failing makes
 * more of them (its callers retry too): the load multiplication of the incident.
 * Success lets the pressure fall back.
 *
 * Bounded: requests beyond `maxInFlight` lookups in flight are shed (counted),
 * at most 50 requests per pod per tick, and nothing starts after `stop()`.
 */
import type { Dependency, PodPlan } from './pods.js';
import { Rng, Zipf } from './random.js';
import type { LookupResult, NodeStub } from './stub.js';

/** How the applications behave. */
export interface WorkloadConfig {
  /** Requests per wall-clock second of one pod at pressure 1. */
  readonly ratePerPod: number;
  /** Retries of a failed lookup before the request fails. */
  readonly appRetries: number;
  /** First retry after this (wall ms), doubling, ±50 % jitter. */
  readonly appRetryBaseMs: number;
  /** Highest request-rate multiplier of a pod whose requests fail. */
  readonly maxPressure: number;
  readonly maxInFlight: number;
}

/** What the node reports. */
export interface WorkloadObserver {
  /** A lookup ended; `startedMs` is its wall-clock start (performance.now()). */
  lookup(result: LookupResult, startedMs: number, pod: PodPlan): void;
  /** A request failed after all its retries. */
  requestFailed(): void;
  /** A request was not made because too many lookups were in flight. */
  shed(): void;
}

interface ActivePod {
  readonly plan: PodPlan;
  readonly pick: Zipf;
  pressure: number;
  credit: number;
}

/** The load of one node against one stub. */
export class NodeLoad {
  private readonly pods: ActivePod[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly rng: Rng;
  private inFlight = 0;
  private stopped = false;
  private muted = false;

  constructor(
    private readonly stub: NodeStub,
    private readonly config: WorkloadConfig,
    private readonly observer: WorkloadObserver,
    seed: number,
  ) {
    this.rng = new Rng(seed);
  }

  /** Starts a pod (its first request comes within one request interval). */
  startPod(plan: PodPlan): void {
    if (plan.deps.length === 0) return;
    this.pods.push({ plan, pick: new Zipf(plan.deps.length, 1), pressure: 1, credit: this.rng.next() });
  }

  /** Lookups in flight. */
  get lookupsInFlight(): number {
    return this.inFlight;
  }

  /** Mean request-rate multiplier over the pods. */
  get pressure(): number {
    return this.pods.reduce((sum, p) => sum + p.pressure, 0) / Math.max(1, this.pods.length);
  }

  /** Makes the requests due in the last `dtMs` of wall-clock time. */
  tick(dtMs: number): void {
    if (this.stopped) return;
    for (const pod of this.pods) {
      pod.credit += (this.config.ratePerPod * pod.pressure * dtMs) / 1000;
      for (let n = 0; pod.credit >= 1 && n < 50; n++) {
        pod.credit -= 1;
        if (this.inFlight >= this.config.maxInFlight) this.observer.shed();
        else this.request(pod, pod.plan.deps[pod.pick.sample(this.rng)] as Dependency, 0);
      }
      pod.credit = Math.min(pod.credit, 1);
    }
  }

  private request(pod: ActivePod, dep: Dependency, attempt: number): void {
    const started = performance.now();
    this.inFlight++;
    void this.stub.lookup(dep.text, pod.plan.search).then((result) => {
      this.inFlight--;
      if (this.muted) return; // ended by the harness, not by the resolver
      this.observer.lookup(result, started, pod.plan);
      if (this.stopped) return;
      if (result.ok) {
        pod.pressure = Math.max(1, pod.pressure - 0.1);
        return;
      }
      if (attempt < this.config.appRetries) {
        const delay = this.config.appRetryBaseMs * 2 ** attempt * (0.5 + this.rng.next());
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          if (!this.stopped) this.request(pod, dep, attempt + 1);
        }, delay);
        this.timers.add(timer);
        return;
      }
      this.observer.requestFailed();
      pod.pressure = Math.min(this.config.maxPressure, pod.pressure + 0.5);
    });
  }

  /** No new requests or retries; lookups in flight still report when they end. */
  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  /** Lookups still in flight are no longer reported (the harness is ending them). */
  mute(): void {
    this.muted = true;
  }
}
