/**
 * Scenario time and wall-clock time. The scenario (warm-up, outage, recovery) is
 * written in real seconds; `--time-scale K` plays it K times faster, and every
 * lifetime of cached data is divided by K too: the TTLs kube-dns gives (never
 * below 1 s: DNS has no shorter TTL) and the resolvers' cache timers (stale-answer
 * TTL, SERVFAIL caching, failure recheck; never below 100 ms).
 *
 * What is a waiting time rather than a lifetime stays in real time whatever K:
 * the clients' request rate, timeouts and retry backoff, and the resolvers'
 * upstream and client timeouts. They meet things that cannot be compressed (a
 * process restarting takes the time it takes, a reply the time it takes), and
 * the load per wall-clock second then stays what the real-time replay would
 * see.
 */

/** The phases of the replay. */
export type Phase = 'warmup' | 'outage' | 'recovery';

/** Scenario timeline and time scale. */
export class Timeline {
  /** Scenario seconds at which the outage starts, ends, and the run ends. */
  readonly outageStart: number;
  readonly outageEnd: number;
  readonly end: number;

  constructor(
    readonly scale: number,
    readonly warmup: number,
    readonly outage: number,
    readonly recovery: number,
  ) {
    this.outageStart = warmup;
    this.outageEnd = warmup + outage;
    this.end = warmup + outage + recovery;
  }

  /** Scenario seconds after `wallMs` of wall-clock time. */
  scenario(wallMs: number): number {
    return (wallMs / 1000) * this.scale;
  }

  /** Wall-clock ms of scenario second `s`. */
  wallMs(s: number): number {
    return (s / this.scale) * 1000;
  }

  /** The phase at scenario second `s`. */
  phase(s: number): Phase {
    return s < this.outageStart ? 'warmup' : s < this.outageEnd ? 'outage' : 'recovery';
  }

  /** The TTL sent for a scenario TTL of `s` seconds. */
  ttl(s: number): number {
    return Math.max(1, Math.round(s / this.scale));
  }

  /** A timer of `s` scenario seconds, in wall ms, at least `floorMs`. */
  timerMs(s: number, floorMs = 100): number {
    return Math.max(floorMs, Math.round((s * 1000) / this.scale));
  }

  /** glibc's attempt timeouts (`timeout:5 attempts:2`, doubled per attempt with one nameserver), real time. */
  clientAttemptsMs(): number[] {
    return [5000, 10_000];
  }
}
