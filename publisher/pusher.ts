/**
 * Pushes the latest snapshot to every resolver receiver (`PUT /v1/snapshot`,
 * gzip) with bounded concurrency and a timeout per push. A target that fails
 * is retried after an exponential backoff with jitter (base doubling to a
 * cap); one that already holds the generation is skipped (its answers carry
 * the generation it holds as an ETag, and every push sends
 * `If-None-Match: "<generation>"` so a current node answers 304 without
 * reading the body). Every `resyncMs` the targets believed current are asked
 * for their generation (`GET /v1/snapshot/status`), which catches a resolver
 * that restarted without its state.
 */
import type { Logger } from 'pino';
import { etagGeneration } from '../common/url.js';
import type { PublisherMetrics } from './metrics.js';

/** A snapshot ready to send. */
export interface Published {
  readonly generation: number;
  /** The signed snapshot, gzip-compressed. */
  readonly gzip: Buffer;
}

/** Tuning of a {@link Pusher}. */
export interface PushOptions {
  readonly concurrency: number;
  readonly timeoutMs: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  readonly resyncMs: number;
}

/** What the publisher reports about one target. */
export interface TargetStatus {
  readonly url: string;
  /** The generation the target holds, as far as we know. */
  readonly generation: number | undefined;
  readonly lag: number;
  readonly lastResult: string | undefined;
  readonly failures: number;
}

interface Target {
  readonly url: URL;
  known: number | undefined;
  failures: number;
  nextAt: number;
  inflight: AbortController | undefined;
  lastResult: string | undefined;
}

const HISTORY = 1000;

