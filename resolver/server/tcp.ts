/**
 * TCP transport (RFC 7766): 2-byte length-prefixed messages, several queries per
 * connection processed concurrently (replies to forwarded queries may overtake,
 * §6.2.1.1; synchronous answers leave in the order asked), and limits so that no
 * client can hold the resolver's memory or its connection slots:
 *
 * - **Deadline for a whole query.** A connection must deliver a complete query
 *   within --tcp-idle-timeout of its last progress (accepted, a query read, a
 *   reply written, unsent output drained); bytes of an unfinished message do not
 *   count as progress. An idle connection and a slowloris client (one byte every
 *   few seconds) are closed alike. This is what CoreDNS gets from miekg/dns
 *   (`Server.readTCP` sets one read deadline for the length and the whole
 *   message) and Unbound's tcp-idle-timeout ("the period Unbound will wait for a
 *   query"). There is no total lifetime: a connection that keeps sending whole
 *   queries is doing real work, and the per-connection cap bounds what it costs.
 * - **Write backpressure.** While more than {@link MAX_UNSENT} bytes of replies
 *   wait to be sent, reading stops until 'drain'; a client that pipelines and
 *   never reads holds at most that much, and with nothing in flight and no
 *   progress it is closed by the same deadline.
 * - **At the connection cap, the longest-waiting connection is closed** to make
 *   room (RFC 7766 §10: at the limit, close existing idle connections or refuse
 *   new ones; §6.2.3: servers under load may use zero idle timeouts; Unbound cuts
 *   its idle timeout towards 0 as its TCP buffers fill up). A thousand idle or
 *   slowloris connections therefore cannot lock legitimate clients out; a new
 *   connection is refused only when every open one has a query in flight.
 * - **A length prefix under 12** (a DNS header) is no DNS client: the connection
 *   is closed once the replies already owed are sent (miekg/dns closes on 0).
 * - **Half-close**: after the client's FIN, the replies owed are sent, then FIN.
 *
 * Timers run on the injected clock, so tests drive every deadline.
 */
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { ListenError } from '../../common/errors.js';
import type { Clock, TimerHandle } from '../clock.js';
import type { ResolverMetrics, TcpCloseReason } from '../metrics.js';
import type { HostPort } from './address.js';
import { formatHostPort } from './address.js';
import type { Dispatcher } from './dispatch.js';

/** Reply bytes a connection may have waiting to be sent before reading from it stops. */
export const MAX_UNSENT = 64 * 1024;
/** RFC 1035 §4.1.1: a message is at least its 12-byte header. */
const HEADER = 12;

/** Per-connection state. */
interface Connection {
  readonly socket: Socket;
  /** Queries handed to the dispatcher whose replies are still to come. */
  inflight: number;
  /** Bytes received and not yet parsed into messages (at most one read's worth beyond one message). */
  buffered: Buffer;
  /** Clock time of the last progress; the deadline runs from it while nothing is in flight. */
  since: number;
  /** More than MAX_UNSENT bytes wait to be sent: reading stops until 'drain'. */
  blocked: boolean;
  /** Nothing more will be read (FIN, bad framing, shutdown): the connection ends once its replies are out. */
  finishing: boolean;
  /** Why the resolver closed (or is closing) it, counted once. */
  reason: TcpCloseReason | undefined;
  timer: TimerHandle | undefined;
}

/** TCP limits. */
export interface TcpOptions {
  /** Deadline for a complete query from the last progress on a connection (see the module comment). */
  readonly idleTimeoutMs: number;
  readonly maxConnections: number;
  /** Queries processed at once on one connection before reading pauses. */
  readonly maxInflightPerConnection: number;
  readonly clock: Clock;
  /** Bind with SO_REUSEPORT (worker threads sharing the port, `resolver/workers/`). */
  readonly reusePort?: boolean;
}

/** A TCP listener. */
export class TcpListener {
  private server: Server | undefined;
  /** Open connections, least recent progress first (the first without a query in flight is closed at the cap). */
  private readonly connections = new Map<Socket, Connection>();
  private removeMetrics: (() => void) | undefined;

  constructor(
    private readonly address: HostPort,
    private readonly dispatcher: Dispatcher,
    private readonly metrics: ResolverMetrics,
    private readonly options: TcpOptions,
  ) {}

