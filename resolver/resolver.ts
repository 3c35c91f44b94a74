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
import { formatHostPort } from './server/address.js';
import { registerUdpReceiveDrops } from './server/udp-drops.js';
import { InstanceRegistry } from './node/instances.js';
import { NodeSetupMetrics } from './node/metrics.js';
import { selfCheck } from './node/selfcheck.js';
import { localAddresses, NodeSetup } from './node/setup.js';

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
  /** Other resolvers on the same state directory (hand-over on restart); undefined without --state-dir. */
  private registry: InstanceRegistry | undefined;
  /** Interface, rules and capture lease (--setup-interface). */
  private nodeSetup: NodeSetup | undefined;
  readonly nodeMetrics = new NodeSetupMetrics(this.metrics.registry);
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
    registerUdpReceiveDrops(this.metrics.registry, () => this.dnsAddresses.map((a) => a.port));
  }

  /**
   * Starts everything in order: operations endpoint (not ready), persisted
   * snapshot, snapshot file, receiver, DNS listeners, pulling (its first round
   * is not waited for), then ready.
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
    for (const warning of config.warnings) log.warn(warning);
    if (config.stateDir !== undefined) {
      // Announced first, so a resolver being replaced sees its successor coming and waits for it.
      this.registry = new InstanceRegistry(config.stateDir, config.listen.map(formatHostPort).sort().join(','));
      await this.registry.start();
      this.store.setOwners(this.registry);
    }
    if (config.nodeSetup) {
      const setup = config.nodeSetup;
      const addresses = localAddresses(setup);
      this.nodeSetup = new NodeSetup(setup, {
        metrics: this.nodeMetrics,
        log: log.child({ part: 'node' }),
        selfCheck: () => selfCheck(addresses, config.clusterDomain),
      });
      // The listeners need the local IPs to bind; nothing is captured until they answer.
      await this.nodeSetup.prepare();
    }
    const http = await startHttp(
      config.metricsListen,
      metricsSource(this.metrics, () => this.service),
      {
        ready: () => this.serving && this.service?.ready() === true,
        status: () => ({ snapshotGeneration: this.store.current()?.generation ?? null }),
      },
      { reusePort: config.reusePort },
    );
    this.http = http.server;
    this.metricsAddress = http.address;
    await this.store.loadState();
    if (config.snapshotFile !== undefined) {
      await this.watchSnapshotFile(config.snapshotFile, config.snapshotPollMs);
    }
    if (config.receiverListen) {
      this.receiver = new SnapshotReceiver(this.store, log.child({ part: 'receiver' }));
      this.receiverAddress = await this.receiver.listen(config.receiverListen, config.reusePort);
    }
    if (!this.store.current()) log.warn({ clusterDomain: config.clusterDomain }, 'no snapshot loaded: cluster-zone queries get SERVFAIL until one is');

    this.service = await startServing(config, { store: this.store, metrics: this.metrics, log, clock: this.clock, random: this.random });
    this.dnsAddresses.push(...this.service.addresses);
    // Once the listeners are up: a publisher URL given by name may be resolved through
    // this resolver itself (a sidecar whose pod's resolv.conf points at it).
    this.startPuller(config);
    await this.nodeSetup?.activate();
    this.serving = true;
    this.metrics.ready.set(1);
    await this.registry?.setServing(true);
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
      { urls: config.snapshotUrls, intervalMs: config.snapshotPullIntervalMs, timeoutMs: config.snapshotPullTimeoutMs, ...(config.namespaces ? { namespaces: config.namespaces } : {}) },
      { store: this.store, clock: this.clock, random: this.random, metrics: this.metrics, log: this.log.child({ part: 'pull' }) },
    );
    this.puller.start();
  }

  /**
   * Applies a new configuration (SIGHUP). Upstreams, keys, TTL, log level, the
   * snapshot file, the pull settings, --allow-from and the rate limit take
   * effect; listen addresses need a restart and are reported.
   */
  async reload(next: ResolverConfig): Promise<void> {
    const keys = await loadTrustedKeys(next.trustKeys);
    for (const warning of next.warnings) this.log.warn(warning);
    const same = (a: readonly HostPort[], b: readonly HostPort[]) => JSON.stringify(a) === JSON.stringify(b);
    if (!same(next.listen, this.config.listen) || !same([next.metricsListen], [this.config.metricsListen])) {
      this.log.warn('listen addresses changed in the configuration: they take effect at the next restart');
    }
    if (JSON.stringify([next.nodeSetup, next.reusePort]) !== JSON.stringify([this.config.nodeSetup, this.config.reusePort])) {
      this.log.warn('node-local settings (--setup-interface, --local-ip, --capture-lease, ...) and --reuse-port take effect at the next restart');
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
    const pull = (c: ResolverConfig) => JSON.stringify([c.snapshotUrls, c.snapshotPullIntervalMs, c.snapshotPullTimeoutMs, c.namespaces]);
    if (pull(next) !== pull(this.config)) {
      await this.puller?.close();
      this.puller = undefined;
      this.startPuller(next);
    }
    this.config = { ...next, listen: this.config.listen, metricsListen: this.config.metricsListen, workers: this.config.workers, nodeSetup: this.config.nodeSetup, reusePort: this.config.reusePort };
    this.log.info({ upstreams: next.upstreams.map((u) => u.label) }, 'configuration reloaded');
  }

  /**
   * Graceful shutdown: intake stops, a successor starting on the same addresses
   * is waited for (hand-over), then not ready, stop accepting, drain up to the
   * grace period, close; the node-local setup is removed unless another resolver
   * still serves with it. Idempotent.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const grace = this.config.shutdownGraceMs;
      await this.watcher?.close();
      await this.puller?.close();
      await this.receiver?.close();
      const handedOver = this.serving && (await this.handOver());
      this.serving = false;
      this.metrics.ready.set(0);
      await this.registry?.setServing(false);
      await this.store.close();
      await this.service?.close(grace, handedOver);
      if (this.nodeSetup) {
        const successor = await this.successorServes();
        if (successor) this.log.info({ successor }, 'another resolver serves these addresses: leaving the interface and rules to it');
        await this.nodeSetup.stop(successor === undefined);
      }
      await this.registry?.close();
      const http = this.http;
      if (http) await new Promise<void>((resolve) => http.close(() => resolve()).closeAllConnections());
      this.log.info('resolver stopped');
    })();
    return this.stopping;
  }

  /**
   * After this resolver closed its listeners: the id of another resolver that is
   * starting on the same addresses, or that says it serves and does answer them
   * (a record alone may belong to a process killed a moment ago).
   */
  private async successorServes(): Promise<string | undefined> {
    const others = (await this.registry?.others()) ?? [];
    const starting = others.find((o) => !o.serving);
    if (starting) return starting.id;
    const serving = others.find((o) => o.serving);
    const setup = this.config.nodeSetup;
    if (!serving || !setup) return undefined;
    try {
      await selfCheck(localAddresses(setup), this.config.clusterDomain, 300);
      return serving.id;
    } catch {
      return undefined;
    }
  }

  /**
   * Hitless restart: while another resolver on the same state directory and
   * addresses is starting, keep answering until it serves (at most
   * --handoff-timeout). Both hold the addresses with SO_REUSEPORT meanwhile, so the
   * kernel hands every query to one of them; true when one serves.
   */
  private async handOver(): Promise<boolean> {
    const registry = this.registry;
    if (!registry) return false;
    const deadline = Date.now() + this.config.handoffTimeoutMs;
    let others = await registry.others();
    if (others.length === 0) {
      this.nodeMetrics.handoffs.inc({ result: 'none' });
      return false;
    }
    this.log.info({ successor: others.map((o) => o.id) }, 'another resolver is starting on these addresses: serving until it does');
    while (!others.some((o) => o.serving) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      others = await registry.others();
    }
    const handed = others.some((o) => o.serving);
    this.nodeMetrics.handoffs.inc({ result: handed ? 'successor' : 'timeout' });
    if (!handed) this.log.warn({ timeoutMs: this.config.handoffTimeoutMs }, 'the successor did not serve within --handoff-timeout: closing anyway');
    return handed;
  }

}
