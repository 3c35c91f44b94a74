/**
 * A few UDP sockets per upstream, each bound to its own random ephemeral port
 * (bind to port 0; the kernel picks the port at random), shared by many queries
 * that are told apart by random IDs. A socket is replaced after a number of
 * queries or an age, so the source ports in use keep changing (RFC 5452 §9.2).
 * Replies count only from the upstream's address and port, with a pending ID and
 * our question; anything else is reported through `onRejected`.
 */
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { ExchangeError } from './exchange.js';
import type { Upstream } from './exchange.js';
import { PendingTable } from './pending.js';
import type { Rejected } from './pending.js';
import type { ForwarderTuning } from './tuning.js';

interface Slot {
  readonly socket: Socket;
  readonly table: PendingTable;
  readonly born: number;
  sent: number;
  retiring: boolean;
  closed: boolean;
}

/** Callbacks of a pool. */
export interface UdpPoolHooks {
  /** A datagram dropped: wrong source, ID or question (`mismatch`), or for a query no longer pending. */
  onRejected(why: Rejected): void;
}

/** The UDP sockets used toward one upstream. */
export class UdpPool {
  private readonly active: (Slot | undefined)[];
  private readonly retiring = new Set<Slot>();
  private next = 0;
  private closed = false;

  constructor(
    private readonly upstream: Upstream,
    private readonly tuning: ForwarderTuning,
    private readonly hooks: UdpPoolHooks,
  ) {
    this.active = new Array<Slot | undefined>(Math.max(1, tuning.udpSockets)).fill(undefined);
  }

  /** Local ports of the open sockets (for diagnostics and tests). */
  ports(): number[] {
    const out: number[] = [];
    for (const slot of [...this.active, ...this.retiring]) {
      if (!slot || slot.closed) continue;
      try {
        out.push(slot.socket.address().port);
      } catch {
        // not bound yet
      }
    }
    return out;
  }

  /**
   * Sends `message` (its ID is overwritten with a fresh random one) and resolves
   * with the matching reply; rejects with an {@link ExchangeError}.
   */
  query(message: Buffer, questionEnd: number, timeoutMs: number): Promise<Buffer> {
    if (this.closed) return Promise.reject(new ExchangeError('network', `${this.upstream.label}: forwarder closed`));
    const size = this.active.length;
    const now = performance.now();
    for (let i = 0; i < size; i++) {
      const index = (this.next + i) % size;
      let slot = this.active[index];
      if (slot && (slot.sent >= this.tuning.udpSocketMaxQueries || now - slot.born >= this.tuning.udpSocketMaxAgeMs)) {
        this.retire(slot);
        slot = undefined;
      }
      if (!slot) {
        slot = this.open();
        this.active[index] = slot;
      }
      if (slot.table.size >= this.tuning.maxPendingPerSocket) continue;
      const pending = slot.table.add(message, questionEnd, timeoutMs);
      if (!pending) continue;
      this.next = index + 1;
      slot.sent++;
      const failed = (error: Error) => slot.table.fail(pending.id, new ExchangeError('network', `${this.upstream.label}: ${error.message}`, { cause: error }));
      try {
        slot.socket.send(message, this.upstream.port, this.upstream.host, (error) => {
          if (error) failed(error);
        });
      } catch (error) {
        failed(error as Error);
      }
      return pending.reply;
    }
    return Promise.reject(new ExchangeError('overload', `${this.upstream.label}: every UDP socket has ${this.tuning.maxPendingPerSocket} queries in flight`));
  }

  /** Closes every socket; pending queries fail with a network error. */
  close(): void {
    this.closed = true;
    for (const slot of [...this.active, ...this.retiring]) if (slot) this.shut(slot, 'forwarder closed');
    this.active.fill(undefined);
    this.retiring.clear();
  }

  private open(): Slot {
    const socket = createSocket(isIPv6(this.upstream.host) ? 'udp6' : 'udp4');
    const slot: Slot = {
      socket,
      table: new PendingTable(this.upstream.label, () => {
        if (slot.retiring && slot.table.size === 0) this.shut(slot, 'retired');
      }),
      born: performance.now(),
      sent: 0,
      retiring: false,
      closed: false,
    };
    socket.on('message', (reply, rinfo) => {
      // Off-path spoofing defence: the source must be the upstream itself.
      const delivery = rinfo.port !== this.upstream.port || rinfo.address !== this.upstream.host ? 'mismatch' : slot.table.deliver(reply);
      if (delivery !== 'matched') this.hooks.onRejected(delivery);
    });
    socket.on('error', (error) => this.shut(slot, error.message, error));
    // Port 0: a random ephemeral port. Sends before the bind completes are queued by node.
    socket.bind(0);
    return slot;
  }

  /** Takes a socket out of rotation; it closes once its last query settles. */
  private retire(slot: Slot): void {
    const index = this.active.indexOf(slot);
    if (index >= 0) this.active[index] = undefined;
    slot.retiring = true;
    if (slot.table.size === 0) this.shut(slot, 'retired');
    else this.retiring.add(slot);
  }

  private shut(slot: Slot, why: string, cause?: Error): void {
    if (slot.closed) return;
    slot.closed = true;
    slot.retiring = true;
    const index = this.active.indexOf(slot);
    if (index >= 0) this.active[index] = undefined;
    this.retiring.delete(slot);
    slot.table.failAll(new ExchangeError('network', `${this.upstream.label}: ${why}`, cause ? { cause } : {}));
    try {
      slot.socket.close();
    } catch {
      // already closed
    }
  }
}
