/**
 * One resource kept in memory with client-node's ListWatch (list, then watch
 * from the list's resourceVersion; on `410 Gone` it re-lists, and objects
 * deleted meanwhile are reported as deletes). ListWatch stops on any other
 * error; this wrapper restarts it after an exponential, jittered backoff
 * (1 s doubling to 30 s), so a failing apiserver sees a trickle of requests,
 * never a loop — and the rate limiter in KubeApi bounds even that.
 */
import { ListWatch } from '@kubernetes/client-node';
import type { KubernetesObject, Watch } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { PublisherMetrics } from '../metrics.js';
import type { KubeApi } from './api.js';

/** What to watch. */
export interface ResourceSpec {
  /** Metrics label and log name, e.g. `services`. */
  readonly resource: string;
  /** Collection path, e.g. `/api/v1/services`. */
  readonly path: string;
  /** `kind` and `apiVersion` given to listed items (lists leave them out). */
  readonly kind: string;
  readonly apiVersion: string;
  readonly labelSelector?: string;
}

const BACKOFF_BASE_MS = 1000;
const BACKOFF_MAX_MS = 30_000;

/** A restartable informer for one resource. */
export class ResourceInformer {
  private readonly lw: ListWatch<KubernetesObject>;
  private failures = 0;
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;
  /** The resource's name in metrics and logs, e.g. `services`. */
  get resource(): string {
    return this.spec.resource;
  }

  /** True once a list has completed (the cache holds the whole collection). */
  synced = false;

  constructor(
    private readonly api: KubeApi,
    private readonly spec: ResourceSpec,
    private readonly metrics: PublisherMetrics,
    private readonly log: Logger,
    private readonly onChange: () => void,
    private readonly random: () => number = Math.random,
  ) {
    const watcher = api.watcher(spec.resource, random);
    const query = spec.labelSelector === undefined ? {} : { labelSelector: spec.labelSelector };
    const counted = {
      watch: (path: string, params: Record<string, string | undefined>, cb: Parameters<typeof watcher.watch>[2], done: (e: unknown) => void) => {
        // ListWatch opens the watch right after applying a list: the cache is complete.
        this.markSynced();
        return watcher.watch(path, params, (phase, object, event) => {
          this.recovered();
          cb(phase, object, event);
        }, done);
      },
    };
    const list = async () => {
      const result = await api.list(spec.path, spec.resource, query);
      return { metadata: { resourceVersion: result.resourceVersion }, items: result.items as unknown as KubernetesObject[] };
    };
    this.lw = new ListWatch<KubernetesObject>(spec.path, counted as unknown as Watch, list, false, spec.labelSelector);
    for (const verb of ['add', 'update', 'delete'] as const) this.lw.on(verb, () => onChange());
    this.lw.on('error', (error: unknown) => this.failed(error));
  }

  /** A watch event arrived: the apiserver answers again. */
  private recovered(): void {
    if (this.failures === 0) return;
    this.log.info({ resource: this.spec.resource }, 'watching again');
    this.failures = 0;
  }

  private markSynced(): void {
    if (this.synced) return;
    this.synced = true;
    this.metrics.synced.set({ resource: this.spec.resource }, 1);
    this.log.info({ resource: this.spec.resource, objects: this.lw.list().length }, 'informer synced');
    queueMicrotask(() => this.onChange());
  }

  /** Starts listing and watching; never throws (failures back off and retry). */
  start(): void {
    this.stopped = false;
    this.lw.start().catch((error: unknown) => this.failed(error));
  }

  private failed(error: unknown): void {
    if (this.stopped) return;
    this.metrics.informerErrors.inc({ resource: this.spec.resource });
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** this.failures) * (0.8 + 0.4 * this.random());
    const message = error instanceof Error ? error.message : String(error);
    if (this.failures === 0) this.log.warn({ resource: this.spec.resource, retryMs: Math.round(delay) }, `list/watch failed, keeping the last state: ${message}`);
    else this.log.debug({ resource: this.spec.resource, retryMs: Math.round(delay), failures: this.failures }, `list/watch failed again: ${message}`);
    this.failures++;
    clearTimeout(this.retry);
    this.retry = setTimeout(() => this.start(), delay);
  }

  /** Every object, with `kind` and `apiVersion` set. */
  objects(): Record<string, unknown>[] {
    return this.lw.list().map((o) => ({ ...(o as unknown as Record<string, unknown>), kind: this.spec.kind, apiVersion: this.spec.apiVersion }));
  }

  /** True while the last list or watch attempt failed. */
  get failing(): boolean {
    return this.failures > 0;
  }

  /** Stops watching. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    await this.lw.stop();
  }
}
