/**
 * `npm run bench -- overload [--seconds N] [--rates R1,R2,...] [--resolver-cpu F] [--out DIR]`:
 * what the resolver does with more queries than it can answer.
 *
 * A resolver (dist, a child process on CPU 0, default limits; capped at
 * --resolver-cpu of one CPU, 0.5 by default, with a CPU cgroup, so that the
 * load generator on CPU 1 can offer several times its capacity on a 2-CPU
 * machine) answers the mix of `overload-mix.ts`: 40 % cluster-zone names, 40 %
 * cache hits (warmed first), 20 % forwarded misses to a slow, limited fake
 * upstream (20 ms per answer, 5000 answers/s, the rest dropped). The load
 * comes from `blaster.ts`, an open loop (dnsperf stops sending when its
 * outstanding queries are not answered, so it cannot overload). Capacity is
 * measured first: the answers per second while offered as much as the
 * generator can send. Then stepped loads for --seconds each: half the
 * capacity, 2×, 4×, 4× of misses to names the upstream never answers (every
 * client waits on an upstream query: the coalescing queue), half again.
 *
 * Per step: offered, sent and answered q/s (server side), answer ratio,
 * rcodes, kernel receive-buffer drops (holdfast_dns_udp_receive_drops_total),
 * cache overflow, the resolver's peak RSS and heap, its error log lines, and
 * the latency of a probe (a paced 200 q/s of the same mix from 16 sockets, each
 * query timed). Recovery: the probe's answer ratio in each second of the last
 * step, and the time from the end of the overload to the first 100 ms from
 * which every probe query was answered. Writes overload.json and overload.md.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { limitCpu, procMemory, Scrape, startFakeUpstream, startResolverChild, stopChild } from './children.js';
import type { ResolverChild } from './children.js';
import { encodeLine, queryMix } from './overload-mix.js';
import { PacedLoad, window } from './paced.js';
import { percentile, pinned, root } from './tools.js';

const PROBE_QPS = 200;
const SLOT_MS = 100;

/** One step of offered load. */
export interface StepResult {
  readonly name: string;
  readonly offeredQps: number;
  readonly sentQps: number;
  readonly answeredQps: number;
  readonly answerRatio: number;
  readonly rcodes: Record<string, number>;
  readonly kernelDrops: number;
  readonly cacheOverflow: number;
  /** Queries refused a wait by --max-waiting-clients (holdfast_cache_waiting_overflow_total). */
  readonly waitingOverflow: number;
  /** Cache entries and counted bytes at the end of the step. */
  readonly cacheEntries: number;
  readonly cacheBytes: number;
  readonly coalesced: number;
  readonly peakRssBytes: number;
  readonly peakHeapUsedBytes: number;
  readonly probe: { readonly sent: number; readonly answered: number; readonly p50Ms: number; readonly p99Ms: number };
}

/** The whole run. */
export interface OverloadReport {
  /** Fraction of one CPU the resolver was capped at (undefined: no cap could be set). */
  readonly resolverCpu: number | undefined;
  readonly seconds: number;
  readonly capacityQps: number;
  readonly steps: StepResult[];
  readonly recovery: { readonly perSecondAnswerRatio: number[]; readonly fullyAnsweredAfterMs: number | undefined };
  readonly errorLogLines: number;
  readonly firstErrors: string[];
  readonly baselineRssBytes: number;
}

/** Runs the blaster (CPU 1) against `port`; resolves with the queries it sent and how long that took. */
async function offer(port: number, rate: number, seconds: number, tag: string, silent: boolean): Promise<{ sent: number; seconds: number }> {
  const [cmd, ...rest] = pinned(1, [process.execPath, join(root, 'dist', 'bench', 'blaster.js'), String(port), String(rate), String(seconds), tag, silent ? 'silent' : '']);
  const out = await new Promise<string>((done, fail) => {
    const child = spawn(cmd as string, rest, { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.on('data', (c: Buffer) => (text += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + 20) * 1000);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) done(text);
      else fail(new Error(`blaster exited ${code}: ${text.slice(-500)}`));
    });
  });
  return JSON.parse(out.trim().split('\n').pop() ?? '{}') as { sent: number; seconds: number };
}

