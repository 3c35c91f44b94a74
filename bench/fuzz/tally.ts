/** What a fuzz run counts per transport, and the failed checks with their reproducers. */
import { checkReply } from './check.js';
import type { InputFacts } from './check.js';

/** rcode names for the report (RFC 1035 §4.1.1, RFC 6891 §9). */
const RCODES: Record<number, string> = { 0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP', 5: 'REFUSED', 16: 'BADVERS' };

/** Counts of one transport. */
export interface TransportCounts {
  /** Inputs sent (TCP: messages written, whatever the framing made of them). */
  inputs: number;
  replies: number;
  byRcode: Record<string, number>;
  /** Replies with TC set. */
  truncated: number;
  /** Inputs dropped as they must be (shorter than a header, or QR set). */
  dropped: number;
  /** Inputs that should have had a reply and got none in time. */
  unanswered: number;
  /** Replies that came after their input's deadline. */
  late: number;
  /** Seconds the transport's driver ran. */
  seconds: number;
}

/** One failed check, with what reproduces it. */
export interface Failure {
  readonly check: string;
  readonly transport: 'udp' | 'tcp' | 'process' | 'probe' | 'memory' | 'log';
  /** How the input was made (random, valid, bitflip+counts, ...). */
  readonly kind?: string;
  /** The input as sent, hex (TCP: the whole byte stream of the connection). */
  readonly input?: string;
  readonly reply?: string;
}

const fresh = (): TransportCounts => ({ inputs: 0, replies: 0, byRcode: {}, truncated: 0, dropped: 0, unanswered: 0, late: 0, seconds: 0 });

/** The run's counters and failures; the first ten of each check, and `keep` in all, are kept in full. */
export class Tally {
  readonly udp = fresh();
  readonly tcp = fresh();
  /** Failures by check (the first words of the message). */
  readonly failuresByCheck: Record<string, number> = {};
  readonly failures: Failure[] = [];
  failureCount = 0;

  constructor(private readonly keep = 200) {}

  /** Records a failed check. */
  fail(failure: Failure): void {
    this.failureCount++;
    const key = `${failure.transport}: ${failure.check.replace(/\d+/g, 'N')}`;
    const seen = (this.failuresByCheck[key] = (this.failuresByCheck[key] ?? 0) + 1);
    if (seen <= 10 && this.failures.length < this.keep) this.failures.push(failure);
  }

  /** Checks one reply to `facts` and counts it; false (and a failure recorded) when a check fails. */
  reply(transport: 'udp' | 'tcp', reply: Buffer, facts: InputFacts, input: Buffer, kind: string): boolean {
    const counts = this[transport];
    counts.replies++;
    if (facts.dropped) {
      this.fail({ check: 'reply to an input that must be dropped (short or QR set)', transport, kind, input: input.toString('hex'), reply: reply.toString('hex') });
      return false;
    }
    const result = checkReply(reply, facts, transport);
    if (typeof result === 'string') {
      this.fail({ check: result, transport, kind, input: input.toString('hex'), reply: reply.toString('hex') });
      return false;
    }
    const name = RCODES[result.rcode] ?? `rcode${result.rcode}`;
    counts.byRcode[name] = (counts.byRcode[name] ?? 0) + 1;
    if (result.tc) counts.truncated++;
    return true;
  }
}
