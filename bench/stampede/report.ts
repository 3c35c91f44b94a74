/**
 * The report in `--out DIR`: stampede.json (scenario, then per resolver its
 * summary and per-second series), stampede.md (the table, the targets of issue 5
 * checked, the charts), success.svg and upstream.svg.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { successChart, upstreamChart } from './charts.js';
import type { Kind } from './contender.js';
import type { StampedeOptions } from './options.js';
import type { Replayed } from './replay.js';
import { series, summarize } from './summary.js';
import type { SeriesPoint, Summary } from './summary.js';
import type { Timeline } from './timeline.js';

/** One resolver in stampede.json. */
export interface ResolverReport {
  readonly name: string;
  readonly kind: Kind;
  readonly description: string;
  readonly summary: Summary;
  readonly series: readonly SeriesPoint[];
}

/** stampede.json. */
export interface StampedeReport {
  readonly timeScale: number;
  readonly generatedAt: string;
  readonly machine: { readonly cpus: number; readonly node: string };
  readonly scenario: Record<string, unknown>;
  readonly skipped: readonly { readonly name: string; readonly reason: string }[];
  readonly resolvers: readonly ResolverReport[];
}

/** Builds the report of a replay. */
export function buildReport(options: StampedeOptions, timeline: Timeline, replayed: Replayed, skipped: StampedeReport['skipped']): StampedeReport {
  return {
    timeScale: timeline.scale,
    generatedAt: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version },
    scenario: {
      warmupSeconds: timeline.warmup,
      outageSeconds: timeline.outage,
      recoverySeconds: timeline.recovery,
      services: options.services,
      podsPerNode: options.pods,
      newPodsDuringOutage: options.newPods,
      lookupsPerSecondPerNode: options.rate,
      upstreamFailure: options.failure,
      kubeDnsTtls: options.ttls === 'spread' ? `spread 1..${options.ttlSpread} s` : '30 s',
      kubeDnsCapacityPerSecond: replayed.capacity ?? null,
      changedServices: options.changed,
      publishDelaySeconds: options.publishDelay,
      clientAttemptTimeoutsMs: timeline.clientAttemptsMs(),
      seed: options.seed,
      interrupted: replayed.interrupted,
    },
    skipped,
    resolvers: replayed.lanes.map((lane) => {
      const points = series(lane.rec, timeline);
      return { name: lane.contender.name, kind: lane.contender.kind, description: lane.contender.description, summary: summarize(lane.rec, points, timeline), series: points };
    }),
  };
}

const pct = (x: number | null) => (x === null ? '–' : `${(x * 100).toFixed(x >= 0.999 && x < 1 ? 3 : x === 1 ? 0 : 1)} %`);
const secs = (s: number | null) => (s === null ? '–' : s >= 120 ? `${(s / 60).toFixed(1)} min` : `${Math.round(s)} s`);
const times = (x: number | null) => (x === null ? '–' : `${x.toFixed(2)}×`);
const msText = (x: number | null) => (x === null ? '–' : `${Math.round(x)} ms`);

/** The summary table as Markdown. */
export function summaryTable(report: StampedeReport): string {
  const head = '| resolver | success before | during outage | after | first failure | < 50 % at | kube-dns load × | all upstreams × | recovery | p99 during | new pods | after restart | restart gap | staleness |';
  const rows = report.resolvers.map((r) => {
    const s = r.summary;
    return `| ${r.name} | ${pct(s.successBefore)} | ${pct(s.successDuring)} (${s.failedDuring}/${s.lookupsDuring} failed) | ${pct(s.successAfter)} | ${secs(s.firstFailureSeconds)} | ${secs(s.halfFailureSeconds)} | ${times(s.upstreamAmplification)} | ${times(s.upstreamAllAmplification)} | ${secs(s.recoverySeconds)} | ${msText(s.p99MsDuring)} | ${pct(s.successFreshPods)} | ${pct(s.successAfterRestart)} | ${msText(s.restartGapMs)} | ${secs(s.stalenessSeconds)} |`;
  });
  return [head, `|${'---|'.repeat(head.split('|').length - 2)}`, ...rows].join('\n');
}

