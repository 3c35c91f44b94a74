/**
 * `--workers N`: N worker threads (`thread.ts`) each serving DNS on its own UDP
 * and TCP sockets, all bound with SO_REUSEPORT to the same addresses, so the
 * kernel spreads queries across them (by a hash of the client's address and
 * port: a client socket keeps talking to one worker, whose cache it fills).
 * Everything else stays on the main thread: snapshot intake, verification and
 * the state directory, pulling, the receiver, /metrics and the health endpoints.
 *
 * - Zones: every zone the store serves is sent to every worker, its packed
 *   arrays moved once into SharedArrayBuffers that all workers read.
 * - Readiness: every worker serving.
 * - A worker that dies (an exception, or terminated) is logged, counted
 *   (`holdfast_worker_restarts_total`) and started again on the same index,
 *   at once if it had served for a while, else after a backoff; the other
 *   workers keep serving meanwhile. Its counters are kept (`metrics.ts`).
 * - SIGHUP: the new configuration reaches every worker. SIGTERM: every worker
 *   stops accepting and drains within the grace period, in parallel.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { pino } from 'pino';
import { causeCode, ListenError } from '../../common/errors.js';
import type { ResolverConfig } from '../config.js';
import type { ResolverMetrics } from '../metrics.js';
import type { HostPort } from '../server/address.js';
import type { Serving } from '../serving.js';
import type { PackedNodes, ZoneImage } from '../zone/table.js';
import type { ClusterZone } from '../zone/zone.js';
import { PoolMetrics } from './metrics.js';
import type { MetricsJson } from './metrics.js';
import { reservePorts } from './ports.js';
import type { FromWorker, ToWorker, WorkerInit } from './protocol.js';

/**
 * The compiled worker script next to this file; run from the TypeScript sources
 * (the tests), the one `npm run build` put in dist/ (as `intake/verifier.ts` does).
 */
const THREAD_URL = import.meta.url.endsWith('.ts')
  ? new URL('../../dist/resolver/workers/thread.js', import.meta.url)
  : new URL('./thread.js', import.meta.url);

/** A worker that had served this long before it died is restarted at once. */
const HEALTHY_MS = 10_000;
/** Backoff before restarting a worker that died soon after starting: 100 ms, doubling, at most this. */
const MAX_BACKOFF_MS = 5_000;
/** How long a scrape waits for a worker's metrics. */
const METRICS_TIMEOUT_MS = 2_000;
/** Beyond the grace period, how long a stopping worker may take before it is terminated. */
const STOP_SLACK_MS = 2_000;

/** One worker index and the thread currently running it. */
interface Slot {
  readonly index: number;
  worker: Worker | undefined;
  serving: boolean;
  startedAt: number;
  /** Restarts in a row of workers that died before {@link HEALTHY_MS}. */
  quickDeaths: number;
  restartTimer: NodeJS.Timeout | undefined;
  /** Its metrics at the last scrape: kept as counts of a dead worker. */
  lastMetrics: MetricsJson | undefined;
  /** Resolves once it has said 'stopped' or exited. */
  stopped: Promise<void> | undefined;
  readonly pending: Map<number, (metrics: MetricsJson | undefined) => void>;
}

/** What the pool takes from the resolver. */
export interface PoolDeps {
  readonly metrics: ResolverMetrics;
  readonly log: Logger;
  /** Tells the pool of every zone served from now on. */
  readonly onZone: (listener: (zone: ClusterZone) => void) => void;
  readonly zone: ClusterZone | undefined;
}

/** The worker threads serving DNS. Create with {@link WorkerPool.start}. */
export class WorkerPool implements Serving {
  addresses: HostPort[] = [];
  private readonly slots: Slot[];
  private readonly poolMetrics: PoolMetrics;
  private image: ZoneImage | undefined;
  /** Packed records already copied into SharedArrayBuffers (a new TTL keeps the records). */
  private readonly shared = new WeakMap<PackedNodes, PackedNodes>();
  /** Set once every worker served: from then on a worker that dies is started again. */
  private started = false;
  private stopping = false;
  private nextId = 1;
  /** Where worker log lines are written: the main logger's destination. */
  private readonly sink: { write(line: string): unknown };