/** Runs one step: the load, memory sampled every 250 ms, metrics before and after. */
async function step(
  resolver: ResolverChild,
  name: string,
  rate: number,
  seconds: number,
  silent: boolean,
  probe: PacedLoad,
): Promise<{ result: Omit<StepResult, 'probe'>; slots: [number, number] }> {
  const before = await Scrape.of(resolver.metricsPort);
  const firstSlot = Math.floor((performance.now() - probe.startedAt) / SLOT_MS) + 1;
  let peakRss = 0;
  let peakHeap = 0;
  let busy = false;
  const sample = async () => {
    if (busy) return;
    busy = true;
    peakRss = Math.max(peakRss, procMemory(resolver.child.pid ?? 0)?.rss ?? 0);
    peakHeap = Math.max(peakHeap, (await Scrape.of(resolver.metricsPort).finally(() => (busy = false))).sum('holdfast_nodejs_heap_size_used_bytes'));
  };
  const sampler = setInterval(() => void sample().catch(() => {}), 250);
  const load = await offer(resolver.port, rate, seconds, name, silent);
  clearInterval(sampler);
  const lastSlot = Math.floor((performance.now() - probe.startedAt) / SLOT_MS);
  await sample();
  const after = await Scrape.of(resolver.metricsPort);
  const delta = (metric: string, ...labels: string[]) => after.sum(metric, ...labels) - before.sum(metric, ...labels);
  const rb = before.by('holdfast_dns_requests_total', 'rcode');
  const rcodes: Record<string, number> = {};
  for (const [rcode, n] of Object.entries(after.by('holdfast_dns_requests_total', 'rcode'))) if (n - (rb[rcode] ?? 0) > 0) rcodes[rcode] = n - (rb[rcode] ?? 0);
  return {
    slots: [firstSlot, lastSlot],
    result: {
      name,
      offeredQps: rate,
      sentQps: load.sent / load.seconds,
      answeredQps: delta('holdfast_dns_requests_total') / load.seconds,
      // The probe's queries are in the server's count too.
      answerRatio: delta('holdfast_dns_requests_total') / (load.sent + PROBE_QPS * load.seconds),
      rcodes,
      kernelDrops: delta('holdfast_dns_udp_receive_drops_total'),
      cacheOverflow: delta('holdfast_cache_overflow_total'),
      waitingOverflow: delta('holdfast_cache_waiting_overflow_total'),
      cacheEntries: after.sum('holdfast_cache_entries'),
      cacheBytes: after.sum('holdfast_cache_bytes'),
      coalesced: delta('holdfast_cache_coalesced_total'),
      peakRssBytes: peakRss,
      peakHeapUsedBytes: peakHeap,
    },
  };
}

const mib = (b: number) => (b / 1048576).toFixed(0);

/** The report as Markdown. */
export function overloadMarkdown(r: OverloadReport): string {
  const rows = r.steps.map((s) => {
    const rc = Object.entries(s.rcodes).map(([k, v]) => `${k} ${v}`).join(', ');
    return `| ${s.name} | ${s.offeredQps.toFixed(0)} | ${s.sentQps.toFixed(0)} | ${s.answeredQps.toFixed(0)} | ${s.answerRatio.toFixed(3)} | ${rc} | ${s.kernelDrops} | ${s.cacheOverflow} | ${s.waitingOverflow} | ${s.cacheEntries} / ${mib(s.cacheBytes)} | ${s.probe.answered}/${s.probe.sent} | ${s.probe.p50Ms.toFixed(2)} | ${s.probe.p99Ms.toFixed(1)} | ${mib(s.peakRssBytes)} | ${mib(s.peakHeapUsedBytes)} |`;
  });
  const rec = r.recovery;
  return [
    `Overload: resolver on CPU 0${r.resolverCpu === undefined ? '' : ` capped at ${r.resolverCpu} CPU`}, open-loop load from CPU 1, ${r.seconds} s per step; capacity on the mix ${r.capacityQps.toFixed(0)} answers/s.`,
    'Mix: 40 % cluster zone, 40 % cache hits, 20 % forwarded misses (upstream: 20 ms, 5000 answers/s, the rest dropped); "silent" = every query a miss to names the upstream never answers. Answer ratio = answers / queries sent (server count).',
    `RSS before load: ${mib(r.baselineRssBytes)} MiB. Error log lines (level ≥ 50): ${r.errorLogLines}.`,
    '',
    '| step | offered q/s | sent q/s | answered q/s | answer ratio | rcodes (server) | kernel drops | inflight overflow | waiting overflow | cache entries / MiB | probe answered | probe p50 ms | probe p99 ms | peak RSS MiB | peak heap MiB |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    `Recovery after the last overload step: probe answer ratio per second ${rec.perSecondAnswerRatio.map((x) => x.toFixed(3)).join(', ')}; every probe query answered from ${rec.fullyAnsweredAfterMs === undefined ? 'never (within the step)' : `${rec.fullyAnsweredAfterMs} ms`} after the overload ended.`,
  ].join('\n');
}

