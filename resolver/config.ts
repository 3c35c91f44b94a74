/**
 * Resolver configuration: one table of options, read from defaults, a YAML
 * file (`--config`, keys named like the flags), `HOLDFAST_*` environment
 * variables and flags, in that order of precedence (flags win). Validated once
 * (fastify `lib/initial-config-validation.js`): every problem is reported
 * together, each naming the flag, variable or file key at fault; the result is frozen.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { ConfigError } from '../common/errors.js';
import { LOG_LEVELS } from '../common/log.js';
import { OptionReader } from '../common/options.js';
import type { OptionSources, OptionTable } from '../common/options.js';
import { snapshotEndpoint } from '../common/url.js';
import { namespaceList } from '../snapshot/view.js';
import { isDnsName } from '../snapshot/names.js';
import type { Upstream } from './forward/exchange.js';
import type { IptablesMode } from './node/iptables.js';
import type { NodeSetupOptions } from './node/setup.js';
import { formatHostPort, parseHostPort } from './server/address.js';
import type { HostPort } from './server/address.js';
import { parseCidr } from './server/access.js';
import type { Network } from './server/access.js';
import type { RateLimitConfig } from './server/ratelimit.js';
import { toDnsName } from './wire/name.js';
import type { DnsName } from './wire/name.js';
import { workerCount } from './workers/count.js';

/** The validated, frozen configuration of a resolver. */
export interface ResolverConfig {
  readonly listen: readonly HostPort[];
  readonly clusterDomain: DnsName;
  readonly snapshotFile: string | undefined;
  readonly trustKeys: readonly string[];
  readonly upstreams: readonly Upstream[];
  readonly stateDir: string | undefined;
  readonly metricsListen: HostPort;
  readonly allowUnsigned: boolean;
  readonly configFile: string | undefined;
  readonly clusterTtl: number;
  readonly upstreamTimeoutMs: number;
  readonly tcpIdleTimeoutMs: number;
  readonly maxTcpConnections: number;
  /** Threads serving DNS (1: this thread; N: worker threads sharing the ports, `workers/`). */
  readonly workers: number;
  readonly snapshotPollMs: number;
  readonly shutdownGraceMs: number;
  readonly logLevel: string;
  /** Cluster-zone queries go to these (kube-dns) while no snapshot has ever been loaded. */
  readonly clusterFallback: readonly Upstream[];
  readonly upstreamPolicy: 'sequential' | 'fastest';
  readonly cache: CacheConfig;
  readonly corednsCompatibleMetrics: boolean;
  /** Where `PUT /v1/snapshot` is accepted; undefined: no receiver. */
  readonly receiverListen: HostPort | undefined;
  /** Publisher URLs polled for snapshots (normalised hrefs), tried in turn; empty: no pulling. */
  readonly snapshotUrls: readonly string[];
  /** --namespaces: the view pulled (a canonical list, `snapshot/view.ts`); undefined: the whole cluster. */
  readonly namespaces: readonly string[] | undefined;
  /** Things worth a warning at start and reload that are not errors (an upstream dropped because it is this resolver). */
  readonly warnings: readonly string[];
  /** Time between two pulls while they succeed (before ±20 % jitter). */
  readonly snapshotPullIntervalMs: number;
  /** Deadline of one pull request, body included. */
  readonly snapshotPullTimeoutMs: number;
  /** Node-local mode (--setup-interface): interface, rules, capture lease; undefined when off. */
  readonly nodeSetup: NodeSetupOptions | undefined;
  /** Bind every listener with SO_REUSEPORT, so a new resolver can start beside this one. */
  readonly reusePort: boolean;
  /** On SIGTERM, how long to keep serving while a successor on the same addresses starts. */
  readonly handoffTimeoutMs: number;
  /** Client networks answered (--allow-from); empty: every client that reaches a listener. */
  readonly allowFrom: readonly Network[];
  /** Per-client UDP rate limit (--rate-limit); qps 0: off. */
  readonly rateLimit: RateLimitConfig;
}

