/**
 * A small UDP load generator, used when dnsperf is not installed: keeps `window`
 * queries outstanding, bounded by `seconds` and `maxQueries`, counts replies.
 * Being Node itself it can saturate before the server does; the report says which
 * generator produced the figures.
 */
import { createSocket } from 'node:dgram';

/** Result of one load run. */
export interface LoadResult {
  readonly sent: number;
  readonly received: number;
  readonly seconds: number;
  readonly qps: number;
}

/** Sends `queries` round-robin to 127.0.0.1:`port`. */
export function runLoad(port: number, queries: readonly Buffer[], seconds: number, window = 64, maxQueries = 50_000_000): Promise<LoadResult> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    let sent = 0;
    let received = 0;
    let next = 0;
    const started = performance.now();
    const deadline = started + seconds * 1000;
    const send = () => {
      if (sent >= maxQueries || performance.now() >= deadline) return;
      const q = queries[next++ % queries.length] as Buffer;
      q.writeUInt16BE(sent & 0xffff, 0);
      sent++;
      socket.send(q, port, '127.0.0.1');
    };
    socket.on('message', () => {
      received++;
      send();
    });
    // Lost packets would shrink the window; top it up every 10 ms.
    const refill = setInterval(() => {
      for (let i = sent - received; i < window; i++) send();
      if (performance.now() >= deadline || sent >= maxQueries) finish();
    }, 10);
    const finish = () => {
      clearInterval(refill);
      const elapsed = (performance.now() - started) / 1000;
      socket.close();
      resolve({ sent, received, seconds: elapsed, qps: received / elapsed });
    };
    socket.bind(0, '127.0.0.1', () => {
      for (let i = 0; i < window; i++) send();
    });
  });
}

/**
 * {@link runLoad} from `clients` sockets at once (the window shared among them),
 * so that a server with several SO_REUSEPORT sockets gets queries on each: the
 * kernel picks a socket by the client's address and port.
 */
export async function runLoadFrom(clients: number, port: number, queries: readonly Buffer[], seconds: number, window = 64): Promise<LoadResult> {
  if (clients <= 1) return runLoad(port, queries, seconds, window);
  const each = Math.max(4, Math.ceil(window / clients));
  const results = await Promise.all(Array.from({ length: clients }, () => runLoad(port, queries.map((q) => Buffer.from(q)), seconds, each)));
  const sum = (key: 'sent' | 'received' | 'qps') => results.reduce((n, r) => n + r[key], 0);
  return { sent: sum('sent'), received: sum('received'), seconds: Math.max(...results.map((r) => r.seconds)), qps: sum('qps') };
}

/** Result of {@link runPacedLoad}: queries sent, and the latency (ms) of each answered one. */
export interface PacedResult {
  readonly sent: number;
  readonly latencies: number[];
}

/**
 * Sends `qps` queries per second to 127.0.0.1:`port` for `seconds` (round-robin
 * over `queries`, at most qps × seconds in all) and times each reply by its ID;
 * replies later than `graceMs` (default one second) after the end count as lost.
 */
export function runPacedLoad(port: number, queries: readonly Buffer[], qps: number, seconds: number, graceMs = 1000): Promise<PacedResult> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    const sentAt = new Float64Array(65536);
    const latencies: number[] = [];
    const total = Math.floor(qps * seconds);
    let sent = 0;
    const started = performance.now();
    socket.on('message', (msg) => {
      if (msg.length >= 2) latencies.push(performance.now() - (sentAt[msg.readUInt16BE(0)] as number));
    });
    const tick = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * qps));
      for (; sent < due; sent++) {
        const q = queries[sent % queries.length] as Buffer;
        q.writeUInt16BE(sent & 0xffff, 0);
        sentAt[sent & 0xffff] = performance.now();
        socket.send(q, port, '127.0.0.1');
      }
      if (sent >= total) {
        clearInterval(tick);
        setTimeout(() => {
          socket.close();
          resolve({ sent, latencies });
        }, graceMs);
      }
    }, 1);
  });
}
