/**
 * One fuzz run, bounded in inputs and in time: starts the target (resolver child
 * process and fuzz upstream), warms it up, records memory, sends the inputs over
 * UDP and TCP at once while probing a zone name every `probeEvery` inputs and
 * sampling memory every second, lets the resolver settle, probes again over both
 * transports, and returns the report. `npm run fuzz` and test/fuzz.test.ts both run it.
 */
import { Inputs } from './inputs.js';
import type { Input } from './inputs.js';
import { probe } from './probe.js';
import { Tally } from './tally.js';
import type { Failure, TransportCounts } from './tally.js';
import { startTarget } from './target.js';
import type { Memory, Target } from './target.js';
import { TcpDriver } from './tcp.js';
import { UdpDriver } from './udp.js';

/** Options of {@link runFuzz}. */
export interface FuzzOptions {
  /** Inputs in all (UDP and TCP). */
  readonly count: number;
  /** Wall-time bound of the sending phase, seconds. */
  readonly seconds: number;
  readonly seed: number;
  /** Share of the inputs sent over TCP. */
  readonly tcpShare?: number;
  /** UDP inputs in flight at most. */
  readonly window?: number;
  /** A probe every this many inputs. */
  readonly probeEvery?: number;
  /** More flags for the resolver (e.g. `--cache-max-entries 1000`). */
  readonly resolverArgs?: readonly string[];
  /** Progress lines (none when unset). */
  readonly progress?: (line: string) => void;
}

/**
 * Growth of live memory (heap and external, each read after a full collection)
 * allowed beyond what the cache gained: metric series, pools and tables that fill
 * once. A leak of 10 bytes per input would exceed it within a million inputs.
 */
export const MEMORY_MARGIN = 8 * 1024 * 1024;

/** The result of a run. */
export interface FuzzReport {
  readonly seed: number;
  readonly count: number;
  readonly secondsLimit: number;
  /** Why sending stopped. */
  readonly stoppedBy: 'count' | 'time' | 'exit';
  readonly elapsedSeconds: number;
  readonly alive: boolean;
  readonly exit: string | undefined;
  readonly udp: TransportCounts & { readonly perSecond: number };
  readonly tcp: TransportCounts & { readonly perSecond: number; readonly connections: Record<string, number> };
  readonly probes: { readonly sent: number; readonly failed: number; readonly finalUdp: string | undefined; readonly finalTcp: string | undefined };
  readonly memory: { readonly baseline: Memory; readonly peak: Memory; readonly end: Memory; readonly bound: number; readonly rule: string; readonly withinBound: boolean };
  readonly upstream: Record<string, number>;
  readonly errorLogs: readonly string[];
  readonly failureCount: number;
  readonly failuresByCheck: Record<string, number>;
  readonly failures: readonly Failure[];
  /** The last inputs sent before the resolver exited (hex), when it did. */
  readonly crashInputs: readonly string[];
  readonly ok: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const maxMemory = (a: Memory, b: Memory): Memory => ({ rss: Math.max(a.rss, b.rss), heap: Math.max(a.heap, b.heap), external: Math.max(a.external, b.external), cache: Math.max(a.cache, b.cache), entries: Math.max(a.entries, b.entries) });

/** Runs the fuzz harness against a fresh resolver. */
export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const say = options.progress ?? (() => {});
  const tally = new Tally();
  const target = await startTarget(options.seed, options.resolverArgs);
  try {
    return await fuzz(target, tally, options, say);
  } finally {
    await target.stop();
  }
}

