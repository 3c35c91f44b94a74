/**
 * `npm run bench -- soak [--minutes 10 | --seconds N] [--qps 2000] [--tcp-qps 50]
 * [--snapshot-every 5] [--sample 10] [--out DIR]`: a long mixed load at a
 * moderate fixed rate, looking for leaks, errors and creeping latency.
 *
 * A resolver (dist, a child process; --cache-max-entries 20000 so the cache
 * reaches its bound early and evicts from then on) with a signed snapshot
 * pushed to its --receiver-listen every --snapshot-every seconds (a new
 * generation each time, web's cluster IP changed) and persisted to a state
 * directory. Its upstream (`fake-upstream.ts`) answers in 5 ms but is down for
 * 10 s of every 45 s for the `flaky` names (SERVFAIL or silence), which have a
 * 2 s TTL: they are served stale meanwhile. The UDP load (--qps, from 32
 * sockets, each query timed): 40 % cluster zone, 25 % cache hits, 20 % flaky
 * names (stale), 15 % forwarded misses (a new name each); plus --tcp-qps
 * cluster-zone and cache-hit queries over 4 TCP connections.
 *
 * Every --sample seconds: RSS and heap used (the lowest of the per-second
 * readings in the window: the floor after garbage collection, not where the
 * collector happened to be), p99 and answered ratio of the queries sent in the
 * window (UDP and TCP), stale answers, snapshots applied, error log lines
 * (level ≥ 50 in the resolver's JSON stdout). Verdict (`soakVerdict`): no leak
 * (the least-squares slope of the heap floor over the second half under
 * LEAK_BOUND; RSS the same, or else not above the first half's peak by more
 * than 5 %: RSS rises and falls in garbage-collection cycles of minutes, which
 * a straight line over five minutes reads as growth), no error log lines, p99 steady (second half's p99 at most twice
 * the first half's, or 5 ms more), every query answered (ratio ≥ 0.999).
 * Prints a table, writes soak.json and soak.md.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { generateKeyPair, publicKeyToPem } from '../snapshot/keys.js';
import { signSnapshot } from '../snapshot/sign.js';
import type { SignedSnapshot } from '../snapshot/types.js';
import { procMemory, Scrape, startFakeUpstream, startResolverChild, stopChild } from './children.js';
import type { ResolverChild } from './children.js';
import { framed, onFrames } from './frames.js';
import { encodeLine, queryMix } from './overload-mix.js';
import { PacedLoad, window } from './paced.js';
import type { Slot } from './paced.js';
import { percentile, root } from './tools.js';

/** Accepted growth over the second half, bytes per minute: heap and RSS. */
export const LEAK_BOUND = { heapBytesPerMinute: 1024 * 1024, rssBytesPerMinute: 2 * 1024 * 1024 };

/** One sample window. */
export interface SoakSample {
  readonly atSeconds: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  readonly sent: number;
  readonly answered: number;
  readonly p99Ms: number;
  readonly staleServed: number;
  readonly snapshotsApplied: number;
  readonly errorLogLines: number;
}

/** What the soak concludes. */
export interface SoakVerdict {
  readonly heapSlopeBytesPerMinute: number;
  readonly rssSlopeBytesPerMinute: number;
  /** Highest RSS sample of each half. */
  readonly rssPeakFirstHalfBytes: number;
  readonly rssPeakSecondHalfBytes: number;
  readonly noLeak: boolean;
  readonly errorLogLines: number;
  readonly noErrors: boolean;
  readonly p99FirstHalfMs: number;
  readonly p99SecondHalfMs: number;
  readonly p99Steady: boolean;
  readonly answeredRatio: number;
  readonly allAnswered: boolean;
  readonly pass: boolean;
}

/** Least-squares slope of y over x (0 with fewer than two points). */
function slope(points: readonly (readonly [number, number])[]): number {
  if (points.length < 2) return 0;
  const mx = points.reduce((s, [x]) => s + x, 0) / points.length;
  const my = points.reduce((s, [, y]) => s + y, 0) / points.length;
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return sxx === 0 ? 0 : points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0) / sxx;
}

/**
 * The verdict on `samples` (in order) and the latencies (ms, sorted) of the
 * queries sent in the first and the second half.
 */
