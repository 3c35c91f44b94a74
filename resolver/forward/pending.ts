/**
 * Queries in flight on one UDP socket or one TCP connection, keyed by message ID
 * (RFC 7766 §6.2.1.1: IDs are unique among the queries pending on a connection;
 * the same holds for a shared UDP socket). A reply settles the query only when it
 * carries a pending ID and echoes that query's question (RFC 5452 §4.2). IDs of
 * queries that settled recently (timed out or answered) are remembered and not
 * handed out again for a while, so a reply that comes after the timeout (`late`)
 * or a second copy of a reply (`duplicate`) is told apart from a spoof
 * (`mismatch`) and can never settle a newer query that reused the ID.
 */
import { ExchangeError, randomId, replyMatches } from './exchange.js';

/** What became of one received reply. */
export type Delivery = 'matched' | Rejected;

/**
 * Why a received reply was dropped: it answers nothing pending (wrong ID,
 * question, QR or opcode, or a wrong source), or a query that already timed out
 * (`late`) or was already answered (`duplicate`).
 */
export type Rejected = 'mismatch' | 'late' | 'duplicate';

interface Entry {
  readonly message: Buffer;
  readonly questionEnd: number;
  readonly resolve: (reply: Buffer) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/** Random tries to find a free ID before giving up (the table is at most a few percent full). */
const ID_TRIES = 64;
/** IDs of settled queries remembered (and not reused) per socket, oldest forgotten first. */
const SETTLED_KEPT = 256;

/** Called when a query leaves the table; `timedOut` is true for a timeout. */
export type SettledHook = (timedOut: boolean) => void;

/** The pending queries of one socket or connection. */
export class PendingTable {
  private readonly entries = new Map<number, Entry>();
  /** Recently settled IDs and how they settled, oldest first (a Map keeps insertion order). */
  private readonly settledIds = new Map<number, 'late' | 'duplicate'>();

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
        this.remember(chosen, 'late');
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
    if (!entry) return this.settledIds.get(id) ?? 'mismatch';
    if (!replyMatches(reply, entry.message, entry.questionEnd, id)) return 'mismatch';
    this.entries.delete(id);
    this.remember(id, 'duplicate');
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
    return !this.entries.has(id) && !this.settledIds.has(id);
  }

  private remember(id: number, what: 'late' | 'duplicate'): void {
    this.settledIds.delete(id);
    this.settledIds.set(id, what);
    if (this.settledIds.size > SETTLED_KEPT) this.settledIds.delete(this.settledIds.keys().next().value as number);
  }
}
