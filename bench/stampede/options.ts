/**
 * Options of `npm run bench:stampede`, validated once: every problem is reported
 * together, naming its flag.
 */
import { parseArgs } from 'node:util';
import { parseDuration } from '../../common/options.js';
import type { FailureMode } from './upstream-sim.js';

/** The validated options. */
export interface StampedeOptions {
  readonly out: string;
  readonly timeScale: number;
  readonly quick: boolean;
  /** Scenario seconds. */
  readonly warmup: number;
  readonly outage: number;
  readonly recovery: number;
  readonly services: number;
  readonly pods: number;
  /** Lookups per wall-clock second per node at rest. */
  readonly rate: number;
  readonly newPods: number;
  readonly failure: FailureMode;
  /** kube-dns capacity per node in queries per wall-clock second; undefined: `headroom` × the baseline's pre-outage peak. */
  readonly capacity: number | undefined;
  readonly headroom: number;
  readonly ttls: 'spread' | 'coredns';
  readonly ttlSpread: number;
  readonly changed: number;
  readonly publishDelay: number;
  readonly peers: readonly string[] | undefined;
  readonly seed: number;
  readonly progressSeconds: number;
}

/** The usage text. */
export const USAGE = `Usage: npm run bench:stampede -- [options]

Replays a control-plane outage against holdfast (with snapshots, and forwarding
only), a TTL-only cache like node-local-dns, and peers found on this machine.

  --out DIR              where stampede.json, stampede.md and the SVG charts go (default stampede-report)
  --quick                a 1-2 minute run: --time-scale 60 (unless given), progress every 5 s
  --time-scale K         play the scenario K times faster; TTLs and timers divided by K (default 1)
  --warmup D             before the outage (default 10m)
  --outage D             control plane down (default 30m)
  --recovery D           after it (default 10m)
  --services N           services in the model cluster (default 2000)
  --pods N               pods per node at the start (default 30)
  --rate N               lookups per wall-clock second per node at rest (default 20)
  --new-pods N           pods started during the outage, on names no pod of the node asked for (default 5)
  --upstream-failure M   how kube-dns fails during the outage: servfail, timeout or both (default both)
  --kube-dns-capacity N  kube-dns queries per wall-clock second per node; beyond, dropped
                         (default: --capacity-headroom x the TTL-only baseline's pre-outage peak)
  --capacity-headroom F  (default 2)
  --ttls spread|coredns  kube-dns TTLs: spread uniformly over --ttl-spread (default), or 30 s
  --ttl-spread D         (default 20m)
  --changed N            popular headless services whose endpoints change during the outage (default 20)
  --publish-delay D      from the outage end to the new snapshot reaching holdfast (default 15s)
  --peer NAME[=PATH]     peers to run (repeatable or comma-separated): unbound, unbound-serve-expired,
                         dnsmasq, dnsmasq-stale, coredns; 'none' for none (default: those installed
                         of unbound, unbound-serve-expired, dnsmasq, coredns)
  --seed N               model and load seed (default 1)
Durations: 500ms, 30s, 10m, 1h or seconds.
`;

/** Parses `argv`; throws an Error listing every problem. */
export function parseStampedeOptions(argv: readonly string[]): StampedeOptions {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      out: { type: 'string', default: 'stampede-report' },
      quick: { type: 'boolean', default: false },
      'time-scale': { type: 'string' },
      warmup: { type: 'string', default: '10m' },
      outage: { type: 'string', default: '30m' },
      recovery: { type: 'string', default: '10m' },
      services: { type: 'string', default: '2000' },
      pods: { type: 'string', default: '30' },
      rate: { type: 'string', default: '20' },
      'new-pods': { type: 'string', default: '5' },
      'upstream-failure': { type: 'string', default: 'both' },
      'kube-dns-capacity': { type: 'string' },
      'capacity-headroom': { type: 'string', default: '2' },
      ttls: { type: 'string', default: 'spread' },
      'ttl-spread': { type: 'string', default: '20m' },
      changed: { type: 'string', default: '20' },
      'publish-delay': { type: 'string', default: '15s' },
      peer: { type: 'string', multiple: true },
      seed: { type: 'string', default: '1' },
      help: { type: 'boolean', default: false },
    },
  });
  const problems: string[] = [];
  const number = (flag: string, text: string | undefined, min: number, integer = true): number => {
    const n = Number(text);
    if (text === undefined || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
      problems.push(`--${flag} ${String(text)}: expected ${integer ? 'an integer' : 'a number'} ≥ ${min}`);
      return min;
    }
    return n;
  };
  const seconds = (flag: string, text: string, min: number): number => {
    const msValue = parseDuration(text);
    if (msValue === undefined || msValue / 1000 < min) {
      problems.push(`--${flag} ${text}: expected a duration of at least ${min} s (500ms, 30s, 10m, 1h)`);
      return min;
    }
    return msValue / 1000;
  };
  const failure = values['upstream-failure'];
  if (failure !== 'servfail' && failure !== 'timeout' && failure !== 'both') problems.push(`--upstream-failure ${failure}: expected servfail, timeout or both`);
  if (values.ttls !== 'spread' && values.ttls !== 'coredns') problems.push(`--ttls ${values.ttls}: expected spread or coredns`);
  const capacity = values['kube-dns-capacity'];
  const options: StampedeOptions = {
    out: values.out,
    quick: values.quick,
    timeScale: number('time-scale', values['time-scale'] ?? (values.quick ? '60' : '1'), 1, false),
    warmup: seconds('warmup', values.warmup, 10),
    outage: seconds('outage', values.outage, 10),
    recovery: seconds('recovery', values.recovery, 10),
    services: number('services', values.services, 10),
    pods: number('pods', values.pods, 1),
    rate: number('rate', values.rate, 1, false),
    newPods: number('new-pods', values['new-pods'], 0),
    failure: failure as FailureMode,
    capacity: capacity === undefined ? undefined : number('kube-dns-capacity', capacity, 1, false),
    headroom: number('capacity-headroom', values['capacity-headroom'], 1, false),
    ttls: values.ttls as 'spread' | 'coredns',
    ttlSpread: seconds('ttl-spread', values['ttl-spread'], 1),
    changed: number('changed', values.changed, 0),
    publishDelay: seconds('publish-delay', values['publish-delay'], 0),
    peers: values.peer?.flatMap((p) => p.split(',')).filter((p) => p !== ''),
    seed: number('seed', values.seed, 0),
    progressSeconds: values.quick ? 5 : 10,
  };
  if (values.help) throw new UsageRequest();
  if (problems.length > 0) throw new Error(problems.join('\n'));
  return options;
}

/** Thrown for --help. */
export class UsageRequest extends Error {
  constructor() {
    super(USAGE);
  }
}
