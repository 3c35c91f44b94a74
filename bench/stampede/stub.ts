/**
 * A glibc-like stub resolver, one UDP socket per simulated node (not one per pod),
 * as a pod's getaddrinfo(AF_UNSPEC) behaves with Kubernetes' resolv.conf
 * (`search <ns>.svc.cluster.local svc.cluster.local cluster.local <host domain>`,
 * `options ndots:5`, one nameserver, glibc defaults `timeout:5 attempts:2`):
 *
 * - a name with fewer than ndots dots is tried with each search domain first, then
 *   as is; one with more is tried as is first (glibc `res_search`); one with a
 *   trailing dot only as is;
 * - each candidate is asked A and AAAA in parallel; the lookup succeeds when either
 *   has addresses, moves on to the next candidate on NXDOMAIN, NODATA or SERVFAIL,
 *   and fails at once when a query got no answer at all (`TRY_AGAIN`);
 * - each query is sent up to `attempts` times: again after a timeout (glibc
 *   doubles it: 5 s, then 10 s with one nameserver) and after SERVFAIL or REFUSED.
 */
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { RRType } from '../../resolver/wire/constants.js';
import { encodeQuery } from '../../resolver/wire/decode.js';

/** How one query attempt ended. */
export type Outcome = 'data' | 'nodata' | 'nxdomain' | 'servfail' | 'other' | 'timeout';

/** How one lookup ended, as the application sees it. */
export interface LookupResult {
  readonly ok: boolean;
  readonly ms: number;
}

/** Observers of the stub's traffic. */
export interface StubObserver {
  /** Every query attempt, when it ends. */
  query(outcome: Outcome, ms: number): void;
  /** Whether replies for this candidate name should be handed to `reply`. */
  watches(name: string): boolean;
  /** A reply with data for a watched name. */
  reply(name: string, message: Buffer): void;
}

interface Pending {
  readonly done: (outcome: Outcome, message: Buffer | undefined) => void;
  readonly timer: NodeJS.Timeout;
}

const templates = new Map<string, Buffer>();

/** Encoded query bytes for `name`/`type`, encoded once (dns2 is slow) and copied per send. */
function template(name: string, type: number): Buffer {
  const key = `${type} ${name}`;
  let t = templates.get(key);
  if (!t) {
    t = encodeQuery(name, type);
    templates.set(key, t);
  }
  return t;
}

function outcomeOf(message: Buffer): Outcome {
  const rcode = message.readUInt16BE(2) & 0xf;
  if (rcode === 0) return message.readUInt16BE(6) > 0 ? 'data' : 'nodata';
  if (rcode === 3) return 'nxdomain';
  if (rcode === 2) return 'servfail';
  return 'other';
}

/** One node's stub resolver talking to the resolver under test on 127.0.0.1:`port`. */
export class NodeStub {
  private readonly socket: Socket;
  private readonly pending = new Map<number, Pending>();
  private closed = false;

  constructor(
    private readonly port: number,
    private readonly attemptTimeoutsMs: readonly number[],
    private readonly observer: StubObserver,
    private readonly ndots = 5,
  ) {
    this.socket = createSocket('udp4');
    this.socket.on('message', (msg, rinfo) => {
      if (rinfo.port !== this.port || msg.length < 12 || (msg[2] as number) < 0x80) return;
      const p = this.pending.get(msg.readUInt16BE(0));
      if (!p) return;
      this.pending.delete(msg.readUInt16BE(0));
      clearTimeout(p.timer);
      p.done(outcomeOf(msg), msg);
    });
    this.socket.on('error', () => undefined);
  }

  /** Binds the socket on 127.0.0.1. */
  bind(): Promise<void> {
    return new Promise((resolve) => this.socket.bind(0, '127.0.0.1', () => resolve()));
  }

  /** Queries in flight. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** getaddrinfo(`name`) with the pod's `search` list. */
  async lookup(name: string, search: readonly string[]): Promise<LookupResult> {
    const started = performance.now();
    const dots = name.split('.').length - 1;
    const searched = search.map((d) => `${name}.${d}`);
    const candidates = name.endsWith('.') ? [name.slice(0, -1)] : dots >= this.ndots ? [name, ...searched] : [...searched, name];
    for (const candidate of candidates) {
      const [a, aaaa] = await Promise.all([this.query(candidate, RRType.A), this.query(candidate, RRType.AAAA)]);
      if (a === 'data' || aaaa === 'data') return { ok: true, ms: performance.now() - started };
      if (a === 'timeout' || aaaa === 'timeout' || this.closed) break;
    }
    return { ok: false, ms: performance.now() - started };
  }

  private async query(name: string, type: number): Promise<Outcome> {
    let outcome: Outcome = 'timeout';
    for (const timeoutMs of this.attemptTimeoutsMs) {
      if (this.closed) return 'timeout';
      const sent = performance.now();
      const { outcome: o, message } = await this.exchange(name, type, timeoutMs);
      outcome = o;
      this.observer.query(o, performance.now() - sent);
      if (o === 'data' && message && this.observer.watches(name)) this.observer.reply(name, message);
      if (o !== 'servfail' && o !== 'other' && o !== 'timeout') break;
    }
    return outcome;
  }

  private exchange(name: string, type: number, timeoutMs: number): Promise<{ outcome: Outcome; message: Buffer | undefined }> {
    return new Promise((resolve) => {
      let id = (Math.random() * 0x10000) | 0;
      for (let tries = 0; this.pending.has(id) && tries < 0x10000; tries++) id = (id + 1) & 0xffff;
      const query = Buffer.from(template(name, type));
      query.writeUInt16BE(id, 0);
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve({ outcome: 'timeout', message: undefined });
      }, timeoutMs);
      this.pending.set(id, { timer, done: (outcome, message) => resolve({ outcome, message }) });
      this.socket.send(query, this.port, '127.0.0.1');
    });
  }

  /** Ends every query in flight as a timeout and closes the socket. */
  close(): void {
    this.closed = true;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.done('timeout', undefined);
    }
    this.socket.close();
  }
}
