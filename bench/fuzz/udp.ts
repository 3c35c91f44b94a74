/**
 * The UDP side of a fuzz run: inputs pipelined from a few client sockets with a
 * bounded window of inputs in flight. Every input of 2 octets or more carries an
 * ID unique among those in flight on its socket, so each reply is matched to its
 * input and checked. Inputs the resolver must drop free their slot as soon as a
 * reply to a later input shows they were read (the resolver reads in order), so
 * no dropped input costs a timeout; a reply to one of them is a failure.
 */
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { inspectInput } from './check.js';
import type { InputFacts } from './check.js';
import type { Input } from './inputs.js';
import type { Tally } from './tally.js';

/** Client sockets: each has its own ID space. */
const SOCKETS = 4;
/** How long IDs of dropped or timed-out inputs are not reused, so a belated reply is recognized (ms). */
const QUARANTINE_MS = 2000;

interface Pending {
  readonly seq: number;
  readonly facts: InputFacts;
  readonly input: Buffer;
  readonly kind: string;
  readonly sentAt: number;
}

/** Options of {@link UdpDriver}. */
export interface UdpOptions {
  readonly port: number;
  /** Inputs in flight at most. */
  readonly window: number;
  /** An input that should be answered and is not by then counts as unanswered (ms). */
  readonly deadlineMs: number;
}

/** Sends inputs over UDP and checks the replies. */
export class UdpDriver {
  private readonly sockets: Socket[] = [];
  private readonly pending = new Map<number, Pending>();
  /** Keys of in-flight inputs that must be dropped, oldest first. */
  private readonly drops: number[] = [];
  private readonly quarantine = new Map<number, { until: number; dropped: boolean }>();
  private readonly quarantineOrder: number[] = [];
  private seq = 0;
  private nextId = 0;
  private socketIndex = 0;
  private wake: (() => void) | undefined;

  constructor(
    private readonly options: UdpOptions,
    private readonly tally: Tally,
    /** The last inputs sent, for a crash report. */
    private readonly recent: (transport: 'udp', input: Buffer) => void,
  ) {}

  async open(): Promise<void> {
    for (let i = 0; i < SOCKETS; i++) {
      const socket = createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 }); // a window of large replies must not overflow it
      await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
      socket.on('message', (msg) => this.onReply(i, msg));
      socket.on('error', () => {});
      this.sockets.push(socket);
    }
  }

  close(): void {
    for (const s of this.sockets) s.close();
  }

  /** Inputs in flight now. */
  get inflight(): number {
    return this.pending.size;
  }

  /**
   * Sends inputs from `next` until it returns undefined or `stop()` says so, at most
   * `window` in flight; resolves when every input sent is answered, dropped or expired.
   */
  async run(next: () => Input | undefined, stop: () => boolean): Promise<void> {
    const sweep = setInterval(() => this.sweep(), 50);
    const started = performance.now();
    try {
      let done = false;
      while (!done || this.pending.size > 0) {
        while (!done && this.pending.size < this.options.window) {
          const input = stop() ? undefined : next();
          if (!input) done = true;
          else this.send(input);
        }
        await new Promise<void>((resolve) => (this.wake = resolve));
      }
    } finally {
      clearInterval(sweep);
      this.tally.udp.seconds += (performance.now() - started) / 1000;
    }
  }

  private send(input: Input): void {
    const bytes = input.bytes;
    const index = this.socketIndex++ % SOCKETS;
    const socket = this.sockets[index] as Socket;
    this.tally.udp.inputs++;
    this.recent('udp', bytes);
    if (bytes.length < 2) {
      this.tally.udp.dropped++;
      socket.send(bytes, this.options.port, '127.0.0.1');
      return;
    }
    let key: number;
    for (;;) {
      const id = this.nextId++ & 0xffff;
      key = (index << 16) | id;
      if (!this.pending.has(key) && !this.quarantine.has(key)) break;
    }
    bytes.writeUInt16BE(key & 0xffff, 0);
    const facts = inspectInput(bytes);
    const seq = ++this.seq;
    this.pending.set(key, { seq, facts, input: bytes, kind: input.kind, sentAt: performance.now() });
    if (facts.dropped) this.drops.push(key);
    socket.send(bytes, this.options.port, '127.0.0.1');
  }

  private onReply(index: number, msg: Buffer): void {
    if (msg.length < 2) {
      this.tally.fail({ check: `reply of ${msg.length} octets`, transport: 'udp', reply: msg.toString('hex') });
      return;
    }
    const key = (index << 16) | msg.readUInt16BE(0);
    const p = this.pending.get(key);
    if (!p) {
      const q = this.quarantine.get(key);
      if (q && !q.dropped) this.tally.udp.late++;
      else this.tally.fail({ check: q ? 'reply to an input that must be dropped (short or QR set)' : 'reply with an ID no input in flight has', transport: 'udp', reply: msg.toString('hex') });
      return;
    }
    this.pending.delete(key);
    this.tally.reply('udp', msg, p.facts, p.input, p.kind);
    // Every input sent before this one has been read by now: those to drop were dropped.
    while (this.drops.length > 0) {
      const k = this.drops[0] as number;
      const d = this.pending.get(k);
      if (d && d.seq > p.seq) break;
      this.drops.shift();
      if (d) this.retire(k, true);
    }
    this.wake?.();
  }

  /** Moves an input out of flight, keeping its ID out of use for a while. */
  private retire(key: number, dropped: boolean): void {
    this.pending.delete(key);
    if (dropped) this.tally.udp.dropped++;
    this.quarantine.set(key, { until: performance.now() + QUARANTINE_MS, dropped });
    this.quarantineOrder.push(key);
  }

  /** Expires inputs past their deadline (drops after a short grace), and old quarantine entries. */
  private sweep(): void {
    const now = performance.now();
    for (const [key, p] of this.pending) {
      const age = now - p.sentAt;
      if (p.facts.dropped ? age > 200 : age > this.options.deadlineMs) {
        if (!p.facts.dropped) {
          this.tally.udp.unanswered++;
          this.tally.fail({ check: `no reply in ${this.options.deadlineMs} ms`, transport: 'udp', kind: p.kind, input: p.input.toString('hex') });
        }
        this.retire(key, p.facts.dropped);
      }
    }
    while (this.drops.length > 0 && !this.pending.has(this.drops[0] as number)) this.drops.shift();
    while (this.quarantineOrder.length > 0) {
      const key = this.quarantineOrder[0] as number;
      const q = this.quarantine.get(key);
      if (q && q.until > now) break;
      this.quarantineOrder.shift();
      if (q) this.quarantine.delete(key);
    }
    this.wake?.();
  }
}
