/**
 * `--workers N`: worker threads sharing the listen ports (SO_REUSEPORT), over
 * real sockets on 127.0.0.1. Queries from many source ports reach every worker,
 * over UDP and TCP, for the cluster zone and forwarded names; a snapshot
 * applied after start and a reloaded configuration reach every worker; /metrics
 * sums the workers' counters; a worker that dies is started again while the
 * others answer; SIGTERM ends the process cleanly; bad counts exit 2.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Resolver } from '../resolver/resolver.js';
import { loadConfig } from '../resolver/config.js';
import { RRType } from '../resolver/wire/constants.js';
import { encodeQuery, decodeMessage, recordText } from '../resolver/wire/decode.js';
import type { WorkerPool } from '../resolver/workers/pool.js';
import { workerCount } from '../resolver/workers/count.js';
import { tcpExchange, udpQuery } from './helpers/dns.js';
import { errorLines, runHoldfast, serveResolver } from './helpers/process.js';
import { demoSnapshot, WEB } from './helpers/snapshots.js';
import { a, startResolverRetrying, startUpstream } from './helpers/upstream.js';
import type { FakeUpstream } from './helpers/upstream.js';

const EXTERNAL = 'www.example.com';
const QUERIES = 40;

/** The body of GET /metrics. */
async function scrape(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

/** The value of the series `series` (name and labels, as written) in `text`, 0 when absent. */
function value(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

/** Queries answered by each worker, per `holdfast_worker_dns_requests_total`. */
async function perWorker(port: number, workers: number): Promise<number[]> {
  const text = await scrape(port);
  return Array.from({ length: workers }, (_, i) => value(text, `holdfast_worker_dns_requests_total{worker="${i}"}`));
}

/** A-record answers of `name` asked `count` times over UDP, each from a new socket (a new source port). */
async function askMany(port: number, name: string, count = QUERIES): Promise<string[][]> {
  const replies = await Promise.all(Array.from({ length: count }, (_, i) => udpQuery(port, encodeQuery(name, RRType.A, { id: i + 1 }))));
  return replies.map((r) => r.answers.map(recordText));
}

/** Waits until `check` holds, polling every 20 ms, at most `ms`. */
async function until(check: () => Promise<boolean> | boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('--workers', () => {
  it.each([
    { text: '1', n: 1 },
    { text: '2', n: 2 },
    { text: '64', n: 64 },
    { text: '0', n: 3 },
  ])('workerCount($text) = $n (0: one per CPU, here 3)', ({ text, n }) => {
    expect(workerCount(text, () => 3)).toBe(n);
  });

  it('0 means one per CPU, at most 64', () => {
    expect(workerCount('0', () => 200)).toBe(64);
  });

  it.each(['65', '-1', '1.5', 'two', ''])("exits 2 on --workers '%s', naming the flag", async (text) => {
    const { code, stderr } = await runHoldfast(['resolver', '--listen', '127.0.0.1:0', '--upstream', '127.0.0.1:9', `--workers=${text}`]);
    expect(code).toBe(2);
    expect(errorLines(stderr)).toEqual([expect.stringMatching(/--workers.*integer from 0 to 64/)]);
  });

  it('defaults to 1: no worker threads', () => {
    expect(loadConfig({ flags: { upstream: ['127.0.0.1:9'] }, env: {} }).workers).toBe(1);
  });
});

describe('two workers', () => {
  let resolver: Resolver;
  let port: number;
  let metricsPort: number;
  let upstream: FakeUpstream;
  const pool = () => resolver.service as WorkerPool;

  beforeAll(async () => {
    upstream = await startUpstream({ kind: 'answer', records: [a(EXTERNAL, '192.0.2.1')] });
    ({ resolver, port, metricsPort } = await startResolverRetrying({
      workers: '2',
      'snapshot-file': 'demo/demo-snapshot.json',
      'allow-unsigned': true,
      upstream: [upstream.address],
      'prefetch-hits': '0',
    }));
  });
  afterAll(async () => {
    await resolver?.stop();
    await upstream.close();
  });

  it('answers cluster-zone and forwarded queries over UDP from many source ports, and both workers answer', async () => {
    expect(pool().threads().filter(Boolean)).toHaveLength(2);
    const before = await perWorker(metricsPort, 2);
    for (const answers of await askMany(port, WEB)) expect(answers).toEqual([`${WEB}. 5 IN A 10.96.10.10`]);
    for (const answers of await askMany(port, EXTERNAL)) expect(answers).toEqual([`${EXTERNAL}. 60 IN A 192.0.2.1`]);
    const after = await perWorker(metricsPort, 2);
    // 2 × 40 clients, each on its own port: the chance that all land on one worker is 2^-79.
    expect(after[0]! - before[0]!).toBeGreaterThan(0);
    expect(after[1]! - before[1]!).toBeGreaterThan(0);
    expect(after[0]! + after[1]! - before[0]! - before[1]!).toBe(2 * QUERIES);
    // Each worker has its own cache: the upstream was asked once per worker at most.
    expect(upstream.queries.filter((q) => q.name === EXTERNAL).length).toBeLessThanOrEqual(2);
  });

  it('answers over TCP on many connections, and both workers answer', async () => {
    const before = await perWorker(metricsPort, 2);
    const replies = await Promise.all(
      Array.from({ length: QUERIES }, async (_, i) => {
        const [zoneReply, forwarded] = await tcpExchange(port, [encodeQuery(WEB, RRType.A, { id: 2 * i }), encodeQuery(EXTERNAL, RRType.A, { id: 2 * i + 1 })]);
        return [decodeMessage(zoneReply!), decodeMessage(forwarded!)];
      }),
    );
    for (const [zoneReply, forwarded] of replies) {
      expect(zoneReply!.answers.map(recordText)).toEqual([`${WEB}. 5 IN A 10.96.10.10`]);
      expect(forwarded!.answers.map(recordText)).toEqual([`${EXTERNAL}. 60 IN A 192.0.2.1`]);
    }
    const after = await perWorker(metricsPort, 2);
    expect(after[0]! - before[0]!).toBeGreaterThan(0);
    expect(after[1]! - before[1]!).toBeGreaterThan(0);
  });

  it('/metrics sums the counters of the workers', async () => {
    const text = await scrape(metricsPort);
    const workers = await perWorker(metricsPort, 2);
    const udp = value(text, 'holdfast_dns_requests_total{transport="udp",qtype="A",rcode="NOERROR"}');
    const tcp = value(text, 'holdfast_dns_requests_total{transport="tcp",qtype="A",rcode="NOERROR"}');
    expect(udp).toBe(2 * QUERIES);
    expect(tcp).toBe(2 * QUERIES);
    expect(workers[0]! + workers[1]!).toBe(udp + tcp);
    expect(value(text, 'holdfast_dns_request_duration_seconds_count{transport="udp"}')).toBe(udp);
    expect(value(text, 'holdfast_workers')).toBe(2);
    expect(value(text, 'holdfast_workers_serving')).toBe(2);
    // Main-thread metrics appear once, not summed: the snapshot and the process.
    expect(value(text, 'holdfast_snapshot_generation')).toBe(1);
    expect(text.match(/^# TYPE holdfast_process_start_time_seconds /gm)).toHaveLength(1);
    expect(value(text, 'holdfast_ready')).toBe(1);
  });

  it('a snapshot applied after start reaches every worker', async () => {
    const before = await perWorker(metricsPort, 2);
    const result = await resolver.store.offer(Buffer.from(JSON.stringify({ snapshot: demoSnapshot(2, '10.96.99.99') })), 'push');
    expect(result).toEqual({ result: 'applied', generation: 2 });
    await until(async () => (await askMany(port, WEB, 10)).every((answers) => answers[0] === `${WEB}. 5 IN A 10.96.99.99`));
    const mark = await perWorker(metricsPort, 2);
    for (const answers of await askMany(port, WEB)) expect(answers).toEqual([`${WEB}. 5 IN A 10.96.99.99`]);
    const after = await perWorker(metricsPort, 2);
    expect(after[0]! - mark[0]!).toBeGreaterThan(0);
    expect(after[1]! - mark[1]!).toBeGreaterThan(0);
    expect(mark[0]! + mark[1]!).toBeGreaterThan(before[0]! + before[1]!);
  });

  it('a reloaded configuration (SIGHUP) reaches every worker', async () => {
    const other = await startUpstream({ kind: 'answer', records: [a('new.example.com', '192.0.2.2')] });
    try {
      const config = loadConfig({
        flags: { listen: ['127.0.0.1:0'], 'metrics-listen': '127.0.0.1:0', upstream: [other.address], workers: '2', 'snapshot-file': 'demo/demo-snapshot.json', 'allow-unsigned': true, 'shutdown-grace': '100ms' },
        env: {},
      });
      await resolver.reload(config);
      const before = await perWorker(metricsPort, 2);
      for (const answers of await askMany(port, 'new.example.com')) expect(answers).toEqual(['new.example.com. 60 IN A 192.0.2.2']);
      const after = await perWorker(metricsPort, 2);
      expect(after[0]! - before[0]!).toBeGreaterThan(0);
      expect(after[1]! - before[1]!).toBeGreaterThan(0);
      expect(other.queries.length).toBeGreaterThan(0);
    } finally {
      await other.close();
    }
  });

  it('a worker thread that dies is started again; the other keeps answering meanwhile', async () => {
    const dead = pool().threads()[0]!;
    const counted = value(await scrape(metricsPort), 'holdfast_dns_requests_total{transport="udp",qtype="A",rcode="NOERROR"}');
    await dead.terminate();
    // Its sockets closed with it: every query now reaches the other worker.
    for (const answers of await askMany(port, WEB, 10)) expect(answers).toEqual([`${WEB}. 5 IN A 10.96.99.99`]);
    await until(() => pool().ready());
    const replacement = pool().threads()[0];
    expect(replacement).toBeDefined();
    expect(replacement).not.toBe(dead);
    const text = await scrape(metricsPort);
    expect(value(text, 'holdfast_worker_restarts_total{worker="0"}')).toBe(1);
    expect(value(text, 'holdfast_workers_serving')).toBe(2);
    // The dead worker's counts were kept: the sum did not go down.
    expect(value(text, 'holdfast_dns_requests_total{transport="udp",qtype="A",rcode="NOERROR"}')).toBeGreaterThanOrEqual(counted + 10);
    expect((await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status).toBe(200);
    // The new worker has the current zone and answers too.
    const before = await perWorker(metricsPort, 2);
    for (const answers of await askMany(port, WEB)) expect(answers).toEqual([`${WEB}. 5 IN A 10.96.99.99`]);
    const after = await perWorker(metricsPort, 2);
    expect(after[0]! - before[0]!).toBeGreaterThan(0);
  });
});

describe('the resolver process with --workers 2', () => {
  let upstream: FakeUpstream;
  beforeAll(async () => {
    upstream = await startUpstream({ kind: 'answer', records: [a(EXTERNAL, '192.0.2.1')] });
  });
  afterAll(async () => {
    await upstream.close();
  });
  it('serves, then exits 0 promptly on SIGTERM', async () => {
    const { proc, port } = await serveResolver(['--workers', '2', '--upstream', upstream.address, '--snapshot-file', 'demo/demo-snapshot.json', '--allow-unsigned']);
    for (const answers of await askMany(port, WEB, 10)) expect(answers).toEqual([`${WEB}. 5 IN A 10.96.10.10`]);
    const started = Date.now();
    proc.child.kill('SIGTERM');
    const { code } = await proc.exited;
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(proc.logs.some((l) => l['msg'] === 'resolver stopped')).toBe(true);
    expect(proc.stderr).toBe('');
  });

  it('exits 1 naming the address when the port is taken by a socket without SO_REUSEPORT', async () => {
    const { createSocket } = await import('node:dgram');
    const taken = createSocket('udp4');
    await new Promise<void>((resolve) => taken.bind(0, '127.0.0.1', () => resolve()));
    try {
      const busy = taken.address().port;
      const { code, stderr } = await runHoldfast(['resolver', '--workers', '2', '--listen', `127.0.0.1:${busy}`, '--metrics-listen', '127.0.0.1:0', '--upstream', upstream.address]);
      expect(code).toBe(1);
      expect(stderr).toMatch(new RegExp(`cannot listen on udp 127\\.0\\.0\\.1:${busy}`));
    } finally {
      taken.close();
    }
  });
});
