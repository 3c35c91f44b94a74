/**
 * One query/reply exchange with one upstream, over UDP or TCP, never trusting
 * what comes back (STYLE.md, from CoreDNS `plugin/forward`): a fresh random ID,
 * a fresh socket on a random source port, the reply must come from the
 * upstream's address and port, carry our ID and echo our question; anything
 * else is ignored until the timeout.
 *
 * `exchangeUdp`/`exchangeTcp` are one-shot exchanges (a socket per query); the
 * forwarder itself uses the pooled sockets of `udp-pool.ts` and `tcp-pool.ts`,
 * which apply the same checks.
 */
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { isIPv6 } from 'node:net';
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
 * upstream's sockets (a local limit, not a fault of the upstream).
 */
export type ExchangeFailure = 'timeout' | 'network' | 'malformed' | 'overload';

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

/** True when `reply` carries `id` and the question of `query` (case-insensitive, RFC 5452 §4.2). */
export function replyMatches(reply: Buffer, query: Buffer, questionEnd: number, id: number): boolean {
  if (reply.length < questionEnd || reply.readUInt16BE(0) !== id || (reply[2] as number) < 0x80) return false;
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

/** Settles once: the first of reply, error or timeout wins; `cleanup` releases the socket. */
type Finish = (error: Error | undefined, reply?: Buffer) => void;
function settleOnce(
  resolve: (reply: Buffer) => void,
  reject: (error: Error) => void,
  timeoutMs: number,
  timeoutMessage: string,
  cleanup: () => void,
): Finish {
  let settled = false;
  const finish: Finish = (error, reply) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    cleanup();
    if (error) reject(error);
    else resolve(reply as Buffer);
  };
  const timer = setTimeout(() => finish(new ExchangeError('timeout', timeoutMessage)), timeoutMs);
  return finish;
}

/**
 * Sends `message` (its ID already set to `id`) over UDP and waits for a matching
 * reply; `onIgnored` is called for each datagram that does not match.
 */
export function exchangeUdp(
  upstream: Upstream,
  message: Buffer,
  questionEnd: number,
  id: number,
  timeoutMs: number,
  onIgnored: () => void = () => {},
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(isIPv6(upstream.host) ? 'udp6' : 'udp4');
    const finish = settleOnce(resolve, reject, timeoutMs, `no reply from ${upstream.label} in ${timeoutMs} ms`, () => socket.close());
    socket.on('error', (error) => finish(new ExchangeError('network', `${upstream.label}: ${error.message}`, { cause: error })));
    socket.on('message', (reply, rinfo) => {
      // Off-path spoofing defence: wrong source, wrong ID or wrong question is ignored, not accepted.
      if (rinfo.port !== upstream.port || rinfo.address !== upstream.host || !replyMatches(reply, message, questionEnd, id)) {
        onIgnored();
        return;
      }
      finish(undefined, reply);
    });
    socket.send(message, upstream.port, upstream.host, (error) => {
      if (error) finish(new ExchangeError('network', `${upstream.label}: ${error.message}`, { cause: error }));
    });
  });
}

/** Sends `message` over TCP (RFC 7766, 2-byte length prefix) and reads one matching reply. */
export function exchangeTcp(
  upstream: Upstream,
  message: Buffer,
  questionEnd: number,
  id: number,
  timeoutMs: number,
  onIgnored: () => void = () => {},
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: upstream.host, port: upstream.port });
    let buffered: Buffer = Buffer.alloc(0);
    const finish = settleOnce(resolve, reject, timeoutMs, `no TCP reply from ${upstream.label} in ${timeoutMs} ms`, () => socket.destroy());
    socket.on('error', (error) => finish(new ExchangeError('network', `${upstream.label} (tcp): ${error.message}`, { cause: error })));
    socket.on('close', () => finish(new ExchangeError('network', `${upstream.label} (tcp) closed the connection`)));
    socket.on('connect', () => {
      const frame = Buffer.allocUnsafe(2 + message.length);
      frame.writeUInt16BE(message.length, 0);
      message.copy(frame, 2);
      socket.write(frame);
    });
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2) {
        const length = buffered.readUInt16BE(0);
        if (buffered.length < 2 + length) return;
        const reply = buffered.subarray(2, 2 + length);
        buffered = buffered.subarray(2 + length);
        if (replyMatches(reply, message, questionEnd, id)) return finish(undefined, Buffer.from(reply));
        onIgnored();
      }
    });
  });
}
