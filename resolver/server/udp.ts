/**
 * UDP transport: one socket per listen address. Replies go back to the sender's
 * address and port; the dispatcher has already truncated them to the client's limit.
 */
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { ListenError } from '../../common/errors.js';
import type { HostPort } from './address.js';
import { formatHostPort } from './address.js';
import type { Dispatcher } from './dispatch.js';

/**
 * The socket's address "lookup": replies go to the sender's address, always an IP
 * literal, which node:dgram would otherwise check with a regular expression and
 * hand over through process.nextTick on every send.
 */
const literalAddress = (address: string, family: unknown, callback: (error: NodeJS.ErrnoException | null, address: string, family: number) => void) =>
  callback(null, address, typeof family === 'number' ? family : address.includes(':') ? 6 : 4);

/** Receive buffer asked for on every UDP listener. */
const UDP_RECV_BUFFER = 4 * 1024 * 1024;

/** A bound UDP listener. */
export class UdpListener {
  private socket: Socket | undefined;
  private inflight = 0;
  private idleWaiters: (() => void)[] = [];
  /** Handing over: the socket no longer receives new datagrams, and replies leave through {@link sendAside}. */
  private draining = false;
  private lastMessageAt = 0;

  constructor(
    private readonly address: HostPort,
    private readonly dispatcher: Dispatcher,
    /** `reusePort`: bind with SO_REUSEPORT (worker threads sharing the port, `resolver/workers/`). */
    private readonly options: { readonly reusePort?: boolean } = {},
  ) {}

  /** Binds; rejects with a ListenError naming the address when it cannot. */
  listen(): Promise<HostPort> {
    // A 4 MiB receive buffer (the kernel caps it at net.core.rmem_max) holds ~40 ms of
    // queries at 100k q/s, so a garbage-collection pause of a few ms loses none.
    const socket = createSocket({ type: isIPv6(this.address.host) ? 'udp6' : 'udp4', ipv6Only: isIPv6(this.address.host), recvBufferSize: UDP_RECV_BUFFER, lookup: literalAddress, reusePort: this.options.reusePort === true });
    this.socket = socket;
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => reject(new ListenError(`cannot listen on udp ${formatHostPort(this.address)}: ${error.message}`, { cause: error }));
      socket.once('error', onError);
      socket.bind(this.address.port, this.address.host, () => {
        socket.off('error', onError);
        socket.on('error', () => {}); // per-send errors (ICMP unreachable) are not fatal
        socket.on('message', (msg, rinfo) => this.onMessage(socket, msg, rinfo.address, rinfo.port));
        const bound = socket.address();
        resolve({ host: bound.address, port: bound.port });
      });
    });
  }

  private onMessage(socket: Socket, msg: Buffer, host: string, port: number): void {
    const reply = this.dispatcher.handle(msg, 'udp', host);
    if (this.draining) this.lastMessageAt = performance.now();
    if (reply === undefined) return;
    if (!(reply instanceof Promise)) {
      if (this.draining) this.sendAside(reply, port, host);
      else socket.send(reply, port, host);
      return;
    }
    this.inflight++;
    const done = () => this.settled();
    // Counted as in flight until the datagram has left: closing the socket earlier would drop it.
    void reply.then((bytes) => {
      if (bytes && this.socket && this.draining) this.sendAside(bytes, port, host); // counts itself in flight
      else if (bytes && this.socket) return socket.send(bytes, port, host, done);
      done();
    });
  }

  /** One query fewer in flight; wakes whoever waits for none. */
  private settled(): void {
    if (--this.inflight === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  /**
   * Sends a reply while handing over, when the listening socket is connected
   * elsewhere and Node will not send from it to anyone else: from a socket of its
   * own, bound to the same address (SO_REUSEPORT) and connected to this one
   * client, so the reply has the source the client expects. Counted in flight.
   */
  private sendAside(bytes: Buffer, port: number, host: string): void {
    this.inflight++;
    const aside = createSocket({ type: isIPv6(this.address.host) ? 'udp6' : 'udp4', reusePort: true });
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      aside.close();
      this.settled();
    };
    aside.on('error', finish);
    // Between bind and connect it is one more socket of the group: what reaches it then is answered too.
    aside.on('message', (msg, rinfo) => this.onMessage(aside, msg, rinfo.address, rinfo.port));
    aside.bind(this.address.port, this.address.host, () => aside.connect(port, host, () => aside.send(bytes, finish)));
  }

  /**
   * Hand-over (another process serves the address with SO_REUSEPORT): connects
   * the socket to a peer that never sends, so the kernel routes every new datagram
   * to the other process, then answers what was already queued here until none
   * has come for 50 ms (at most `deadlineMs`). Nothing queued is lost.
   */
  async handOver(deadlineMs: number): Promise<void> {
    const socket = this.socket;
    if (!socket || this.draining) return;
    this.draining = true;
    this.lastMessageAt = performance.now();
    await new Promise<void>((resolve) => {
      try {
        socket.connect(9, isIPv6(this.address.host) ? '::1' : '127.0.0.1', () => resolve());
      } catch {
        resolve();
      }
    });
    const deadline = performance.now() + deadlineMs;
    while (performance.now() - this.lastMessageAt < 50 && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /**
   * Closes at the first moment no query is in progress, answering every query
   * that arrives until then; after `deadlineMs`, stops taking new ones and closes
   * when those in progress are done or the deadline has passed again. Closing
   * while idle matters for restarts: with SO_REUSEPORT, datagrams stop coming to
   * this socket the moment it closes and go to the new process instead, so the
   * only ones lost are those already queued here, and reading goes on until then.
   */
  async close(deadlineMs: number): Promise<void> {
    const socket = this.socket;
    if (!socket) return;
    const closeNow = () => {
      this.socket = undefined;
      return new Promise<void>((resolve) => socket.close(() => resolve()));
    };
    if (this.inflight === 0) return closeNow();
    const idle = (ms: number) =>
      new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), ms);
        // Called from inside the last reply's callback: closing there leaves no gap for a new query.
        this.idleWaiters.push(() => {
          clearTimeout(timer);
          resolve(true);
        });
      });
    if (!(await idle(deadlineMs))) {
      socket.removeAllListeners('message');
      if (this.inflight > 0) await idle(deadlineMs);
    }
    await closeNow();
  }
}