/** Settings of the forwarding cache (RFC 8767 serve-stale, RFC 2308 negative caching). */
export interface CacheConfig {
  /** How long past expiry data may be served; 0 disables serve-stale. */
  readonly serveStaleMs: number;
  /** TTL of stale answers (RFC 8767 §4: 30 s recommended). */
  readonly staleAnswerTtl: number;
  /** Client-response timer: a client waiting this long for a refresh gets the stale answer. */
  readonly clientTimeoutMs: number;
  /** After a failed refresh, stale answers go out at once and the upstream is not asked again for this long. */
  readonly failureRecheckMs: number;
  /** Keep a positive answer when the upstream starts answering NXDOMAIN/NODATA (CoreDNS `prefer_positive`). */
  readonly staleOnNxdomain: boolean;
  readonly maxUpstreamInflight: number;
  /** Clients waiting for upstream answers at most (misses and stale refreshes, over all flights); beyond: stale or SERVFAIL at once. */
  readonly maxWaitingClients: number;
  readonly maxEntries: number;
  readonly maxBytes: number;
  readonly minTtl: number;
  readonly maxTtl: number;
  readonly negativeMinTtl: number;
  readonly negativeMaxTtl: number;
  /** How long an upstream failure for a name with nothing cached is answered SERVFAIL without asking again. */
  readonly servfailTtlMs: number;
  /** Hits an entry needs before it is refreshed ahead of expiry; 0 disables prefetch. */
  readonly prefetchHits: number;
}

/** The longest TTL a DNS record can carry (RFC 2181 §8). */
const MAX_TTL = 2 ** 31 - 1;

