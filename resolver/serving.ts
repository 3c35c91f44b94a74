/**
 * The DNS serving path of one thread: the handler chain (cluster zone →
 * forwarding cache, which asks the upstreams, or kube-dns for cluster names with
 * --cluster-fallback), the dispatcher, and the UDP and TCP listeners. The
 * resolver runs one on its main thread (`--workers 1`); with `--workers N` each
 * worker thread runs its own (`workers/thread.ts`), every listener bound with
 * SO_REUSEPORT so the kernel spreads queries across them.
 *
 * The chain is declared here, once.
 */
import type { Logger } from 'pino';
import { causeCode } from '../common/errors.js';
import type { Clock } from './clock.js';
import type { ResolverConfig } from './config.js';
import { registerCorednsMetrics } from './coredns-metrics.js';
import { CacheHandler } from './cache/handler.js';
import { Forwarder } from './forward/forwarder.js';
import { ClusterZoneHandler } from './handlers/cluster.js';
import type { ResolverMetrics } from './metrics.js';
import { buildChain } from './pipeline.js';
import { AllowList } from './server/access.js';
import { formatHostPort } from './server/address.js';
import type { HostPort } from './server/address.js';
import { Dispatcher } from './server/dispatch.js';
import type { ClientPolicy } from './server/dispatch.js';
import { RateLimiter } from './server/ratelimit.js';
import { TcpListener } from './server/tcp.js';
import { UdpListener } from './server/udp.js';
import { isSubdomain } from './wire/name.js';
import type { Query } from './wire/query.js';
import type { ClusterZone } from './zone/zone.js';
import { isReverseName } from './zone/reverse.js';

/** What the serving path takes from the thread it runs on. */
export interface ServingDeps {
  readonly metrics: ResolverMetrics;
  readonly log: Logger;
  readonly clock: Clock;
  readonly random: () => number;
  /** The zone to answer from (the thread's current snapshot). */
  readonly zone: () => ClusterZone | undefined;
}

/** The serving path as the resolver drives it, on its thread or in worker threads (`workers/pool.ts`). */
export interface Serving {
  /** Addresses actually bound (ports resolved when 0 was asked for). */
  readonly addresses: readonly HostPort[];
  /** True while every listener is serving. */
  ready(): boolean;
  /** Applies reloadable settings (SIGHUP): upstreams, timeouts, policy, cache settings, allow-list, rate limit, log level. */
  reload(next: ResolverConfig): void;
  /**
   * Stops accepting, lets queries in progress finish up to `graceMs`, closes. With
   * `handOver` (another process serves the addresses), each UDP socket first stops
   * receiving and answers what was queued in it (`UdpListener.handOver`).
   */
  close(graceMs: number, handOver?: boolean): Promise<void>;
}

/** The serving path of one thread. */
export class DnsService implements Serving {
  readonly addresses: HostPort[] = [];
  private readonly forwarder: Forwarder;
  /** kube-dns, for cluster-zone names the snapshot does not answer (--cluster-fallback). */
  private readonly fallback: Forwarder | undefined;
  private readonly cache: CacheHandler;
  private readonly dispatcher: Dispatcher;
  private readonly udp: UdpListener[] = [];
  private readonly tcp: TcpListener[] = [];
  /** Kept across reloads while the limit stays on, so a SIGHUP does not hand every client a full bucket. */
  private rateLimiter: RateLimiter | undefined;

