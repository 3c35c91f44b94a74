/**
 * What --allow-from and --rate-limit cost, as figures (no pass/fail):
 *
 * 1. memory of the rate limiter's client table (after 2 × RATE_LIMIT_CLIENTS
 *    distinct IPv4, then IPv6 addresses), per client and extrapolated to the
 *    bound, after a forced GC;
 * 2. time of one check: the limiter for a known client and for a new one each
 *    time (a spoofed flood: every check evicts), the allow-list for one address
 *    and for changing addresses;
 * 3. cluster-zone queries per second of a resolver without either, with
 *    --allow-from 127.0.0.0/8 and with a --rate-limit no query reaches (every
 *    query checked, none dropped), rounds interleaved, medians of queries per
 *    second and of the server's CPU time per answer.
 *
 * Bounded: fixed loop counts, `--seconds` per load run (default 3), `--rounds`
 * (default 5). Run `node --expose-gc dist/bench/access.js` after `npx tsc`.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { systemClock } from '../resolver/clock.js';
import { AllowList, parseCidr } from '../resolver/server/access.js';
import type { Network } from '../resolver/server/access.js';
import { RATE_LIMIT_CLIENTS, RateLimiter } from '../resolver/server/ratelimit.js';
import { RRType } from '../resolver/wire/constants.js';
import { encodeQuery } from '../resolver/wire/decode.js';
import { runLoad } from './loadgen.js';
import { cpuSeconds, median, root, startServer } from './tools.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '3' }, rounds: { type: 'string', default: '5' } } });
const seconds = Math.min(30, Math.max(1, Number(values.seconds)));
const rounds = Math.min(10, Math.max(1, Number(values.rounds)));

const gc = (globalThis as { gc?: () => void }).gc;
const v4 = (i: number) => `10.${(i >>> 16) & 0xff}.${(i >>> 8) & 0xff}.${i & 0xff}`;
const v6 = (i: number) => `2001:db8::${(i >>> 16).toString(16)}:${(i & 0xffff).toString(16)}`;

/** Heap held by a full table, the address strings included (each packet brings a new one). */
function tableMemory(address: (i: number) => string): { perClient: number; totalMiB: number; clients: number } {
  gc?.();
  const before = process.memoryUsage().heapUsed;
  const limiter = new RateLimiter({ qps: 100, burst: 100, slip: 2 }, systemClock);
  // Twice the bound of distinct clients: the table holds between half and all of them.
  for (let i = 0; i < 2 * RATE_LIMIT_CLIENTS; i++) limiter.check(address(i));
  gc?.();
  const bytes = process.memoryUsage().heapUsed - before;
  if (limiter.size > RATE_LIMIT_CLIENTS) throw new Error('the table outgrew its bound');
  const maxBytes = (bytes / limiter.size) * RATE_LIMIT_CLIENTS;
  return { clients: limiter.size, perClient: Math.round(bytes / limiter.size), totalMiB: Number((maxBytes / 2 ** 20).toFixed(1)) };
}

/** Nanoseconds per call of `fn(i)` over `n` calls. */
function nsPer(n: number, fn: (i: number) => unknown): number {
  const started = performance.now();
  for (let i = 0; i < n; i++) fn(i);
  return Math.round(((performance.now() - started) * 1e6) / n);
}

function checkCosts(): Record<string, number> {
  const N = 2_000_000;
  const limiter = new RateLimiter({ qps: 1e9, burst: 1e9, slip: 2 }, systemClock);
  const churn = new RateLimiter({ qps: 100, burst: 100, slip: 2 }, systemClock);
  const flood = Array.from({ length: 1 << 17 }, (_, i) => v4(i + 1));
  const allow = new AllowList(['10.0.0.0/8', '192.168.0.0/16', 'fd00::/8'].map((n) => parseCidr(n) as Network));
  return {
    limiterKnownClientNs: nsPer(N, () => limiter.check('10.1.2.3')),
    limiterNewClientEachTimeNs: nsPer(N, (i) => churn.check(flood[i & (flood.length - 1)] as string)),
    allowSameAddressNs: nsPer(N, () => allow.allows('10.1.2.3')),
    allowChangingIpv4Ns: nsPer(N, (i) => allow.allows(flood[i & (flood.length - 1)] as string)),
    allowChangingIpv6Ns: nsPer(N / 4, (i) => allow.allows(i & 1 ? 'fd00::1' : '2001:db8::1')),
  };
}

async function throughput(): Promise<Record<string, { qpsMedian: number; cpuMicrosPerQueryMedian: number; qpsRuns: number[] }>> {
  const variants: Record<string, string[]> = {
    plain: [],
    allowFrom: ['--allow-from', '10.0.0.0/8,127.0.0.0/8'],
    rateLimitNeverReached: ['--rate-limit', '10000000', '--rate-limit-burst', '10000000'],
  };
  const servingPort = (l: string) => (l.includes('resolver serving') ? (JSON.parse(l) as { listen: { port: number }[] }).listen[0]?.port : undefined);
  const servers: Record<string, { child: { kill(): boolean; pid?: number | undefined }; port: number }> = {};
  for (const [name, flags] of Object.entries(variants)) {
    const args = [join(root, 'bin/holdfast'), 'resolver', '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--upstream', '127.0.0.1:9', '--snapshot-file', join(root, 'demo/demo-snapshot.json'), '--allow-unsigned', ...flags];
    const started = await startServer(args, servingPort);
    servers[name] = { child: started.child, port: started.port as number };
  }
  const queries = ['web', 'db', 'kubernetes', 'nope'].map((n) => encodeQuery(`${n}.default.svc.cluster.local`, RRType.A));
  const runs: Record<string, { qps: number[]; cpu: number[] }> = Object.fromEntries(Object.keys(variants).map((k) => [k, { qps: [], cpu: [] }]));
  try {
    for (let r = 0; r < rounds; r++) {
      for (const [name, server] of Object.entries(servers)) {
        // Server CPU time per answer moves less with the machine's other load than queries per second do.
        const cpuBefore = cpuSeconds(server.child.pid ?? 0) ?? NaN;
        const load = await runLoad(server.port, queries, seconds);
        const cpu = (cpuSeconds(server.child.pid ?? 0) ?? NaN) - cpuBefore;
        runs[name]?.qps.push(Math.round(load.qps));
        runs[name]?.cpu.push(Number(((cpu / load.received) * 1e6).toFixed(2)));
      }
    }
  } finally {
    for (const server of Object.values(servers)) server.child.kill();
  }
  return Object.fromEntries(Object.entries(runs).map(([name, { qps, cpu }]) => [name, { qpsMedian: median(qps), cpuMicrosPerQueryMedian: median(cpu), qpsRuns: qps }]));
}

if (!gc) console.error('run with node --expose-gc for the memory figures');
const report = {
  clients: RATE_LIMIT_CLIENTS,
  tableMemoryIpv4: tableMemory(v4),
  tableMemoryIpv6: tableMemory(v6),
  checks: checkCosts(),
  zoneThroughput: await throughput(),
};
console.log(JSON.stringify(report, null, 2));
