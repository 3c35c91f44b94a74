/**
 * Time as the resolver sees it, injected (CoreDNS's cache takes `now`): the cache,
 * serve-stale timers and prefetch read this clock, so tests drive expiry and the
 * client-response timer with a fake clock instead of sleeping.
 */

/** A timer handle. */
export interface TimerHandle {
  cancel(): void;
}

/** Milliseconds since the epoch, and timers on the same time line. */
export interface Clock {
  now(): number;
  /** Calls `fn` once `ms` have passed on this clock. */
  timer(ms: number, fn: () => void): TimerHandle;
}

/** The real clock. Timers do not keep the process alive. */
export const systemClock: Clock = {
  now: () => Date.now(),
  timer(ms, fn) {
    const t = setTimeout(fn, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

/** A clock that moves only when told to; for tests. */
export class ManualClock implements Clock {
  private current: number;
  private timers: { at: number; fn: () => void; live: boolean }[] = [];

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  timer(ms: number, fn: () => void): TimerHandle {
    const entry = { at: this.current + ms, fn, live: true };
    this.timers.push(entry);
    return { cancel: () => (entry.live = false) };
  }

  /** Moves time forward by `ms`, firing due timers in order. */
  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.live && t.at <= target).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.current = due.at;
      due.live = false;
      due.fn();
    }
    this.timers = this.timers.filter((t) => t.live);
    this.current = target;
  }
}
