/**
 * Paced UDP load from many client sockets, every query timed by (socket, ID):
 * `qps` queries per second in all, whatever the server answers (an open loop),
 * bounded by {@link PacedLoad.stop}. Queries and replies are tallied by the slot
 * (`slotMs`) they were sent in, so a run can be cut into windows afterwards; a
 * query with no reply by the end of the grace period after `stop` is lost.
 */
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';

/** What was sent in one slot, and what came back for it. */
export interface Slot {
  sent: number;
  answered: number;
  /** Latency (ms) of each answered query. */
  readonly latencies: number[];
  /** Replies by rcode. */
  readonly rcodes: Record<number, number>;
}

/** Paced load; see the module comment. */
export class PacedLoad {
  private readonly sockets: Socket[] = [];
  private readonly sentAt: Float64Array[] = [];
  readonly slots: Slot[] = [];
  sent = 0;
  private started = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  /** `query(n)` gives the n-th query (a fresh buffer: its ID is overwritten). */
  constructor(
    private readonly port: number,
    private readonly clients: number,
    private qps: number,
    private readonly query: (n: number) => Buffer,
    private readonly slotMs = 100,
  ) {
    for (let i = 0; i < clients; i++) {
      const socket = createSocket('udp4');
      const sentAt = new Float64Array(65536);
      socket.on('message', (msg) => {
        if (msg.length < 4) return;
        const at = sentAt[msg.readUInt16BE(0)] ?? 0;
        if (at <= 0) return;
        sentAt[msg.readUInt16BE(0)] = 0;
        const slot = this.slots[Math.floor((at - this.started) / this.slotMs)];
        if (!slot) return;
        slot.answered++;
        slot.latencies.push(performance.now() - at);
        const rcode = (msg[3] as number) & 0xf;
        slot.rcodes[rcode] = (slot.rcodes[rcode] ?? 0) + 1;
      });
      socket.on('error', () => {}); // ICMP port unreachable while nothing listens: counted as lost
      socket.bind(0, '127.0.0.1');
      this.sockets.push(socket);
      this.sentAt.push(sentAt);
    }
  }

  /** performance.now() when the load started. */
  get startedAt(): number {
    return this.started;
  }

  /** Starts sending (`slots[i]` covers [i × slotMs, (i + 1) × slotMs) from now). */
  start(): void {
    const started = performance.now();
    this.started = started;
    let base = 0;
    let baseAt = started;
    let rate = this.qps;
    this.timer = setInterval(() => {
      if (rate !== this.qps) {
        // A new rate counts from now on.
        base = this.sent;
        baseAt = performance.now();
        rate = this.qps;
      }
      const due = base + Math.floor(((performance.now() - baseAt) / 1000) * rate);
      for (; this.sent < due; this.sent++) {
        const n = this.sent;
        const client = n % this.clients;
        const id = Math.floor(n / this.clients) & 0xffff;
        const q = this.query(n);
        q.writeUInt16BE(id, 0);
        const now = performance.now();
        (this.sentAt[client] as Float64Array)[id] = now;
        const index = Math.floor((now - started) / this.slotMs);
        while (this.slots.length <= index) this.slots.push({ sent: 0, answered: 0, latencies: [], rcodes: {} });
        (this.slots[index] as Slot).sent++;
        (this.sockets[client] as Socket).send(q, this.port, '127.0.0.1');
      }
    }, 1);
  }

  /** Changes the rate from now on. */
  setRate(qps: number): void {
    this.qps = qps;
  }

  /** Stops sending, waits `graceMs` for the last replies, closes the sockets. */
  async stop(graceMs = 1000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    await new Promise((r) => setTimeout(r, graceMs));
    for (const s of this.sockets) s.close();
  }
}

/** Slots `from` (inclusive) to `to` (exclusive) added up: sent, answered, sorted latencies, rcodes. */
export function window(slots: readonly Slot[], from = 0, to = slots.length): { sent: number; answered: number; latencies: number[]; rcodes: Record<number, number> } {
  const out = { sent: 0, answered: 0, latencies: [] as number[], rcodes: {} as Record<number, number> };
  for (const slot of slots.slice(from, to)) {
    out.sent += slot.sent;
    out.answered += slot.answered;
    for (const ms of slot.latencies) out.latencies.push(ms);
    for (const [rcode, n] of Object.entries(slot.rcodes)) out.rcodes[Number(rcode)] = (out.rcodes[Number(rcode)] ?? 0) + n;
  }
  out.latencies.sort((a, b) => a - b);
  return out;
}
