/**
 * Throughput side by side in one run, each server pinned to one core and loaded
 * in alternating rounds by dnsperf (or the built-in generator when dnsperf is
 * absent):
 * - `bare`: a node:dgram server answering from a Map (the Node ceiling);
 * - `zone`: holdfast answering the cluster zone from a snapshot;
 * - `cache`: holdfast answering the same names from its forwarding cache (its
 *   cluster domain is elsewhere, its upstream is the bare server, and the cache
 *   is warmed before the rounds, so every measured query is a hit).
 * Prints per-round figures, the medians and the ratios to the ceiling.
 *
 * Usage: npm run bench -- throughput [--seconds 10] [--rounds 3] [--loadgen dnsperf|node]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { encodeQuery } from '../resolver/wire/decode.js';
import { parseSnapshot } from '../snapshot/validate.js';
import { runLoad } from './loadgen.js';
import { clusterQueries, typeCode } from './queries.js';
import { has, median, pinned, root, startServer } from './tools.js';

function dnsperf(port: number, file: string, seconds: number): number {
  const args = ['-s', '127.0.0.1', '-p', String(port), '-d', file, '-l', String(seconds), '-c', '1', '-T', '1', '-q', '200'];
  const cmd = pinned(1, ['dnsperf', ...args]);
  const out = execFileSync(cmd[0] as string, cmd.slice(1), { encoding: 'utf8' });
  const m = /Queries per second:\s+([\d.]+)/.exec(out);
  const lost = /Queries lost:\s+(\d+)/.exec(out);
  if (!m) throw new Error(`cannot read dnsperf output:\n${out}`);
  if (lost && Number(lost[1]) > 0) process.stdout.write(`    (dnsperf lost ${lost[1]} queries)\n`);
  return Number(m[1]);
}

/** Runs the throughput bench with `argv` options. */
export async function throughput(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { seconds: { type: 'string', default: '10' }, rounds: { type: 'string', default: '3' }, loadgen: { type: 'string' }, snapshot: { type: 'string', default: 'demo/demo-snapshot.json' } },
  });
  const seconds = Number(values.seconds);
  const rounds = Number(values.rounds);
  const loadgen = values.loadgen ?? (has('dnsperf') ? 'dnsperf' : 'node');
  if (loadgen === 'node') process.stdout.write('dnsperf not found (apt-get install dnsperf): using the built-in Node load generator, which may saturate first\n');
  const snapshotPath = join(root, values.snapshot);
  const snapshot = parseSnapshot(readFileSync(snapshotPath)).snapshot;
  const lines = clusterQueries(snapshot);
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-bench-'));
  const queryFile = join(dir, 'queries.txt');
  writeFileSync(queryFile, `${lines.join('\n')}\n`);
  const config = join(dir, 'resolver.yaml');
  writeFileSync(config, `listen: [127.0.0.1:0]\nmetrics-listen: 127.0.0.1:0\nupstream: [127.0.0.1:9]\nallow-unsigned: true\nsnapshot-file: ${snapshotPath}\nlog-level: info\n`);

  const bare = await startServer([join(root, 'dist/bench/bare-server.js'), '0', snapshotPath, queryFile], (l) => (l.startsWith('{"port"') ? (JSON.parse(l) as { port: number }).port : undefined));
  const servingPort = (l: string) => (l.includes('resolver serving') ? (JSON.parse(l) as { listen: { port: number }[] }).listen[0]?.port : undefined);
  const holdfast = await startServer([join(root, 'bin/holdfast'), 'resolver', '--config', config], servingPort);
  const cacheConfig = join(dir, 'cache.yaml');
  writeFileSync(
    cacheConfig,
    `listen: [127.0.0.1:0]\nmetrics-listen: 127.0.0.1:0\nupstream: [127.0.0.1:${bare.port}]\ncluster-domain: cache.invalid\n` +
      'cache-min-ttl: 1h\ncache-max-ttl: 1h\nnegative-min-ttl: 1h\nnegative-max-ttl: 1h\nlog-level: info\n',
  );
  const cache = await startServer([join(root, 'bin/holdfast'), 'resolver', '--config', cacheConfig], servingPort);
  const queries = lines.map((l) => {
    const [name = '', type = 'A'] = l.split(' ');
    return encodeQuery(name, typeCode(type));
  });
  const load = async (port: number) => (loadgen === 'dnsperf' ? dnsperf(port, queryFile, seconds) : (await runLoad(port, queries, seconds)).qps);
  process.stdout.write(`throughput: ${lines.length} distinct queries, ${rounds} rounds of ${seconds}s each, load generator ${loadgen}, servers pinned to CPU 0\n`);
  const results = { bare: [] as number[], zone: [] as number[], cache: [] as number[] };
  try {
    await load(holdfast.port); // warm-up: JIT and templates
    await load(cache.port); // warm-up: fills the cache
    for (let r = 1; r <= rounds; r++) {
      for (const [name, server] of [['bare', bare], ['zone', holdfast], ['cache', cache]] as const) {
        const qps = await load(server.port);
        results[name].push(qps);
        process.stdout.write(`  round ${r} ${name.padEnd(8)} ${qps.toFixed(0).padStart(8)} q/s\n`);
      }
    }
  } finally {
    for (const server of [bare, holdfast, cache]) server.child.kill('SIGTERM');
  }
  const b = median(results.bare);
  const z = median(results.zone);
  const c = median(results.cache);
  process.stdout.write(
    `median: bare node:dgram ${b.toFixed(0)} q/s, holdfast cluster zone ${z.toFixed(0)} q/s (${(z / b).toFixed(2)} of bare), ` +
      `holdfast cache hits ${c.toFixed(0)} q/s (${(c / b).toFixed(2)} of bare, ${(c / z).toFixed(2)} of zone)\n`,
  );
}
