/**
 * Publisher configuration: the option table of `holdfast publisher`, read like
 * the resolver's (flags > HOLDFAST_* environment > --config YAML > defaults),
 * validated once with every problem reported together, then frozen.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { LOG_LEVELS } from '../common/log.js';
import { OptionReader } from '../common/options.js';
import type { OptionSources, OptionTable } from '../common/options.js';
import { isDnsName } from '../snapshot/names.js';
import type { HostPort } from '../resolver/server/address.js';
import type { LeaseOptions } from './lease.js';
import type { PushOptions } from './pusher.js';
import type { Discovery } from './targets.js';
import { snapshotEndpoint } from '../common/url.js';

/** Every option of `holdfast publisher`. */
export const PUBLISHER_OPTIONS = {
  kubeconfig: { kind: 'string', default: undefined, help: 'kubeconfig file (default: the in-cluster service account)' },
  'signing-key': { kind: 'string', default: undefined, help: 'Ed25519 private key (PEM) that signs snapshots (required)' },
  listen: { kind: 'string', default: '0.0.0.0:9255', help: 'ADDR:PORT serving GET /v1/snapshot, /metrics, /healthz, /readyz' },
  target: { kind: 'list', default: [], help: 'resolver receiver URL to push to, e.g. http://10.0.3.7:9254 (repeatable)' },
  discover: { kind: 'string', default: undefined, help: 'NAMESPACE/DAEMONSET whose pods are pushed to' },
  'target-port': { kind: 'string', default: '9254', help: 'receiver port of discovered resolver pods' },
  debounce: { kind: 'string', default: '1s', help: 'time from the first change to the snapshot that includes it' },
  'state-dir': { kind: 'string', default: undefined, help: 'directory keeping the last snapshot, generation and target list' },
  'cluster-domain': { kind: 'string', default: 'cluster.local', help: 'the cluster DNS zone' },
  lease: { kind: 'string', default: 'kube-system/holdfast-publisher', help: "NAMESPACE/NAME of the coordination.k8s.io Lease electing one active replica ('none': no election, one replica)" },
  'lease-duration': { kind: 'string', default: '8s', help: 'how long a standby waits after the last renewal before taking over' },
  'lease-renew': { kind: 'string', default: '2s', help: 'how often the leader renews (and a standby checks) the lease' },
  identity: { kind: 'string', default: undefined, help: 'this replica in the lease (default: POD_NAME or host name, plus a random suffix)' },
  'api-qps': { kind: 'string', default: '5', help: 'most requests per second sent to the kube-apiserver' },
  'api-burst': { kind: 'string', default: '10', help: 'requests that may be sent at once before --api-qps applies' },
  'push-concurrency': { kind: 'string', default: '16', help: 'pushes in flight at once' },
  'push-timeout': { kind: 'string', default: '10s', help: 'time limit of one push' },
  'push-backoff-max': { kind: 'string', default: '60s', help: 'longest wait between retries to a failing target (from 1s, doubling, jittered)' },
  'push-resync': { kind: 'string', default: '60s', help: 'how often targets believed current are asked which generation they hold' },
  'log-level': { kind: 'string', default: 'info', help: 'fatal, error, warn, info, debug, trace or silent' },
  config: { kind: 'string', default: undefined, help: 'YAML file with any of these options (keys named like the flags)' },
} as const satisfies OptionTable;

/** The validated, frozen publisher configuration. */
export interface PublisherConfig {
  readonly kubeconfig: string | undefined;
  readonly signingKey: string;
  readonly listen: HostPort;
  readonly targets: readonly string[];
  readonly discover: Discovery | undefined;
  readonly debounceMs: number;
  readonly stateDir: string | undefined;
  readonly clusterDomain: string;
  /** Undefined with `--lease none`. */
  readonly lease: LeaseOptions | undefined;
  readonly apiQps: number;
  readonly apiBurst: number;
  readonly push: PushOptions;
  readonly logLevel: string;
}

/** `NAMESPACE/NAME` → parts, or undefined. */
function namespaced(text: string): { namespace: string; name: string } | undefined {
  const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-.a-z0-9]*[a-z0-9])?)$/.exec(text);
  return m?.[1] && m[3] ? { namespace: m[1], name: m[3] } : undefined;
}

function defaultIdentity(env: NodeJS.ProcessEnv): string {
  return `${env['POD_NAME'] || hostname()}_${randomBytes(3).toString('hex')}`;
}

/** Reads every source, validates, and returns the frozen config or throws a ConfigError listing every problem. */
export function loadPublisherConfig(sources: OptionSources): PublisherConfig {
  const o = new OptionReader(PUBLISHER_OPTIONS, sources);
  const signingKey = o.str('signing-key');
  if (signingKey === undefined) o.problem('signing-key', 'required (create one with holdfast keygen)');
  else {
    try {
      readFileSync(signingKey);
    } catch (error) {
      o.problem('signing-key', `cannot read ${signingKey}: ${(error as Error).message}`);
    }
  }
  const [listen] = o.hostPorts('listen', [o.str('listen') ?? '']);
  const targets: string[] = [];
  for (const text of o.list('target')) {
    const url = snapshotEndpoint(text, 'http://10.0.3.7:9254');
    if ('error' in url) o.problem('target', url.error);
    else if (!targets.includes(url.href)) targets.push(url.href);
  }
  const port = o.integer('target-port', 1);
  if (port > 65535) o.problem('target-port', `${port} is not a port`);
  let discover: Discovery | undefined;
  const discoverText = o.str('discover');
  if (discoverText !== undefined) {
    const parts = namespaced(discoverText);
    if (!parts) o.problem('discover', `'${discoverText}' is not NAMESPACE/DAEMONSET`);
    else discover = { ...parts, port };
  }
  const domain = (o.str('cluster-domain') ?? '').replace(/\.$/, '').toLowerCase();
  if (!isDnsName(domain)) o.problem('cluster-domain', `'${domain}' is not a valid DNS name`);
  const leaseText = o.str('lease') ?? 'none';
  const durationMs = o.duration('lease-duration', 1000);
  const renewMs = o.duration('lease-renew', 100);
  if (renewMs >= durationMs) o.problem('lease-renew', 'must be shorter than --lease-duration');
  let lease: LeaseOptions | undefined;
  if (leaseText !== 'none') {
    const parts = namespaced(leaseText);
    if (!parts) o.problem('lease', `'${leaseText}' is not NAMESPACE/NAME or none`);
    else lease = { ...parts, identity: o.str('identity') ?? defaultIdentity(sources.env), durationMs, renewMs };
  }
  const logLevel = o.str('log-level') ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) o.problem('log-level', `'${logLevel}' is not a log level`);
  return o.finish({
    kubeconfig: o.str('kubeconfig'),
    signingKey: signingKey ?? '',
    listen: listen ?? { host: '0.0.0.0', port: 9255 },
    targets,
    discover,
    debounceMs: o.duration('debounce', 0),
    stateDir: o.str('state-dir'),
    clusterDomain: domain,
    lease,
    apiQps: o.integer('api-qps', 1),
    apiBurst: o.integer('api-burst', 1),
    push: {
      concurrency: o.integer('push-concurrency', 1),
      timeoutMs: o.duration('push-timeout', 100),
      backoffBaseMs: 1000,
      backoffMaxMs: o.duration('push-backoff-max', 1000),
      resyncMs: o.duration('push-resync', 1000),
    },
    logLevel,
  });
}
