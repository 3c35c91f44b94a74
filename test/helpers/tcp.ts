/** A raw DNS-over-TCP test client: writes any bytes, collects length-prefixed replies, notices when the server closes. */
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { onFrames } from '../../bench/frames.js';

/** A TCP client that collects length-prefixed replies and notices when the server closes. */
export class TcpClient {
  readonly socket: Socket;
  readonly replies: Buffer[] = [];
  /** Resolves with the milliseconds from connecting to the socket's close. */
  readonly closed: Promise<number>;
  readonly connected: Promise<void>;
  /** True once the server's FIN arrived (it closed in order rather than by reset). */
  ended = false;
  private waiters: { n: number; wake: () => void }[] = [];

  constructor(port: number) {
    const started = performance.now();
    this.socket = connect({ host: '127.0.0.1', port, noDelay: true });
    this.connected = new Promise((resolve) => this.socket.once('connect', () => resolve()));
    this.closed = new Promise((resolve) => this.socket.once('close', () => resolve(performance.now() - started)));
    this.socket.on('error', () => {});
    this.socket.on('end', () => (this.ended = true));
    onFrames(this.socket, (reply) => {
      this.replies.push(reply);
      for (const w of this.waiters.filter((w) => this.replies.length >= w.n)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.wake();
      }
    });
  }

  /** Writes raw bytes (one `write` call); resolves once they are handed to the kernel. */
  async write(bytes: Buffer): Promise<void> {
    await this.connected;
    await new Promise<void>((resolve, reject) => this.socket.write(bytes, (e) => (e ? reject(e) : resolve())));
  }

  /** Resolves once `n` replies have arrived. */
  waitReplies(n: number, timeoutMs = 2000): Promise<Buffer[]> {
    if (this.replies.length >= n) return Promise.resolve(this.replies);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`TCP: got ${this.replies.length} of ${n} replies`)), timeoutMs);
      this.waiters.push({
        n,
        wake: () => {
          clearTimeout(timer);
          resolve(this.replies);
        },
      });
    });
  }

  /** Resolves once the server has closed the connection; rejects after `timeoutMs`. */
  waitClosed(timeoutMs = 2000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`TCP: still open after ${timeoutMs} ms`)), timeoutMs);
      void this.closed.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  destroy(): void {
    this.socket.destroy();
  }
}