  private constructor(
    private config: ResolverConfig,
    private readonly deps: PoolDeps,
  ) {
    this.slots = Array.from({ length: config.workers }, (_, index) => ({
      index,
      worker: undefined,
      serving: false,
      startedAt: 0,
      quickDeaths: 0,
      restartTimer: undefined,
      lastMetrics: undefined,
      stopped: undefined,
      pending: new Map(),
    }));
    this.poolMetrics = new PoolMetrics(deps.metrics.registry, config.workers, () => this.slots.filter((s) => s.serving).length);
    const destination = (deps.log as unknown as Record<symbol, { write(line: string): unknown } | undefined>)[pino.symbols.streamSym];
    this.sink = destination ?? process.stdout;
    if (deps.zone) this.image = this.share(deps.zone.image);
  }

  /**
   * Starts `config.workers` workers and resolves once every one serves. Port 0
   * is first resolved to a free port (`ports.ts`) that all then bind; if
   * another process takes it meanwhile, another is tried.
   */
  static async start(config: ResolverConfig, deps: PoolDeps): Promise<WorkerPool> {
    const pool = new WorkerPool(config, deps);
    deps.onZone((zone) => pool.setZone(zone));
    const anyZero = config.listen.some((a) => a.port === 0);
    for (let attempt = 1; ; attempt++) {
      pool.addresses = await reservePorts(config.listen);
      try {
        await Promise.all(pool.slots.map((slot) => pool.spawn(slot)));
        pool.started = true;
        return pool;
      } catch (error) {
        await pool.close(0);
        const inUse = causeCode(error) === 'EADDRINUSE';
        if (!(anyZero && inUse && attempt < 10)) throw error;
        pool.stopping = false;
      }
    }
  }

  /** The threads running now, by index (for tests and diagnostics). */
  threads(): (Worker | undefined)[] {
    return this.slots.map((s) => s.worker);
  }

  ready(): boolean {
    return !this.stopping && this.slots.every((s) => s.serving);
  }

  reload(next: ResolverConfig): void {
    this.config = { ...next, listen: this.config.listen, workers: this.config.workers };
    this.broadcast({ type: 'reload', config: this.config });
  }

  /** Sends `zone` to every worker (and to those started later). */
  private setZone(zone: ClusterZone): void {
    this.image = this.share(zone.image);
    this.broadcast({ type: 'zone', image: this.image });
  }

  /** `image` with its packed records in SharedArrayBuffers: copied once, then read by every worker. */
  private share(image: ZoneImage): ZoneImage {
    const share = (packed: PackedNodes): PackedNodes => {
      if (packed.slots.buffer instanceof SharedArrayBuffer && packed.data.buffer instanceof SharedArrayBuffer) return packed;
      let copy = this.shared.get(packed);
      if (!copy) {
        const slots = new Uint32Array(new SharedArrayBuffer(packed.slots.byteLength));
        slots.set(packed.slots);
        const data = new Uint8Array(new SharedArrayBuffer(packed.data.byteLength));
        data.set(packed.data);
        copy = { slots, data, size: packed.size };
        this.shared.set(packed, copy);
      }
      return copy;
    };
    return { ...image, nodes: share(image.nodes), reverse: share(image.reverse) };
  }

  private broadcast(message: ToWorker): void {
    for (const slot of this.slots) slot.worker?.postMessage(message);
  }

