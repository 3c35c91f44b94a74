/**
 * The resolver side of the snapshot bench (`snapshot.ts`), a child process the
 * bench pins to one core: a real Resolver (UDP, metrics, snapshot receiver on
 * 127.0.0.1 port 0) with an event-loop delay monitor, driven over the IPC channel.
 *
 * Usage (by the bench): node --expose-gc dist/bench/snapshot-server.js TRUSTED_KEY_FILE
 * Prints one JSON line with the bound ports, then answers IPC messages:
 *   {cmd: 'memory'}         → process.memoryUsage() after two full collections, and
 *                             the current and peak RSS of its child processes (Linux)
 *   {cmd: 'delay'}          → the longest event-loop delay (ms) since the last 'delay', and resets
 *   {cmd: 'offer', file}    → offers `file` to the snapshot store as a push would: the result,
 *                             its wall time and the store's apply figures (ms)
 *   {cmd: 'inline', file}   → verifies and builds `file` on the serving thread, as the
 *                             resolver did before the worker: the stall that would cause (ms)
 *   {cmd: 'stop'}           → stops the resolver and exits
 */
import { readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pino } from 'pino';
import { loadConfig } from '../resolver/config.js';
import { verifyCandidate } from '../resolver/intake/verify.js';
import { Resolver } from '../resolver/resolver.js';
import { loadPublicKey } from '../snapshot/keys.js';

/** A message from the bench. */
export type ServerCommand = { readonly cmd: 'memory' | 'delay' | 'stop' } | { readonly cmd: 'inline' | 'offer'; readonly file: string };

/** The reply to an `offer`. */
export interface OfferFigures {
  readonly result: string;
  /** Wall time of the offer, ms. */
  readonly wall: number;
  /** holdfast_snapshot_apply_duration_seconds, in ms. */
  readonly apply: number;
  /** holdfast_snapshot_apply_max_loop_delay_seconds, in ms. */
  readonly delay: number;
}

const [keyFile = ''] = process.argv.slice(2);
const gc = (globalThis as { gc?: () => void }).gc;
const config = loadConfig({
  flags: {
    listen: ['127.0.0.1:0'],
    'metrics-listen': '127.0.0.1:0',
    'receiver-listen': '127.0.0.1:0',
    upstream: ['127.0.0.1:9'],
    'trust-key': [keyFile],
    'shutdown-grace': '100ms',
  },
  env: {},
});
const resolver = await Resolver.start(config, pino({ level: 'warn' }));
const trusted = await loadPublicKey(keyFile);
const delay = monitorEventLoopDelay({ resolution: 1 });
delay.enable();

/** Current and peak RSS (bytes) of this process's children, from /proc (Linux; empty elsewhere). */
function children(): { rss: number; peak: number }[] {
  const found: { rss: number; peak: number }[] = [];
  try {
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      if (Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]) !== process.pid) continue;
      const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
      found.push({ rss: kb('VmRSS'), peak: kb('VmHWM') });
    }
  } catch {
    // not Linux, or a process went away meanwhile
  }
  return found;
}

const handle = async (message: ServerCommand): Promise<unknown> => {
  switch (message.cmd) {
    case 'memory':
      gc?.();
      gc?.();
      return { ...process.memoryUsage(), children: children() };
    case 'delay': {
      const max = delay.max / 1e6;
      delay.reset();
      return max;
    }
    case 'offer': {
      const bytes = await readFile(message.file);
      const start = performance.now();
      const outcome = await resolver.store.offer(bytes, 'push');
      const wall = performance.now() - start;
      const gauge = async (g: typeof resolver.metrics.snapshotApplySeconds) => ((await g.get()).values[0]?.value ?? Number.NaN) * 1000;
      return { result: outcome.result, wall, apply: await gauge(resolver.metrics.snapshotApplySeconds), delay: await gauge(resolver.metrics.snapshotApplyLoopDelay) } satisfies OfferFigures;
    }
    case 'inline': {
      const bytes = await readFile(message.file);
      const start = performance.now();
      verifyCandidate({ bytes, clusterDomain: config.clusterDomain, trustedKeys: [trusted], allowUnsigned: false, ttl: config.clusterTtl, current: undefined, currentDigest: undefined });
      return performance.now() - start;
    }
    case 'stop':
      delay.disable();
      await resolver.stop();
      return null;
  }
};

process.on('message', (message: ServerCommand) => {
  void handle(message).then((reply) =>
    process.send?.({ reply }, () => {
      if (message.cmd === 'stop') process.disconnect?.();
    }),
  );
});
process.stdout.write(`${JSON.stringify({ dns: resolver.dnsAddresses[0]?.port, metrics: resolver.metricsAddress?.port, receiver: resolver.receiverAddress?.port })}\n`);