export function soakVerdict(samples: readonly SoakSample[], firstHalf: readonly number[], secondHalf: readonly number[]): SoakVerdict {
  const late = samples.slice(Math.floor(samples.length / 2));
  const perMinute = (pick: (s: SoakSample) => number) => slope(late.map((s) => [s.atSeconds / 60, pick(s)] as const));
  const heapSlope = perMinute((s) => s.heapUsedBytes);
  const rssSlope = perMinute((s) => s.rssBytes);
  const early = samples.slice(0, Math.floor(samples.length / 2));
  const peak = (xs: readonly SoakSample[]) => Math.max(...xs.map((s) => s.rssBytes));
  const rssBounded = rssSlope <= LEAK_BOUND.rssBytesPerMinute || (early.length > 0 && peak(late) <= peak(early) * 1.05);
  const p99First = percentile(firstHalf, 99);
  const p99Second = percentile(secondHalf, 99);
  const sent = samples.reduce((n, s) => n + s.sent, 0);
  const answered = samples.reduce((n, s) => n + s.answered, 0);
  const errors = samples[samples.length - 1]?.errorLogLines ?? 0;
  const noLeak = heapSlope <= LEAK_BOUND.heapBytesPerMinute && rssBounded;
  const p99Steady = p99Second <= Math.max(2 * p99First, p99First + 5);
  const ratio = sent === 0 ? 0 : answered / sent;
  return {
    heapSlopeBytesPerMinute: heapSlope,
    rssSlopeBytesPerMinute: rssSlope,
    rssPeakFirstHalfBytes: early.length > 0 ? peak(early) : Number.NaN,
    rssPeakSecondHalfBytes: late.length > 0 ? peak(late) : Number.NaN,
    noLeak,
    errorLogLines: errors,
    noErrors: errors === 0,
    p99FirstHalfMs: p99First,
    p99SecondHalfMs: p99Second,
    p99Steady,
    answeredRatio: ratio,
    allAnswered: ratio >= 0.999,
    pass: noLeak && errors === 0 && p99Steady && ratio >= 0.999 && samples.length >= 2,
  };
}

/** Paced DNS-over-TCP queries on a few connections, timed by ID, tallied in slots like {@link PacedLoad}. */
class TcpLoad {
  readonly slots: Slot[] = [];
  private readonly sockets: Socket[] = [];
  private readonly sentAt = new Float64Array(65536);
  private timer: NodeJS.Timeout | undefined;
  private sent = 0;
  private started = 0;

  constructor(
    private readonly port: number,
    private readonly qps: number,
    private readonly query: (n: number) => Buffer,
    private readonly slotMs: number,
    connections = 4,
  ) {
    for (let i = 0; i < connections; i++) this.sockets.push(this.open());
  }

  private open(): Socket {
    const socket = connect(this.port, '127.0.0.1');
    onFrames(socket, (msg) => {
      const id = msg.readUInt16BE(0);
      const at = this.sentAt[id] ?? 0;
      this.sentAt[id] = 0;
      const slot = this.slots[Math.floor((at - this.started) / this.slotMs)];
      if (at <= 0 || !slot) return;
      slot.answered++;
      slot.latencies.push(performance.now() - at);
    });
    socket.on('error', () => {});
    return socket;
  }

  start(startedAt: number): void {
    this.started = startedAt;
    this.timer = setInterval(() => {
      const due = Math.floor(((performance.now() - this.started) / 1000) * this.qps);
      for (; this.sent < due; this.sent++) {
        const index = this.sent % this.sockets.length;
        let socket = this.sockets[index] as Socket;
        if (socket.destroyed) this.sockets[index] = socket = this.open(); // the server closed it: a new one, as a client would
        const q = this.query(this.sent);
        const id = this.sent & 0xffff;
        q.writeUInt16BE(id, 0);
        const frame = framed(q);
        const now = performance.now();
        this.sentAt[id] = now;
        const slot = Math.floor((now - this.started) / this.slotMs);
        while (this.slots.length <= slot) this.slots.push({ sent: 0, answered: 0, latencies: [], rcodes: {} });
        (this.slots[slot] as Slot).sent++;
        socket.write(frame);
      }
    }, 5);
  }

  async stop(graceMs: number): Promise<void> {
    clearInterval(this.timer);
    await new Promise((r) => setTimeout(r, graceMs));
    for (const s of this.sockets) s.destroy();
  }
}

/** The soak's query mix for UDP (`n`-th query), picked out of the overload mix by the index given to it. */
function soakMix(): (n: number) => Buffer {
  const base = queryMix('soak', false); // zone for i % 10 < 4, hits for 4..7, misses for 8..9
  const flaky = Array.from({ length: 200 }, (_, i) => encodeLine(`short-${i}.flaky.example.org A`));
  return (n) => {
    const k = n % 20;
    if (k < 8) return base(0 + (n % 1000) * 10 + (n % 4)); // zone
    if (k < 13) return base(4 + (n % 1000) * 10); // hits
    if (k < 17) return Buffer.from(flaky[n % flaky.length] as Buffer);
    return base(n * 10 + 8); // a new miss each
  };
}