/** Keeps every target at the latest generation. */
export class Pusher {
  private readonly targets = new Map<string, Target>();
  private current: Published | undefined;
  /** Generations published by this process, oldest first (for the lag in generations). */
  private readonly history: number[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** Pushes in flight now. */
  private inflight = 0;
  private resync: NodeJS.Timeout | undefined;
  private closed = false;
  /** Called when a target holds a newer generation than ours (another publisher went further). */
  onNewer: (generation: number) => void = () => undefined;

  constructor(
    private readonly options: PushOptions,
    private readonly metrics: PublisherMetrics,
    private readonly log: Logger,
    private readonly random: () => number = Math.random,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.resync = setInterval(() => void this.verify(), options.resyncMs);
    this.resync.unref();
  }

  /** Replaces the target list (receiver URLs); new targets are pushed to at once. */
  setTargets(urls: readonly string[]): void {
    const wanted = new Set(urls);
    for (const [key, target] of this.targets) {
      if (wanted.has(key)) continue;
      target.inflight?.abort();
      this.targets.delete(key);
      this.metrics.targetLag.remove({ target: key });
    }
    for (const key of wanted) {
      if (this.targets.has(key)) continue;
      this.targets.set(key, { url: new URL(key), known: undefined, failures: 0, nextAt: 0, inflight: undefined, lastResult: undefined });
      this.updateLag(key);
    }
    this.kick();
  }

  /** Sends `snapshot` to every target not known to hold it (or something newer). */
  publish(snapshot: Published): void {
    this.current = snapshot;
    this.history.push(snapshot.generation);
    if (this.history.length > HISTORY) this.history.shift();
    // Healthy targets get it at once; failing ones keep their backoff, so dead nodes
    // cannot take the push slots from live ones however often the cluster changes.
    for (const key of this.targets.keys()) this.updateLag(key);
    this.kick();
  }

  /** Per-target view for /readyz and tests. */
  status(): TargetStatus[] {
    return [...this.targets.entries()].map(([url, t]) => ({ url, generation: t.known, lag: this.lag(t), lastResult: t.lastResult, failures: t.failures }));
  }

  private lag(target: Target): number {
    if (!this.current) return 0;
    const known = target.known;
    if (known === undefined) return this.history.length;
    return this.history.filter((g) => g > known).length;
  }

  private updateLag(key: string): void {
    const target = this.targets.get(key);
    if (target) this.metrics.targetLag.set({ target: key }, this.lag(target));
  }

  private behind(target: Target): boolean {
    return this.current !== undefined && (target.known === undefined || target.known < this.current.generation);
  }

  private kick(): void {
    if (this.closed || !this.current) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    const now = this.now();
    let nextAt = Infinity;
    // Healthy targets first, then failing ones: a pass per kind instead of a sort per kick.
    for (const healthy of [true, false]) {
      for (const [key, target] of this.targets) {
        if ((target.failures === 0) !== healthy || target.inflight || !this.behind(target)) continue;
        if (target.nextAt > now) {
          nextAt = Math.min(nextAt, target.nextAt);
          continue;
        }
        if (this.inflight >= this.options.concurrency) return; // each push that ends kicks again
        void this.push(key, target, this.current);
      }
    }
    if (nextAt !== Infinity) {
      this.timer = setTimeout(() => this.kick(), Math.max(1, nextAt - now));
      this.timer.unref();
    }
  }

  private async push(key: string, target: Target, snapshot: Published): Promise<void> {
    const controller = new AbortController();
    target.inflight = controller;
    this.inflight++;
    const started = this.now();
    let result: string;
    let etag: number | undefined;
    try {
      const res = await fetch(target.url, {
        method: 'PUT',
        body: snapshot.gzip,
        headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', 'if-none-match': `"${snapshot.generation}"` },
        signal: AbortSignal.any([controller.signal, AbortSignal.timeout(this.options.timeoutMs)]),
      });
      await res.arrayBuffer().catch(() => undefined);
      etag = etagGeneration(res.headers.get('etag'));
      result = res.status === 204 ? 'applied' : res.status === 304 ? 'current' : `refused_${res.status}`;
    } catch (error) {
      if (controller.signal.aborted) return; // target removed or pusher closed
      result = (error as Error).name === 'TimeoutError' ? 'timeout' : 'unreachable';
    } finally {
      target.inflight = undefined;
      this.inflight--;
    }
    this.metrics.pushes.inc({ result });
    this.metrics.pushDuration.observe((this.now() - started) / 1000);
    this.settle(key, target, snapshot.generation, result, etag);
    this.kick();
  }

  private settle(key: string, target: Target, generation: number, result: string, etag: number | undefined): void {
    const previous = target.lastResult;
    target.lastResult = result;
    if (result === 'applied' || result === 'current' || (result === 'refused_409' && etag !== undefined)) {
      target.known = result === 'refused_409' ? etag : Math.max(etag ?? generation, generation);
      if (target.failures > 0) this.log.info({ target: key, generation: target.known }, 'target current again');
      target.failures = 0;
      if (result === 'refused_409' && etag !== undefined && etag > generation) this.onNewer(etag);
    } else {
      target.failures++;
      const exp = Math.min(this.options.backoffMaxMs, this.options.backoffBaseMs * 2 ** (target.failures - 1));
      // Refusals (bad signature, malformed, too large) repeat until something changes: retry slowly.
      const delay = (result.startsWith('refused_') ? this.options.backoffMaxMs : exp) * (0.5 + this.random());
      target.nextAt = this.now() + delay;
      const fields = { target: key, generation, result, retryMs: Math.round(delay), failures: target.failures };
      if (previous !== result) this.log.warn(fields, 'push failed');
      else this.log.debug(fields, 'push failed again');
    }
    this.updateLag(key);
  }

  /** Asks targets believed current which generation they hold; re-pushes to any that went back. */
  private async verify(): Promise<void> {
    const current = this.current;
    if (!current || this.closed) return;
    const checks = [...this.targets.entries()].filter(([, t]) => !t.inflight && !this.behind(t));
    for (let i = 0; i < checks.length; i += this.options.concurrency) {
      await Promise.all(
        checks.slice(i, i + this.options.concurrency).map(async ([key, target]) => {
          try {
            const res = await fetch(new URL('/v1/snapshot/status', target.url), { signal: AbortSignal.timeout(this.options.timeoutMs) });
            const body = (await res.json()) as { generation?: unknown };
            const held = typeof body.generation === 'number' ? body.generation : undefined;
            if (held === undefined || held < current.generation) {
              this.log.warn({ target: key, held, generation: current.generation }, 'target went back; pushing again');
              target.known = held;
              target.nextAt = 0;
              this.updateLag(key);
            }
          } catch {
            // unreachable now: the next push or check will tell
          }
        }),
      );
    }
    this.kick();
  }

  /** Stops pushing; in-flight pushes are aborted. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    clearInterval(this.resync);
    for (const target of this.targets.values()) target.inflight?.abort();
  }
}
