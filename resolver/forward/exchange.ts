/**
 * What every exchange with an upstream shares (the pooled sockets of
 * `udp-pool.ts` and `tcp-pool.ts` use it): the upstream's address, failure
 * reasons, random IDs, and the check that a reply answers our query, never
 * trusting what comes back (STYLE.md, from CoreDNS `plugin/forward`).
 */
import { randomInt } from 'node:crypto';
import { HEADER_SIZE } from '../wire/constants.js';

/** An upstream resolver address. */
export interface Upstream {
  readonly host: string;
  readonly port: number;
  /** `host:port` (IPv6 in brackets), used as the metrics label. */
  readonly label: string;
  /** Always use TCP (`tcp://` in the configuration), as node-local-dns does toward kube-dns. */
  readonly forceTcp: boolean;
}

/**
 * Why an exchange failed. `overload`: no room for another query on this
 * upstream's sockets (a local limit, not a fault of the upstream). `rcode`: a
 * reply whose rcode a resolver never gives to a well-formed query (FORMERR,
 * NOTIMP, an extended rcode...). `bailiwick`: a reply whose every answer record
 * was for a name outside the question's CNAME/DNAME chain (see `scrub.ts`).
 */
export type ExchangeFailure = 'timeout' | 'network' | 'malformed' | 'overload' | 'rcode' | 'bailiwick';

/** Error of a failed exchange; `reason` is the metrics label. */
export class ExchangeError extends Error {
  constructor(
    readonly reason: ExchangeFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ExchangeError';
  }
}

/** A fresh random 16-bit message ID (RFC 5452 §4.3). */
export function randomId(): number {
  return randomInt(0, 0x10000);
}

/**
 * True when `reply` is a response (QR=1) with the opcode of `query`, carries `id`
 * and echoes the question of `query` (case-insensitive, RFC 5452 §4.2).
 */
export function replyMatches(reply: Buffer, query: Buffer, questionEnd: number, id: number): boolean {
  if (reply.length < questionEnd || reply.readUInt16BE(0) !== id || (reply[2] as number) < 0x80) return false;
  // Opcode: bits 3-6 of the third octet (RFC 1035 §4.1.1).
  if ((((reply[2] as number) ^ (query[2] as number)) & 0x78) !== 0) return false;
  if (reply.readUInt16BE(4) !== 1) return false;
  for (let i = HEADER_SIZE; i < questionEnd; i++) {
    let a = reply[i] as number;
    let b = query[i] as number;
    if (a >= 0x41 && a <= 0x5a) a += 0x20;
    if (b >= 0x41 && b <= 0x5a) b += 0x20;
    if (a !== b) return false;
  }
  return true;
}
