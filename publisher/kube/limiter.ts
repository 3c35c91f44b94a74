/**
 * A token bucket bounding the publisher's request rate to the kube-apiserver
 * (client-go's default QPS/burst, CoreDNS's `apiserver_qps`): a struggling
 * apiserver never sees more than `qps` requests per second from us, whatever
 * the informers' retry loops do.
 */

/** Waits for a token before each API request. */
export class RateLimiter {
  private tokens: number;
  private last: number;
  private queue: Promise<void> = Promise.resolve();

  /** `qps` tokens per second, at most `burst` saved up; `now` is injectable for tests. */
  constructor(
    private readonly qps: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Resolves when a request may be sent. Callers are served in order. */
  take(): Promise<void> {
    const turn = this.queue.then(() => this.wait());
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  private async wait(): Promise<void> {
    for (;;) {
      const now = this.now();
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.qps) / 1000);
      this.last = now;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      const ms = Math.ceil(((1 - this.tokens) * 1000) / this.qps);
      await new Promise((resolve) => setTimeout(resolve, ms));
    }
  }
}
