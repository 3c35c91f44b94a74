/**
 * Persistent TCP connections to one upstream (RFC 7766 §6.2.1): queries are
 * pipelined on one connection and replies, which may come in any order, are
 * matched by ID (§6.2.1.1). A connection opens on demand, closes after
 * `tcpIdleMs` without queries, and a second one opens only when the first has
 * `maxPendingPerSocket` queries in flight. Framing (2-byte length prefix, §8)
 * survives replies split over any number of reads.
 */
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { ExchangeError } from './exchange.js';
import type { Upstream } from './exchange.js';
import { PendingTable } from './pending.js';
import type { Rejected } from './pending.js';
import type { ForwarderTuning } from './tuning.js';

/** Callbacks of a pool. */
export interface TcpPoolHooks {
  /** A reply dropped: wrong ID or question (`mismatch`), or for a query no longer pending. */
  onRejected(why: Rejected): void;
  /** A connection opened (+1) or closed (-1). */
  onConnections(delta: number): void;
}

class Connection {
  readonly table: PendingTable;
  /** Takes new queries; false once closing, closed, or suspected stuck. */
  usable = true;
  /** Replies received: a connection that answered before is a reused one. */
  answered = 0;
  closed = false;
  private buffered: Buffer = Buffer.alloc(0);
  private idleTimer: NodeJS.Timeout | undefined;
  private failure = 'closed the connection';

  constructor(
    readonly socket: Socket,
    private readonly upstream: Upstream,
    private readonly tuning: ForwarderTuning,
    private readonly hooks: TcpPoolHooks,
    private readonly onGone: (c: Connection) => void,
  ) {
    this.table = new PendingTable(`${upstream.label} (tcp)`, (timedOut) => {
      // A timeout may mean the connection is stuck: send no more queries on it.
      if (timedOut) this.usable = false;
      if (this.table.size === 0) this.idle();
    });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => {
      this.usable = false;
    });
    socket.on('error', (error) => {
      this.failure = error.message;
    });
    socket.on('close', () => this.gone());
  }

  /** Writes one framed query. */
  write(message: Buffer): void {
    this.clearIdle();
    const frame = Buffer.allocUnsafe(2 + message.length);
    frame.writeUInt16BE(message.length, 0);
    message.copy(frame, 2);
    this.socket.write(frame);
  }

  /** Closes now; pending queries fail. */
  destroy(why: string): void {
    this.failure = why;
    this.usable = false;
    this.socket.destroy();
    this.gone();
  }

  private onData(chunk: Buffer): void {
    let buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    let offset = 0;
    while (buffered.length - offset >= 2) {
      const length = buffered.readUInt16BE(offset);
      if (buffered.length - offset < 2 + length) break;
      // A copy: the reply may be kept (cached) long after this chunk is gone.
      const reply = Buffer.from(buffered.subarray(offset + 2, offset + 2 + length));
      offset += 2 + length;
      const delivery = this.table.deliver(reply);
      if (delivery === 'matched') this.answered++;
      else this.hooks.onRejected(delivery);
      if (this.closed) return;
    }
    buffered = buffered.subarray(offset);
    this.buffered = buffered.length === 0 ? Buffer.alloc(0) : Buffer.from(buffered);
  }

  private idle(): void {
    if (this.closed) return;
    if (!this.usable) return this.destroy('retired');
    this.clearIdle();
    this.idleTimer = setTimeout(() => {
      if (this.table.size === 0) this.destroy('idle');
    }, this.tuning.tcpIdleMs);
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  private gone(): void {
    if (this.closed) return;
    this.closed = true;
    this.usable = false;
    this.clearIdle();
    this.hooks.onConnections(-1);
    this.onGone(this);
    this.table.failAll(new ExchangeError('network', `${this.upstream.label} (tcp): ${this.failure}`));
  }
}

/** The TCP connections used toward one upstream. */
export class TcpPool {
  private readonly connections: Connection[] = [];
  private closed = false;

  constructor(
    private readonly upstream: Upstream,
    private readonly tuning: ForwarderTuning,
    private readonly hooks: TcpPoolHooks,
  ) {}

  /** Open connections. */
  get size(): number {
    return this.connections.length;
  }

  /**
   * Sends `message` on a pooled connection, with `preferredId` as its ID when
   * that is free on the connection (else a fresh random one, written into
   * `message`), and resolves with the matching reply. A network failure on a
   * connection that had already answered (the upstream may have closed it while
   * idle) is retried once on a new connection within the time left.
   */
  async query(message: Buffer, questionEnd: number, timeoutMs: number, preferredId?: number): Promise<Buffer> {
    const started = performance.now();
    for (let attempt = 1; ; attempt++) {
      const connection = this.pick();
      if (!connection) throw new ExchangeError('overload', `${this.upstream.label} (tcp): every connection has ${this.tuning.maxPendingPerSocket} queries in flight`);
      const reused = connection.answered > 0;
      const pending = connection.table.add(message, questionEnd, timeoutMs - (performance.now() - started), preferredId);
      if (!pending) throw new ExchangeError('overload', `${this.upstream.label} (tcp): no free message ID`);
      connection.write(message);
      try {
        return await pending.reply;
      } catch (error) {
        const left = timeoutMs - (performance.now() - started);
        const retry = attempt === 1 && reused && !this.closed && error instanceof ExchangeError && error.reason === 'network' && left > 1;
        if (!retry) throw error;
        preferredId = pending.id;
      }
    }
  }

  /** Closes every connection; pending queries fail with a network error. */
  close(): void {
    this.closed = true;
    for (const c of [...this.connections]) c.destroy('forwarder closed');
  }

  private pick(): Connection | undefined {
    if (this.closed) throw new ExchangeError('network', `${this.upstream.label} (tcp): forwarder closed`);
    for (const c of this.connections) if (c.usable && c.table.size < this.tuning.maxPendingPerSocket) return c;
    if (this.connections.filter((c) => c.usable).length >= Math.max(1, this.tuning.tcpConnections)) return undefined;
    const socket = connect({ host: this.upstream.host, port: this.upstream.port });
    const connection = new Connection(socket, this.upstream, this.tuning, this.hooks, (c) => {
      const index = this.connections.indexOf(c);
      if (index >= 0) this.connections.splice(index, 1);
    });
    this.connections.push(connection);
    this.hooks.onConnections(1);
    return connection;
  }
}