  constructor(
    private config: ResolverConfig,
    private readonly deps: ServingDeps,
  ) {
    const { metrics, log } = deps;
    const forwarder = (upstreams: ResolverConfig['upstreams'], part: string) =>
      new Forwarder({ upstreams, timeoutMs: config.upstreamTimeoutMs, policy: config.upstreamPolicy }, metrics, log.child({ part }));
    this.forwarder = forwarder(config.upstreams, 'forward');
    this.fallback = config.clusterFallback.length > 0 ? forwarder(config.clusterFallback, 'fallback') : undefined;
    const domain = config.clusterDomain;
    const fallback = this.fallback;
    const route = (query: Query) => (fallback && (isSubdomain(query.name, domain) || isReverseName(query.name)) ? fallback : this.forwarder);
    this.cache = new CacheHandler({ config: config.cache, clock: deps.clock, route, random: deps.random }, metrics, log.child({ part: 'cache' }));
    const chain = buildChain([new ClusterZoneHandler(deps.zone, domain, fallback !== undefined), this.cache]);
    this.dispatcher = new Dispatcher(chain, metrics, log.child({ part: 'dns' }), this.clientPolicy(config));
  }

  /** The allow-list and rate limit of `config` (`server/access.ts`, `server/ratelimit.ts`). */
  private clientPolicy(config: ResolverConfig): ClientPolicy {
    if (config.rateLimit.qps === 0) this.rateLimiter = undefined;
    else if (this.rateLimiter) this.rateLimiter.reconfigure(config.rateLimit);
    else this.rateLimiter = new RateLimiter(config.rateLimit, this.deps.clock);
    return { allow: config.allowFrom.length > 0 ? new AllowList(config.allowFrom) : undefined, rateLimit: this.rateLimiter };
  }

  /**
   * Binds UDP and TCP on every address of `addresses`, in order; with `reusePort`,
   * with SO_REUSEPORT (worker threads sharing the ports). Registers the CoreDNS-named
   * metrics when configured, labelled with the first address.
   */
  async listen(addresses: readonly HostPort[], reusePort = false): Promise<HostPort[]> {
    for (const address of addresses) this.addresses.push(await this.bindPair(address, reusePort));
    if (this.config.corednsCompatibleMetrics) {
      const first = this.addresses[0];
      registerCorednsMetrics(this.deps.metrics.registry, first ? `dns://${formatHostPort(first)}` : 'dns://');
    }
    return this.addresses;
  }

  ready(): boolean {
    return this.addresses.length > 0;
  }

  /**
   * Binds UDP, then TCP on the port UDP got, so that port 0 yields one port for
   * both. With port 0 the TCP port may already be taken (e.g. by the local end of
   * an outgoing connection): then both are released and another port is tried.
   */
  private async bindPair(address: HostPort, reusePort: boolean): Promise<HostPort> {
    const { config, dispatcher } = this;
    const tcpOptions = { idleTimeoutMs: config.tcpIdleTimeoutMs, maxConnections: config.maxTcpConnections, maxInflightPerConnection: 64, clock: this.deps.clock, reusePort };
    for (let attempt = 1; ; attempt++) {
      const udp = new UdpListener(address, dispatcher, { reusePort });
      const bound = await udp.listen();
      const tcp = new TcpListener(bound, dispatcher, this.deps.metrics, tcpOptions);
      try {
        await tcp.listen();
      } catch (error) {
        await udp.close(0);
        const inUse = causeCode(error) === 'EADDRINUSE';
        if (address.port === 0 && inUse && attempt < 10) continue;
        throw error;
      }
      this.udp.push(udp);
      this.tcp.push(tcp);
      return bound;
    }
  }

  reload(next: ResolverConfig): void {
    this.forwarder.reconfigure({ upstreams: next.upstreams, timeoutMs: next.upstreamTimeoutMs, policy: next.upstreamPolicy });
    this.fallback?.reconfigure({ upstreams: next.clusterFallback, timeoutMs: next.upstreamTimeoutMs, policy: next.upstreamPolicy });
    this.cache.reconfigure(next.cache);
    this.dispatcher.reconfigure(this.clientPolicy(next));
    this.config = next;
  }

  async close(graceMs: number, handOver = false): Promise<void> {
    if (handOver) await Promise.all(this.udp.map((l) => l.handOver(graceMs)));
    await Promise.all([...this.udp.map((l) => l.close(graceMs)), ...this.tcp.map((l) => l.close(graceMs))]);
    await Promise.all([this.forwarder.close(), this.fallback?.close()]);
  }
}