/** Every option: flag name (also the YAML key), kind, default, help. */
export const OPTIONS = {
  listen: { kind: 'list', default: ['127.0.0.1:53'], help: 'ADDR:PORT to serve DNS on, UDP and TCP (repeatable)' },
  'cluster-domain': { kind: 'string', default: 'cluster.local', help: 'the cluster DNS zone' },
  'snapshot-file': { kind: 'string', default: undefined, help: 'snapshot file to load and watch' },
  'trust-key': { kind: 'list', default: [], help: 'public key file trusted to sign snapshots (repeatable)' },
  upstream: { kind: 'list', default: [], help: 'ADDR[:PORT] of an upstream resolver (repeatable; default: nameservers of /etc/resolv.conf)' },
  'state-dir': { kind: 'string', default: undefined, help: 'directory where the last good snapshot is kept' },
  'metrics-listen': { kind: 'string', default: '127.0.0.1:9253', help: 'ADDR:PORT for /metrics, /healthz, /readyz' },
  'allow-unsigned': { kind: 'boolean', default: false, help: 'accept snapshots without a signature (demo only)' },
  config: { kind: 'string', default: undefined, help: 'YAML file with any of these options, keys named like the flags' },
  'cluster-ttl': { kind: 'string', default: '5s', help: 'TTL of cluster-zone records and of its negative answers' },
  'upstream-timeout': { kind: 'string', default: '2s', help: 'timeout of one upstream exchange' },
  'tcp-idle-timeout': { kind: 'string', default: '10s', help: 'close a client TCP connection that completes no query for this long (bytes of an unfinished query do not count; unread replies neither)' },
  'max-tcp-connections': { kind: 'string', default: '1000', help: 'cap on open client TCP connections; at the cap the longest-waiting idle one is closed to admit a new one' },
  workers: { kind: 'string', default: '1', help: 'threads serving DNS, sharing the listen ports (SO_REUSEPORT), each with its own cache; 0: one per CPU; at most 64' },
  'snapshot-poll-interval': { kind: 'string', default: '1s', help: 'how often the snapshot file is checked for changes' },
  'shutdown-grace': { kind: 'string', default: '5s', help: 'how long queries in progress may finish on SIGTERM' },
  'log-level': { kind: 'string', default: 'info', help: 'fatal, error, warn, info, debug or trace' },
  'cluster-fallback': { kind: 'list', default: [], help: 'kube-dns ADDR[:PORT] for cluster-zone queries while no snapshot was ever loaded (repeatable; tcp:// forces TCP)' },
  'upstream-policy': { kind: 'string', default: 'sequential', help: 'sequential (in order, next on failure) or fastest (lowest measured latency first)' },
  'serve-stale': { kind: 'string', default: '24h', help: 'how long past expiry cached data may be served (RFC 8767); 0 turns serve-stale off' },
  'stale-answer-ttl': { kind: 'string', default: '30s', help: 'TTL of stale answers' },
  'client-timeout': { kind: 'string', default: '1800ms', help: 'a client waiting this long for a refresh gets the stale answer' },
  'failure-recheck': { kind: 'string', default: '30s', help: 'after a failed refresh, serve stale at once and do not ask upstream again for this long' },
  'stale-on-nxdomain': { kind: 'boolean', default: false, help: 'keep serving a positive answer when the upstream starts saying NXDOMAIN/NODATA' },
  'max-upstream-inflight': { kind: 'string', default: '1000', help: 'upstream queries in flight at most; beyond it: stale data or SERVFAIL' },
  'max-waiting-clients': { kind: 'string', default: '10000', help: 'client queries waiting for upstream answers at most; beyond it: stale data or SERVFAIL at once' },
  'cache-max-entries': { kind: 'string', default: '100000', help: 'cache size bound in entries' },
  'cache-max-bytes': { kind: 'string', default: '64MiB', help: 'cache size bound in bytes (KiB, MiB, GiB suffixes)' },
  'cache-min-ttl': { kind: 'string', default: '0s', help: 'positive answers are kept at least this long' },
  'cache-max-ttl': { kind: 'string', default: '1h', help: 'positive answers are kept at most this long before a refresh' },
  'negative-min-ttl': { kind: 'string', default: '0s', help: 'negative answers (RFC 2308) are kept at least this long' },
  'negative-max-ttl': { kind: 'string', default: '30m', help: 'negative answers are kept at most this long' },
  'servfail-ttl': { kind: 'string', default: '5s', help: 'an upstream failure for an uncached name is answered SERVFAIL this long without asking again' },
  'prefetch-hits': { kind: 'string', default: '2', help: 'hits after which an entry is refreshed shortly before expiry (with jitter); 0 turns prefetch off' },
  'receiver-listen': { kind: 'string', default: undefined, help: 'ADDR:PORT accepting snapshot pushes (PUT /v1/snapshot)' },
  'snapshot-url': { kind: 'list', default: [], help: 'publisher URL to pull snapshots from (GET, If-None-Match; /v1/snapshot when no path); repeatable: tried in turn' },
  namespaces: { kind: 'list', default: [], help: 'pull only these namespaces (?namespaces=a,b; comma-separated or repeatable): a filtered, still signed snapshot; names in other namespaces go to --cluster-fallback or --upstream' },
  'snapshot-pull-interval': { kind: 'string', default: '10s', help: 'time between pulls (±20% jitter; backs off up to 5m on failures)' },
  'snapshot-pull-timeout': { kind: 'string', default: '30s', help: 'deadline of one pull request, body included' },
  'coredns-compatible-metrics': { kind: 'boolean', default: false, help: 'also export coredns_* metric names so node-local-dns dashboards keep working' },
  'setup-interface': { kind: 'boolean', default: false, help: 'node-local mode: hold --local-ip on --interface-name and capture DNS for them with iptables (needs NET_ADMIN)' },
  'local-ip': { kind: 'list', default: [], help: 'IP to hold and capture in node-local mode, e.g. 169.254.20.10,10.96.0.10 (comma-separated or repeatable); --listen defaults to each on port 53' },
  'interface-name': { kind: 'string', default: 'nodelocaldns', help: 'interface holding the local IPs (created as a dummy link, removed on a clean exit)' },
  'setup-check-interval': { kind: 'string', default: '10s', help: 'how often the interface and rules are checked and repaired, and the capture lease renewed' },
  'capture-lease': { kind: 'string', default: '30s', help: 'the iptables capture lapses this long after the listeners last answered a self-check (SIGKILL, hang), handing the ClusterIP back to kube-proxy' },
  iptables: { kind: 'string', default: 'auto', help: 'iptables backend: auto (the one the node uses), nft or legacy' },
  'reuse-port': { kind: 'boolean', default: true, help: 'bind listeners with SO_REUSEPORT so a new resolver can start beside this one (hitless restart); --no-reuse-port turns it off' },
  'handoff-timeout': { kind: 'string', default: '20s', help: 'on SIGTERM, while another resolver on the same --state-dir and addresses is starting, keep serving until it serves, at most this long' },
  'allow-from': { kind: 'list', default: [], help: 'client network (CIDR, or an IP for one address) to answer; others get REFUSED (repeatable or comma-separated; default: every client that reaches --listen)' },
  'rate-limit': { kind: 'string', default: '0', help: 'UDP queries per second per client IP, per worker thread; over it: dropped, or answered TC=1 (--rate-limit-slip); 0 turns it off' },
  'rate-limit-burst': { kind: 'string', default: undefined, help: 'queries a client may send at once before --rate-limit applies (default: one second of --rate-limit)' },
  'rate-limit-slip': { kind: 'string', default: '2', help: 'every Nth query over --rate-limit gets an empty TC=1 reply (the client retries over TCP, not limited) instead of none; 0: drop all' },
} as const satisfies OptionTable;