const mib = (b: number) => (b / 1048576).toFixed(1);

/** The samples and verdict as Markdown. */
export function soakMarkdown(report: { readonly seconds: number; readonly qps: number; readonly tcpQps: number; readonly samples: readonly SoakSample[]; readonly verdict: SoakVerdict }): string {
  const v = report.verdict;
  const rows = report.samples.map(
    (s) => `| ${s.atSeconds.toFixed(0)} | ${mib(s.rssBytes)} | ${mib(s.heapUsedBytes)} | ${s.sent} | ${(s.answered / Math.max(1, s.sent)).toFixed(4)} | ${s.p99Ms.toFixed(2)} | ${s.staleServed} | ${s.snapshotsApplied} | ${s.errorLogLines} |`,
  );
  const yes = (b: boolean) => (b ? 'yes' : '**no**');
  return [
    `Soak: ${report.seconds} s at ${report.qps} q/s UDP + ${report.tcpQps} q/s TCP; snapshots pushed every few seconds; upstream down 10 s in every 45 s for the flaky names.`,
    '',
    '| t s | RSS MiB | heap used MiB | sent | answered | p99 ms | stale served | snapshots applied | error logs |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    `Verdict: ${v.pass ? 'PASS' : '**FAIL**'}`,
    `- no leak: ${yes(v.noLeak)} — second-half slope heap ${mib(v.heapSlopeBytesPerMinute)} MiB/min (bound ${mib(LEAK_BOUND.heapBytesPerMinute)}), RSS ${mib(v.rssSlopeBytesPerMinute)} MiB/min (bound ${mib(LEAK_BOUND.rssBytesPerMinute)}, or a second-half peak within 5 % of the first half's: ${mib(v.rssPeakSecondHalfBytes)} vs ${mib(v.rssPeakFirstHalfBytes)} MiB)`,
    `- no error logs: ${yes(v.noErrors)} — ${v.errorLogLines} lines at level ≥ 50`,
    `- p99 steady: ${yes(v.p99Steady)} — first half ${v.p99FirstHalfMs.toFixed(2)} ms, second half ${v.p99SecondHalfMs.toFixed(2)} ms (at most 2× or +5 ms)`,
    `- answered: ${yes(v.allAnswered)} — ${v.answeredRatio.toFixed(5)} of the queries sent (at least 0.999)`,
  ].join('\n');
}

