/**
 * The TCP side of a fuzz run: connections, a few at a time, each one scenario:
 * - `pipelined`: several length-prefixed frames in one write;
 * - `bytewise`: the frames written one octet at a time;
 * - `lying-long`: the last prefix claims more octets than follow (then close);
 * - `lying-short`: one prefix claims fewer, so the rest is read as further frames;
 * - `half-sent`: a frame cut short, then the client half-closes;
 * - `slow-reader`: hundreds of queries written while the client does not read.
 * The harness frames the byte stream it wrote exactly as a server must (RFC 1035
 * §4.2.2), so it knows which messages the resolver saw whatever the prefixes said;
 * every reply is matched to one of them by ID and checked.
 */
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { checkReply, inspectInput } from './check.js';
import type { InputFacts } from './check.js';
import type { Input, Inputs } from './inputs.js';
import type { Tally } from './tally.js';

/** The kinds of connection. */
export const SCENARIOS = ['pipelined', 'pipelined', 'pipelined', 'bytewise', 'lying-long', 'lying-short', 'half-sent', 'slow-reader'] as const;
export type Scenario = (typeof SCENARIOS)[number];

const prefix = (n: number) => Buffer.from([(n >> 8) & 0xff, n & 0xff]);

/**
 * Splits a byte stream into the complete messages a server reads from it. A length
 * prefix under 12 (shorter than a DNS header) ends the stream: the resolver answers
 * what it owes and closes, reading nothing after it (resolver/server/tcp.ts).
 */
export function frames(stream: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let pos = 0;
  while (pos + 2 <= stream.length) {
    const len = stream.readUInt16BE(pos);
    if (len < 12 || pos + 2 + len > stream.length) break;
    out.push(stream.subarray(pos + 2, pos + 2 + len));
    pos += 2 + len;
  }
  return out;
}

/** Options of {@link TcpDriver}. */
export interface TcpOptions {
  readonly port: number;
  /** Connections open at once. */
  readonly concurrency: number;
  /** How long a connection waits for its replies after the last write (ms). */
  readonly deadlineMs: number;
}

/** Runs TCP scenarios and checks the replies. */
export class TcpDriver {
  /** Connections made, by scenario. */
  readonly connections: Record<string, number> = {};

  constructor(
    private readonly options: TcpOptions,
    private readonly tally: Tally,
    private readonly inputs: Inputs,
    private readonly recent: (transport: 'tcp', input: Buffer) => void,
  ) {}

  /** Runs connections until `next` returns undefined or `stop()` says so. */
  async run(next: () => Input | undefined, stop: () => boolean): Promise<void> {
    const started = performance.now();
    let done = false;
    const take = (): Input | undefined => {
      const input = done || stop() ? undefined : next();
      if (!input) done = true;
      return input;
    };
    const loop = async () => {
      while (!done) await this.connection(take);
    };
    await Promise.all(Array.from({ length: this.options.concurrency }, loop));
    this.tally.tcp.seconds += (performance.now() - started) / 1000;
  }

  /** One connection of a random scenario, with messages from `take`. */
  private async connection(take: () => Input | undefined): Promise<void> {
    const r = this.inputs;
    const scenario = r.pick(SCENARIOS);
    const slow = scenario === 'slow-reader';
    const n = slow ? 100 + r.int(300) : scenario === 'bytewise' ? 1 + r.int(4) : 1 + r.int(30);
    const messages: { bytes: Buffer; kind: string }[] = [];
    const base = r.int(65536);
    for (let i = 0; i < n; i++) {
      const input = take();
      if (!input) break;
      // The slow reader asks real questions, so that replies pile up.
      const m = slow ? { bytes: r.validQuery(), kind: 'valid' } : input;
      if (m.bytes.length >= 2) m.bytes.writeUInt16BE((base + i) & 0xffff, 0);
      messages.push(m);
    }
    if (messages.length === 0) return;
    this.connections[scenario] = (this.connections[scenario] ?? 0) + 1;
    const parts: Buffer[] = messages.map((m) => Buffer.concat([prefix(m.bytes.length), m.bytes]));
    const lie = r.int(parts.length);
    const lied = parts[lie] as Buffer;
    const len = lied.length - 2;
    if (scenario === 'lying-long') lied.writeUInt16BE(Math.min(0xffff, len + 1 + r.int(100)), 0);
    if (scenario === 'lying-short' && len > 0) lied.writeUInt16BE(r.int(len), 0);
    if (scenario === 'half-sent') {
      const extra = r.validQuery();
      parts.push(prefix(extra.length), extra.subarray(0, r.int(extra.length)));
    }
    const stream = Buffer.concat(parts);
    this.tally.tcp.inputs += messages.length;
    for (const m of messages) this.recent('tcp', m.bytes);
    await this.exchange(scenario, stream, messages.map((m) => m.kind).join(','));
  }