/** An option name. */
export type OptionName = keyof typeof OPTIONS;

export { envName, parseDuration } from '../common/options.js';

/** Nameservers of a resolv.conf text (port 53). */
export function resolvConfNameservers(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m?.[1]) out.push(m[1].replace(/%.*$/, ''));
  }
  return out;
}

/** Inputs to {@link loadConfig}; tests pass their own environment and resolv.conf. */
export interface ConfigSources extends OptionSources {
  /**
   * The text of /etc/resolv.conf as read when the resolver started: the CLI
   * reads it once and passes it to every reload, so the upstreams taken from it
   * are kept (a resolv.conf later pointed at this resolver must not become its
   * upstream). Default: read the file now.
   */
  readonly resolvConf?: string;
}

/** /etc/resolv.conf's text (through `read`, tests pass their own), or undefined when it cannot be read. */
export function readResolvConf(read: (path: string) => string = (p) => readFileSync(p, 'utf8')): string | undefined {
  try {
    return read('/etc/resolv.conf');
  } catch {
    return undefined;
  }
}

/** True for 127.0.0.0/8 and ::1. */
function isLoopback(host: string): boolean {
  return host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

/**
 * True when `upstream` is one of the resolver's own `listen` addresses, so
 * asking it would loop: the same address and port, or a wildcard listener
 * (0.0.0.0, ::) on that port and a loopback or local interface address.
 */
export function isOwnAddress(upstream: HostPort, listen: readonly HostPort[], localHosts: readonly string[]): boolean {
  const host = upstream.host.toLowerCase();
  return listen.some((l) => l.port === upstream.port && (l.host.toLowerCase() === host || ((l.host === '0.0.0.0' || l.host === '::') && (isLoopback(host) || localHosts.includes(host)))));
}

function interfaceAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((a) => a.address.toLowerCase()));
}