async function fuzz(target: Target, tally: Tally, options: FuzzOptions, say: (line: string) => void): Promise<FuzzReport> {
  const window = options.window ?? 256;
  const tcpShare = options.tcpShare ?? 0.1;
  const probeEvery = options.probeEvery ?? Math.max(1000, Math.floor(options.count / 200));
  const recent: string[] = [];
  const keepRecent = (transport: 'udp' | 'tcp', input: Buffer) => {
    recent.push(`${transport} ${input.toString('hex')}`);
    if (recent.length > 2 * window + 500) recent.splice(0, recent.length - window - 250);
  };
  let exited: string | undefined;
  void target.child.exited.then((code) => (exited = `exit code ${code}, signal ${target.child.process.signalCode}`));

  const udpInputs = new Inputs(options.seed, target.names);
  const tcpInputs = new Inputs(options.seed + 1, target.names);
  const udp = new UdpDriver({ port: target.port, window, deadlineMs: 4000 }, tally, keepRecent);
  const tcp = new TcpDriver({ port: target.port, concurrency: 4, deadlineMs: 4000 }, tally, tcpInputs, keepRecent);
  await udp.open();

  let probes = 0;
  let probesFailed = 0;
  const probing: Promise<void>[] = [];
  const runProbe = (transport: 'udp' | 'tcp') =>
    probe(target.port, target.probe, transport, 0xbeef + probes++).then((problem) => {
      if (problem) {
        probesFailed++;
        tally.fail({ check: problem, transport: 'probe' });
      }
      return problem;
    });
  let sent = 0;
  /** A source of at most `n` inputs that fires a probe every `probeEvery` inputs of the run. */
  const source = (inputs: Inputs, n: number) => {
    let left = n;
    return (): Input | undefined => {
      if (left <= 0) return undefined;
      left--;
      if (++sent % probeEvery === 0) probing.push(runProbe(sent % (2 * probeEvery) === 0 ? 'tcp' : 'udp').then(() => {}));
      return inputs.next();
    };
  };
  const started = performance.now();
  const deadline = started + options.seconds * 1000;
  let stoppedBy: FuzzReport['stoppedBy'] = 'count';
  const stop = () => {
    if (exited !== undefined) stoppedBy = 'exit';
    else if (performance.now() > deadline) stoppedBy = 'time';
    else return false;
    return true;
  };
  const phase = (n: number) => {
    const tcpCount = Math.round(n * tcpShare);
    return Promise.all([udp.run(source(udpInputs, n - tcpCount), stop), tcp.run(source(tcpInputs, tcpCount), stop)]);
  };

  // Warm-up: the JIT, the cache's first entries, every code path once; then the baseline.
  const warmup = Math.min(20_000, Math.max(1000, Math.round(options.count * 0.02)), Math.floor(options.count / 2));
  await phase(warmup);
  await sleep(1000);
  const baseline = await target.memory(true);
  say(`warm-up: ${warmup} inputs; baseline heap ${mib(baseline.heap)}, RSS ${mib(baseline.rss)}, cache ${mib(baseline.cache)}`);
  let peak = baseline;
  let lastSent = sent;
  const sampler = setInterval(() => {
    if (exited !== undefined) return;
    void target.memory().then(
      (m) => {
        peak = maxMemory(peak, m);
        say(`  ${sent} inputs (${sent - lastSent}/s), ${tally.failureCount} failures, heap ${mib(m.heap)}, RSS ${mib(m.rss)}, cache ${mib(m.cache)}`);
        lastSent = sent;
      },
      () => {},
    );
  }, 1000);
  try {
    await phase(options.count - warmup);
  } finally {
    clearInterval(sampler);
  }
  await Promise.all(probing);
  const elapsedSeconds = (performance.now() - started) / 1000;
  udp.close();

  // Settle (nothing in flight, TCP connections closed), collect: live memory must be back
  // to the baseline plus what the cache gained.
  await sleep(2000);
  const end = exited === undefined ? await target.memory(true) : peak;
  const live = (m: Memory) => m.heap + m.external;
  const bound = live(baseline) + Math.max(0, end.cache - baseline.cache) + MEMORY_MARGIN;
  const finalUdp = exited === undefined ? await runProbe('udp') : 'resolver exited';
  const finalTcp = exited === undefined ? await runProbe('tcp') : 'resolver exited';
  const withinBound = live(end) <= bound;
  if (exited !== undefined) tally.fail({ check: `resolver exited: ${exited}`, transport: 'process' });
  else if (!withinBound) tally.fail({ check: `heap + external ${mib(live(end))} after settling, over the bound of ${mib(bound)}`, transport: 'memory' });
  for (const line of target.errorLogs) tally.fail({ check: `error log: ${line.slice(0, 300)}`, transport: 'log' });

  const rate = (c: TransportCounts) => (c.seconds > 0 ? c.inputs / c.seconds : 0);
  return {
    seed: options.seed,
    count: options.count,
    secondsLimit: options.seconds,
    stoppedBy,
    elapsedSeconds,
    alive: exited === undefined && target.child.running,
    exit: exited,
    udp: { ...tally.udp, perSecond: rate(tally.udp) },
    tcp: { ...tally.tcp, perSecond: rate(tally.tcp), connections: tcp.connections },
    probes: { sent: probes, failed: probesFailed, finalUdp, finalTcp },
    memory: { baseline, peak: maxMemory(peak, end), end, bound, rule: 'after a full GC: end heap + external ≤ baseline heap + external + growth of holdfast_cache_bytes + 8 MiB', withinBound },
    upstream: { ...target.upstream.answers },
    errorLogs: target.errorLogs,
    failureCount: tally.failureCount,
    failuresByCheck: tally.failuresByCheck,
    failures: tally.failures,
    crashInputs: exited === undefined ? [] : recent,
    ok: tally.failureCount === 0 && exited === undefined,
  };
}

/** Bytes as MiB with one decimal. */
export function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}
