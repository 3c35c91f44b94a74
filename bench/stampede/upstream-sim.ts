/**
 * The simulated upstreams, run in a worker thread so that the clients' event loop
 * does not delay them: for each resolver under test, its own kube-dns (the
 * cluster zone, from the model) and its own external resolver (everything else),
 * each a UDP socket on 127.0.0.1, so the load each resolver sends upstream is
 * counted apart.
 *
 * kube-dns has a capacity (a token bucket, queries per second; what is beyond it
 * is dropped, so the sender times out) and, while the control plane is down,
 * fails: SERVFAIL, silence, or both (each query one or the other at random).
 * After the outage it serves the endpoints that changed meanwhile. The external
 * resolver never fails.
 */
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { parentPort, workerData } from 'node:worker_threads';
import { Rcode } from '../../resolver/wire/constants.js';
import { parseQuery } from '../../resolver/wire/query.js';
import { composeReply, EMPTY_SECTIONS } from '../../resolver/wire/reply.js';
import { AnswerBook } from './answers.js';
import type { Answer } from './answers.js';
import { buildCluster } from './cluster.js';
import { Rng } from './random.js';
import type { ModelOptions } from './cluster.js';

/** How kube-dns fails while the control plane is down. */
export type FailureMode = 'servfail' | 'timeout' | 'both';

/** What the worker is started with. */
export interface SimInit {
  readonly model: ModelOptions;
  readonly timeScale: number;
  readonly instances: number;
  readonly failure: FailureMode;
}

/** Queries one instance received since the last sample. */
export interface InstanceCounts {
  /** Queries that reached kube-dns (including the dropped and failed ones). */
  kubeDns: number;
  /** Dropped for lack of capacity. */
  kubeDnsDropped: number;
  /** Failed (SERVFAIL or silence) because the control plane was down. */
  kubeDnsFailed: number;
  /** Queries that reached the external resolver. */
  external: number;
}

/** Messages to the worker. */
export type SimCommand =
  | { readonly kind: 'outage'; readonly on: boolean }
  | { readonly kind: 'after' }
  | { readonly kind: 'capacity'; readonly perSecond: number | undefined }
  | { readonly kind: 'sample'; readonly id: number }
  | { readonly kind: 'close' };

/** Messages from the worker. */
export type SimEvent =
  | { readonly kind: 'ready'; readonly ports: readonly { readonly kubeDns: number; readonly external: number }[] }
  | { readonly kind: 'sample'; readonly id: number; readonly counts: readonly InstanceCounts[] };

const zero = (): InstanceCounts => ({ kubeDns: 0, kubeDnsDropped: 0, kubeDnsFailed: 0, external: 0 });

function bind(onMessage: (msg: Buffer, socket: Socket, port: number, address: string) => void): Promise<Socket> {
  const socket = createSocket('udp4');
  socket.on('message', (msg, rinfo) => onMessage(msg, socket, rinfo.port, rinfo.address));
  socket.on('error', () => undefined); // a send to a vanished client is not our problem
  return new Promise((resolve) => socket.bind(0, '127.0.0.1', () => resolve(socket)));
}

function reply(socket: Socket, msg: Buffer, port: number, address: string, answer: (name: string, type: number) => Answer | undefined): void {
  const parsed = parseQuery(msg);
  if (parsed.kind !== 'query') return;
  const a = answer(parsed.query.name, parsed.query.type);
  if (!a) return;
  socket.send(composeReply(parsed.query, a.rcode, a.rcode !== Rcode.REFUSED, a.sections), port, address);
}

async function main(init: SimInit, port: NonNullable<typeof parentPort>): Promise<void> {
  const book = new AnswerBook(buildCluster(init.model), (s) => Math.max(1, Math.round(s / init.timeScale)));
  let outage = false;
  let after = false;
  let capacity: number | undefined;
  const coin = new Rng(init.model.seed + 7);
  const counts = Array.from({ length: init.instances }, zero);
  const buckets = Array.from({ length: init.instances }, () => ({ tokens: 0, at: performance.now() }));
  const sockets: Socket[] = [];
  const ports: { kubeDns: number; external: number }[] = [];
  for (let i = 0; i < init.instances; i++) {
    const c = counts[i] as InstanceCounts;
    const bucket = buckets[i] as { tokens: number; at: number };
    const kube = await bind((msg, socket, p, address) => {
      c.kubeDns++;
      if (capacity !== undefined) {
        const now = performance.now();
        bucket.tokens = Math.min(capacity, bucket.tokens + ((now - bucket.at) / 1000) * capacity);
        bucket.at = now;
        if (bucket.tokens < 1) {
          c.kubeDnsDropped++;
          return;
        }
        bucket.tokens--;
      }
      if (outage) {
        c.kubeDnsFailed++;
        const silent = init.failure === 'timeout' || (init.failure === 'both' && coin.chance(0.5));
        if (!silent) reply(socket, msg, p, address, () => ({ rcode: Rcode.SERVFAIL, sections: EMPTY_SECTIONS }));
        return;
      }
      reply(socket, msg, p, address, (name, type) => book.kubeDns(name, type, after));
    });
    const ext = await bind((msg, socket, p, address) => {
      c.external++;
      reply(socket, msg, p, address, (name, type) => book.external(name, type));
    });
    sockets.push(kube, ext);
    ports.push({ kubeDns: kube.address().port, external: ext.address().port });
  }
  port.on('message', (command: SimCommand) => {
    switch (command.kind) {
      case 'outage':
        outage = command.on;
        break;
      case 'after':
        after = true;
        break;
      case 'capacity':
        capacity = command.perSecond;
        for (const b of buckets) Object.assign(b, { tokens: capacity ?? 0, at: performance.now() });
        break;
      case 'sample':
        port.postMessage({ kind: 'sample', id: command.id, counts: counts.map((c) => ({ ...c })) } satisfies SimEvent);
        for (const c of counts) Object.assign(c, zero());
        break;
      case 'close':
        for (const s of sockets) s.close();
        port.close();
        break;
    }
  });
  port.postMessage({ kind: 'ready', ports } satisfies SimEvent);
}

if (parentPort) await main(workerData as SimInit, parentPort);
