/**
 * A fake upstream DNS server for tests: UDP and TCP on one 127.0.0.1 port (port 0),
 * with behaviour programmable per test (answer, SERVFAIL, silence, wrong ID first,
 * wrong question, reply from another source port, TC over UDP with the full answer
 * over TCP, any bytes at all). It records every query it receives, with its bytes and transport, so
 * tests can check what the resolver sent (random IDs, EDNS size).
 */
import { createSocket } from 'node:dgram';
import type { Socket as UdpSocket } from 'node:dgram';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { framed, onFrames } from '../../bench/frames.js';
import { Flag } from '../../resolver/wire/reply.js';
import { encodeTemplate } from '../../resolver/wire/encode.js';
import { parseQuery } from '../../resolver/wire/query.js';
import type { Query } from '../../resolver/wire/query.js';
import type { ResourceRecord } from '../../resolver/wire/records.js';
import { RRType } from '../../resolver/wire/constants.js';
import { startResolver } from './dns.js';

/** A query as the fake upstream received it. */
export interface ReceivedQuery {
  readonly transport: 'udp' | 'tcp';
  readonly bytes: Buffer;
  readonly id: number;
  /** Lower-cased question name. */
  readonly name: string;
  readonly type: number;
  /** The UDP payload size of the query's OPT, or undefined without EDNS. */
  readonly ednsUdpSize: number | undefined;
  /** The client's source port (UDP: of the datagram; TCP: of the connection). */
  readonly sourcePort: number;
  /** TCP only: serial number (1, 2, ...) of the accepted connection the query came on. */
  readonly connection: number | undefined;
}

/** Options of {@link startUpstream}. */
export interface UpstreamOptions {
  /** Delay before each reply is sent, fixed or per query (ms). */
  readonly delayMs?: number | ((q: ReceivedQuery) => number);
}

/** How the fake upstream treats queries. */
export type Behaviour =
  /** Answers with `records` (NOERROR, or `rcode`). */
  | { readonly kind: 'answer'; readonly records: readonly ResourceRecord[]; readonly rcode?: number }
  /** Answers SERVFAIL. */
  | { readonly kind: 'servfail' }
  /** Never answers (the client times out). */
  | { readonly kind: 'silent' }
  /** Sends a reply with the wrong ID, then the right one. */
  | { readonly kind: 'wrong-id-first'; readonly records: readonly ResourceRecord[]; readonly wrong: readonly ResourceRecord[] }
  /** Sends a reply to another question (same ID), then, unless `only`, the right one. */
  | { readonly kind: 'wrong-question'; readonly records: readonly ResourceRecord[]; readonly only?: boolean }
  /** Answers over UDP from a second socket (another source port) only. */
  | { readonly kind: 'other-port'; readonly records: readonly ResourceRecord[] }
  /** Over UDP: an empty reply with TC set; over TCP: the full answer. */
  | { readonly kind: 'truncate-udp'; readonly records: readonly ResourceRecord[] }
  /**
   * Sends whatever `replies` builds for the query, in order. Over TCP each is
   * framed with its length, unless `raw` (then the bytes go out as they are).
   */
  | { readonly kind: 'custom'; readonly replies: (query: Query) => readonly Buffer[]; readonly raw?: boolean }
  /**
   * Over TCP: holds the answers on each connection until `batch` queries came,
   * then sends them in reverse order, written in pieces of `chunk` bytes (all in
   * one write when unset). Over UDP: answers at once.
   */
  | { readonly kind: 'reverse-tcp'; readonly batch: number; readonly records: (query: Query) => readonly ResourceRecord[]; readonly chunk?: number };

