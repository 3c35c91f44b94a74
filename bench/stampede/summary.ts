/**
 * From a resolver's record to the report: the per-second series and the summary
 * (success before, during and after the outage, time to the first failed lookup
 * and to 50 % failure, upstream amplification, recovery time, latency, staleness).
 * Ratios are fractions; times are scenario seconds; latencies are wall-clock ms.
 */
import type { Bucket, Recorder, Tally } from './recorder.js';
import type { Phase, Timeline } from './timeline.js';

/** One second of one resolver, as written to stampede.json. */
export interface SeriesPoint {
  /** Scenario seconds at the start of this wall-clock second. */
  readonly t: number;
  readonly phase: Phase;
  readonly queries: number;
  readonly data: number;
  readonly nodata: number;
  readonly nxdomain: number;
  readonly servfail: number;
  readonly otherRcode: number;
  readonly timeouts: number;
  readonly lookups: number;
  readonly lookupsFailed: number;
  /** Lookups that succeeded / lookups, null without lookups. */
  readonly success: number | null;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly requestsFailed: number;
  readonly shed: number;
  /** Queries that reached kube-dns (dropped ones included) and the external resolver. */
  readonly upstreamKubeDns: number;
  readonly upstreamKubeDnsDropped: number;
  readonly upstreamExternal: number;
  readonly staleAnswers: number;
  readonly freshAnswers: number;
}

/** The summary of one resolver. */
export interface Summary {
  readonly successBefore: number | null;
  readonly successDuring: number | null;
  readonly successAfter: number | null;
  readonly firstFailureSeconds: number | null;
  readonly halfFailureSeconds: number | null;
  /** kube-dns queries per second during the outage / before it (0 when it got none during; null when none before but some during). */
  readonly upstreamAmplification: number | null;
  /** The same over all upstreams (kube-dns and the external resolver). */
  readonly upstreamAllAmplification: number | null;
  readonly recoverySeconds: number | null;
  readonly p50MsDuring: number | null;
  readonly p99MsDuring: number | null;
  readonly lookupsDuring: number;
  readonly failedDuring: number;
  readonly successFreshPods: number | null;
  readonly successAfterRestart: number | null;
  /** Scenario second at which its restart began, and how long it did not serve (wall ms). */
  readonly restartAtSeconds: number | null;
  readonly restartGapMs: number | null;
  /** Scenario seconds from the outage end to the last answer with endpoints from before it (0: none seen). */
  readonly stalenessSeconds: number | null;
  readonly staleAnswersAfter: number;
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

/** The `q` quantile (0..1) of `values`, null when empty. */
export function quantile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = Float64Array.from(values).sort();
  return round(sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number, 2);
}

const ratio = (t: Tally) => (t.lookups === 0 ? null : round(t.ok / t.lookups, 6));

function amplification(before: number, during: number): number | null {
  if (before > 0) return round(during / before, 3);
  return during === 0 ? 0 : null;
}

/** The per-second series of a record, up to the scenario's end (lookups count where they started). */
export function series(rec: Recorder, timeline: Timeline): SeriesPoint[] {
  const seconds = Math.ceil(timeline.end / timeline.scale);
  return rec.buckets.slice(0, seconds).map((b: Bucket, i): SeriesPoint => {
    const t = round(timeline.scenario(i * 1000), 1);
    const q = b.queries;
    return {
      t,
      phase: timeline.phase(timeline.scenario(i * 1000 + 500)),
      queries: q.data + q.nodata + q.nxdomain + q.servfail + q.other + q.timeout,
      data: q.data,
      nodata: q.nodata,
      nxdomain: q.nxdomain,
      servfail: q.servfail,
      otherRcode: q.other,
      timeouts: q.timeout,
      lookups: b.lookups,
      lookupsFailed: b.lookups - b.lookupsOk,
      success: b.lookups === 0 ? null : round(b.lookupsOk / b.lookups, 4),
      p50Ms: quantile(b.latencies, 0.5),
      p99Ms: quantile(b.latencies, 0.99),
      requestsFailed: b.requestsFailed,
      shed: b.shed,
      upstreamKubeDns: b.upstream.kubeDns,
      upstreamKubeDnsDropped: b.upstream.kubeDnsDropped,
      upstreamExternal: b.upstream.external,
      staleAnswers: b.staleAnswers,
      freshAnswers: b.freshAnswers,
    };
  });
}

/** The summary of a record, from its series. */
export function summarize(rec: Recorder, points: readonly SeriesPoint[], timeline: Timeline): Summary {
  const mid = (i: number) => timeline.scenario(i * 1000 + 500);
  const rate = (from: number, to: number, pick: (p: SeriesPoint) => number) => {
    const chosen = points.filter((_, i) => mid(i) >= from && mid(i) < to);
    return chosen.length === 0 ? 0 : chosen.reduce((sum, p) => sum + pick(p), 0) / chosen.length;
  };
  const beforeFrom = timeline.warmup / 2;
  const kube = (p: SeriesPoint) => p.upstreamKubeDns;
  const all = (p: SeriesPoint) => p.upstreamKubeDns + p.upstreamExternal;
  const successBefore = ratio(rec.before);
  const during = rec.phases.outage;
  const half = points.findIndex((p, i) => mid(i) >= timeline.outageStart && mid(i) < timeline.outageEnd && p.lookups >= 5 && (p.success ?? 1) < 0.5);
  return {
    successBefore,
    successDuring: ratio(during),
    successAfter: ratio(rec.phases.recovery),
    firstFailureSeconds: rec.firstFailure === undefined ? null : round(rec.firstFailure, 1),
    halfFailureSeconds: half < 0 ? null : round(Math.max(0, timeline.scenario(half * 1000) - timeline.outageStart), 1),
    upstreamAmplification: amplification(rate(beforeFrom, timeline.outageStart, kube), rate(timeline.outageStart, timeline.outageEnd, kube)),
    upstreamAllAmplification: amplification(rate(beforeFrom, timeline.outageStart, all), rate(timeline.outageStart, timeline.outageEnd, all)),
    recoverySeconds: recovery(points, timeline, 0.99 * (successBefore ?? 1)),
    p50MsDuring: quantile(during.latencies, 0.5),
    p99MsDuring: quantile(during.latencies, 0.99),
    lookupsDuring: during.lookups,
    failedDuring: during.lookups - during.ok,
    successFreshPods: ratio(rec.freshPods),
    successAfterRestart: ratio(rec.afterRestart),
    restartAtSeconds: rec.restart ? round(rec.restart.at, 1) : null,
    restartGapMs: rec.restart ? Math.round(rec.restart.gapMs) : null,
    stalenessSeconds: rec.lastStale === undefined ? (points.some((p) => p.freshAnswers > 0) ? 0 : null) : round(rec.lastStale - timeline.outageEnd, 1),
    staleAnswersAfter: points.reduce((sum, p) => sum + p.staleAnswers, 0),
  };
}

/**
 * Scenario seconds from the outage end until the success ratio stays at or above
 * `target` in every later second with lookups; null when it never does.
 */
function recovery(points: readonly SeriesPoint[], timeline: Timeline, target: number): number | null {
  const first = points.findIndex((_, i) => timeline.scenario(i * 1000 + 500) >= timeline.outageEnd);
  if (first < 0) return null;
  let from = first;
  for (let i = first; i < points.length; i++) {
    const p = points[i] as SeriesPoint;
    if (p.success !== null && p.success < target) from = i + 1;
  }
  if (from >= points.length) return null;
  return round(Math.max(0, timeline.scenario(from * 1000) - timeline.outageEnd), 1);
}
