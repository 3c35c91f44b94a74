/**
 * The pull source (--snapshot-url): polls publishers for the signed snapshot
 * and offers what they send to the store, which verifies it like every other
 * source — so push, pull and file combine, and the newest verified generation wins.
 *
 * A round asks the URLs in turn, starting with the one that answered last, until
 * one gives a snapshot the store takes (applied or unchanged) or a 304; the
 * others are not asked in that round. Each request carries
 * `If-None-Match: "<generation being served>"`, whatever source that came from.
 * With --namespaces, each request asks for that view (`?namespaces=a,b`), and
 * only that view is taken (`verify.ts`); while another view is served, the
 * request carries no If-None-Match, so the view asked for comes even when the
 * publisher's generation has not moved.
 * Rounds follow each other every --snapshot-pull-interval with ±20 % jitter;
 * after a failed round (no URL answered usefully) the delay doubles per failed
 * round in a row, up to 5 minutes (or the interval, when longer), still with
 * jitter, and returns to the interval after the next good round.
 *
 * Failures are counted in holdfast_snapshot_pull_errors_total{reason} and logged
 * once per URL when its state changes (working → failing for a new reason →
 * working again), not at every poll. Nothing here throws into the process.
 */
import { Counter } from 'prom-client';
import type { Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../clock.js';
import type { ResolverMetrics } from '../metrics.js';
import { fetchSnapshot } from './pull-fetch.js';
import type { PullErrorReason, PullFailure } from './pull-fetch.js';
import { DEFAULT_MAX_BODY } from './receiver.js';
import type { SnapshotStore } from './store.js';
import { viewKey } from '../../snapshot/view.js';

/** Longest delay between rounds while failing, unless the interval itself is longer. */
export const MAX_BACKOFF_MS = 5 * 60_000;
/** Each delay is multiplied by a random factor in [1 - JITTER, 1 + JITTER). */
export const JITTER = 0.2;

const REASONS: readonly PullErrorReason[] = ['unreachable', 'timeout', 'http_status', 'too_large'];

const ERRORS_METRIC = 'holdfast_snapshot_pull_errors_total';

/**
 * holdfast_snapshot_pull_errors_total on `registry`, registered by the first
 * puller (every reason starting at 0) and shared by those that replace it on reload.
 */
export function pullErrorCounter(registry: Registry): Counter<'reason'> {
  const existing = registry.getSingleMetric(ERRORS_METRIC);
  if (existing) return existing as Counter<'reason'>;
  const counter = new Counter({
    name: ERRORS_METRIC,
    help: 'Snapshot pulls (one URL, one request) that brought no snapshot, by reason: unreachable, timeout, http_status, too_large.',
    labelNames: ['reason'],
    registers: [registry],
  });
  for (const reason of REASONS) counter.inc({ reason }, 0);
  return counter;
}

/**
 * Delay before the next round: the interval after a good round, interval × 2^failures
 * after `failures` failed rounds in a row (capped), times a jitter factor from `random`.
 */
export function pullDelay(intervalMs: number, failures: number, random: () => number): number {
  const base = Math.min(intervalMs * 2 ** failures, Math.max(MAX_BACKOFF_MS, intervalMs));
  return Math.round(base * (1 - JITTER + 2 * JITTER * random()));
}

/** Settings of a {@link SnapshotPuller}. */
export interface PullOptions {
  readonly urls: readonly string[];
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Largest body read; defaults to the receiver's limit. */
  readonly maxBody?: number;
  /**
   * --namespaces: asked for as `?namespaces=a,b` (a canonical list, `snapshot/view.ts`);
   * only that view is accepted. Undefined: the whole cluster.
   */
  readonly namespaces?: readonly string[];
}

/** What a puller uses; the clock and random source are injected so tests drive the schedule. */
export interface PullDeps {
  readonly store: SnapshotStore;
  readonly clock: Clock;
  readonly random: () => number;
  readonly metrics: ResolverMetrics;
  readonly log: Logger;
}

/** How a round went. */
export type RoundResult = 'updated' | 'unchanged' | 'failed';

/** Polls the publishers. Create, then {@link SnapshotPuller.start}; {@link SnapshotPuller.close} to stop. */
export class SnapshotPuller {
  private timer: TimerHandle | undefined;
  private round: Promise<RoundResult> | undefined;
  private readonly abort = new AbortController();
  private closed = false;
  /** Index of the URL that answered last; rounds start there. */
  private preferred = 0;
  /** Failed rounds in a row. */
  private failures = 0;
  /** Per URL: 'ok', or what went wrong last; logged when it changes. */
  private readonly states = new Map<string, string>();
  private readonly errors: Counter<'reason'>;
  /** How the last finished round went. */
  lastResult: RoundResult | undefined;
  /** Delay of the round scheduled now, in ms (undefined while a round runs or after close). */
  scheduledDelayMs: number | undefined;

  constructor(
    readonly options: PullOptions,
    private readonly deps: PullDeps,
  ) {
    this.errors = pullErrorCounter(deps.metrics.registry);
  }

  /** Starts the first round now, without waiting for it; later rounds follow on the clock. */
  start(): void {
    this.deps.log.info({ urls: this.options.urls, intervalMs: this.options.intervalMs, namespaces: this.options.namespaces }, 'pulling snapshots');
    void this.pollNow();
  }

  /**
   * Runs a round now (or joins the one running), then schedules the next.
   * Resolves with the round's result; never rejects.
   */
  pollNow(): Promise<RoundResult> {
    if (this.round) return this.round;
    this.timer?.cancel();
    this.timer = undefined;
    this.scheduledDelayMs = undefined;
    const round = this.runRound()
      .catch((error: unknown) => {
        this.deps.log.error({ err: error }, 'snapshot pull round failed unexpectedly');
        return 'failed' as const;
      })
      .then((result) => {
        this.round = undefined;
        this.lastResult = result;
        this.failures = result === 'failed' ? this.failures + 1 : 0;
        this.schedule();
        return result;
      });
    this.round = round;
    return round;
  }

  /** Resolves once the round running now, if any, has finished. */
  async settled(): Promise<void> {
    await this.round;
  }

  private schedule(): void {
    if (this.closed) return;
    const delay = pullDelay(this.options.intervalMs, this.failures, this.deps.random);
    this.scheduledDelayMs = delay;
    this.timer = this.deps.clock.timer(delay, () => void this.pollNow());
  }

  private async runRound(): Promise<RoundResult> {
    const urls = this.options.urls;
    for (let i = 0; i < urls.length && !this.closed; i++) {
      const index = (this.preferred + i) % urls.length;
      const url = urls[index] as string;
      const result = await this.pullOne(url);
      if (result !== 'failed') {
        this.preferred = index;
        return result;
      }
    }
    return 'failed';
  }

  private async pullOne(url: string): Promise<RoundResult> {
    const { store } = this.deps;
    const view = viewKey(this.options.namespaces);
    const target = new URL(url);
    if (view !== '') target.searchParams.set('namespaces', view);
    const response = await fetchSnapshot(target, {
      // While another view is served (--namespaces changed), the generation alone would get a 304.
      generation: store.currentView() === view ? store.current()?.generation : undefined,
      timeoutMs: this.options.timeoutMs,
      maxBody: this.options.maxBody ?? DEFAULT_MAX_BODY,
      clock: this.deps.clock,
      signal: this.abort.signal,
    });
    if (this.closed) return 'failed';
    if (response.kind === 'not-modified') return this.state(url, 'ok', 'unchanged');
    if (response.kind === 'older') {
      return this.state(url, 'behind', 'unchanged', true, `it serves generation ${response.generation}, older than the one served here; not downloaded`);
    }
    if (response.kind === 'error') return this.failed(url, response);
    const outcome = await store.offer(response.bytes, 'pull', view);
    // The store logs and counts its own rejections; here they only count as a failed pull.
    if (outcome.result === 'rejected') return this.state(url, `rejected: ${outcome.reason}`, 'failed', false);
    return this.state(url, 'ok', outcome.result === 'applied' ? 'updated' : 'unchanged');
  }

  private failed(url: string, failure: PullFailure): RoundResult {
    this.errors.inc({ reason: failure.reason });
    // An oversized body is a snapshot refused for its size, as if the store had unpacked it.
    if (failure.reason === 'too_large') this.deps.metrics.snapshotLoads.inc({ source: 'pull', result: 'rejected_too_large' });
    const state = failure.status === undefined ? failure.reason : `${failure.reason} ${failure.status}`;
    return this.state(url, state, 'failed', true, failure.message);
  }

  /** Records `url`'s state and logs only when it changed. */
  private state(url: string, state: string, result: RoundResult, warn = true, message = ''): RoundResult {
    const before = this.states.get(url);
    this.states.set(url, state);
    const { log } = this.deps;
    if (state === before) {
      log.debug({ url, state }, 'snapshot pull');
    } else if (state === 'ok') {
      if (before !== undefined) log.info({ url, was: before }, 'snapshot pull works again');
    } else if (warn) {
      log.warn({ url, reason: state }, `snapshot pull from this URL failing: ${message}`);
    }
    return result;
  }

  /** Stops polling: no further rounds, the request in flight aborted; resolves once the round has ended. */
  async close(): Promise<void> {
    this.closed = true;
    this.timer?.cancel();
    this.timer = undefined;
    this.scheduledDelayMs = undefined;
    this.abort.abort();
    await this.round;
  }
}