/** A running fake upstream. */
export interface FakeUpstream {
  readonly port: number;
  /** `127.0.0.1:<port>`, for the `upstream` flag. */
  readonly address: string;
  /** Every query received, in order. */
  readonly queries: ReceivedQuery[];
  /** Queries received over `transport`. */
  count(transport?: 'udp' | 'tcp'): number;
  /** Changes the behaviour for the next queries. */
  setBehaviour(behaviour: Behaviour | ((q: ReceivedQuery) => Behaviour)): void;
  /** TCP connections accepted so far. */
  tcpAccepted(): number;
  /** TCP connections open now. */
  tcpOpen(): number;
  /** Closes every open TCP connection from the server side. */
  dropTcp(): void;
  /** Changes the delay before replies (ms, fixed or per query). */
  setDelay(delayMs: number | ((q: ReceivedQuery) => number)): void;
  /** Resolves once `n` queries in total have been received (rejects after `timeoutMs`). */
  waitForQueries(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** An A record, for brevity in tests. */
export function a(name: string, address: string, ttl = 60): ResourceRecord {
  return { name, ttl, data: { type: 'A', address } };
}

/** `n` A records for `name`: 192.0.2.1, 192.0.2.2, ... (then 198.51.100.x). */
export function manyA(name: string, n: number, ttl = 60): ResourceRecord[] {
  return Array.from({ length: n }, (_, i) => a(name, i < 254 ? `192.0.2.${i + 1}` : `198.51.100.${i - 253}`, ttl));
}

/**
 * Builds a reply to `query` with `records` as answers: the template encoder,
 * then the query's ID, RD bit and question bytes (case as sent), and an OPT
 * advertising 4096 bytes when the query had one.
 */
export function buildReply(
  query: Query,
  records: readonly ResourceRecord[],
  options: { rcode?: number; tc?: boolean; questionName?: string; authority?: readonly ResourceRecord[]; additional?: readonly ResourceRecord[] } = {},
): Buffer {
  const template = encodeTemplate({
    name: options.questionName ?? query.name,
    type: query.type,
    rcode: options.rcode ?? 0,
    authoritative: false,
    answers: options.tc ? [] : records,
    authority: options.authority ?? [],
    additional: options.additional ?? [],
  });
  const flags = template.readUInt16BE(2) | (query.raw.readUInt16BE(2) & Flag.RD) | (options.tc ? Flag.TC : 0);
  template.writeUInt16BE(query.id, 0);
  template.writeUInt16BE(flags, 2);
  if (options.questionName === undefined) query.raw.copy(template, 12, 12, query.questionEnd);
  if (!query.edns) return template;
  const opt = Buffer.alloc(11);
  opt.writeUInt16BE(RRType.OPT, 1);
  opt.writeUInt16BE(4096, 3);
  const out = Buffer.concat([template, opt]);
  out.writeUInt16BE(out.readUInt16BE(10) + 1, 10);
  return out;
}


/** Starts a fake upstream on 127.0.0.1 (UDP and TCP on the same free port). */
export async function startUpstream(
  initial: Behaviour | ((q: ReceivedQuery) => Behaviour) = { kind: 'answer', records: [] },
  options: UpstreamOptions = {},
): Promise<FakeUpstream> {
  let behaviour = initial;
  let delay = options.delayMs ?? 0;
  let accepted = 0;
  let closed = false;
  const delayOf = (q: ReceivedQuery) => (typeof delay === 'function' ? delay(q) : delay);
  /** Runs `send` now, or after the configured delay unless the fake closed meanwhile. */
  const later = (q: ReceivedQuery, send: () => void) => {
    const ms = delayOf(q);
    if (ms <= 0) return send();
    setTimeout(() => {
      if (!closed) send();
    }, ms);
  };
  const queries: ReceivedQuery[] = [];
  const waiters: { n: number; wake: () => void }[] = [];
  const tcpSockets = new Set<Socket>();

  const other = createSocket('udp4');
  await new Promise<void>((resolve) => other.bind(0, '127.0.0.1', resolve));
  // Bind UDP on a free port, then TCP on the same one; start over when TCP finds it taken.
  let udp: UdpSocket | undefined;
  let tcp: Server | undefined;
  for (let attempt = 0; tcp === undefined; attempt++) {
    if (attempt > 20) throw new Error('fake upstream: no port free for both UDP and TCP');
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const server = createServer((s) => onTcp(s));
    const ok = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(socket.address().port, '127.0.0.1', () => resolve(true));
    });
    if (ok) {
      udp = socket;
      tcp = server;
    } else socket.close();
  }
  if (!udp) throw new Error('unreachable');
  const udpSocket = udp;
  const port = udpSocket.address().port;

  function record(transport: 'udp' | 'tcp', bytes: Buffer, sourcePort = 0, connection?: number): { received: ReceivedQuery; query: Query } | undefined {
    const parsed = parseQuery(bytes);
    if (parsed.kind !== 'query') return undefined;
    const q = parsed.query;
    const received: ReceivedQuery = {
      transport,
      bytes: Buffer.from(bytes),
      id: q.id,
      name: q.name,
      type: q.type,
      ednsUdpSize: q.edns ? bytes.readUInt16BE(q.edns.offset + 3) : undefined,
      sourcePort,
      connection,
    };
    queries.push(received);
    for (const w of waiters.filter((w) => queries.length >= w.n)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.wake();
    }
    return { received, query: q };
  }

