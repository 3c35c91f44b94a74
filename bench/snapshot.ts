/**
 * `npm run bench -- snapshot`: what a large snapshot costs, end to end.
 *
 * In this process, one thread, each the median of --repeat runs: build
 * (buildSnapshot from a synthetic cluster's Services and EndpointSlices, see
 * cluster.ts), sign, sizes (JSON, gzip), parse+validate (from gzip), verify, and
 * the zone build (records and packing), i.e. all the apply work.
 *
 * Then a real resolver in a child process pinned to CPU 0 (snapshot-server.ts):
 * its memory before and while holding the snapshot (after full collections); the
 * wall time of each push (offered to its snapshot store, as the receiver does with
 * a PUT body, until applied); and the stall.
 * For that a steady query load (dnsperf on CPU 1 at --qps, or a paced node UDP
 * loop) runs three times: with no push, with --applies pushes, and with as many
 * verifications done on the serving thread, as the resolver did before it had a
 * verification process. Each run reports the longest event-loop delay in the
 * resolver (per 1-s window, per push, per inline verification) and the client
 * latencies.
 *
 * Usage: npm run bench -- snapshot [--services 10000] [--endpoints 100000]
 *        [--applies 5] [--seconds 8] [--qps 10000] [--repeat 3] [--names N] [--loadgen dnsperf|node]
 * (--names: query only the first N names of the mix; default all of them)
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { encodeQuery } from '../resolver/wire/decode.js';
import { zoneRecords } from '../resolver/zone/records.js';
import { packZone } from '../resolver/zone/table.js';
import { buildSnapshot } from '../snapshot/build.js';
import { generateKeyPair, publicKeyToPem } from '../snapshot/keys.js';
import { signSnapshot, verifySignature } from '../snapshot/sign.js';
import type { SnapshotV1 } from '../snapshot/types.js';
import { parseSnapshot } from '../snapshot/validate.js';
import { syntheticCluster } from './cluster.js';
import { runPacedLoad } from './loadgen.js';
import { clusterQueries, typeCode } from './queries.js';
import type { OfferFigures, ServerCommand } from './snapshot-server.js';
import { has, median, percentile, pinned, root, startServer } from './tools.js';

const out = (line: string) => process.stdout.write(`${line}\n`);
const ms = (x: number) => `${x < 10 ? x.toFixed(1) : x.toFixed(0)} ms`;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

function timed<T>(runs: number, work: () => T): { ms: number; value: T } {
  const times: number[] = [];
  let value: T | undefined;
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    value = work();
    times.push(performance.now() - start);
  }
  return { ms: median(times), value: value as T };
}

/** Client-side figures of one load run. */
interface Latency {
  readonly sent: number;
  readonly latencies: number[];
}

/** dnsperf at `qps` for `seconds`, each reply's latency read from its verbose output. */
function dnsperf(port: number, file: string, qps: number, seconds: number): Promise<Latency> {
  const args = ['-s', '127.0.0.1', '-p', String(port), '-d', file, '-l', String(seconds), '-Q', String(qps), '-q', '2000', '-t', '3', '-v'];
  const [cmd, ...rest] = pinned(1, ['dnsperf', ...args]);
  const child = spawn(cmd as string, rest, { stdio: ['ignore', 'pipe', 'inherit'] });
  let text = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', () => {
      const latencies: number[] = [];
      // `> RCODE name type seconds` per reply; `> T name type` per query that timed out.
      for (const line of text.split('\n')) {
        if (!line.startsWith('> ') || line.startsWith('> T ')) continue;
        const seconds = Number(line.slice(line.lastIndexOf(' ') + 1));
        if (Number.isFinite(seconds)) latencies.push(seconds * 1000);
      }
      const sent = /Queries sent:\s+(\d+)/.exec(text);
      resolve({ sent: sent ? Number(sent[1]) : latencies.length, latencies });
    });
  });
}

function describe(run: Latency): string {
  const sorted = [...run.latencies].sort((a, b) => a - b);
  const lost = run.sent - sorted.length;
  const p = (q: number) => percentile(sorted, q).toFixed(2);
  return `p50 ${p(50)}  p99 ${p(99)}  p99.9 ${p(99.9)}  max ${p(100)} ms, ${lost} of ${run.sent} lost`;
}

/** `snapshot` at `generation`, with the first endpoint of 1 % of the services moved to another address. */
function churned(snapshot: SnapshotV1, generation: number): SnapshotV1 {
  const services = snapshot.services.map((service, i) => {
    const [first, ...rest] = service.endpoints;
    if (i % 100 !== generation % 100 || !first) return service;
    return { ...service, endpoints: [{ ...first, addresses: [`10.127.${generation % 256}.${i % 256}`] }, ...rest] };
  });
  return { ...snapshot, generation, services };
}

