/**
 * `npm run bench -- restart [--qps N] [--restarts N] [--clients N] [--out DIR]`:
 * queries lost while the resolver is restarted under load, the way a DaemonSet
 * rolling update restarts it, measured two ways in one run:
 *
 * - hitless: the new resolver starts beside the old one on the same address
 *   (SO_REUSEPORT, the same --state-dir), then the old one gets SIGTERM, waits
 *   for the new one to serve, drains and exits — what holdfast does;
 * - stop-start: SIGTERM the old resolver, start the new one when it has exited
 *   (no SO_REUSEPORT) — what a restart without hand-over does.
 *
 * The load: --clients UDP sockets (pods) on 127.0.0.1, --qps queries per second
 * in all, cluster-zone names from the demo snapshot, each query timed by
 * (socket, ID); a query without a reply one second after the load ends is lost.
 * RESTART_DEBUG=1 prints when each restart happened and the 100 ms slots that lost queries.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { encodeQuery } from '../resolver/wire/decode.js';
import { PacedLoad } from './paced.js';
import { percentile, root } from './tools.js';

const NAMES = ['kubernetes.default.svc.cluster.local', 'web.shop.svc.cluster.local', 'nope.default.svc.cluster.local'];

/** One resolver process and the port it serves. */
interface Server {
  readonly child: ChildProcess;
  readonly port: number;
  readonly exited: Promise<void>;
}

function startResolver(port: number, stateDir: string, reusePort: boolean): Promise<Server> {
  const args = [
    join(root, 'bin', 'holdfast'), 'resolver', '--listen', `127.0.0.1:${port}`, '--metrics-listen', '127.0.0.1:0',
    '--snapshot-file', join(root, 'demo', 'demo-snapshot.json'), '--allow-unsigned', '--upstream', '127.0.0.1:9',
    '--state-dir', stateDir, '--shutdown-grace', '2s', ...(reusePort ? [] : ['--no-reuse-port']),
  ];
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      if (!line.includes('"resolver serving"')) return;
      const listen = (JSON.parse(line) as { listen: { port: number }[] }).listen;
      resolve({ child, port: listen[0]?.port ?? port, exited });
    });
    child.once('exit', (code) => reject(new Error(`resolver exited ${code} before serving`)));
  });
}

/** Outcome of one way of restarting. */
export interface RestartResult {
  readonly mode: 'hitless' | 'stop-start';
  readonly restarts: number;
  readonly sent: number;
  readonly answered: number;
  readonly lost: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Median time from starting the new process to the old one's exit (hitless) or from SIGTERM to the new one serving (stop-start). */
  readonly medianSwitchMs: number;
}

export async function measure(mode: 'hitless' | 'stop-start', qps: number, clients: number, restarts: number): Promise<RestartResult> {
  const stateDir = mkdtempSync(join(tmpdir(), 'holdfast-restart-'));
  const hitless = mode === 'hitless';
  let server = await startResolver(0, stateDir, hitless);
  const queries = NAMES.map((n) => encodeQuery(n, 1));
  // A copy per query: a send may still hold the previous one's bytes.
  const load = new PacedLoad(server.port, clients, qps, (n) => Buffer.from(queries[n % queries.length] as Buffer));
  load.start();
  const switches: number[] = [];
  try {
    for (let i = 0; i < restarts; i++) {
      await new Promise((r) => setTimeout(r, 1500));
      const t0 = performance.now();
      if (hitless) {
        const next = await startResolver(server.port, stateDir, true);
        server.child.kill('SIGTERM');
        await server.exited;
        server = next;
      } else {
        server.child.kill('SIGTERM');
        await server.exited;
        server = await startResolver(server.port, stateDir, false);
      }
      switches.push(performance.now() - t0);
      if (process.env['RESTART_DEBUG']) process.stdout.write(`restart ${i + 1}: ${Math.round(t0 - load.startedAt)}..${Math.round(performance.now() - load.startedAt)} ms\n`);
    }
    await new Promise((r) => setTimeout(r, 1500));
  } finally {
    await load.stop();
    server.child.kill('SIGTERM');
    await server.exited;
    rmSync(stateDir, { recursive: true, force: true });
  }
  if (process.env['RESTART_DEBUG']) {
    load.slots.forEach((s, i) => {
      if (s.sent !== s.answered) process.stdout.write(`  slot ${i * 100} ms: sent ${s.sent}, lost ${s.sent - s.answered}\n`);
    });
  }
  const sorted = load.slots.flatMap((s) => s.latencies).sort((a, b) => a - b);
  switches.sort((a, b) => a - b);
  return {
    mode,
    restarts,
    sent: load.sent,
    answered: sorted.length,
    lost: load.sent - sorted.length,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted[sorted.length - 1] ?? Number.NaN,
    medianSwitchMs: percentile(switches, 50),
  };
}

/** Markdown table of the results. */
export function restartTable(results: readonly RestartResult[], qps: number, clients: number): string {
  const rows = results.map(
    (r) => `| ${r.mode} | ${r.restarts} | ${r.sent} | ${r.answered} | **${r.lost}** | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${r.maxMs.toFixed(1)} | ${r.medianSwitchMs.toFixed(0)} |`,
  );
  return [
    `Restarts under load: ${qps} q/s from ${clients} client sockets on 127.0.0.1, cluster-zone names; lost = no reply 1 s after the load ended.`,
    '',
    '| restart | restarts | sent | answered | lost | p50 ms | p99 ms | max ms | switch ms (median) |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

export async function restart(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { qps: { type: 'string', default: '5000' }, restarts: { type: 'string', default: '5' }, clients: { type: 'string', default: '64' }, out: { type: 'string' }, mode: { type: 'string', default: 'both' } },
  });
  const qps = Number(values.qps);
  const clients = Number(values.clients);
  const restarts = Number(values.restarts);
  if (![qps, clients, restarts].every((n) => Number.isInteger(n) && n > 0) || qps > 50_000 || restarts > 50) {
    throw new Error('--qps (1..50000), --clients and --restarts (1..50) take positive integers');
  }
  const known = ['hitless', 'stop-start'] as const;
  const modes = values.mode === 'both' ? [...known] : known.filter((m) => m === values.mode);
  if (modes.length === 0) throw new Error("--mode is hitless, stop-start or both");
  const results: RestartResult[] = [];
  for (const mode of modes) {
    process.stdout.write(`restart: ${mode}, ${restarts} restarts at ${qps} q/s…\n`);
    results.push(await measure(mode, qps, clients, restarts));
  }
  const table = restartTable(results, qps, clients);
  process.stdout.write(`\n${table}\n`);
  if (values.out) {
    mkdirSync(values.out, { recursive: true });
    writeFileSync(join(values.out, 'restart.json'), `${JSON.stringify({ qps, clients, results }, null, 2)}\n`);
    writeFileSync(join(values.out, 'restart.md'), `${table}\n`);
  }
}