  /** Binds; rejects with a ListenError naming the address when it cannot. */
  listen(): Promise<HostPort> {
    const server = createServer({ noDelay: true, allowHalfOpen: true }, (socket) => this.accept(socket));
    this.server = server;
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => reject(new ListenError(`cannot listen on tcp ${formatHostPort(this.address)}: ${error.message}`, { cause: error }));
      server.once('error', onError);
      server.listen({ host: this.address.host, port: this.address.port, ipv6Only: this.address.host.includes(':'), reusePort: this.options.reusePort === true }, () => {
        server.off('error', onError);
        const bound = server.address();
        if (bound === null || typeof bound === 'string') return reject(new ListenError('tcp listener has no address'));
        this.removeMetrics = this.metrics.addTcpListener({ connections: () => this.connections.size, bufferedBytes: () => this.bufferedBytes() });
        resolve({ host: bound.address, port: bound.port });
      });
    });
  }

  /** Bytes held for clients: unsent replies, input read and not yet parsed. */
  private bufferedBytes(): number {
    let bytes = 0;
    for (const c of this.connections.values()) bytes += c.socket.writableLength + c.socket.readableLength + c.buffered.length;
    return bytes;
  }

  private accept(socket: Socket): void {
    if (this.connections.size >= this.options.maxConnections && !this.evictOne()) {
      this.metrics.tcpRejected.inc();
      socket.destroy();
      return;
    }
    const c: Connection = { socket, inflight: 0, buffered: Buffer.alloc(0), since: this.options.clock.now(), blocked: false, finishing: false, reason: undefined, timer: undefined };
    this.connections.set(socket, c);
    this.arm(c, this.options.idleTimeoutMs);
    socket.on('error', () => this.shut(c, 'error'));
    socket.on('close', () => {
      c.timer?.cancel();
      this.connections.delete(socket);
    });
    socket.on('data', (chunk: Buffer) => {
      c.buffered = c.buffered.length === 0 ? chunk : Buffer.concat([c.buffered, chunk]);
      this.pump(c);
    });
    socket.on('end', () => this.finish(c)); // client FIN: an unfinished message is dropped
    socket.on('drain', () => {
      c.blocked = false;
      this.touch(c);
      this.pump(c);
    });
  }

  /** Closes the connection with the least recent progress and nothing in flight; false when every one is busy. */
  private evictOne(): boolean {
    for (const c of this.connections.values()) {
      if (c.inflight === 0) {
        this.shut(c, 'cap');
        this.connections.delete(c.socket); // its 'close' comes later; the slot is free now
        return true;
      }
    }
    return false;
  }

  /** Progress: restarts the deadline and moves the connection to the back of the eviction order. */
  private touch(c: Connection): void {
    c.since = this.options.clock.now();
    if (this.connections.delete(c.socket)) this.connections.set(c.socket, c);
  }

  /** Checks the deadline when `ms` have passed; lazily re-armed, so progress costs no timer call. */
  private arm(c: Connection, ms: number): void {
    c.timer = this.options.clock.timer(ms, () => {
      c.timer = undefined;
      if (c.socket.destroyed) return;
      const left = c.since + this.options.idleTimeoutMs - this.options.clock.now();
      if (c.inflight > 0 || left > 0) return this.arm(c, left > 0 ? left : this.options.idleTimeoutMs);
      this.shut(c, c.socket.writableLength > 0 ? 'backpressure' : c.buffered.length > 0 ? 'slow' : 'idle');
    });
  }

  private shut(c: Connection, reason: TcpCloseReason): void {
    if (c.socket.destroyed) return;
    this.count(c, reason);
    c.socket.destroy();
  }

  private count(c: Connection, reason: TcpCloseReason): void {
    if (c.reason !== undefined) return;
    c.reason = reason;
    this.metrics.tcpClosed.inc({ reason });
  }

  /**
   * Serves complete messages from the buffer while reading is allowed: fewer than
   * the cap in flight and output below MAX_UNSENT. Otherwise reading pauses and the
   * rest waits in the buffer (at most what one read delivered) until replies go out.
   */
  private pump(c: Connection): void {
    const max = this.options.maxInflightPerConnection;
    while (!c.finishing && !c.blocked && c.inflight < max && c.buffered.length >= 2) {
      const length = c.buffered.readUInt16BE(0);
      if (length < HEADER) {
        this.count(c, 'bad_length');
        this.finish(c);
        break;
      }
      if (c.buffered.length < 2 + length) break;
      const message = c.buffered.subarray(2, 2 + length);
      c.buffered = c.buffered.subarray(2 + length);
      this.touch(c);
      this.serve(c, message);
    }
    const reading = !c.finishing && !c.blocked && c.inflight < max && this.server !== undefined;
    if (!reading) c.socket.pause();
    else if (!c.socket.destroyed) c.socket.resume();
  }

  private serve(c: Connection, message: Buffer): void {
    const reply = this.dispatcher.handle(message, 'tcp', c.socket.remoteAddress);
    if (reply === undefined) return;
    if (!(reply instanceof Promise)) return this.write(c, reply);
    c.inflight++;
    void reply.then((bytes) => {
      c.inflight--;
      if (bytes) this.write(c, bytes);
      if (c.socket.destroyed) return;
      this.touch(c);
      if (c.finishing) this.finish(c);
      else this.pump(c);
    });
  }

  private write(c: Connection, reply: Buffer): void {
    const { socket } = c;
    if (socket.destroyed || !socket.writable) return;
    const prefix = Buffer.allocUnsafe(2);
    prefix.writeUInt16BE(reply.length, 0);
    socket.cork();
    socket.write(prefix);
    socket.write(reply);
    socket.uncork();
    // Above MAX_UNSENT (> the stream's high-water mark, so 'drain' will come) stop reading.
    if (socket.writableLength > MAX_UNSENT) c.blocked = true;
  }

  /** Reads no more from `c`; ends it (FIN after the replies) once nothing is in flight. */
  private finish(c: Connection): void {
    c.finishing = true;
    c.buffered = Buffer.alloc(0);
    c.socket.pause();
    if (c.inflight === 0 && !c.socket.destroyed) c.socket.end();
  }

  /** Stops accepting; lets queries in progress finish up to `deadlineMs`; closes every connection. */
  async close(deadlineMs: number): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.removeMetrics?.();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const c of this.connections.values()) this.finish(c);
    const timer = setTimeout(() => {
      for (const socket of this.connections.keys()) socket.destroy();
    }, deadlineMs);
    await closed;
    clearTimeout(timer);
  }
}
