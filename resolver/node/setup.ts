/**
 * Node-local mode (`--setup-interface`): the interface holding the local IPs,
 * the iptables rules that capture DNS for them, and the capture lease that ties
 * the capture to this process answering.
 *
 * Order, so a resolver that fails to start never captures DNS: {@link prepare}
 * creates the interface (the listeners need its addresses to bind), the caller
 * binds its listeners, then {@link activate} checks that they answer and only
 * then installs the rules and the lease. Every `--setup-check-interval` the
 * whole setup is checked and repaired, and the lease renewed if — and only if —
 * the listeners still answer. {@link stop} removes everything unless another
 * holdfast on the node still uses it.
 */
import type { Logger } from 'pino';
import { NodeSetupError } from '../../common/errors.js';
import type { NodeSetupErrorType } from '../../common/errors.js';
import { runCommand } from './exec.js';
import type { Runner } from './exec.js';
import { ensureInterface, removeInterface } from './interface.js';
import { detectIptables, Iptables } from './iptables.js';
import type { IptablesMode } from './iptables.js';
import type { NodeSetupMetrics } from './metrics.js';
import type { HostPort } from '../server/address.js';

/** Settings of node-local mode. */
export interface NodeSetupOptions {
  readonly interfaceName: string;
  readonly localIps: readonly string[];
  readonly dnsPort: number;
  readonly healthPort?: number;
  readonly checkIntervalMs: number;
  readonly leaseMs: number;
  readonly iptables: IptablesMode;
}

/** The addresses the self-check asks: each local IP on the DNS port. */
export function localAddresses(options: NodeSetupOptions): HostPort[] {
  return options.localIps.map((host) => ({ host, port: options.dnsPort }));
}

/** What the setup needs from its resolver. */
export interface NodeSetupDeps {
  readonly metrics: NodeSetupMetrics;
  readonly log: Logger;
  /** Resolves when every listener answered a query; rejects naming the one that did not. */
  readonly selfCheck: () => Promise<void>;
  readonly run?: Runner;
  readonly now?: () => number;
}

/** The interface, rules and lease of one resolver. */
export class NodeSetup {
  private readonly run: Runner;
  private readonly now: () => number;
  private iptables: Iptables | undefined;
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly options: NodeSetupOptions,
    private readonly deps: NodeSetupDeps,
  ) {
    this.run = deps.run ?? runCommand;
    this.now = deps.now ?? Date.now;
  }

  /** Counts `error` by its type (`type` when it is not a NodeSetupError) and returns it as one. */
  private count(error: unknown, type: NodeSetupErrorType = 'command'): NodeSetupError {
    const failure = error instanceof NodeSetupError ? error : new NodeSetupError(type, error instanceof Error ? error.message : String(error), { cause: error });
    this.deps.metrics.errors.inc({ type: failure.type });
    return failure;
  }

  private repaired(what: readonly string[]): void {
    for (const w of what) this.deps.metrics.repairs.inc({ what: w });
  }

  /** Picks the iptables backend and creates the interface with every local IP; throws a NodeSetupError. */
  async prepare(): Promise<void> {
    const { options, deps } = this;
    try {
      const binaries = await detectIptables(this.run, options.iptables);
      this.iptables = new Iptables(this.run, binaries, { ips: options.localIps, dnsPort: options.dnsPort, ...(options.healthPort !== undefined ? { healthPort: options.healthPort } : {}) });
      const { repaired, created } = await ensureInterface(this.run, options.interfaceName, options.localIps);
      this.repaired(repaired);
      if (created === 'bridge') deps.log.warn({ interface: options.interfaceName }, 'this kernel has no dummy interfaces: holding the local IPs on an empty bridge instead');
      deps.log.info({ interface: options.interfaceName, localIps: options.localIps, iptables: binaries.backend, created: created ?? 'existing' }, 'node-local interface ready');
    } catch (error) {
      throw this.count(error);
    }
  }

  /** Checks the listeners answer, installs the rules and the lease, and starts the periodic check; throws a NodeSetupError. */
  async activate(): Promise<void> {
    await this.checkOnce(true);
    this.timer = setInterval(() => void this.check(), this.options.checkIntervalMs);
    this.timer.unref();
  }

  /** One periodic check; failures are counted and logged, never thrown. */
  check(): Promise<void> {
    this.checking ??= this.checkOnce(false)
      .catch(() => {})
      .finally(() => {
        this.checking = undefined;
      });
    return this.checking;
  }

  private async checkOnce(first: boolean): Promise<void> {
    const { options, deps } = this;
    const iptables = this.iptables;
    if (!iptables || this.stopped) return;
    const stage = async <T>(type: NodeSetupErrorType, work: () => Promise<T>): Promise<T> => {
      try {
        return await work();
      } catch (error) {
        const failure = this.count(error, type);
        if (!first) deps.log.error({ type: failure.type, error: failure.message }, 'node-local setup check failed');
        throw failure;
      }
    };
    if (!first) this.repaired((await stage('interface', () => ensureInterface(this.run, options.interfaceName, options.localIps))).repaired);
    // No answer, no renewal: the lease runs out and kube-proxy gets the ClusterIP's queries back.
    await stage('selfcheck', deps.selfCheck);
    const fixed = await stage('iptables', () => iptables.ensure());
    this.repaired(fixed);
    if (!first && fixed.length > 0) deps.log.warn({ repaired: fixed }, 'iptables rules had drifted: repaired');
    const expiresAt = this.now() + options.leaseMs;
    await stage('lease', () => iptables.renewLease(expiresAt));
    deps.metrics.leaseExpiry.set(Math.floor(expiresAt / 1000));
    if (first) deps.log.info({ backend: iptables.backend, leaseSeconds: options.leaseMs / 1000 }, 'capturing DNS for the local IPs');
  }

  /**
   * Stops checking; with `teardown`, removes the rules, the lease and the
   * interface (failures counted and logged). Without it, the lease runs out on
   * its own and everything else stays for the holdfast that still uses it.
   */
  async stop(teardown: boolean): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.checking;
    if (!teardown) return;
    const { options, deps } = this;
    try {
      await this.iptables?.teardown();
      this.deps.metrics.leaseExpiry.set(0);
    } catch (error) {
      deps.log.error({ error: this.count(error).message }, 'could not remove every iptables rule');
    }
    try {
      await removeInterface(this.run, options.interfaceName);
    } catch (error) {
      deps.log.error({ error: this.count(error).message }, 'could not remove the node-local interface');
    }
    deps.log.info({ interface: options.interfaceName }, 'node-local interface and rules removed');
  }
}