export async function soak(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      minutes: { type: 'string', default: '10' },
      seconds: { type: 'string' },
      qps: { type: 'string', default: '2000' },
      'tcp-qps': { type: 'string', default: '50' },
      'snapshot-every': { type: 'string', default: '5' },
      sample: { type: 'string', default: '10' },
      out: { type: 'string' },
    },
  });
  const seconds = values.seconds !== undefined ? Number(values.seconds) : Number(values.minutes) * 60;
  const qps = Number(values.qps);
  const tcpQps = Number(values['tcp-qps']);
  const every = Number(values['snapshot-every']);
  const sample = Number(values.sample);
  if (!(seconds >= 4 && seconds <= 6 * 3600 && qps > 0 && qps <= 50_000 && tcpQps >= 0 && tcpQps <= 5000 && every >= 1 && sample >= 1 && sample <= seconds / 2)) {
    throw new Error('need 4 s ≤ duration ≤ 6 h, 0 < --qps ≤ 50000, 0 ≤ --tcp-qps ≤ 5000, --snapshot-every ≥ 1, 1 ≤ --sample ≤ half the duration');
  }
  const out = resolve(values.out ?? join(root, 'bench', 'out', 'soak'));
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-soak-'));
  const keys = generateKeyPair();
  writeFileSync(join(dir, 'trusted.pem'), publicKeyToPem(keys.publicKey));
  const demo = (JSON.parse(readFileSync(join(root, 'demo', 'demo-snapshot.json'), 'utf8')) as SignedSnapshot).snapshot;
  const upstream = await startFakeUpstream({ delayMs: 5, capacity: 20_000, ttl: 3600, shortTtl: 2, upMs: 35_000, downMs: 10_000 });
  let resolver: ResolverChild | undefined;
  const stopAll = async () => {
    if (resolver) await stopChild(resolver.child);
    await stopChild(upstream.child);
    rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = () => void stopAll().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    resolver = await startResolverChild([
      '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--receiver-listen', '127.0.0.1:0', '--trust-key', join(dir, 'trusted.pem'),
      '--state-dir', join(dir, 'state'), '--upstream', `127.0.0.1:${upstream.port}`, '--cache-max-entries', '20000',
    ]);
    const r = resolver;
    let generation = demo.generation;
    const push = async () => {
      generation++;
      const snapshot = {
        ...demo,
        generation,
        createdAt: new Date().toISOString(),
        services: demo.services.map((s) => (s.namespace === 'default' && s.name === 'web' ? { ...s, clusterIPs: [`10.96.10.${generation % 250}`, ...s.clusterIPs.slice(1)] } : s)),
      };
      const body = JSON.stringify(signSnapshot(snapshot, keys.privateKey));
      const res = await fetch(`http://127.0.0.1:${r.receiverPort}/v1/snapshot`, { method: 'PUT', body, headers: { 'content-type': 'application/json' } });
      await res.arrayBuffer();
      if (res.status !== 204) process.stdout.write(`soak: push of generation ${generation} answered ${res.status}\n`);
    };
    await push();
    const mix = soakMix();
    const udp = new PacedLoad(r.port, 32, qps, mix, 1000);
    const tcpMix = queryMix('soak-tcp', false);
    const tcp = tcpQps > 0 ? new TcpLoad(r.port, tcpQps, (n) => tcpMix((n % 1000) * 10 + (n % 8)), 1000) : undefined;
    const memory: { at: number; rss: number; heap: number }[] = [];
    udp.start();
    tcp?.start(udp.startedAt);
    const pusher = setInterval(() => void push().catch((e: unknown) => process.stdout.write(`soak: push failed: ${String(e)}\n`)), every * 1000);
    const reader = setInterval(() => {
      void Scrape.of(r.metricsPort)
        .then((m) => memory.push({ at: (performance.now() - udp.startedAt) / 1000, rss: procMemory(r.child.pid ?? 0)?.rss ?? Number.NaN, heap: m.sum('holdfast_nodejs_heap_size_used_bytes') }))
        .catch(() => {});
    }, 1000);
    const counters: { stale: number; applied: number; errors: number }[] = [];
    for (let t = sample; t <= seconds; t += sample) {
      await new Promise((res) => setTimeout(res, Math.max(0, udp.startedAt + t * 1000 - performance.now())));
      const m = await Scrape.of(r.metricsPort);
      counters.push({ stale: m.sum('holdfast_cache_stale_served_total'), applied: m.sum('holdfast_snapshot_loads_total', 'result="applied"'), errors: r.errors.count });
      const last = counters[counters.length - 1] as { stale: number; applied: number; errors: number };
      process.stdout.write(`soak: ${t} s, stale served ${last.stale}, snapshots applied ${last.applied}, error logs ${last.errors}\n`);
    }
    clearInterval(pusher);
    clearInterval(reader);
    await Promise.all([udp.stop(2500), tcp?.stop(2500)]);
    const samples: SoakSample[] = counters.map((c, i) => {
      const [from, to] = [i * sample, (i + 1) * sample];
      const inWindow = memory.filter((x) => x.at >= from && x.at < to);
      const w = window([...udp.slots.slice(from, to), ...(tcp?.slots.slice(from, to) ?? [])]);
      return {
        atSeconds: to,
        rssBytes: Math.min(...inWindow.map((x) => x.rss)),
        heapUsedBytes: Math.min(...inWindow.map((x) => x.heap)),
        sent: w.sent,
        answered: w.answered,
        p99Ms: percentile(w.latencies, 99),
        staleServed: c.stale,
        snapshotsApplied: c.applied,
        errorLogLines: c.errors,
      };
    });
    const half = Math.floor(counters.length / 2) * sample;
    const all = (from: number, to: number) => window([...udp.slots.slice(from, to), ...(tcp?.slots.slice(from, to) ?? [])]).latencies;
    const verdict = soakVerdict(samples, all(0, half), all(half, counters.length * sample));
    const report = { seconds, qps, tcpQps, samples, verdict, firstErrors: r.errors.first };
    const md = soakMarkdown(report);
    process.stdout.write(`\n${md}\n`);
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'soak.json'), `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(join(out, 'soak.md'), `${md}\n`);
    process.stdout.write(`\nwrote ${join(out, 'soak.json')} and soak.md\n`);
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await stopAll();
  }
}
