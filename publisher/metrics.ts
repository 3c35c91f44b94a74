/**
 * The publisher's Prometheus metrics, on a registry of its own. Labels come
 * from fixed sets, except `target` on the per-target lag gauge, whose series
 * follow the resolver pods (one per node, removed when a target goes away).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Every publisher metric. */
export class PublisherMetrics {
  readonly registry = new Registry();
  readonly apiRequests: Counter<'verb' | 'resource' | 'code'>;
  readonly watchEvents: Counter<'resource' | 'type'>;
  readonly informerErrors: Counter<'resource'>;
  readonly synced: Gauge<'resource'>;
  readonly leader: Gauge;
  readonly leaderTransitions: Counter;
  readonly generation: Gauge;
  readonly builds: Counter<'result'>;
  readonly buildDuration: Histogram;
  readonly snapshotBytes: Gauge<'encoding'>;
  readonly snapshotServices: Gauge;
  readonly snapshotEndpoints: Gauge;
  readonly buildProblems: Gauge;
  readonly pushes: Counter<'result'>;
  readonly pushDuration: Histogram;
  readonly targets: Gauge<'source'>;
  readonly targetLag: Gauge<'target'>;
  readonly pulls: Counter<'result'>;
  readonly filteredPulls: Counter<'result'>;
  readonly viewBuilds: Counter;
  readonly viewCacheEntries: Gauge;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'holdfast_' });
    this.apiRequests = new Counter({
      name: 'holdfast_publisher_api_requests_total',
      help: 'Requests to the kube-apiserver by verb (get, list, watch, put, post), resource and HTTP status ("error": no answer).',
      labelNames: ['verb', 'resource', 'code'],
      registers,
    });
    this.watchEvents = new Counter({
      name: 'holdfast_publisher_watch_events_total',
      help: 'Watch events received, by resource and type (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR).',
      labelNames: ['resource', 'type'],
      registers,
    });
    this.informerErrors = new Counter({
      name: 'holdfast_publisher_informer_errors_total',
      help: 'List or watch failures that made an informer back off before retrying.',
      labelNames: ['resource'],
      registers,
    });
    this.synced = new Gauge({
      name: 'holdfast_publisher_informer_synced',
      help: '1 once the informer has listed its resource at least once.',
      labelNames: ['resource'],
      registers,
    });
    this.leader = new Gauge({ name: 'holdfast_publisher_leader', help: '1 while this replica holds the lease and publishes.', registers });
    this.leaderTransitions = new Counter({
      name: 'holdfast_publisher_leader_transitions_total',
      help: 'Times this replica became or stopped being the leader.',
      registers,
    });
    this.generation = new Gauge({ name: 'holdfast_publisher_generation', help: 'Generation of the latest snapshot built (0: none yet).', registers });
    this.builds = new Counter({
      name: 'holdfast_publisher_builds_total',
      help: 'Snapshot builds by result (built, unchanged: same content as the last one, failed).',
      labelNames: ['result'],
      registers,
    });
    this.buildDuration = new Histogram({
      name: 'holdfast_publisher_build_duration_seconds',
      help: 'Time to build, sign and encode a snapshot.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.snapshotBytes = new Gauge({
      name: 'holdfast_publisher_snapshot_bytes',
      help: 'Size of the latest snapshot, as JSON and gzip-compressed.',
      labelNames: ['encoding'],
      registers,
    });
    this.snapshotServices = new Gauge({ name: 'holdfast_publisher_snapshot_services', help: 'Services in the latest snapshot.', registers });
    this.snapshotEndpoints = new Gauge({ name: 'holdfast_publisher_snapshot_endpoints', help: 'Endpoints in the latest snapshot.', registers });
    this.buildProblems = new Gauge({
      name: 'holdfast_publisher_build_problems',
      help: 'Objects (or parts of them) the latest build skipped; each is logged with its reason.',
      registers,
    });
    this.pushes = new Counter({
      name: 'holdfast_publisher_pushes_total',
      help: 'Snapshot pushes by result (applied, current, refused_<status>, unreachable, timeout).',
      labelNames: ['result'],
      registers,
    });
    this.pushDuration = new Histogram({
      name: 'holdfast_publisher_push_duration_seconds',
      help: 'Time of one push to one target, answer included.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.targets = new Gauge({
      name: 'holdfast_publisher_targets',
      help: 'Resolver receivers pushed to, by where they came from (flag, discovered, persisted).',
      labelNames: ['source'],
      registers,
    });
    this.targetLag = new Gauge({
      name: 'holdfast_publisher_target_lag_generations',
      help: 'Latest generation minus the generation the target is known to hold (the latest, when it never answered).',
      labelNames: ['target'],
      registers,
    });
    this.pulls = new Counter({
      name: 'holdfast_publisher_pull_requests_total',
      help: 'GET /v1/snapshot answers by status (200, 304, 400, 503).',
      labelNames: ['result'],
      registers,
    });
    this.filteredPulls = new Counter({
      name: 'holdfast_publisher_filtered_pull_requests_total',
      help: 'GET /v1/snapshot?namespaces=... answers by status (200, 304, 400, 503); also counted in holdfast_publisher_pull_requests_total.',
      labelNames: ['result'],
      registers,
    });
    this.viewBuilds = new Counter({
      name: 'holdfast_publisher_view_builds_total',
      help: 'Namespace-filtered snapshots built and signed (a namespace set not in the cache for the current generation).',
      registers,
    });
    this.viewCacheEntries = new Gauge({
      name: 'holdfast_publisher_view_cache_entries',
      help: 'Namespace-filtered snapshots of the current generation kept for pulling.',
      registers,
    });
  }
}