/** Reads every source, validates, and returns the frozen config or throws a ConfigError listing every problem. */
export function loadConfig(sources: ConfigSources): ResolverConfig {
  const read = sources.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  const o = new OptionReader(OPTIONS, sources);
  const problems = o.problems;
  const configFile = o.configFile;
  const str = (key: OptionName) => o.str(key);
  const list = (key: OptionName) => o.list(key);
  const hostPorts = (key: OptionName, values: readonly string[], defaultPort?: number) => o.hostPorts(key, values, defaultPort);
  const duration = (key: OptionName, min: number) => o.duration(key, min);

  const setupInterface = o.bool('setup-interface');
  const localIps = list('local-ip').flatMap((text) => text.split(',')).map((text) => text.trim()).filter(Boolean);
  for (const ip of localIps) if (isIP(ip) === 0) o.problem('local-ip', `'${ip}' is not an IP address`);
  if (setupInterface && localIps.length === 0) o.problem('local-ip', 'required with --setup-interface (e.g. 169.254.20.10,10.96.0.10)');
  // In node-local mode the listeners default to the local IPs, like node-local-dns.
  const listen = setupInterface && !o.isSet('listen') ? localIps.filter((ip) => isIP(ip) !== 0).map((host) => ({ host, port: 53 })) : hostPorts('listen', list('listen'));
  if (listen.length === 0 && problems.length === 0) problems.push('--listen: at least one address is required');
  const domainText = (str('cluster-domain') ?? '').replace(/\.$/, '').toLowerCase();
  if (!isDnsName(domainText)) problems.push(`${o.source('cluster-domain')}: '${domainText}' is not a valid DNS name`);

  let upstreamTexts = list('upstream');
  let upstreamSource = o.source('upstream');
  if (upstreamTexts.length === 0) {
    const text = sources.resolvConf ?? readResolvConf(read);
    upstreamTexts = text === undefined ? [] : resolvConfNameservers(text);
    upstreamSource = '/etc/resolv.conf';
    if (upstreamTexts.length === 0) problems.push('--upstream: none given and /etc/resolv.conf names no nameserver');
  }
  const upstreamList = (texts: readonly string[], source: string): Upstream[] => {
    const out: Upstream[] = [];
    for (const text of texts) {
      const m = /^(udp|tcp):\/\/(.*)$/.exec(text);
      const hp = parseHostPort(m?.[2] ?? text, 53);
      if (typeof hp === 'string') problems.push(`${source}: ${hp}`);
      else out.push({ ...hp, label: formatHostPort(hp), forceTcp: m?.[1] === 'tcp' });
    }
    return out;
  };
  // An upstream that is this resolver itself would loop (a pod whose resolv.conf points at its sidecar).
  const warnings: string[] = [];
  const localHosts = listen.some((l) => l.host === '0.0.0.0' || l.host === '::') ? interfaceAddresses() : [];
  const notOwn = (all: Upstream[], source: string): Upstream[] => {
    const kept = all.filter((u) => !isOwnAddress(u, listen, localHosts));
    const dropped = all.filter((u) => !kept.includes(u)).map((u) => u.label);
    if (dropped.length > 0 && kept.length > 0) warnings.push(`${source}: ${dropped.join(', ')} ${dropped.length === 1 ? 'is' : 'are'} this resolver's own listen address; not used as an upstream (it would loop)`);
    if (dropped.length > 0 && kept.length === 0) {
      problems.push(`${source}: ${dropped.join(', ')} ${dropped.length === 1 ? 'is' : 'are'} this resolver's own listen address, and no other upstream is left (asking itself would loop); give --upstream, e.g. the pod's original nameserver (the kube-dns ClusterIP)`);
    }
    return kept;
  };
  const upstreams = notOwn(upstreamList(upstreamTexts, upstreamSource), upstreamSource);
  const clusterFallback = notOwn(upstreamList(list('cluster-fallback'), o.source('cluster-fallback')), o.source('cluster-fallback'));
  const upstreamPolicy = str('upstream-policy') ?? 'sequential';
  if (upstreamPolicy !== 'sequential' && upstreamPolicy !== 'fastest') {
    problems.push(`${o.source('upstream-policy')}: '${upstreamPolicy}' is not sequential or fastest`);
  }
  const [metricsListen] = hostPorts('metrics-listen', [str('metrics-listen') ?? '']);

  const allowUnsigned = o.bool('allow-unsigned');
  const trustKeys = list('trust-key');
  const snapshotFile = str('snapshot-file');
  const receiverText = str('receiver-listen');
  const [receiverListen] = receiverText === undefined ? [] : hostPorts('receiver-listen', [receiverText]);
  const snapshotUrls: string[] = [];
  for (const text of list('snapshot-url')) {
    const url = snapshotEndpoint(text, 'http://holdfast-publisher.kube-system:9255');
    if ('error' in url) o.problem('snapshot-url', url.error);
    else if (!snapshotUrls.includes(url.href)) snapshotUrls.push(url.href);
  }
  const namespaceTexts = list('namespaces').flatMap((text) => text.split(',')).map((text) => text.trim());
  let namespaces: readonly string[] | undefined;
  if (namespaceTexts.length > 0) {
    const parsed = namespaceList(namespaceTexts);
    if ('error' in parsed) o.problem('namespaces', parsed.error);
    else namespaces = parsed.namespaces;
    if (snapshotUrls.length === 0) o.problem('namespaces', 'filters pulled snapshots: it needs --snapshot-url');
  }
  if (trustKeys.length === 0 && !allowUnsigned && (snapshotFile !== undefined || str('state-dir') !== undefined || receiverText !== undefined || snapshotUrls.length > 0)) {
    problems.push('--trust-key: required to verify snapshots (or pass --allow-unsigned for a demo)');
  }
  const integer = (key: OptionName, min: number) => o.integer(key, min);
  const bytes = (key: OptionName): number => {
    const text = str(key) ?? '';
    const m = /^(\d+)\s*(B|KiB|MiB|GiB)?$/.exec(text);
    if (!m) {
      problems.push(`${o.source(key)}: '${text}' is not a size (e.g. 65536, 512KiB, 64MiB, 1GiB)`);
      return 0;
    }
    return Number(m[1]) * ({ B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 }[m[2] ?? 'B'] ?? 1);
  };
  const seconds = (key: OptionName) => Math.floor(duration(key, 0) / 1000);
  /** A TTL written on the wire, or a clamp on one: at most 2^31 − 1 s (RFC 2181 §8; more would wrap or read as 0). */
  const ttl = (key: OptionName) => {
    const value = seconds(key);
    if (value <= MAX_TTL) return value;
    o.problem(key, `${value} s is longer than a DNS TTL can be (at most ${MAX_TTL} s, RFC 2181 §8)`);
    return MAX_TTL;
  };
  const maxTcpConnections = integer('max-tcp-connections', 1);
  const workers = workerCount(str('workers') ?? '');
  if (typeof workers === 'string') o.problem('workers', workers);
  const logLevel = str('log-level') ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) {
    problems.push(`${o.source('log-level')}: '${logLevel}' is not one of ${LOG_LEVELS.join(', ')}`);
  }
  const clusterTtl = ttl('cluster-ttl');
  const interfaceName = str('interface-name') ?? '';
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(interfaceName)) o.problem('interface-name', `'${interfaceName}' is not an interface name (1-15 letters, digits, '_', '.', '-')`);
  const iptablesMode = str('iptables') ?? 'auto';
  if (!['auto', 'nft', 'legacy'].includes(iptablesMode)) o.problem('iptables', `'${iptablesMode}' is not auto, nft or legacy`);
  const checkIntervalMs = duration('setup-check-interval', 1000);
  const leaseMs = duration('capture-lease', 2000);
  if (leaseMs < 2 * checkIntervalMs) o.problem('capture-lease', `at least twice --setup-check-interval (${checkIntervalMs / 1000}s), or one slow check lets the capture lapse`);
  const dnsPorts = new Set(listen.filter((a) => localIps.includes(a.host) || a.host === '0.0.0.0' || a.host === '::').map((a) => a.port));
  if (setupInterface && localIps.length > 0 && dnsPorts.size !== 1) {
    o.problem('listen', `node-local mode needs the local IPs (or 0.0.0.0) on one --listen port, got ${dnsPorts.size === 0 ? 'none' : [...dnsPorts].join(', ')}`);
  }
  const allowFrom: Network[] = [];
  for (const text of list('allow-from').flatMap((t) => t.split(',')).map((t) => t.trim()).filter(Boolean)) {
    const network = parseCidr(text);
    if (typeof network === 'string') o.problem('allow-from', network);
    else allowFrom.push(network);
  }
  const rateQps = integer('rate-limit', 0);
  const rateLimit: RateLimitConfig = {
    qps: rateQps,
    burst: o.isSet('rate-limit-burst') ? integer('rate-limit-burst', 1) : Math.max(1, rateQps),
    slip: integer('rate-limit-slip', 0),
  };
  const nodeSetup: NodeSetupOptions | undefined = setupInterface
    ? {
        interfaceName,
        localIps,
        dnsPort: [...dnsPorts][0] ?? 53,
        ...(metricsListen && (localIps.includes(metricsListen.host) || metricsListen.host === '0.0.0.0') ? { healthPort: metricsListen.port } : {}),
        checkIntervalMs,
        leaseMs,
        iptables: iptablesMode as IptablesMode,
      }
    : undefined;
  const config: ResolverConfig = {
    listen,
    clusterDomain: toDnsName(domainText),
    snapshotFile,
    trustKeys,
    upstreams,
    stateDir: str('state-dir'),
    metricsListen: metricsListen ?? { host: '127.0.0.1', port: 9253 },
    allowUnsigned,
    configFile,
    clusterTtl,
    upstreamTimeoutMs: duration('upstream-timeout', 10),
    tcpIdleTimeoutMs: duration('tcp-idle-timeout', 100),
    maxTcpConnections,
    workers: typeof workers === 'number' ? workers : 1,
    snapshotPollMs: duration('snapshot-poll-interval', 100),
    shutdownGraceMs: duration('shutdown-grace', 0),
    logLevel,
    clusterFallback,
    upstreamPolicy: upstreamPolicy === 'fastest' ? 'fastest' : 'sequential',
    cache: {
      serveStaleMs: duration('serve-stale', 0),
      staleAnswerTtl: ttl('stale-answer-ttl'),
      clientTimeoutMs: duration('client-timeout', 0),
      failureRecheckMs: duration('failure-recheck', 0),
      staleOnNxdomain: o.bool('stale-on-nxdomain'),
      maxUpstreamInflight: integer('max-upstream-inflight', 1),
      maxWaitingClients: integer('max-waiting-clients', 1),
      maxEntries: integer('cache-max-entries', 1),
      maxBytes: bytes('cache-max-bytes'),
      minTtl: ttl('cache-min-ttl'),
      maxTtl: ttl('cache-max-ttl'),
      negativeMinTtl: ttl('negative-min-ttl'),
      negativeMaxTtl: ttl('negative-max-ttl'),
      servfailTtlMs: duration('servfail-ttl', 0),
      prefetchHits: integer('prefetch-hits', 0),
    },
    corednsCompatibleMetrics: o.bool('coredns-compatible-metrics'),
    receiverListen,
    snapshotUrls,
    namespaces,
    snapshotPullIntervalMs: duration('snapshot-pull-interval', 100),
    snapshotPullTimeoutMs: duration('snapshot-pull-timeout', 10),
    nodeSetup,
    reusePort: o.bool('reuse-port'),
    handoffTimeoutMs: duration('handoff-timeout', 0),
    allowFrom,
    rateLimit,
    warnings,
  };
  if (config.cache.minTtl > config.cache.maxTtl) problems.push(`--cache-min-ttl: larger than --cache-max-ttl`);
  if (config.cache.negativeMinTtl > config.cache.negativeMaxTtl) problems.push(`--negative-min-ttl: larger than --negative-max-ttl`);
  if (config.cache.maxBytes < 4096 && problems.length === 0) problems.push(`${o.source('cache-max-bytes')}: at least 4KiB`);
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(config);
}
