/**
 * Where snapshots are pushed: the --target URLs, plus the pods of the resolver
 * DaemonSet (--discover NAMESPACE/NAME: its label selector, then a pod
 * informer in that namespace; every running pod with an IP becomes
 * `http://<podIP>:<--target-port>/v1/snapshot`). The list is persisted, and
 * the persisted list is used until discovery has listed the pods once, so
 * pushes reach every known node while the apiserver is unreachable.
 */
import type { Logger } from 'pino';
import { KubeApiError } from '../common/errors.js';
import type { KubeApi } from './kube/api.js';
import { ResourceInformer } from './kube/informer.js';
import type { PublisherMetrics } from './metrics.js';

/** The DaemonSet whose pods are targets. */
export interface Discovery {
  readonly namespace: string;
  readonly name: string;
  readonly port: number;
}

/** Keeps the union of static, discovered and (until discovery works) persisted targets. */
export class TargetSet {
  private discovered: string[] | undefined;
  private informer: ResourceInformer | undefined;
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;
  private failures = 0;

  constructor(
    private readonly fixed: readonly string[],
    private readonly persisted: readonly string[],
    private readonly discovery: Discovery | undefined,
    private readonly api: KubeApi,
    private readonly metrics: PublisherMetrics,
    private readonly log: Logger,
    private readonly onChange: (targets: string[]) => void,
  ) {}

  /** The current list, sorted. */
  current(): string[] {
    const dynamic = this.discovery === undefined ? [] : (this.discovered ?? this.persisted);
    const all = [...new Set([...this.fixed, ...dynamic])].sort();
    this.metrics.targets.set({ source: 'flag' }, this.fixed.length);
    this.metrics.targets.set({ source: 'discovered' }, this.discovered?.length ?? 0);
    this.metrics.targets.set({ source: 'persisted' }, this.discovered === undefined && this.discovery ? this.persisted.length : 0);
    return all;
  }

  /** Starts discovery (when configured): reads the DaemonSet's selector, then watches its pods. */
  start(): void {
    this.onChange(this.current());
    if (this.discovery) void this.findSelector(this.discovery);
  }

  private async findSelector(d: Discovery): Promise<void> {
    if (this.stopped) return;
    try {
      const ds = await this.api.request<{ spec?: { selector?: { matchLabels?: Record<string, string> } } }>(
        'GET',
        `/apis/apps/v1/namespaces/${encodeURIComponent(d.namespace)}/daemonsets/${encodeURIComponent(d.name)}`,
        'daemonsets',
      );
      const labels = ds.spec?.selector?.matchLabels ?? {};
      const selector = Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',');
      if (selector === '') throw new Error(`DaemonSet ${d.namespace}/${d.name} has no spec.selector.matchLabels`);
      this.log.info({ daemonset: `${d.namespace}/${d.name}`, selector }, 'discovering resolver pods');
      this.informer = new ResourceInformer(
        this.api,
        { resource: 'pods', path: `/api/v1/namespaces/${encodeURIComponent(d.namespace)}/pods`, kind: 'Pod', apiVersion: 'v1', labelSelector: selector },
        this.metrics,
        this.log,
        () => this.podsChanged(d),
      );
      this.informer.start();
    } catch (error) {
      const notFound = error instanceof KubeApiError && error.status === 404;
      const delay = Math.min(30_000, 1000 * 2 ** this.failures++);
      this.log.warn({ daemonset: `${d.namespace}/${d.name}`, retryMs: delay }, notFound ? 'DaemonSet to discover not found' : `cannot read the DaemonSet to discover: ${(error as Error).message}`);
      this.retry = setTimeout(() => void this.findSelector(d), delay);
    }
  }

  private podsChanged(d: Discovery): void {
    const informer = this.informer;
    if (!informer?.synced) return;
    const urls: string[] = [];
    for (const pod of informer.objects()) {
      const status = pod['status'] as { podIP?: string; phase?: string } | undefined;
      const meta = pod['metadata'] as { deletionTimestamp?: string } | undefined;
      if (!status?.podIP || status.phase !== 'Running' || meta?.deletionTimestamp) continue;
      const host = status.podIP.includes(':') ? `[${status.podIP}]` : status.podIP;
      urls.push(`http://${host}:${d.port}/v1/snapshot`);
    }
    urls.sort();
    if (this.discovered && urls.join() === this.discovered.join()) return;
    this.discovered = urls;
    this.onChange(this.current());
  }

  /** Stops discovery. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    await this.informer?.stop();
  }
}