  /** Starts the worker of `slot`; resolves once it listens, rejects when it cannot. */
  private spawn(slot: Slot): Promise<void> {
    const init: WorkerInit = { index: slot.index, config: this.config, addresses: this.addresses, zone: this.image };
    const worker = new Worker(THREAD_URL, { workerData: init, name: `holdfast-dns-${slot.index}` });
    slot.worker = worker;
    slot.serving = false;
    slot.startedAt = Date.now();
    let stoppedSignal: () => void = () => {};
    slot.stopped = new Promise((resolve) => (stoppedSignal = resolve));
    return new Promise<void>((resolve, reject) => {
      let listening = false;
      let failure: Error | undefined;
      worker.on('message', (message: FromWorker) => {
        switch (message.type) {
          case 'listening':
            listening = true;
            slot.serving = true;
            if (this.started && this.ready()) this.deps.metrics.ready.set(1);
            resolve();
            return;
          case 'failed':
            failure = new ListenError(message.message, { cause: { code: message.code } });
            return;
          case 'metrics':
            slot.pending.get(message.id)?.(message.metrics);
            return;
          case 'log':
            this.sink.write(message.line);
            return;
          case 'stopped':
            stoppedSignal();
            return;
        }
      });
      worker.on('error', (error) => {
        failure ??= error;
        this.deps.log.error({ worker: slot.index, err: error }, 'worker thread failed');
      });
      worker.on('exit', (code) => {
        stoppedSignal();
        for (const settle of slot.pending.values()) settle(undefined);
        slot.pending.clear();
        if (slot.worker !== worker) return;
        slot.worker = undefined;
        slot.serving = false;
        if (!listening) reject(failure ?? new Error(`worker thread ${slot.index} exited with code ${code} before serving`));
        if (this.started && !this.stopping) this.died(slot, code);
      });
    });
  }

  /** A worker ended without being asked to: log, count, keep its counts, start another. */
  private died(slot: Slot, code: number): void {
    const served = Date.now() - slot.startedAt;
    slot.quickDeaths = served >= HEALTHY_MS ? 0 : slot.quickDeaths + 1;
    const delay = slot.quickDeaths === 0 ? 0 : Math.min(MAX_BACKOFF_MS, 100 * 2 ** (slot.quickDeaths - 1));
    this.poolMetrics.died(slot.index, slot.lastMetrics);
    slot.lastMetrics = undefined;
    this.deps.metrics.ready.set(0);
    this.deps.log.error({ worker: slot.index, code, servedMs: served, restartInMs: delay }, 'worker thread ended: starting it again; the other workers keep serving');
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (this.stopping) return;
      this.spawn(slot).then(
        () => this.deps.log.info({ worker: slot.index }, 'worker thread serving again'),
        () => {}, // its exit was handled as another death
      );
    }, delay);
  }

  /**
   * The metrics text of a scrape: the main thread's own metrics and the serving
   * metrics of every worker, summed (`metrics.ts`).
   */
  async metricsText(): Promise<string> {
    const collected = await Promise.all(this.slots.map((slot) => this.collect(slot)));
    return this.poolMetrics.text(this.deps.metrics.registry, collected);
  }

  private collect(slot: Slot): Promise<MetricsJson | undefined> {
    const worker = slot.worker;
    if (!worker || !slot.serving) return Promise.resolve(undefined);
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => settle(undefined), METRICS_TIMEOUT_MS);
      const settle = (metrics: MetricsJson | undefined) => {
        clearTimeout(timer);
        slot.pending.delete(id);
        if (metrics) slot.lastMetrics = metrics;
        resolve(metrics);
      };
      slot.pending.set(id, settle);
      worker.postMessage({ type: 'metrics', id } satisfies ToWorker);
    });
  }

  /** Every worker stops accepting and drains within `graceMs` (in parallel), then ends. */
  async close(graceMs: number, handOver = false): Promise<void> {
    this.stopping = true;
    await Promise.all(
      this.slots.map(async (slot) => {
        if (slot.restartTimer) clearTimeout(slot.restartTimer);
        slot.restartTimer = undefined;
        const worker = slot.worker;
        if (!worker) return;
        worker.postMessage({ type: 'stop', graceMs, handOver } satisfies ToWorker);
        const slack = setTimeout(() => void worker.terminate(), graceMs + STOP_SLACK_MS);
        await slot.stopped;
        clearTimeout(slack);
        await worker.terminate();
        slot.serving = false;
      }),
    );
  }
}

