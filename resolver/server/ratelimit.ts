/**
 * Per-client rate limit of UDP queries (`--rate-limit QPS`): a token bucket per
 * source address, `burst` deep, refilled at `qps` per second. A query without a
 * token is dropped, as Unbound's `ip-ratelimit` and BIND's RRL do: a flood with a
 * forged source then reflects nothing. Every `slip`-th query over the limit is
 * answered instead with an empty TC=1 reply (BIND RRL's `slip`, default 2): no
 * larger than the query, so useless for amplification, and a real client whose
 * address is being forged retries over TCP, which is not limited (a TCP peer
 * cannot forge its address; the connection cap and timeouts bound it, `tcp.ts`).
 *
 * The table of clients is bounded ({@link RATE_LIMIT_CLIENTS}, `recent.ts`): a
 * client is forgotten once half that many other sources were seen since it last
 * sent. A noisy client is always recent; a flood of forged sources churns the
 * table at O(1) per packet. Time comes from the injected clock (`clock.ts`).
 *
 * IPv4-mapped IPv6 addresses count as the IPv4 address. IPv6 clients are keyed
 * by full address, not by /64 as NSD does: the pods of a Kubernetes node share
 * one /64 (the node's pod CIDR), and each must have a bucket of its own.
 */
import type { Clock } from '../clock.js';
import { RecentMap } from './recent.js';

/** Clients tracked at most (per worker thread); 125-160 bytes each with the address (`bench/access.ts`), so 8-10 MiB when full. */
export const RATE_LIMIT_CLIENTS = 65_536;

/** Settings of the limit (`--rate-limit`, `--rate-limit-burst`, `--rate-limit-slip`). */
export interface RateLimitConfig {
  /** Queries per second per client; 0 turns the limit off. */
  readonly qps: number;
  /** Bucket depth: queries a quiet client may send at once. */
  readonly burst: number;
  /** Every `slip`-th query over the limit gets a TC=1 reply; 0: all are dropped. */
  readonly slip: number;
}

/** What to do with one query. */
export type RateVerdict = 'pass' | 'drop' | 'slip';

interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date (clock ms). */
  at: number;
  /** Queries over the limit since this client was first limited (for `slip`). */
  over: number;
}

/** Token buckets per client address, bounded in number. */
export class RateLimiter {
  private readonly buckets: RecentMap<Bucket>;

  constructor(
    private config: RateLimitConfig,
    private readonly clock: Clock,
    maxClients = RATE_LIMIT_CLIENTS,
  ) {
    this.buckets = new RecentMap(maxClients);
  }

  /** Clients tracked now. */
  get size(): number {
    return this.buckets.size;
  }

  /** New settings (SIGHUP); buckets keep their tokens, capped at the new depth. */
  reconfigure(config: RateLimitConfig): void {
    this.config = config;
  }

  /** Takes a token for a query from `client` (an address as the socket reports it). */
  check(client: string): RateVerdict {
    const key = client.startsWith('::ffff:') && client.includes('.') ? client.slice(7) : client;
    const now = this.clock.now();
    const { qps, burst, slip } = this.config;
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      bucket = { tokens: burst, at: now, over: 0 };
      this.buckets.add(key, bucket);
    } else {
      // A clock that steps back (the system clock may) adds nothing rather than taking tokens away.
      bucket.tokens = Math.min(burst, bucket.tokens + (Math.max(0, now - bucket.at) * qps) / 1000);
      bucket.at = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      bucket.over = 0;
      return 'pass';
    }
    bucket.over++;
    return slip > 0 && bucket.over % slip === 0 ? 'slip' : 'drop';
  }
}