  /** Writes `stream` as `scenario` says and checks the replies to the messages it frames. */
  private exchange(scenario: Scenario, stream: Buffer, kinds: string): Promise<void> {
    const expected = frames(stream).map((bytes) => ({ bytes, facts: inspectInput(bytes), answered: false }));
    const byId = new Map<number, typeof expected>();
    let owed = 0;
    for (const e of expected) {
      if (e.facts.dropped) {
        this.tally.tcp.dropped++;
        continue;
      }
      owed++;
      const list = byId.get(e.facts.id) ?? [];
      list.push(e);
      byId.set(e.facts.id, list);
    }
    const fail = (check: string, reply?: Buffer) =>
      this.tally.fail({ check, transport: 'tcp', kind: `${scenario}: ${kinds}`, input: stream.toString('hex'), ...(reply ? { reply: reply.toString('hex') } : {}) });

    return new Promise<void>((resolve) => {
      const socket: Socket = connect({ host: '127.0.0.1', port: this.options.port, noDelay: true });
      let buffered = Buffer.alloc(0);
      let timer: NodeJS.Timeout | undefined;
      let finished = false;
      const finish = () => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        if (owed > 0) {
          this.tally.tcp.unanswered += owed;
          fail(`${owed} of ${expected.length} messages unanswered on a ${scenario} connection`);
        }
        if (scenario === 'half-sent' && !socket.destroyed) {
          // The client half-closes with a frame cut short: the resolver must close too, and send nothing more.
          const limit = setTimeout(() => socket.destroy(), 2000);
          socket.once('close', () => {
            clearTimeout(limit);
            resolve();
          });
          socket.end();
          return;
        }
        socket.destroy();
        resolve();
      };
      const armDeadline = () => {
        clearTimeout(timer);
        timer = setTimeout(finish, this.options.deadlineMs);
      };
      socket.on('error', () => finish());
      socket.on('close', () => finish());
      socket.on('data', (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        for (const reply of frames(buffered)) {
          buffered = buffered.subarray(2 + reply.length);
          this.match(reply, byId, fail);
          owed--;
        }
        if (owed <= 0 && !finished) finish();
      });
      socket.on('connect', () => {
        void (async () => {
          if (scenario === 'slow-reader') socket.pause();
          if (scenario === 'bytewise') {
            for (let i = 0; i < stream.length && !socket.destroyed; i++) {
              socket.write(stream.subarray(i, i + 1));
              await new Promise((r) => setImmediate(r));
            }
          } else socket.write(stream);
          if (scenario === 'slow-reader') {
            await new Promise((r) => setTimeout(r, 200));
            socket.resume();
          }
          armDeadline();
          if (owed === 0) finish();
        })();
      });
    });
  }

  /** Matches a reply to a message of the connection with its ID; checks it. */
  private match(reply: Buffer, byId: Map<number, { bytes: Buffer; facts: InputFacts; answered: boolean }[]>, fail: (check: string, reply?: Buffer) => void): void {
    const id = reply.length >= 2 ? reply.readUInt16BE(0) : -1;
    const candidates = (byId.get(id) ?? []).filter((e) => !e.answered);
    const first = candidates[0];
    if (!first) {
      this.tally.tcp.replies++;
      fail(`reply with an ID (${id}) no message on the connection had, or a second reply`, reply);
      return;
    }
    // Several messages may share an ID when a lying prefix made them; take the one the reply fits.
    const fits = candidates.find((e) => typeof checkQuietly(reply, e.facts) !== 'string') ?? first;
    fits.answered = true;
    this.tally.reply('tcp', reply, fits.facts, fits.bytes, 'tcp');
  }
}

const checkQuietly = (reply: Buffer, facts: InputFacts) => (facts.dropped ? 'dropped' : checkReply(reply, facts, 'tcp'));
