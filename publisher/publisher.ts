/**
 * A running publisher: watches Services and EndpointSlices, builds a snapshot
 * (the builder of `holdfast snapshot build`) at most `debounce` after the first
 * change, signs it with a strictly increasing generation, and hands it out —
 * pushed to every target, served on GET /v1/snapshot for pullers, and, with
 * `?namespaces=a,b`, as a signed view of those namespaces (`views.ts`).
 *
 * Generations: max(last + 1, the lease's recorded generation + 1, newest
 * generation a target reported + 1, current Unix time in ms). The generation
 * is recorded in the lease before the snapshot leaves the process, and kept in
 * --state-dir, so neither a restart nor a standby's takeover goes back.
 * Only the leader builds; every replica keeps serving what it has.
 */
import { createHash } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { Logger } from 'pino';
import { ConfigError } from '../common/errors.js';
import { buildSnapshot } from '../snapshot/build.js';
import { loadPrivateKey } from '../snapshot/keys.js';
import { signSnapshot } from '../snapshot/sign.js';
import type { SnapshotV1 } from '../snapshot/types.js';
import { parseSnapshot } from '../snapshot/validate.js';
import { startHttp } from '../resolver/http.js';
import type { HostPort } from '../resolver/server/address.js';
import type { PublisherConfig } from './config.js';
import { KubeApi, loadKubeConfig } from './kube/api.js';
import { ResourceInformer } from './kube/informer.js';
import { RateLimiter } from './kube/limiter.js';
import { LeaseElector, SoloElector } from './lease.js';
import type { Elector } from './lease.js';
import { PublisherMetrics } from './metrics.js';
import { Pusher } from './pusher.js';
import { PublisherState } from './state.js';
import { TargetSet } from './targets.js';
import { requestedNamespaces, ViewCache } from './views.js';

/** The snapshot being handed out. */
interface Latest {
  readonly generation: number;
  readonly gzip: Buffer;
  /** The snapshot itself, to cut views from. */
  readonly snapshot: SnapshotV1;
  /** Hash of the services, to skip builds that change nothing. */
  readonly contentHash: string;
  json?: Buffer;
}

function contentHash(snapshot: SnapshotV1): string {
  return createHash('sha256').update(`${snapshot.clusterDomain}\n${JSON.stringify(snapshot.services)}`).digest('hex');
}

/** The publisher process's parts. Create with {@link Publisher.start}. */
export class Publisher {
  /** Where GET /v1/snapshot and the operations endpoints are served. */
  address: HostPort | undefined;
  private http: Server | undefined;
  private latest: Latest | undefined;
  private generation = 0;
  /** Newest generation a target reported holding. */
  private targetFloor = 0;
  private debounce: NodeJS.Timeout | undefined;
  private building: Promise<void> | undefined;
  private again = false;
  private stopping: Promise<void> | undefined;
  private readonly informers: ResourceInformer[];
  private readonly elector: Elector;
  private readonly pusher: Pusher;
  private targets: TargetSet | undefined;
  private readonly state: PublisherState;
  private readonly views: ViewCache;