/** The targets of issue 5, each met or missed and by how much. */
export function targetLines(report: StampedeReport): string[] {
  const by = (kind: Kind) => report.resolvers.find((r) => r.kind === kind)?.summary;
  const hs = by('holdfast-snapshot');
  const ttl = by('ttl-only');
  const lines: string[] = [];
  if (hs) {
    const worst = Math.min(hs.successDuring ?? 0, hs.successFreshPods ?? 1, hs.successAfterRestart ?? 1);
    lines.push(
      `holdfast-snapshot answers ≥ 99.99 % of lookups during the outage, new pods and after its restart included: ${worst >= 0.9999 ? 'met' : `missed by ${((0.9999 - worst) * 100).toFixed(3)} points`} (during ${pct(hs.successDuring)}, ${hs.failedDuring} of ${hs.lookupsDuring} failed; new pods ${pct(hs.successFreshPods)}; after restart ${pct(hs.successAfterRestart)}).`,
    );
  }
  if (ttl) {
    const half = ttl.halfFailureSeconds;
    lines.push(`TTL-only baseline below 50 % by minute 20 of the outage: ${half !== null && half <= 1200 ? `met (at ${secs(half)})` : half === null ? 'missed (never below 50 %)' : `missed (only at ${secs(half)})`}.`);
  }
  for (const kind of ['holdfast-snapshot', 'holdfast-forward'] as const) {
    const s = by(kind);
    if (!s) continue;
    const a = s.upstreamAmplification;
    lines.push(`${kind}: kube-dns load during the outage ≤ 1.0× before: ${a !== null && a <= 1 ? 'met' : 'missed'} (${times(a)}; all upstreams ${times(s.upstreamAllAmplification)}).`);
  }
  return lines;
}

function markdown(report: StampedeReport): string {
  const sc = report.scenario;
  return [
    '# Stampede replay',
    '',
    `Time scale **${report.timeScale}×** (scenario seconds below; latencies in wall-clock ms). ${report.machine.cpus} CPUs, Node ${report.machine.node}, ${report.generatedAt}.`,
    '',
    `Warm-up ${secs(sc['warmupSeconds'] as number)}, outage ${secs(sc['outageSeconds'] as number)}, recovery ${secs(sc['recoverySeconds'] as number)}; ${sc['services']} services; ${sc['podsPerNode']} pods per node plus ${sc['newPodsDuringOutage']} started during the outage; ${sc['lookupsPerSecondPerNode']} lookups per wall-clock second per node at rest; kube-dns TTLs ${sc['kubeDnsTtls']}, fails with ${sc['upstreamFailure']} during the outage, capacity ${sc['kubeDnsCapacityPerSecond'] ?? 'unlimited'} queries/s per node; glibc attempt timeouts ${(sc['clientAttemptTimeoutsMs'] as number[]).join(' + ')} ms; ${sc['changedServices']} services change endpoints during the outage.`,
    '',
    summaryTable(report),
    '',
    '## Targets (issue 5)',
    '',
    ...targetLines(report).map((l) => `- ${l}`),
    '',
    '## Resolvers',
    '',
    ...report.resolvers.map((r) => `- **${r.name}** (${r.kind}): ${r.description}`),
    ...report.skipped.map((s) => `- ${s.name}: skipped, ${s.reason}`),
    '',
    '![lookup success](success.svg)',
    '',
    '![upstream load](upstream.svg)',
    '',
  ].join('\n');
}

/** Writes stampede.json, stampede.md and the charts into `dir`. */
export async function writeReport(dir: string, report: StampedeReport, timeline: Timeline): Promise<void> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'stampede.json'), `${JSON.stringify(report, null, 1)}\n`);
  writeFileSync(join(dir, 'stampede.md'), markdown(report));
  const inputs = report.resolvers.map((r) => ({ name: r.name, series: r.series, restartAt: r.summary.restartAtSeconds ?? undefined }));
  writeFileSync(join(dir, 'success.svg'), await successChart(inputs, timeline));
  writeFileSync(join(dir, 'upstream.svg'), await upstreamChart(inputs, timeline));
}
