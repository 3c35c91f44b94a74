/**
 * TCP transport (RFC 7766): 2-byte length-prefixed messages, several queries per
 * connection processed concurrently (replies may come out of order, §6.2.1.1), an
 * idle timeout, a cap on connections and on queries in flight per connection
 * (reading pauses at the cap, so a client cannot make the buffers grow).
 */
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { ListenError } from '../../common/errors.js';
import type { ResolverMetrics } from '../metrics.js';
import type { HostPort } from './address.js';
import { formatHostPort } from './address.js';
import type { Dispatcher } from './dispatch.js';

/** Per-connection state: queries in flight and bytes not yet parsed. */
interface ConnectionState {
  inflight: number;
  buffered: Buffer;
}

/** TCP limits. */
export interface TcpOptions {
  readonly idleTimeoutMs: number;
  readonly maxConnections: number;
  /** Queries processed at once on one connection before reading pauses. */
  readonly maxInflightPerConnection: number;
  /** SO_REUSEPORT: several listeners (processes) share the address; the kernel spreads connections. */
  readonly reusePort?: boolean;
}

/** A TCP listener. */
export class TcpListener {
  private server: Server | undefined;
  private readonly connections = new Map<Socket, ConnectionState>();

  constructor(
    private readonly address: HostPort,
    private readonly dispatcher: Dispatcher,
    private readonly metrics: ResolverMetrics,
    private readonly options: TcpOptions,
  ) {}

  /** Binds; rejects with a ListenError naming the address when it cannot. */
  listen(): Promise<HostPort> {
    const server = createServer({ noDelay: true }, (socket) => this.accept(socket));
    this.server = server;
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => reject(new ListenError(`cannot listen on tcp ${formatHostPort(this.address)}: ${error.message}`, { cause: error }));
      server.once('error', onError);
      server.listen({ host: this.address.host, port: this.address.port, ipv6Only: this.address.host.includes(':'), reusePort: this.options.reusePort ?? false }, () => {
        server.off('error', onError);
        const bound = server.address();
        if (bound === null || typeof bound === 'string') return reject(new ListenError('tcp listener has no address'));
        resolve({ host: bound.address, port: bound.port });
      });
    });
  }

  private accept(socket: Socket): void {
    if (this.connections.size >= this.options.maxConnections) {
      this.metrics.tcpRejected.inc();
      socket.destroy();
      return;
    }
    const state: ConnectionState = { inflight: 0, buffered: Buffer.alloc(0) };
    this.connections.set(socket, state);
    this.metrics.tcpConnections.set(this.connections.size);
    socket.setTimeout(this.options.idleTimeoutMs, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      this.connections.delete(socket);
      this.metrics.tcpConnections.set(this.connections.size);
    });
    socket.on('data', (chunk: Buffer) => {
      state.buffered = state.buffered.length === 0 ? chunk : Buffer.concat([state.buffered, chunk]);
      this.drain(socket, state);
    });
  }

  /**
   * Serves complete messages from the connection's buffer while fewer than the cap
   * are in flight; at the cap, reading pauses and the rest waits in the buffer
   * (at most what one read delivered) until replies bring the count down.
   */
  private drain(socket: Socket, state: ConnectionState): void {
    const max = this.options.maxInflightPerConnection;
    while (state.inflight < max && state.buffered.length >= 2) {
      const length = state.buffered.readUInt16BE(0);
      if (state.buffered.length < 2 + length) break;
      const message = state.buffered.subarray(2, 2 + length);
      state.buffered = state.buffered.subarray(2 + length);
      this.serve(socket, state, message);
    }
    if (state.inflight >= max) socket.pause();
    else if (this.server !== undefined && !socket.destroyed) socket.resume();
  }

  private serve(socket: Socket, state: ConnectionState, message: Buffer): void {
    const reply = this.dispatcher.handle(message, 'tcp');
    if (reply === undefined) return;
    if (!(reply instanceof Promise)) return write(socket, reply);
    state.inflight++;
    void reply.then((bytes) => {
      state.inflight--;
      if (bytes) write(socket, bytes);
      if (socket.destroyed) return;
      if (this.server === undefined) {
        if (state.inflight === 0) socket.end(); // shutting down: nothing more will be read
      } else this.drain(socket, state);
    });
  }

  /** Stops accepting; lets queries in progress finish up to `deadlineMs`; closes every connection. */
  async close(deadlineMs: number): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const [socket, state] of this.connections) {
      socket.pause();
      if (state.inflight === 0) socket.end();
    }
    const timer = setTimeout(() => {
      for (const socket of this.connections.keys()) socket.destroy();
    }, deadlineMs);
    await closed;
    clearTimeout(timer);
  }
}

function write(socket: Socket, reply: Buffer): void {
  if (socket.destroyed || !socket.writable) return;
  const prefix = Buffer.allocUnsafe(2);
  prefix.writeUInt16BE(reply.length, 0);
  socket.cork();
  socket.write(prefix);
  socket.write(reply);
  socket.uncork();
}