  private constructor(
    private readonly config: PublisherConfig,
    private readonly key: KeyObject,
    private readonly api: KubeApi,
    readonly metrics: PublisherMetrics,
    private readonly log: Logger,
  ) {
    this.state = new PublisherState(config.stateDir, log.child({ part: 'state' }));
    this.views = new ViewCache(key, metrics);
    const ilog = log.child({ part: 'informer' });
    this.informers = [
      new ResourceInformer(api, { resource: 'services', path: '/api/v1/services', kind: 'Service', apiVersion: 'v1' }, this.metrics, ilog, () => this.changed()),
      new ResourceInformer(
        api,
        { resource: 'endpointslices', path: '/apis/discovery.k8s.io/v1/endpointslices', kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1' },
        this.metrics,
        ilog,
        () => this.changed(),
      ),
    ];
    this.elector = config.lease ? new LeaseElector(api, config.lease, this.metrics, log.child({ part: 'lease' })) : new SoloElector();
    this.pusher = new Pusher(config.push, this.metrics, log.child({ part: 'push' }));
    this.pusher.onNewer = (generation) => {
      if (generation <= this.targetFloor) return;
      this.targetFloor = generation;
      this.log.warn({ generation }, 'a target holds a newer generation than ours; the next snapshot goes above it');
      this.changed();
    };
  }

  /** Loads the key, kubeconfig and state, then starts serving, electing, watching and pushing. */
  static async start(config: PublisherConfig, log: Logger): Promise<Publisher> {
    const kc = loadKubeConfig(config.kubeconfig);
    let key: KeyObject;
    try {
      key = await loadPrivateKey(config.signingKey);
    } catch (error) {
      throw new ConfigError([`--signing-key: ${error instanceof Error ? error.message : String(error)}`]);
    }
    const metrics = new PublisherMetrics();
    const api = new KubeApi(kc, new RateLimiter(config.apiQps, config.apiBurst), metrics);
    const publisher = new Publisher(config, key, api, metrics, log);
    try {
      await publisher.startParts();
    } catch (error) {
      await publisher.stop();
      throw error;
    }
    return publisher;
  }

  private async startParts(): Promise<void> {
    const loaded = await this.state.load();
    this.generation = loaded.generation;
    if (loaded.snapshot) this.restore(loaded.snapshot);
    const http = await startHttp(
      this.config.listen,
      this.metrics,
      { ready: () => this.ready(), status: () => this.status() },
      { flag: '--listen', route: (req, res, path) => this.serve(req, res, path) },
    );
    this.http = http.server;
    this.address = http.address;
    this.targets = new TargetSet(this.config.targets, loaded.targets, this.config.discover, this.api, this.metrics, this.log.child({ part: 'targets' }), (list) => {
      this.pusher.setTargets(list);
      void this.state.saveTargets(list);
    });
    this.targets.start();
    if (this.latest) this.pusher.publish(this.latest);
    this.elector.start((leader) => {
      if (leader) this.changed(0);
    });
    for (const informer of this.informers) informer.start();
    this.log.info({ listen: this.address, generation: this.latest?.generation, targets: this.targets.current().length, lease: this.config.lease ? `${this.config.lease.namespace}/${this.config.lease.name}` : 'none' }, 'publisher started');
  }

  /** Takes up the snapshot persisted by an earlier run (served and pushed while the API is away). */
  private restore(gzip: Buffer): void {
    try {
      const { snapshot } = parseSnapshot(gzip);
      this.latest = { generation: snapshot.generation, gzip, contentHash: contentHash(snapshot), snapshot };
      this.generation = Math.max(this.generation, snapshot.generation);
      this.metrics.generation.set(snapshot.generation);
      this.log.info({ generation: snapshot.generation }, 'serving the snapshot persisted by the last run');
    } catch (error) {
      this.log.warn({ err: error }, 'ignoring the persisted snapshot');
    }
  }

  private ready(): boolean {
    return this.latest !== undefined && !this.elector.otherLeader && this.stopping === undefined;
  }

  private status(): Record<string, unknown> {
    const targets = this.pusher.status();
    return {
      leader: this.elector.leader,
      generation: this.latest?.generation ?? null,
      synced: Object.fromEntries(this.informers.map((i) => [i.resource, i.synced])),
      targets: targets.length,
      targetsBehind: targets.filter((t) => t.lag > 0).length,
    };
  }

  /** A change was seen: build at most `debounce` after the first one. */
  private changed(delayMs = this.config.debounceMs): void {
    if (this.stopping) return;
    if (this.debounce !== undefined) {
      if (delayMs > 0) return;
      clearTimeout(this.debounce);
    }
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      void this.build();
    }, delayMs);
  }

  private build(): Promise<void> {
    if (this.building) {
      this.again = true;
      return this.building;
    }
    this.building = this.buildOnce()
      .catch((error: unknown) => {
        this.metrics.builds.inc({ result: 'failed' });
        this.log.error({ err: error }, 'snapshot build failed');
      })
      .finally(() => {
        this.building = undefined;
        if (this.again) {
          this.again = false;
          this.changed(0);
        }
      });
    return this.building;
  }

  private async buildOnce(): Promise<void> {
    if (!this.elector.leader || !this.informers.every((i) => i.synced)) return;
    const started = performance.now();
    const objects = this.informers.flatMap((i) => i.objects());
    const generation = Math.max(this.generation + 1, this.elector.floor + 1, this.targetFloor + 1, Date.now());
    const { snapshot, problems } = buildSnapshot(objects, { clusterDomain: this.config.clusterDomain, generation, now: new Date() });
    const hash = contentHash(snapshot);
    if (this.latest?.contentHash === hash && this.targetFloor <= this.latest.generation) {
      this.metrics.builds.inc({ result: 'unchanged' });
      return;
    }
    if (!(await this.elector.reserve(generation))) {
      setTimeout(() => this.changed(0), this.config.lease?.renewMs ?? 1000).unref();
      return;
    }
    const json = Buffer.from(JSON.stringify(signSnapshot(snapshot, this.key)));
    const gzip = gzipSync(json);
    const seconds = (performance.now() - started) / 1000;
    this.latest = { generation, gzip, json, contentHash: hash, snapshot };
    this.generation = generation;
    const endpoints = snapshot.services.reduce((n, s) => n + s.endpoints.length, 0);
    this.metrics.builds.inc({ result: 'built' });
    this.metrics.buildDuration.observe(seconds);
    this.metrics.generation.set(generation);
    this.metrics.snapshotBytes.set({ encoding: 'json' }, json.length);
    this.metrics.snapshotBytes.set({ encoding: 'gzip' }, gzip.length);
    this.metrics.snapshotServices.set(snapshot.services.length);
    this.metrics.snapshotEndpoints.set(endpoints);
    this.metrics.buildProblems.set(problems.length);
    for (const problem of problems.slice(0, 20)) this.log.warn(problem);
    this.log.info({ generation, services: snapshot.services.length, endpoints, bytes: json.length, gzipBytes: gzip.length, ms: Math.round(seconds * 1000), skipped: problems.length }, 'snapshot published');
    await this.state.saveSnapshot(gzip, generation);
    this.pusher.publish({ generation, gzip });
  }

  /**
   * GET /v1/snapshot: the latest snapshot, gzip when accepted, 304 for a matching
   * If-None-Match; with `?namespaces=a,b`, its view holding those namespaces only
   * (`views.ts`), same generation and ETag; 400 for a bad query.
   */
  private serve(req: IncomingMessage, res: ServerResponse, path: string): boolean {
    if (path !== '/v1/snapshot') return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return true;
    }
    const asked = requestedNamespaces(new URL(req.url ?? '/', 'http://publisher').searchParams);
    const count = (result: string) => {
      this.metrics.pulls.inc({ result });
      if (asked !== undefined) this.metrics.filteredPulls.inc({ result });
    };
    if (asked !== undefined && 'error' in asked) {
      count('400');
      res.writeHead(400, { 'content-type': 'application/json' }).end(`${JSON.stringify({ error: asked.error })}\n`);
      return true;
    }
    const latest = this.latest;
    if (!latest) {
      count('503');
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '5' }).end('{"error":"no snapshot built yet"}\n');
      return true;
    }
    const etag = `"${latest.generation}"`;
    if (req.headers['if-none-match'] === etag) {
      count('304');
      res.writeHead(304, { etag }).end();
      return true;
    }
    const gzip = /\bgzip\b/.test(req.headers['accept-encoding'] ?? '');
    let body: Buffer;
    if (asked === undefined) {
      body = gzip ? latest.gzip : (latest.json ??= gunzipSync(latest.gzip));
    } else {
      const view = this.views.get(latest.snapshot, asked);
      body = gzip ? view.gzip : ViewCache.json(view);
    }
    count('200');
    res.writeHead(200, { etag, 'content-type': 'application/json', vary: 'accept-encoding', ...(gzip ? { 'content-encoding': 'gzip' } : {}) });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  }

  /** Per-target push state, for tests and /readyz. */
  targetStatus(): ReturnType<Pusher['status']> {
    return this.pusher.status();
  }

  /** The generation being handed out, if any. */
  currentGeneration(): number | undefined {
    return this.latest?.generation;
  }

  /** Stops in order: not ready, release the lease, stop watching and pushing, close the server. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      clearTimeout(this.debounce);
      await this.building;
      await this.elector.stop();
      await Promise.all([...this.informers.map((i) => i.stop()), this.targets?.stop()]);
      this.pusher.close();
      const http = this.http;
      if (http) await new Promise<void>((resolve) => http.close(() => resolve()).closeAllConnections());
      this.log.info('publisher stopped');
    })();
    return this.stopping;
  }
}
