/**
 * Throughput side by side in one run, each server pinned to CPU 0 and loaded in
 * alternating rounds by dnsperf on CPU 1 (or the built-in Node generator when
 * dnsperf is absent or `--loadgen node`):
 * - `bare`: a node:dgram server answering from a Map (the Node ceiling);
 * - `holdfast-zone`: holdfast answering the cluster zone from a snapshot;
 * - `holdfast-cache`: holdfast answering the same names from its forwarding
 *   cache (its cluster domain is elsewhere, its upstream a fake one on loopback);
 * - peers (Unbound, dnsmasq, CoreDNS when found or named with `--peer`), set up
 *   by bench/stampede/peers.ts and forwarding to the same fake upstream;
 * - `holdfast-zone-xN`, `holdfast-cache-xN`: the same with `--workers N` (N = 2
 *   by default on a machine of 2 CPUs or more, `--workers N` to choose, 1 for
 *   none), pinned to CPUs 0…N-1 and loaded from 16 sockets per worker (the kernel
 *   spreads queries over the workers' sockets by source port); the load generator
 *   then runs on CPU N, or shares the last CPU when there is no other.
 * Caches are warmed before the rounds, and the fake upstream answers with a
 * one-hour TTL, so every measured query is a cache hit. Each round measures QPS
 * at saturation, then latency percentiles at a paced rate with the Node generator.
 * Writes throughput.json and throughput.md to `--out`.
 *
 * Usage: npm run bench:throughput -- [--quick] [--seconds N] [--rounds N] [--out DIR]
 *          [--peer unbound|dnsmasq|coredns[=PATH]|none ...] [--loadgen dnsperf|node]
 *          [--latency-qps N] [--snapshot FILE] [--workers N]
 * (also `npm run bench -- throughput ...`). All traffic stays on 127.0.0.1.
 */
import { execFileSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { encodeQuery } from '../resolver/wire/decode.js';
import { parseSnapshot } from '../snapshot/validate.js';
import { runLoadFrom, runPacedLoad } from './loadgen.js';
import { clusterQueries, typeCode } from './queries.js';
import { Children, freePort } from './stampede/children.js';
import type { Child } from './stampede/children.js';
import { choosePeers, peerContender } from './stampede/peers.js';
import { Timeline } from './stampede/timeline.js';
import { cpuSeconds, has, median, percentile, pinned, root, startServer } from './tools.js';
import { writeReport } from './throughput-report.js';
import type { ServerKind, ServerResult, ThroughputReport } from './throughput-report.js';

/** Peers tried when none are named. */
const DEFAULT_PEERS = ['unbound', 'dnsmasq', 'coredns'];

/** Children (the peers) started on CPU 0 like the other servers; taskset and setpriv exec, so the pid is the server's. */
class PinnedChildren extends Children {
  readonly pids: number[] = [];
  override spawn(name: string, command: string, args: readonly string[], env?: NodeJS.ProcessEnv): Child {
    const [cmd, ...rest] = pinned(0, [command, ...args]);
    const child = super.spawn(name, cmd as string, rest, env);
    if (child.process.pid !== undefined) this.pids.push(child.process.pid);
    return child;
  }
}

/** One dnsperf run from `clients` sockets on CPU `cpu`: answered queries per second and the average latency (ms). */
function dnsperf(port: number, file: string, seconds: number, clients: number, cpu: number): { qps: number; avgMs: number | null } {
  const args = ['-s', '127.0.0.1', '-p', String(port), '-d', file, '-l', String(seconds), '-c', String(clients), '-T', '1', '-q', '200', '-t', '1'];
  const cmd = pinned(cpu, ['dnsperf', ...args]);
  const out = execFileSync(cmd[0] as string, cmd.slice(1), { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
  const m = /Queries per second:\s+([\d.]+)/.exec(out);
  const lost = /Queries lost:\s+(\d+)/.exec(out);
  const avg = /Average Latency \(s\):\s+([\d.]+)/.exec(out);
  if (!m) throw new Error(`cannot read dnsperf output:\n${out}`);
  if (lost && Number(lost[1]) > 0) process.stdout.write(`    (dnsperf lost ${lost[1]} queries)\n`);
  return { qps: Number(m[1]), avgMs: avg ? Number(avg[1]) * 1000 : null };
}

/** Pins this process (every thread) to `cpu`; false when it cannot. */
function pinSelf(cpu: number): boolean {
  if (!has('taskset') || availableParallelism() < 2) return false;
  try {
    execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

interface Target {
  readonly name: string;
  readonly kind: ServerKind;
  readonly description: string;
  readonly port: number;
  /** The server's processes, whose CPU time is read around each run. */
  readonly pids: readonly number[];
  /** Sockets the load comes from, and the CPU of the load generator (defaults: 1, CPU 1). */
  readonly clients?: number;
  readonly loadCpu?: number;
}

/** Runs the throughput bench with `argv` options. */
export async function throughput(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      seconds: { type: 'string' },
      rounds: { type: 'string' },
      out: { type: 'string' },
      peer: { type: 'string', multiple: true },
      loadgen: { type: 'string' },
      'latency-qps': { type: 'string', default: '5000' },
      snapshot: { type: 'string', default: 'demo/demo-snapshot.json' },
      workers: { type: 'string' },
    },
  });
  const quick = values.quick === true;
  const seconds = Number(values.seconds ?? (quick ? '1' : '10'));
  const rounds = Number(values.rounds ?? (quick ? '2' : '3'));
  const latencyQps = Number(values['latency-qps']);
  const latencySeconds = quick ? 0.5 : Math.min(3, seconds);
  if (!(seconds > 0 && seconds <= 600 && Number.isInteger(rounds) && rounds >= 1 && rounds <= 50 && latencyQps > 0 && latencyQps <= 100_000)) {
    throw new Error('need 0 < --seconds ≤ 600, 1 ≤ --rounds ≤ 50, 0 < --latency-qps ≤ 100000');
  }
  const cpus = availableParallelism();
  const workers = Number(values.workers ?? (cpus >= 2 ? '2' : '1'));
  if (!(Number.isInteger(workers) && workers >= 1 && workers <= 64)) throw new Error('need 1 ≤ --workers ≤ 64');
  const loadgen = values.loadgen === 'node' || values.loadgen === 'dnsperf' ? values.loadgen : has('dnsperf') ? 'dnsperf' : 'node';
  if (values.loadgen === undefined && loadgen === 'node') process.stdout.write('dnsperf not found (apt-get install dnsperf): using the built-in Node load generator, which may saturate first\n');
  const out = resolve(values.out ?? join(root, 'bench', 'out', 'throughput'));
  mkdirSync(out, { recursive: true });

  const snapshotPath = join(root, values.snapshot);
  const snapshot = parseSnapshot(readFileSync(snapshotPath)).snapshot;
  const lines = clusterQueries(snapshot);
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-bench-'));
  const queryFile = join(dir, 'queries.txt');
  writeFileSync(queryFile, `${lines.join('\n')}\n`);
  const queries = lines.map((l) => {
    const [name = '', type = 'A'] = l.split(' ');
    return encodeQuery(name, typeCode(type), { recursionDesired: true });
  });
  const pinnedRun = pinSelf(1);

  const servers: ChildProcess[] = [];
  const children = new PinnedChildren();
  const stopAll = async () => {
    for (const s of servers) if (s.exitCode === null && s.signalCode === null) s.kill('SIGTERM');
    await children.stopAll();
  };
  const onSignal = () => void stopAll().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', () => {
    for (const s of servers) if (s.exitCode === null && s.signalCode === null) s.kill('SIGKILL');
  });
  const started = async <T>(p: Promise<{ child: ChildProcess; port: T }>) => {
    const s = await p;
    servers.push(s.child);
    return s.port;
  };
  const lastPid = () => servers[servers.length - 1]?.pid ?? 0;
  const bareArgs = (ttl: number) => [join(root, 'dist/bench/bare-server.js'), '0', snapshotPath, queryFile, String(ttl)];
  const barePort = (l: string) => (l.startsWith('{"port"') ? (JSON.parse(l) as { port: number }).port : undefined);
  const servingPort = (l: string) => (l.includes('resolver serving') ? (JSON.parse(l) as { listen: { port: number }[] }).listen[0]?.port : undefined);

  const targets: Target[] = [];
  const skipped: { name: string; reason: string }[] = [];
  try {
    targets.push({ name: 'bare', kind: 'bare', description: 'node:dgram server answering from a Map of ready replies (the Node ceiling)', port: await started(startServer(bareArgs(5), barePort)), pids: [lastPid()] });
    const upstream = await started(startServer(bareArgs(3600), barePort)); // the fake upstream of every cache: TTL 1 h
    const zoneConfig = join(dir, 'zone.yaml');
    writeFileSync(zoneConfig, `listen: [127.0.0.1:0]\nmetrics-listen: 127.0.0.1:0\nupstream: [127.0.0.1:${upstream}]\nallow-unsigned: true\nsnapshot-file: ${snapshotPath}\nlog-level: info\n`);
    targets.push({ name: 'holdfast-zone', kind: 'holdfast-zone', description: 'holdfast answering the cluster zone from the snapshot', port: await started(startServer([join(root, 'bin/holdfast'), 'resolver', '--config', zoneConfig], servingPort)), pids: [lastPid()] });
    const cacheConfig = join(dir, 'cache.yaml');
    writeFileSync(
      cacheConfig,
      `listen: [127.0.0.1:0]\nmetrics-listen: 127.0.0.1:0\nupstream: [127.0.0.1:${upstream}]\ncluster-domain: cache.invalid\n` +
        'cache-min-ttl: 1h\ncache-max-ttl: 1h\nnegative-min-ttl: 1h\nnegative-max-ttl: 1h\nlog-level: info\n',
    );
    targets.push({ name: 'holdfast-cache', kind: 'holdfast-cache', description: 'holdfast answering the same names as forwarding-cache hits', port: await started(startServer([join(root, 'bin/holdfast'), 'resolver', '--config', cacheConfig], servingPort)), pids: [lastPid()] });
    if (workers > 1) {
      const serverCpus = Math.min(workers, cpus);
      const cpuList = serverCpus > 1 ? `0-${serverCpus - 1}` : '0';
      const loadCpu = Math.min(serverCpus, cpus - 1);
      const shared = loadCpu < serverCpus ? `; the load generator shares CPU ${loadCpu}` : '';
      const clients = 16 * workers;
      for (const [kind, config, what] of [['holdfast-zone-workers', zoneConfig, 'the cluster zone'], ['holdfast-cache-workers', cacheConfig, 'forwarding-cache hits']] as const) {
        const port = await started(startServer([join(root, 'bin/holdfast'), 'resolver', '--config', config, '--workers', String(workers)], servingPort, false, cpuList));
        const name = `${kind === 'holdfast-zone-workers' ? 'holdfast-zone' : 'holdfast-cache'}-x${workers}`;
        targets.push({ name, kind, description: `holdfast --workers ${workers} answering ${what}, on CPUs ${cpuList}${shared}; load from ${clients} sockets`, port, pids: [lastPid()], clients, loadCpu });
      }
    }

    const timeline = new Timeline(1, 0, 0, 0);
    for (const choice of choosePeers(values.peer ?? DEFAULT_PEERS)) {
      if ('skipped' in choice) {
        skipped.push({ name: choice.name, reason: choice.skipped });
        process.stdout.write(`peer ${choice.name}: skipped, ${choice.skipped}\n`);
        continue;
      }
      const port = await freePort();
      const spawned = children.pids.length;
      const peer = peerContender(choice, port, { children, timeline, upstream: { kubeDns: upstream, external: upstream }, instance: 0, dir: join(dir, choice.name), root });
      try {
        await peer.start();
        targets.push({ name: peer.name, kind: 'peer', description: `${peer.description}; cache hits of the same forwarded names`, port, pids: children.pids.slice(spawned) });
      } catch (error) {
        const reason = `did not start: ${(error as Error).message.split('\n')[0] ?? ''}`;
        skipped.push({ name: choice.name, reason });
        process.stdout.write(`peer ${choice.name}: skipped, ${reason}\n`);
      }
    }

    const cpu = (t: Target) => {
      let total = 0;
      for (const pid of t.pids) {
        const seconds = cpuSeconds(pid);
        if (seconds === undefined) return undefined;
        total += seconds;
      }
      return total;
    };
    /** One saturation run: QPS, dnsperf's average latency, and the server's CPU µs per answered query. */
    const load = async (t: Target, s: number) => {
      const before = cpu(t);
      const { qps, avgMs } = loadgen === 'dnsperf' ? dnsperf(t.port, queryFile, s, t.clients ?? 1, t.loadCpu ?? 1) : { qps: (await runLoadFrom(t.clients ?? 1, t.port, queries, s)).qps, avgMs: null };
      const after = cpu(t);
      const cpuUs = before === undefined || after === undefined || qps <= 0 ? null : ((after - before) * 1e6) / (qps * s);
      return { qps, avgMs, cpuUs };
    };
    process.stdout.write(
      `throughput: ${lines.length} distinct queries, ${rounds} round(s) of ${seconds} s per server, load generator ${loadgen}, ` +
        `${pinnedRun ? 'servers on CPU 0, load on CPU 1' : 'unpinned'}; latency paced at ${latencyQps} q/s for ${latencySeconds} s\n`,
    );
    for (const t of targets) await load(t, Math.min(seconds, 2)); // warm-up: JIT, and fills every cache
    const perRound = new Map(targets.map((t) => [t.name, { qps: [] as number[], avg: [] as number[], cpu: [] as number[], p50: [] as number[], p99: [] as number[], p999: [] as number[], loss: [] as number[] }]));
    for (let r = 1; r <= rounds; r++) {
      for (const t of targets) {
        const m = perRound.get(t.name)!;
        const { qps, avgMs, cpuUs } = await load(t, seconds);
        const paced = await runPacedLoad(t.port, queries, latencyQps, latencySeconds, 300);
        const sorted = paced.latencies.sort((a, b) => a - b);
        m.qps.push(qps);
        if (avgMs !== null) m.avg.push(avgMs);
        if (cpuUs !== null) m.cpu.push(cpuUs);
        m.p50.push(percentile(sorted, 50));
        m.p99.push(percentile(sorted, 99));
        m.p999.push(percentile(sorted, 99.9));
        m.loss.push(paced.sent === 0 ? 0 : 1 - sorted.length / paced.sent);
        process.stdout.write(
          `  round ${r} ${t.name.padEnd(17)} ${qps.toFixed(0).padStart(8)} q/s ${cpuUs === null ? '' : `${cpuUs.toFixed(1).padStart(5)} µs CPU/query`}  p50 ${percentile(sorted, 50).toFixed(3)} ms  p99 ${percentile(sorted, 99).toFixed(3)} ms  p99.9 ${percentile(sorted, 99.9).toFixed(3)} ms\n`,
        );
      }
    }

    const results: ServerResult[] = targets.map((t) => {
      const m = perRound.get(t.name)!;
      return {
        name: t.name,
        kind: t.kind,
        description: t.description,
        qps: median(m.qps),
        qpsRounds: m.qps,
        latencyMs: { p50: median(m.p50), p99: median(m.p99), p99_9: median(m.p999) },
        latencyLoss: median(m.loss),
        saturatedAvgLatencyMs: m.avg.length > 0 ? median(m.avg) : null,
        cpuUsPerQuery: m.cpu.length > 0 ? median(m.cpu) : null,
      };
    });
    const qpsOf = (kind: ServerKind) => results.find((s) => s.kind === kind)?.qps ?? Number.NaN;
    const cpuOf = (kind: ServerKind) => results.find((s) => s.kind === kind)?.cpuUsPerQuery ?? Number.NaN;
    const peers = results.filter((s) => s.kind === 'peer');
    const report: ThroughputReport = {
      generatedAt: new Date().toISOString(),
      quick,
      seconds,
      rounds,
      loadgen,
      latency: { generator: 'node-paced', qps: latencyQps, seconds: latencySeconds },
      pinned: pinnedRun ? { server: 0, loadgen: 1 } : null,
      distinctQueries: lines.length,
      servers: results,
      skipped,
      ratios: {
        zoneOfBare: qpsOf('holdfast-zone') / qpsOf('bare'),
        cacheOfBare: qpsOf('holdfast-cache') / qpsOf('bare'),
        cacheOfPeer: Object.fromEntries(peers.map((p) => [p.name, qpsOf('holdfast-cache') / p.qps])),
        zoneOfPeer: Object.fromEntries(peers.map((p) => [p.name, qpsOf('holdfast-zone') / p.qps])),
        scaling:
          workers > 1
            ? {
                workers,
                cpus,
                zone: qpsOf('holdfast-zone-workers') / qpsOf('holdfast-zone'),
                cache: qpsOf('holdfast-cache-workers') / qpsOf('holdfast-cache'),
                zoneCpu: cpuOf('holdfast-zone-workers') / cpuOf('holdfast-zone'),
                cacheCpu: cpuOf('holdfast-cache-workers') / cpuOf('holdfast-cache'),
              }
            : null,
      },
    };
    writeReport(out, report);
    const r = report.ratios;
    process.stdout.write(
      `median: bare ${qpsOf('bare').toFixed(0)} q/s, holdfast zone ${qpsOf('holdfast-zone').toFixed(0)} q/s (${r.zoneOfBare.toFixed(2)} of bare), ` +
        `holdfast cache ${qpsOf('holdfast-cache').toFixed(0)} q/s (${r.cacheOfBare.toFixed(2)} of bare)` +
        peers.map((p) => `, ${p.name} ${p.qps.toFixed(0)} q/s (holdfast cache ${(r.cacheOfPeer[p.name] ?? Number.NaN).toFixed(2)}× of it)`).join('') +
        (r.scaling ? `; --workers ${r.scaling.workers}: zone ×${r.scaling.zone.toFixed(2)}, cache ×${r.scaling.cache.toFixed(2)} of one worker` : '') +
        `\nreport: ${join(out, 'throughput.md')}, ${join(out, 'throughput.json')}\n`,
    );
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await stopAll();
  }
}
