/**
 * Health of one upstream: a circuit breaker. `failThreshold` consecutive
 * failures (timeouts and network errors; any reply, SERVFAIL included, is a
 * success) open the circuit and the forwarder skips the upstream. While open, a
 * background probe (`. IN NS` with a fresh ID, like CoreDNS `forward`'s health
 * check) runs after `probeInitialMs`, then at doubling intervals up to
 * `probeMaxMs`; any valid reply to it, or to a real query, closes the circuit.
 */
import type { Logger } from 'pino';
import type { UpstreamMetrics } from './metrics.js';
import type { ForwarderTuning } from './tuning.js';

/** Sends one probe; resolves true on any valid reply. Never rejects. */
export type Probe = () => Promise<boolean>;

/** Circuit breaker of one upstream. */
export class Circuit {
  private failures = 0;
  private opened = false;
  private delay: number;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly label: string,
    private readonly tuning: ForwarderTuning,
    private readonly probe: Probe,
    private readonly metrics: UpstreamMetrics,
    private readonly log: Logger,
  ) {
    this.delay = tuning.probeInitialMs;
    metrics.setCircuit(label, 'closed', false);
  }

  /** True while the upstream is being skipped. */
  get open(): boolean {
    return this.opened;
  }

  /** Records a reply from the upstream. */
  success(): void {
    this.failures = 0;
    if (this.opened) this.close('reply');
  }

  /** Records a timeout or network error. */
  failure(): void {
    this.failures++;
    if (this.opened || this.stopped || this.failures < this.tuning.failThreshold) return;
    this.opened = true;
    this.delay = this.tuning.probeInitialMs;
    this.metrics.setCircuit(this.label, 'open', true);
    this.log.warn({ upstream: this.label, failures: this.failures }, 'upstream circuit open: skipping it until a probe gets a reply');
    this.schedule();
  }

  /** Stops probing (forwarder closed or upstream removed). */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.runProbe();
    }, this.delay);
  }

  private async runProbe(): Promise<void> {
    if (this.stopped || !this.opened) return;
    const ok = await this.probe();
    if (this.stopped) return;
    this.metrics.probes.inc({ upstream: this.label, result: ok ? 'success' : 'failure' });
    if (!this.opened) return; // a real query's reply closed it meanwhile
    if (ok) return this.close('probe');
    this.delay = Math.min(this.delay * 2, this.tuning.probeMaxMs);
    this.schedule();
  }

  private close(by: 'reply' | 'probe'): void {
    this.opened = false;
    this.failures = 0;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.metrics.setCircuit(this.label, 'closed', true);
    this.log.info({ upstream: this.label, by }, 'upstream circuit closed');
  }
}