export async function overload(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { seconds: { type: 'string', default: '8' }, rates: { type: 'string' }, 'resolver-cpu': { type: 'string', default: '0.5' }, out: { type: 'string' } } });
  const seconds = Number(values.seconds);
  if (!(Number.isInteger(seconds) && seconds >= 1 && seconds <= 120)) throw new Error('--seconds takes 1..120');
  const given = values.rates?.split(',').map(Number);
  if (given && (given.length < 2 || !given.every((n) => Number.isInteger(n) && n > 0 && n <= 1_000_000))) throw new Error('--rates takes at least two comma-separated q/s (1..1000000): below capacity, then the overloads');
  const cpu = Number(values['resolver-cpu']);
  if (!(cpu >= 0 && cpu <= 64)) throw new Error('--resolver-cpu takes a fraction of one CPU (0: no cap)');
  const out = resolve(values.out ?? join(root, 'bench', 'out', 'overload'));
  const snapshotPath = join(root, 'demo', 'demo-snapshot.json');
  const upstream = await startFakeUpstream({ delayMs: 20, capacity: 5000, ttl: 3600, shortTtl: 1, upMs: 0, downMs: 0 });
  let resolver: ResolverChild | undefined;
  let probe: PacedLoad | undefined;
  let uncap: (() => void) | undefined;
  try {
    resolver = await startResolverChild(['--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--snapshot-file', snapshotPath, '--allow-unsigned', '--upstream', `127.0.0.1:${upstream.port}`]);
    const r = resolver;
    if (cpu > 0) {
      uncap = limitCpu(r.child.pid ?? 0, cpu);
      if (!uncap) process.stdout.write('overload: no CPU cgroup could be made (not root?): the resolver is not capped\n');
    }
    const baselineRss = procMemory(r.child.pid ?? 0)?.rss ?? Number.NaN;
    // Warm the 500 cache-hit names, then measure capacity.
    const warm = new PacedLoad(r.port, 4, 1000, (n) => encodeLine(`hit-${n % 500}.example.org A`));
    warm.start();
    await new Promise((res) => setTimeout(res, 600));
    await warm.stop(500);
    process.stdout.write('overload: measuring capacity (4 s, as much as the generator sends)…\n');
    const before = await Scrape.of(r.metricsPort);
    const cap = await offer(r.port, 1_000_000, 4, 'capacity', false);
    const capacity = ((await Scrape.of(r.metricsPort)).sum('holdfast_dns_requests_total') - before.sum('holdfast_dns_requests_total')) / cap.seconds;
    process.stdout.write(`overload: capacity ${capacity.toFixed(0)} answers/s (the generator sent ${(cap.sent / cap.seconds).toFixed(0)} q/s)\n`);
    await new Promise((res) => setTimeout(res, 3000)); // the capacity run's upstream queries time out
    const rates = given ?? [0.5, 2, 4].map((f) => Math.round(f * capacity));
    const below = rates[0] as number;
    const top = rates[rates.length - 1] as number;
    const plan: { name: string; rate: number; silent: boolean }[] = [
      { name: 'below', rate: below, silent: false },
      ...rates.slice(1).map((rate) => ({ name: `${(rate / capacity).toFixed(1)}x`, rate, silent: false })),
      { name: `${(top / capacity).toFixed(1)}x-silent`, rate: top, silent: true },
      { name: 'below-again', rate: below, silent: false },
    ];
    const p = new PacedLoad(r.port, 16, PROBE_QPS, queryMix('probe', false), SLOT_MS);
    probe = p;
    p.start();
    const raw: { result: Omit<StepResult, 'probe'>; slots: [number, number] }[] = [];
    for (const s of plan) {
      process.stdout.write(`overload: ${s.name}, ${s.rate} q/s for ${seconds} s…\n`);
      raw.push(await step(r, s.name, s.rate, seconds, s.silent, p));
    }
    // Longer than --upstream-timeout: a probe query waiting on the upstream is answered SERVFAIL by then.
    await p.stop(2500);
    const steps: StepResult[] = raw.map(({ result, slots }) => {
      const w = window(p.slots, slots[0], slots[1]);
      return { ...result, probe: { sent: w.sent, answered: w.answered, p50Ms: percentile(w.latencies, 50), p99Ms: percentile(w.latencies, 99) } };
    });
    const last = raw[raw.length - 1]?.slots ?? [0, 0];
    const recSlots = p.slots.slice(last[0], last[1]);
    const perSecond: number[] = [];
    for (let i = 0; i < recSlots.length; i += 1000 / SLOT_MS) {
      const w = window(recSlots, i, i + 1000 / SLOT_MS);
      perSecond.push(w.sent === 0 ? 1 : w.answered / w.sent);
    }
    let lastLossy = -1;
    recSlots.forEach((s, i) => {
      if (s.answered < s.sent) lastLossy = i;
    });
    const report: OverloadReport = {
      resolverCpu: uncap ? cpu : undefined,
      seconds,
      capacityQps: capacity,
      steps,
      recovery: { perSecondAnswerRatio: perSecond, fullyAnsweredAfterMs: lastLossy === recSlots.length - 1 ? undefined : (lastLossy + 1) * SLOT_MS },
      errorLogLines: r.errors.count,
      firstErrors: r.errors.first,
      baselineRssBytes: baselineRss,
    };
    const md = overloadMarkdown(report);
    process.stdout.write(`\n${md}\n`);
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'overload.json'), `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(join(out, 'overload.md'), `${md}\n`);
    process.stdout.write(`\nwrote ${join(out, 'overload.json')} and overload.md\n`);
  } finally {
    if (probe) await probe.stop(0);
    if (resolver) await stopChild(resolver.child);
    uncap?.();
    await stopChild(upstream.child);
  }
}