  /** The messages to send for one query, each with the socket to send it from (UDP only). */
  function respond(transport: 'udp' | 'tcp', received: ReceivedQuery, query: Query): { message: Buffer; fromOther?: boolean }[] {
    const b = typeof behaviour === 'function' ? behaviour(received) : behaviour;
    switch (b.kind) {
      case 'answer':
        return [{ message: buildReply(query, b.records, b.rcode === undefined ? {} : { rcode: b.rcode }) }];
      case 'servfail':
        return [{ message: buildReply(query, [], { rcode: 2 }) }];
      case 'silent':
        return [];
      case 'wrong-id-first': {
        const wrong = buildReply(query, b.wrong);
        wrong.writeUInt16BE((query.id + 1) & 0xffff, 0);
        return [{ message: wrong }, { message: buildReply(query, b.records) }];
      }
      case 'wrong-question': {
        const wrong = buildReply(query, b.records, { questionName: `wrong.${query.name}` });
        return b.only ? [{ message: wrong }] : [{ message: wrong }, { message: buildReply(query, b.records) }];
      }
      case 'other-port':
        return transport === 'udp' ? [{ message: buildReply(query, b.records), fromOther: true }] : [{ message: buildReply(query, b.records) }];
      case 'truncate-udp':
        return [{ message: buildReply(query, b.records, { tc: transport === 'udp' }) }];
      case 'custom':
        return b.replies(query).map((message) => ({ message }));
      case 'reverse-tcp':
        return [{ message: buildReply(query, b.records(query)) }];
    }
  }

  udpSocket.on('message', (msg, rinfo) => {
    const got = record('udp', msg, rinfo.port);
    if (!got) return;
    const replies = respond('udp', got.received, got.query);
    later(got.received, () => {
      for (const { message, fromOther } of replies) (fromOther ? other : udpSocket).send(message, rinfo.port, rinfo.address);
    });
  });

  function onTcp(socket: Socket): void {
    const serial = ++accepted;
    const held: Buffer[] = [];
    tcpSockets.add(socket);
    socket.on('close', () => tcpSockets.delete(socket));
    socket.on('error', () => socket.destroy());
    onFrames(socket, (msg) => {
      const got = record('tcp', msg, socket.remotePort ?? 0, serial);
      if (!got) return;
      const b = typeof behaviour === 'function' ? behaviour(got.received) : behaviour;
      const replies = respond('tcp', got.received, got.query);
      if (b.kind === 'reverse-tcp') {
        held.push(...replies.map(({ message }) => framed(message)));
        if (held.length >= b.batch) writeReversed(socket, held.splice(0).reverse(), b.chunk);
        return;
      }
      const raw = b.kind === 'custom' && b.raw === true;
      later(got.received, () => {
        if (!socket.destroyed) for (const { message } of replies) socket.write(raw ? message : framed(message));
      });
    });
  }

  /** Writes `frames` as one byte stream, in pieces of `chunk` bytes a few ms apart when set. */
  function writeReversed(socket: Socket, frames: Buffer[], chunk: number | undefined): void {
    const bytes = Buffer.concat(frames);
    if (!chunk) {
      socket.write(bytes);
      return;
    }
    socket.setNoDelay(true);
    let offset = 0;
    const step = () => {
      if (closed || socket.destroyed || offset >= bytes.length) return;
      socket.write(bytes.subarray(offset, offset + chunk));
      offset += chunk;
      setTimeout(step, 2);
    };
    step();
  }

  const server = tcp;
  return {
    port,
    address: `127.0.0.1:${port}`,
    queries,
    count: (transport) => (transport ? queries.filter((q) => q.transport === transport).length : queries.length),
    setBehaviour: (next) => {
      behaviour = next;
    },
    tcpAccepted: () => accepted,
    tcpOpen: () => tcpSockets.size,
    dropTcp: () => {
      for (const s of tcpSockets) s.destroy();
    },
    setDelay: (next) => {
      delay = next;
    },
    waitForQueries: (n, timeoutMs = 3000) =>
      queries.length >= n
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`fake upstream: got ${queries.length} of ${n} queries`)), timeoutMs);
            waiters.push({
              n,
              wake: () => {
                clearTimeout(timer);
                resolve();
              },
            });
          }),
    close: async () => {
      closed = true;
      for (const s of tcpSockets) s.destroy();
      await Promise.all([
        new Promise<void>((resolve) => server.close(() => resolve())),
        new Promise<void>((resolve) => udpSocket.close(() => resolve())),
        new Promise<void>((resolve) => other.close(() => resolve())),
      ]);
    },
  };
}

/**
 * {@link startResolver} that retries when the start failed because TCP could not
 * bind the port UDP was given. BUG (resolver/resolver.ts startParts): with port 0 the
 * UDP socket picks a free UDP port and TCP must then bind that same number; when a
 * TCP socket (often just the ephemeral end of an outgoing connection) holds it, the
 * start fails with EADDRINUSE instead of trying another port. Seen in this suite.
 */
export async function startResolverRetrying(flags: Record<string, string | string[] | boolean>, deps: Parameters<typeof startResolver>[1] = {}): ReturnType<typeof startResolver> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startResolver(flags, deps);
    } catch (error) {
      if (attempt >= 5 || !(error instanceof Error) || !/cannot listen on tcp .*EADDRINUSE/.test(error.message)) throw error;
    }
  }
}
