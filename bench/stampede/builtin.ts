/**
 * The contenders the bench always has: holdfast with snapshots, holdfast as a
 * forwarding cache only, and the TTL-only baseline (`ttl-cache.ts`). Lifetimes
 * of cached data (stale-answer TTL, SERVFAIL caching, failure recheck) are
 * divided by the time scale like the TTLs (`timeline.ts`); waiting times
 * (upstream and client timeouts), the serve-stale window and the cache bounds
 * keep holdfast's defaults.
 */
import { join } from 'node:path';
import type { Child } from './children.js';
import { Contender } from './contender.js';
import type { ContenderContext } from './contender.js';

/** The environment without HOLDFAST_* variables, so the user's settings cannot leak in. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('HOLDFAST_')));
}

const ms = (n: number) => `${n}ms`;

/** A holdfast resolver process. */
abstract class Holdfast extends Contender {
  protected abstract flags(): string[];

  protected command() {
    const t = this.context.timeline;
    const { kubeDns, external } = this.context.upstream;
    const args = [
      join(this.context.root, 'bin', 'holdfast'),
      'resolver',
      ...['--listen', `127.0.0.1:${this.port}`, '--metrics-listen', '127.0.0.1:0'],
      ...['--upstream', `127.0.0.1:${external}`, '--cluster-fallback', `127.0.0.1:${kubeDns}`],
      ...['--failure-recheck', ms(t.timerMs(30))],
      ...['--stale-answer-ttl', `${t.ttl(30)}s`, '--servfail-ttl', `${t.ttl(5)}s`, '--shutdown-grace', '200ms', '--log-level', 'info'],
      ...this.flags(),
    ];
    return { command: process.execPath, args, env: cleanEnv() };
  }

  protected override async ready(child: Child): Promise<void> {
    await child.waitLine((line) => (line.includes('"resolver serving"') ? true : undefined));
  }
}

/** holdfast answering the cluster zone from signed snapshots pushed to it, kept in --state-dir. */
export class HoldfastSnapshot extends Holdfast {
  constructor(
    port: number,
    private readonly receiverPort: number,
    private readonly trustKey: string,
    context: ContenderContext,
  ) {
    super('holdfast-snapshot', 'holdfast-snapshot', port, context);
  }

  get description(): string {
    return 'holdfast: cluster zone from signed snapshots pushed to --receiver-listen and kept in --state-dir; other names forwarded with serve-stale';
  }

  protected flags(): string[] {
    return ['--trust-key', this.trustKey, '--state-dir', join(this.context.dir, 'state'), '--receiver-listen', `127.0.0.1:${this.receiverPort}`];
  }

  /** Pushes a signed snapshot (JSON bytes) as the publisher would; throws unless it was applied. */
  async push(body: Buffer): Promise<void> {
    const res = await fetch(`http://127.0.0.1:${this.receiverPort}/v1/snapshot`, { method: 'PUT', body, headers: { 'content-type': 'application/json' } });
    if (res.status !== 204) throw new Error(`${this.name}: snapshot push answered ${res.status}: ${await res.text()}`);
  }
}

/** holdfast with no snapshot: every cluster name goes through its cache to kube-dns (--cluster-fallback). */
export class HoldfastForward extends Holdfast {
  constructor(port: number, context: ContenderContext) {
    super('holdfast-forward', 'holdfast-forward', port, context);
  }

  get description(): string {
    return 'holdfast without snapshots: forwarding cache with serve-stale (RFC 8767), cluster names to kube-dns via --cluster-fallback';
  }

  protected flags(): string[] {
    return [];
  }
}

/** The TTL-only baseline with node-local-dns's default cache settings. */
export class TtlOnly extends Contender {
  constructor(port: number, context: ContenderContext) {
    super('ttl-only', 'ttl-only', port, context);
  }

  get description(): string {
    const t = this.context.timeline;
    return `bench/stampede/ttl-cache.ts (not holdfast's code): success ≤ ${t.ttl(30)} s, denial ≤ ${t.ttl(5)} s, SERVFAIL ${t.ttl(5)} s, upstream timeout 2 s, no serve-stale, like node-local-dns's default Corefile`;
  }

  protected command() {
    const t = this.context.timeline;
    const { kubeDns, external } = this.context.upstream;
    const args = [
      join(this.context.root, 'dist', 'bench', 'stampede', 'ttl-cache.js'),
      ...['--listen', String(this.port), '--cluster', String(kubeDns), '--external', String(external)],
      ...['--success-ttl', String(t.ttl(30)), '--denial-ttl', String(t.ttl(5)), '--servfail-ttl', String(t.ttl(5)), '--timeout-ms', '2000'],
    ];
    return { command: process.execPath, args };
  }

  protected override async ready(child: Child): Promise<void> {
    await child.waitLine((line) => (line.startsWith('{"port"') ? true : undefined));
  }
}
