/**
 * The throughput report: `throughput.json` (the figures) and `throughput.md`
 * (a table and the ratios, with the targets beside them).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** What was measured. */
export type ServerKind = 'bare' | 'holdfast-zone' | 'holdfast-cache' | 'holdfast-zone-workers' | 'holdfast-cache-workers' | 'peer';

/** One server's figures: medians over the rounds. */
export interface ServerResult {
  readonly name: string;
  readonly kind: ServerKind;
  readonly description: string;
  /** Median queries per second answered, and each round's figure. */
  readonly qps: number;
  readonly qpsRounds: number[];
  /** Latency at the paced rate (ms), medians over rounds of each round's percentile. */
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly p99_9: number };
  /** Share of the paced queries left unanswered (median over rounds). */
  readonly latencyLoss: number;
  /** dnsperf's average latency at saturation (ms), when dnsperf was the generator. */
  readonly saturatedAvgLatencyMs: number | null;
  /** The server's CPU time (user + system, all threads) per answered query at saturation, µs (median); null without /proc. */
  readonly cpuUsPerQuery: number | null;
}

/** The whole report. */
export interface ThroughputReport {
  readonly generatedAt: string;
  readonly quick: boolean;
  readonly seconds: number;
  readonly rounds: number;
  readonly loadgen: 'dnsperf' | 'node';
  readonly latency: { readonly generator: 'node-paced'; readonly qps: number; readonly seconds: number };
  readonly pinned: { readonly server: number; readonly loadgen: number } | null;
  readonly distinctQueries: number;
  readonly servers: ServerResult[];
  readonly skipped: { readonly name: string; readonly reason: string }[];
  /** holdfast/bare and holdfast/peer, as fractions (1.0 = the same). */
  readonly ratios: {
    readonly zoneOfBare: number;
    readonly cacheOfBare: number;
    readonly cacheOfPeer: Record<string, number>;
    readonly zoneOfPeer: Record<string, number>;
    /** With --workers N (N > 1): holdfast with N workers over holdfast on one thread; `cpus` the machine's. */
    readonly scaling: {
      readonly workers: number;
      readonly cpus: number;
      /** QPS with N workers over QPS on one thread. */
      readonly zone: number;
      readonly cache: number;
      /** CPU per query with N workers over CPU per query on one thread (1: no cost of its own). */
      readonly zoneCpu: number;
      readonly cacheCpu: number;
    } | null;
  };
}

const fmt = (x: number, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');
const ms = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : 'n/a');

/** The Markdown report. */
export function markdown(r: ThroughputReport): string {
  const bare = r.servers.find((s) => s.kind === 'bare');
  const lines = [
    '# holdfast throughput',
    '',
    `${r.generatedAt}; ${r.rounds} round(s) of ${r.seconds} s per server, servers measured alternately; ` +
      `QPS by ${r.loadgen === 'dnsperf' ? 'dnsperf (1 socket, 200 outstanding)' : 'the built-in Node load generator (64 outstanding; it may saturate before the server)'}; ` +
      `latency percentiles by the Node generator paced at ${r.latency.qps} q/s for ${r.latency.seconds} s; ` +
      (r.pinned ? `servers on CPU ${r.pinned.server}, load generator on CPU ${r.pinned.loadgen}; ` : 'not pinned (taskset or a second CPU missing); ') +
      `${r.distinctQueries} distinct queries. CPU µs/query: the server's CPU time (user and system, every thread) per answered query during the QPS runs.` +
      `${r.quick ? ' Quick run: figures are indicative only.' : ''}`,
    '',
    `| server | QPS (median) | of bare | CPU µs/query | p50 ms | p99 ms | p99.9 ms | unanswered | ${r.loadgen === 'dnsperf' ? 'avg ms at saturation |' : ''}`,
    `|---|---:|---:|---:|---:|---:|---:|---:|${r.loadgen === 'dnsperf' ? '---:|' : ''}`,
  ];
  for (const s of r.servers) {
    const sat = r.loadgen === 'dnsperf' ? ` ${s.saturatedAvgLatencyMs === null ? 'n/a' : ms(s.saturatedAvgLatencyMs)} |` : '';
    lines.push(
      `| ${s.name} | ${fmt(s.qps)} | ${bare ? fmt(s.qps / bare.qps, 2) : 'n/a'} | ${s.cpuUsPerQuery === null ? 'n/a' : fmt(s.cpuUsPerQuery, 2)} | ${ms(s.latencyMs.p50)} | ${ms(s.latencyMs.p99)} | ${ms(s.latencyMs.p99_9)} | ${fmt(s.latencyLoss * 100, 2)} % |${sat}`,
    );
  }
  lines.push('', 'Servers:', '');
  for (const s of r.servers) lines.push(`- **${s.name}**: ${s.description} (rounds: ${s.qpsRounds.map((q) => fmt(q)).join(', ')} q/s)`);
  for (const s of r.skipped) lines.push(`- **${s.name}**: skipped — ${s.reason}`);
  lines.push('', 'Ratios:', '');
  lines.push(`- holdfast cluster zone / bare: ${fmt(r.ratios.zoneOfBare, 2)} (target ≥ 0.90)`);
  lines.push(`- holdfast cache hits / bare: ${fmt(r.ratios.cacheOfBare, 2)} (target ≥ 0.90)`);
  for (const [peer, x] of Object.entries(r.ratios.cacheOfPeer)) lines.push(`- holdfast cache hits / ${peer}: ${fmt(x, 2)}; holdfast cluster zone / ${peer}: ${fmt(r.ratios.zoneOfPeer[peer] ?? Number.NaN, 2)}`);
  const scaling = r.ratios.scaling;
  if (scaling) {
    const shared = scaling.workers >= scaling.cpus ? `; with ${scaling.cpus} CPUs the load generator shares a CPU with the workers` : '';
    lines.push(
      `- holdfast --workers ${scaling.workers} / one thread: cluster zone ×${fmt(scaling.zone, 2)}, cache hits ×${fmt(scaling.cache, 2)} (target: scales with cores${shared}); ` +
        `CPU per query ×${fmt(scaling.zoneCpu, 2)} and ×${fmt(scaling.cacheCpu, 2)} of one thread's`,
    );
  }
  if (!r.servers.some((s) => s.name === 'coredns')) lines.push('- holdfast / CoreDNS (target ≥ 1.5×): not measured, no CoreDNS binary on this machine (`--peer coredns=PATH`)');
  return `${lines.join('\n')}\n`;
}

/** Writes throughput.json and throughput.md to `dir`. */
export function writeReport(dir: string, report: ThroughputReport): void {
  writeFileSync(join(dir, 'throughput.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(dir, 'throughput.md'), markdown(report));
}