const sleep = (msec: number) => new Promise((resolve) => setTimeout(resolve, msec));

/** Runs the snapshot bench with `argv` options. */
export async function snapshot(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      services: { type: 'string', default: '10000' },
      endpoints: { type: 'string', default: '100000' },
      applies: { type: 'string', default: '5' },
      seconds: { type: 'string', default: '8' },
      qps: { type: 'string', default: '10000' },
      repeat: { type: 'string', default: '3' },
      names: { type: 'string' },
      loadgen: { type: 'string' },
    },
  });
  const size = { services: Number(values.services), endpoints: Number(values.endpoints) };
  const applies = Number(values.applies);
  const seconds = Number(values.seconds);
  const qps = Number(values.qps);
  const repeat = Number(values.repeat);
  const loadgen = values.loadgen ?? (has('dnsperf') ? 'dnsperf' : 'node');

  const objects = syntheticCluster(size);
  const keys = generateKeyPair();
  const build = timed(repeat, () => buildSnapshot(objects, { clusterDomain: 'cluster.local', generation: 1, now: new Date() }));
  const snap = build.value.snapshot;
  const count = (pred: (s: (typeof snap.services)[number]) => boolean) => snap.services.filter(pred).length;
  const endpoints = snap.services.reduce((n, s) => n + s.endpoints.length, 0);
  out(`snapshot bench: ${snap.services.length} services (${count((s) => s.headless)} headless, ${count((s) => s.clusterIPs.length > 1)} dual-stack, ${count((s) => s.type === 'ExternalName')} ExternalName), ${endpoints} endpoints`);
  out(`  one thread, median of ${repeat} runs each:`);
  out(`  build             ${ms(build.ms)}  (from ${objects.length} Services and EndpointSlices${build.value.problems.length > 0 ? `, ${build.value.problems.length} problems` : ''})`);
  const sign = timed(repeat, () => signSnapshot(snap, keys.privateKey));
  out(`  sign              ${ms(sign.ms)}`);
  const json = Buffer.from(JSON.stringify(sign.value));
  const gzip = gzipSync(json);
  out(`  size              JSON ${mb(json.length)}, gzip ${mb(gzip.length)}`);
  const parsed = timed(repeat, () => parseSnapshot(gzip));
  out(`  parse+validate    ${ms(parsed.ms)}  (gunzip, JSON.parse, schema)`);
  const verify = timed(repeat, () => verifySignature(parsed.value, [keys.publicKey]));
  out(`  verify            ${ms(verify.ms)}`);
  const zone = timed(repeat, () => packZone(zoneRecords(parsed.value.snapshot, { ttl: 5 })));
  out(`  zone build        ${ms(zone.ms)}  (${zone.value.stats.records} records at ${zone.value.stats.names + zone.value.stats.reverseNames} names, packed into ${mb(zone.value.nodes.data.byteLength + zone.value.nodes.slots.byteLength + zone.value.reverse.data.byteLength + zone.value.reverse.slots.byteLength)})`);

  const dir = mkdtempSync(join(tmpdir(), 'holdfast-snapshot-bench-'));
  const keyFile = join(dir, 'trusted.pub');
  writeFileSync(keyFile, publicKeyToPem(keys.publicKey));
  const files: string[] = [];
  for (let generation = 1; generation <= applies + 1; generation++) {
    const file = join(dir, `snapshot-${generation}.json.gz`);
    writeFileSync(file, gzipSync(JSON.stringify(signSnapshot(churned(snap, generation), keys.privateKey))));
    files.push(file);
  }
  const all = clusterQueries(snap);
  const lines = values.names === undefined ? all : all.slice(0, Number(values.names));
  const queryFile = join(dir, 'queries.txt');
  writeFileSync(queryFile, `${lines.join('\n')}\n`);
  const queries = lines.map((l) => {
    const [name = '', type = 'A'] = l.split(' ');
    return encodeQuery(name, typeCode(type));
  });

  const pick = (l: string) => (l.startsWith('{"dns"') ? (JSON.parse(l) as { dns: number; metrics: number; receiver: number }) : undefined);
  const server = await startServer(['--expose-gc', join(root, 'dist/bench/snapshot-server.js'), keyFile], pick, true);
  try {
    await measureResolver(server.child, server.port, { files, queryFile, queries, loadgen, qps, seconds, applies });
  } finally {
    server.child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The `memory` reply of snapshot-server.ts. */
type Memory = NodeJS.MemoryUsage & { readonly children: readonly { readonly rss: number; readonly peak: number }[] };

interface ResolverRun {
  readonly files: readonly string[];
  readonly queryFile: string;
  readonly queries: readonly Buffer[];
  readonly loadgen: string;
  readonly qps: number;
  readonly seconds: number;
  readonly applies: number;
}

async function measureResolver(child: ChildProcess, ports: { dns: number }, run: ResolverRun): Promise<void> {
  const ask = <T>(command: ServerCommand) =>
    new Promise<T>((resolve) => {
      child.once('message', (m) => resolve((m as { reply: T }).reply));
      child.send(command);
    });
  const push = async (file: string) => {
    const figures = await ask<OfferFigures>({ cmd: 'offer', file });
    if (figures.result !== 'applied') throw new Error(`offer of ${file}: ${figures.result}`);
    return figures;
  };
  const load = () => (run.loadgen === 'dnsperf' ? dnsperf(ports.dns, run.queryFile, run.qps, run.seconds) : runPacedLoad(ports.dns, run.queries, run.qps, run.seconds));

  const [first = '', ...later] = run.files;
  const before = await ask<Memory>({ cmd: 'memory' });
  const initial = await push(first);
  const holding = await ask<Memory>({ cmd: 'memory' });
  const delta = (a: number, b: number) => `${b >= a ? '+' : ''}${mb(b - a)}`;
  out(`resolver: a process on CPU 0 (its verification process too), load on CPU 1 (${run.loadgen}, ${run.qps} q/s over ${run.queries.length} names)`);
  out(`  memory            no snapshot: heap ${mb(before.heapUsed)}, array buffers ${mb(before.arrayBuffers)}, RSS ${mb(before.rss)}`);
  out(`                    holding it:  heap ${mb(holding.heapUsed)} (${delta(before.heapUsed, holding.heapUsed)}), array buffers ${mb(holding.arrayBuffers)} (${delta(before.arrayBuffers, holding.arrayBuffers)}), RSS ${mb(holding.rss)} (${delta(before.rss, holding.rss)})`);
  const verifier = holding.children[0];
  if (verifier) out(`                    verification process (ends after 60 s idle): RSS ${mb(verifier.rss)}, peak ${mb(verifier.peak)}`);
  out(`  first apply       ${ms(initial.wall)} wall (verification process started cold), longest event-loop delay ${ms(initial.delay)}`);

  const spacing = (run.seconds * 1000) / (run.applies + 1);
  const during = async <T>(event: (i: number) => Promise<T>): Promise<{ results: T[]; latency: Latency }> => {
    const loading = load();
    const results: T[] = [];
    const start = performance.now();
    for (let i = 0; i < run.applies; i++) {
      await sleep(Math.max(0, start + spacing * (i + 1) - performance.now()));
      results.push(await event(i));
    }
    return { results, latency: await loading };
  };
  // Warm-up: every name queried once or more, so that its answer is encoded (as it would be on a busy node).
  const warm = Math.ceil(run.queries.length / run.qps) + 1;
  await (run.loadgen === 'dnsperf' ? dnsperf(ports.dns, run.queryFile, run.qps, warm) : runPacedLoad(ports.dns, run.queries, run.qps, warm));
  await ask({ cmd: 'delay' });
  const quiet = await during(async () => {
    await ask({ cmd: 'delay' });
    await sleep(1000);
    return ask<number>({ cmd: 'delay' });
  });
  const pushed = await during((i) => push(later[i] as string));
  const after = await ask<Memory>({ cmd: 'memory' });
  const inline = await during((i) => ask<number>({ cmd: 'inline', file: later[i] as string }));

  const walls = pushed.results.map((r) => r.wall);
  const range = (xs: number[]) => `median ${ms(median(xs))} (${ms(Math.min(...xs))} to ${ms(Math.max(...xs))})`;
  out(`  apply under load  ${range(walls)} wall over ${run.applies} pushes (each changing 1 % of the services)`);
  out('  longest event-loop delay:');
  out(`    no push, 1-s windows               ${range(quiet.results)}`);
  out(`    during each push                   ${range(pushed.results.map((r) => r.delay))}`);
  out(`    verifying on the serving thread    ${range(inline.results)}  (the resolver before this change)`);
  out('  client latency:');
  out(`    no push                            ${describe(quiet.latency)}`);
  out(`    ${run.applies} pushes                           ${describe(pushed.latency)}`);
  out(`    ${run.applies} verifications on the thread      ${describe(inline.latency)}`);
  out(`  memory after the pushes: heap ${mb(after.heapUsed)} (encoded answers included), array buffers ${mb(after.arrayBuffers)}, RSS ${mb(after.rss)}`);
  await ask({ cmd: 'stop' });
}
