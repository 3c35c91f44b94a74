/**
 * A running resolver: wires config, snapshot intake and the serving path
 * together, and owns the ordered start-up and shutdown
 * (fastify.js: not ready → stop accepting → drain with a deadline → close → flush).
 *
 * The serving path (handler chain, dispatcher, listeners: `serving.ts`) runs on
 * this thread, or with --workers N in N worker threads (`workers/pool.ts`).
 */
import type { KeyObject } from 'node:crypto';
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { ConfigError, KeyError } from '../common/errors.js';
import { loadPublicKey } from '../snapshot/keys.js';
import type { ResolverConfig } from './config.js';
import { systemClock } from './clock.js';
import type { Clock } from './clock.js';
import { startHttp } from './http.js';
import { loadSnapshotFile, SnapshotFileWatcher } from './intake/file-watch.js';
import { SnapshotPuller } from './intake/pull.js';
import { SnapshotReceiver } from './intake/receiver.js';
import { SnapshotStore } from './intake/store.js';
import type { StoreOptions } from './intake/store.js';
import { ResolverMetrics } from './metrics.js';
import type { HostPort } from './server/address.js';
import type { Serving } from './serving.js';
import { metricsSource, startServing } from './workers/start.js';

/** Loads every trusted key; a bad file is a configuration error naming `--trust-key`. */
export async function loadTrustedKeys(paths: readonly string[]): Promise<KeyObject[]> {
  const keys: KeyObject[] = [];
  const problems: string[] = [];
  for (const path of paths) {
    try {
      keys.push(await loadPublicKey(path));
    } catch (error) {
      problems.push(`--trust-key: ${error instanceof KeyError ? error.message : String(error)}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return keys;
}

function storeOptions(config: ResolverConfig, keys: readonly KeyObject[]): StoreOptions {
  return {
    clusterDomain: config.clusterDomain,
    trustedKeys: keys,
    allowUnsigned: config.allowUnsigned,
    stateDir: config.stateDir,
    zone: { ttl: config.clusterTtl },
  };
}

/** The resolver process's parts. Create with {@link Resolver.start}. */
export class Resolver {
  readonly metrics = new ResolverMetrics();
  readonly store: SnapshotStore;
  /** The serving path: on this thread, or the worker pool with --workers N. */
  service: Serving | undefined;
  private http: Server | undefined;
  private watcher: SnapshotFileWatcher | undefined;
  private serving = false;
  private clock: Clock = systemClock;
  private random: () => number = Math.random;
  private stopping: Promise<void> | undefined;
  /** Addresses actually bound (ports resolved when 0 was asked for). */
  readonly dnsAddresses: HostPort[] = [];
  metricsAddress: HostPort | undefined;
  /** Where snapshot pushes are accepted, when --receiver-listen is set. */
  receiverAddress: HostPort | undefined;
  private receiver: SnapshotReceiver | undefined;
  /** Polls --snapshot-url, when set. */
  puller: SnapshotPuller | undefined;

  private constructor(
    private config: ResolverConfig,
    keys: readonly KeyObject[],
    private readonly log: Logger,
  ) {
    this.store = new SnapshotStore(storeOptions(config, keys), this.metrics, log.child({ part: 'intake' }));
  }

  /**
   * Starts everything in order: operations endpoint (not ready), persisted
   * snapshot, snapshot file, pulling (its first round is not waited for), DNS
   * listeners, then ready.
   */
  static async start(config: ResolverConfig, log: Logger, deps: { clock?: Clock; random?: () => number } = {}): Promise<Resolver> {
    const keys = await loadTrustedKeys(config.trustKeys);
    const resolver = new Resolver(config, keys, log);
    resolver.clock = deps.clock ?? systemClock;
    resolver.random = deps.random ?? Math.random;
    try {
      await resolver.startParts();
    } catch (error) {
      await resolver.stop();
      throw error;
    }
    return resolver;
  }

  private async startParts(): Promise<void> {
    const { config, log } = this;
    const http = await startHttp(config.metricsListen, metricsSource(this.metrics, () => this.service), {
      ready: () => this.serving && this.service?.ready() === true,
      status: () => ({ snapshotGeneration: this.store.current()?.generation ?? null }),
    });
    this.http = http.server;
    this.metricsAddress = http.address;
    await this.store.loadState();
    if (config.snapshotFile !== undefined) {
      await this.watchSnapshotFile(config.snapshotFile, config.snapshotPollMs);
    }
    this.startPuller(config);
    if (config.receiverListen) {
      this.receiver = new SnapshotReceiver(this.store, log.child({ part: 'receiver' }));
      this.receiverAddress = await this.receiver.listen(config.receiverListen);
    }
    if (!this.store.current()) log.warn({ clusterDomain: config.clusterDomain }, 'no snapshot loaded: cluster-zone queries get SERVFAIL until one is');

    this.service = await startServing(config, { store: this.store, metrics: this.metrics, log, clock: this.clock, random: this.random });
    this.dnsAddresses.push(...this.service.addresses);
    this.serving = true;
    this.metrics.ready.set(1);
    log.info(
      { listen: this.dnsAddresses, workers: config.workers, metrics: this.metricsAddress, receiver: this.receiverAddress, upstreams: config.upstreams.map((u) => u.label), generation: this.store.current()?.generation },
      'resolver serving',
    );
  }

  /** Loads the snapshot file now, then watches it for changes. */
  private async watchSnapshotFile(path: string, pollMs: number): Promise<void> {
    await loadSnapshotFile(path, this.store, this.log);
    this.watcher = new SnapshotFileWatcher(path, this.store, this.log.child({ part: 'intake' }), pollMs);
  }

  /** Starts polling --snapshot-url, when set; the first round runs in the background. */
  private startPuller(config: ResolverConfig): void {
    if (config.snapshotUrls.length === 0) return;
    this.puller = new SnapshotPuller(
      { urls: config.snapshotUrls, intervalMs: config.snapshotPullIntervalMs, timeoutMs: config.snapshotPullTimeoutMs },
      { store: this.store, clock: this.clock, random: this.random, metrics: this.metrics, log: this.log.child({ part: 'pull' }) },
    );
    this.puller.start();
  }

  /**
   * Applies a new configuration (SIGHUP). Upstreams, keys, TTL, log level, the
   * snapshot file and the pull settings take effect; listen addresses need a
   * restart and are reported.
   */
  async reload(next: ResolverConfig): Promise<void> {
    const keys = await loadTrustedKeys(next.trustKeys);
    const same = (a: readonly HostPort[], b: readonly HostPort[]) => JSON.stringify(a) === JSON.stringify(b);
    if (!same(next.listen, this.config.listen) || !same([next.metricsListen], [this.config.metricsListen])) {
      this.log.warn('listen addresses changed in the configuration: they take effect at the next restart');
    }
    if (next.workers !== this.config.workers) this.log.warn('a new --workers takes effect at the next restart');
    this.store.reconfigure(storeOptions(next, keys));
    if ((next.clusterFallback.length > 0) !== (this.config.clusterFallback.length > 0)) {
      this.log.warn('adding or removing --cluster-fallback takes effect at the next restart');
    }
    this.service?.reload(next);
    this.log.level = next.logLevel;
    if (next.snapshotFile !== this.config.snapshotFile) {
      await this.watcher?.close();
      this.watcher = undefined;
      if (next.snapshotFile !== undefined) {
        await this.watchSnapshotFile(next.snapshotFile, next.snapshotPollMs);
      }
    }
    const pull = (c: ResolverConfig) => JSON.stringify([c.snapshotUrls, c.snapshotPullIntervalMs, c.snapshotPullTimeoutMs]);
    if (pull(next) !== pull(this.config)) {
      await this.puller?.close();
      this.puller = undefined;
      this.startPuller(next);
    }
    this.config = { ...next, listen: this.config.listen, metricsListen: this.config.metricsListen, workers: this.config.workers };
    this.log.info({ upstreams: next.upstreams.map((u) => u.label) }, 'configuration reloaded');
  }

  /** Graceful shutdown: not ready, stop accepting, drain up to the grace period, close. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.serving = false;
      this.metrics.ready.set(0);
      const grace = this.config.shutdownGraceMs;
      await this.watcher?.close();
      await this.puller?.close();
      await this.receiver?.close();
      await this.store.close();
      await this.service?.close(grace);
      const http = this.http;
      if (http) await new Promise<void>((resolve) => http.close(() => resolve()).closeAllConnections());
      this.log.info('resolver stopped');
    })();
    return this.stopping;
  }
}
