/**
 * Queries in flight on one UDP socket or one TCP connection, keyed by message ID
 * (RFC 7766 §6.2.1.1: IDs are unique among the queries pending on a connection;
 * the same holds for a shared UDP socket). A reply settles the query only when it
 * carries a pending ID and echoes that query's question (RFC 5452 §4.2); replies
 * to queries that already timed out are recognised and dropped quietly.
 */
import { ExchangeError, randomId, replyMatches } from './exchange.js';

/** What became of one received reply. */
export type Delivery = 'matched' | 'late' | 'mismatch';

interface Entry {
  readonly message: Buffer;
  readonly questionEnd: number;
  readonly resolve: (reply: Buffer) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/** Random tries to find a free ID before giving up (the table is at most a few percent full). */
const ID_TRIES = 64;
/** IDs of timed-out queries remembered (and not reused) per socket, oldest forgotten first. */
const EXPIRED_KEPT = 256;

/** Called when a query leaves the table; `timedOut` is true for a timeout. */
export type SettledHook = (timedOut: boolean) => void;

/** The pending queries of one socket or connection. */
export class PendingTable {
  private readonly entries = new Map<number, Entry>();
  private readonly expired = new Set<number>();

  constructor(
    private readonly what: string,
    private readonly settled: SettledHook,
  ) {}

  /** Queries in flight. */
  get size(): number {
    return this.entries.size;
  }

  /**
   * Registers a query under a free ID (`preferredId` when it is free), writes
   * that ID into `message`, and returns it with the promise of the reply; the
   * promise rejects with an {@link ExchangeError} `timeout` after `timeoutMs`.
   * Undefined when no free ID was found.
   */
  add(message: Buffer, questionEnd: number, timeoutMs: number, preferredId?: number): { id: number; reply: Promise<Buffer> } | undefined {
    let id = preferredId !== undefined && this.free(preferredId) ? preferredId : -1;
    for (let i = 0; id < 0 && i < ID_TRIES; i++) {
      const candidate = randomId();
      if (this.free(candidate)) id = candidate;
    }
    if (id < 0) return undefined;
    message.writeUInt16BE(id, 0);
    const chosen = id;
    const reply = new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.entries.delete(chosen);
        this.expired.add(chosen);
        if (this.expired.size > EXPIRED_KEPT) this.expired.delete(this.expired.values().next().value as number);
        reject(new ExchangeError('timeout', `no reply from ${this.what} in ${timeoutMs} ms`));
        this.settled(true);
      }, timeoutMs);
      this.entries.set(chosen, { message, questionEnd, resolve, reject, timer });
    });
    return { id: chosen, reply };
  }

  /** Hands a received message to the query it answers. */
  deliver(reply: Buffer): Delivery {
    if (reply.length < 2) return 'mismatch';
    const id = reply.readUInt16BE(0);
    const entry = this.entries.get(id);
    if (!entry) {
      if (!this.expired.delete(id)) return 'mismatch';
      return 'late';
    }
    if (!replyMatches(reply, entry.message, entry.questionEnd, id)) return 'mismatch';
    this.entries.delete(id);
    clearTimeout(entry.timer);
    entry.resolve(reply);
    this.settled(false);
    return 'matched';
  }

  /** Fails the query with `id`, if still pending. */
  fail(id: number, error: Error): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    this.entries.delete(id);
    clearTimeout(entry.timer);
    entry.reject(error);
    this.settled(false);
  }

  /** Fails every pending query (socket error, connection closed, shutdown). */
  failAll(error: Error): void {
    for (const id of [...this.entries.keys()]) this.fail(id, error);
  }

  private free(id: number): boolean {
    return !this.entries.has(id) && !this.expired.has(id);
  }
}
