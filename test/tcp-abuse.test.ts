/**
 * Client TCP abuse (issue 7) over real sockets on 127.0.0.1: connection floods
 * beyond the cap, idle and slowloris connections, lying and too-short length
 * prefixes, half frames then FIN, pipelined bursts (answered, in order for
 * synchronous answers) and clients that pipeline without reading (bounded by
 * write backpressure). Deadlines run on a ManualClock: no test waits for one.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../resolver/clock.js';
import { MAX_UNSENT } from '../resolver/server/tcp.js';
import { RRType } from '../resolver/wire/constants.js';
import { decodeMessage, encodeQuery } from '../resolver/wire/decode.js';
import { demoSnapshot, WEB } from './helpers/snapshots.js';
import { framed } from '../bench/frames.js';
import { TcpClient } from './helpers/tcp.js';
import { a, startResolverRetrying, startUpstream } from './helpers/upstream.js';
import type { FakeUpstream } from './helpers/upstream.js';

const IDLE_MS = 10_000;
/** A headless service whose A answer is ~1 KiB, so that 10,000 unread answers overflow every kernel buffer. */
const BIG = 'db.default.svc.cluster.local';
const BIG_ENDPOINTS = 60;

let dir: string;
let snapshotFile: string;
let upstream: FakeUpstream;
const clients: TcpClient[] = [];
const stops: (() => Promise<void>)[] = [];

beforeAll(async () => {
  const base = demoSnapshot(1);
  const snapshot = {
    ...base,
    services: base.services.map((s) => {
      if (s.name !== 'db' || s.namespace !== 'default') return s;
      const [template] = s.endpoints;
      if (!template) throw new Error('demo db has no endpoint');
      const endpoints = Array.from({ length: BIG_ENDPOINTS }, (_, i) => ({ ...template, addresses: [`10.244.9.${i + 1}`], hostname: `db-${i}`, ready: true, serving: true }));
      return { ...s, endpoints };
    }),
  };
  dir = await mkdtemp(join(tmpdir(), 'holdfast-tcp-abuse-'));
  snapshotFile = join(dir, 'snapshot.json');
  await writeFile(snapshotFile, JSON.stringify({ snapshot }));
  upstream = await startUpstream({ kind: 'answer', records: [] });
  upstream.setBehaviour((q) => ({ kind: 'answer', records: [a(q.name, '192.0.2.7')] }));
});

afterAll(async () => {
  await upstream.close();
  await rm(dir, { recursive: true, force: true });
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  for (const stop of stops.splice(0)) await stop();
});

/** A resolver on the snapshot above, its deadlines on a ManualClock. */
async function start(flags: Record<string, string | string[]> = {}) {
  const clock = new ManualClock();
  const r = await startResolverRetrying({ 'snapshot-file': snapshotFile, 'allow-unsigned': true, upstream: [upstream.address], 'tcp-idle-timeout': `${IDLE_MS}ms`, ...flags }, { clock });
  stops.push(() => r.resolver.stop());
  return { ...r, clock };
}

function client(port: number): TcpClient {
  const c = new TcpClient(port);
  clients.push(c);
  return c;
}

/** A query for `name` as bytes, with `id`. */
function query(name: string, id: number, type = RRType.A): Buffer {
  return encodeQuery(name, type, { id });
}

/** The value of one sample of `/metrics` (0 when absent), or the sum of several. */
async function metric(port: number, samples: string | readonly string[]): Promise<number> {
  const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const lines = body.split('\n');
  let sum = 0;
  for (const sample of typeof samples === 'string' ? [samples] : samples) {
    const line = lines.find((l) => l.startsWith(`${sample} `));
    sum += line === undefined ? 0 : Number(line.slice(sample.length + 1));
  }
  return sum;
}

/** Polls `/metrics` until `samples` satisfy `ok` (bounded: 200 tries, 10 ms apart); returns the last value. */
async function until(port: number, samples: string | readonly string[], ok: (v: number) => boolean): Promise<number> {
  let value = await metric(port, samples);
  for (let i = 0; i < 200 && !ok(value); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    value = await metric(port, samples);
  }
  if (!ok(value)) throw new Error(`${String(samples)} stuck at ${value}`);
  return value;
}

const closed = (reason: string) => `holdfast_dns_tcp_closed_total{reason="${reason}"}`;
const BUFFERED = 'holdfast_dns_tcp_buffered_bytes';
const CONNECTIONS = 'holdfast_dns_tcp_connections';

describe('connection cap', () => {
  it('closes the longest-waiting connection to admit a new one, so a flood of idle connections cannot lock a client out', async () => {
    const r = await start({ 'max-tcp-connections': '8' });
    const flood: TcpClient[] = [];
    for (let i = 0; i < 108; i++) {
      const c = client(r.port);
      flood.push(c);
      await c.connected;
    }
    // Every flood connection accepted: 100 of them closed to make room (or, without eviction, refused).
    await until(r.metricsPort, [closed('cap'), 'holdfast_dns_tcp_rejected_total'], (v) => v === 100);
    const legit = client(r.port);
    await legit.write(framed(query(WEB, 77)));
    const [reply] = await legit.waitReplies(1);
    expect(decodeMessage(reply as Buffer).id).toBe(77);
    // The oldest flood connections went first; the youngest are still open.
    await Promise.all(flood.slice(0, 101).map((c) => c.waitClosed()));
    expect(flood.slice(101).some((c) => c.socket.destroyed)).toBe(false);
    expect(await metric(r.metricsPort, closed('cap'))).toBe(101);
    expect(await metric(r.metricsPort, 'holdfast_dns_tcp_rejected_total')).toBe(0);
    expect(await metric(r.metricsPort, CONNECTIONS)).toBe(8);
  });

  it('counts the open connections of every listen address (each listener used to set the one gauge to its own count)', async () => {
    const r = await start({ listen: ['127.0.0.1:0', '127.0.0.1:0'] });
    const second = r.resolver.dnsAddresses[1]?.port ?? 0;
    expect(second).not.toBe(r.port);
    const first = [client(r.port), client(r.port), client(r.port)];
    await Promise.all(first.map((c) => c.connected));
    const other = client(second);
    await other.connected;
    await until(r.metricsPort, CONNECTIONS, (v) => v === 4);
    other.destroy();
    await until(r.metricsPort, CONNECTIONS, (v) => v === 3);
  });

  it('refuses a new connection when every open one has a query in flight, and never closes a busy one', async () => {
    const silent = await startUpstream({ kind: 'silent' });
    stops.push(() => silent.close());
    const r = await start({ 'max-tcp-connections': '2', upstream: silent.address, 'upstream-timeout': '5s' });
    const busy = [client(r.port), client(r.port)];
    await Promise.all(busy.map((c, i) => c.write(framed(query(`busy${i}.example.org`, i)))));
    await silent.waitForQueries(2);
    const third = client(r.port);
    await third.waitClosed();
    expect(await metric(r.metricsPort, 'holdfast_dns_tcp_rejected_total')).toBe(1);
    expect(await metric(r.metricsPort, closed('cap'))).toBe(0);
    expect(busy.some((c) => c.socket.destroyed)).toBe(false);
  });
});

describe('deadlines (--tcp-idle-timeout, on the injected clock)', () => {
  it('closes a connection that sends no query for the idle timeout, and not before', async () => {
    const r = await start();
    const c = client(r.port);
    await c.write(framed(query(WEB, 1)));
    await c.waitReplies(1);
    r.clock.advance(IDLE_MS - 1);
    await c.write(framed(query(WEB, 2))); // still open: answered, and the deadline starts again
    await c.waitReplies(2);
    r.clock.advance(IDLE_MS - 1);
    expect(await metric(r.metricsPort, CONNECTIONS)).toBe(1);
    r.clock.advance(1);
    await c.waitClosed();
    expect(await metric(r.metricsPort, closed('idle'))).toBe(1);
  });

  it('closes a slowloris client (a byte every 3 s never finishing a query) at the deadline: bytes of an unfinished query are no progress', async () => {
    const r = await start();
    const c = client(r.port);
    await c.write(framed(query(WEB, 1)));
    await c.waitReplies(1);
    const next = framed(query(WEB, 2));
    for (let i = 0; i < 4; i++) {
      await c.write(next.subarray(i, i + 1));
      await until(r.metricsPort, BUFFERED, (v) => v === i + 1); // the server holds it: the connection is open
      r.clock.advance(i < 3 ? 3000 : IDLE_MS - 9000);
    }
    await c.waitClosed();
    expect(await metric(r.metricsPort, closed('slow'))).toBe(1);
    expect(c.replies).toHaveLength(1);
  });

  it('closes a connection whose length prefix promises more than it sends (lying prefix) at the deadline', async () => {
    const r = await start();
    const c = client(r.port);
    const body = query(WEB, 5);
    const lie = Buffer.alloc(2);
    lie.writeUInt16BE(body.length + 300);
    await c.write(Buffer.concat([lie, body]));
    await until(r.metricsPort, BUFFERED, (v) => v === body.length + 2);
    r.clock.advance(IDLE_MS);
    await c.waitClosed();
    expect(c.replies).toHaveLength(0);
    expect(await metric(r.metricsPort, closed('slow'))).toBe(1);
    expect(await metric(r.metricsPort, BUFFERED)).toBe(0);
  });
});

describe('framing', () => {
  it.each([0, 1, 11])('answers the queries before a length prefix of %i, then closes the connection (FIN), reading nothing after it', async (length) => {
    const r = await start();
    const c = client(r.port);
    const bad = Buffer.alloc(2 + length, 0xff);
    bad.writeUInt16BE(length);
    await c.write(Buffer.concat([framed(query(WEB, 1)), bad, framed(query(WEB, 2))]));
    await c.waitClosed();
    expect(c.replies.map((b) => decodeMessage(b).id)).toEqual([1]);
    expect(c.ended).toBe(true);
    expect(await metric(r.metricsPort, closed('bad_length'))).toBe(1);
  });

  it('after a half frame then FIN, still sends the reply owed for a forwarded query, then FIN', async () => {
    upstream.setDelay(100);
    try {
      const r = await start();
      const c = client(r.port);
      const half = framed(query(WEB, 2)).subarray(0, 9);
      const before = upstream.queries.length;
      await c.write(Buffer.concat([framed(query('slow.example.org', 1)), half]));
      await upstream.waitForQueries(before + 1);
      c.socket.end();
      await c.waitClosed();
      expect(c.replies.map((b) => decodeMessage(b).id)).toEqual([1]);
      expect(c.ended).toBe(true);
    } finally {
      upstream.setDelay(0);
    }
  });
});

describe('pipelining', () => {
  const NAMES = [WEB, 'kubernetes.default.svc.cluster.local', 'nope.default.svc.cluster.local', BIG, 'kube-dns.kube-system.svc.cluster.local'];

  it('answers 3,000 pipelined cluster-zone queries (some replies 1 KiB) completely and in the order asked', async () => {
    const r = await start();
    const c = client(r.port);
    const templates = NAMES.map((name) => query(name, 0));
    const frames = Array.from({ length: 3000 }, (_, i) => {
      const q = Buffer.from(templates[i % NAMES.length] as Buffer);
      q.writeUInt16BE(i, 0);
      return framed(q);
    });
    await c.write(Buffer.concat(frames));
    const replies = (await c.waitReplies(3000, 10_000)).map((b) => decodeMessage(b));
    expect(replies.map((m) => m.id)).toEqual(frames.map((_, i) => i));
    expect(replies.map((m) => m.questions[0]?.name)).toEqual(frames.map((_, i) => NAMES[i % NAMES.length]));
    expect(replies.filter((m) => m.questions[0]?.name === BIG).every((m) => m.answers.length === BIG_ENDPOINTS)).toBe(true);
  });

  it('lets a forwarded answer be overtaken by a cluster-zone answer asked after it (RFC 7766 §6.2.1.1), each with its own ID', async () => {
    upstream.setDelay(50);
    try {
      const r = await start();
      const c = client(r.port);
      await c.write(Buffer.concat([framed(query('far.example.org', 1)), framed(query(WEB, 2))]));
      const replies = (await c.waitReplies(2)).map((b) => decodeMessage(b));
      expect(replies.map((m) => [m.id, m.questions[0]?.name])).toEqual([
        [2, WEB],
        [1, 'far.example.org'],
      ]);
    } finally {
      upstream.setDelay(0);
    }
  });

  it('holds at most MAX_UNSENT of replies for a client that pipelines 10,000 queries and never reads, serves others meanwhile, and closes it at the deadline', async () => {
    const r = await start();
    const abuser = client(r.port);
    abuser.socket.pause(); // never reads: the kernel buffers fill, then the server's
    const template = query(BIG, 0);
    const frames = Array.from({ length: 10_000 }, (_, i) => {
      const q = Buffer.from(template);
      q.writeUInt16BE(i, 0);
      return framed(q);
    });
    void abuser.write(Buffer.concat(frames)).catch(() => {});
    // The server stops reading once its unsent output passes MAX_UNSENT; wait for that steady state.
    const answered = 'holdfast_dns_requests_total{transport="tcp",qtype="A",rcode="NOERROR"}';
    let previous = -1;
    let count = await metric(r.metricsPort, answered);
    for (let i = 0; i < 100 && (count !== previous || count === 0); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      previous = count;
      count = await metric(r.metricsPort, answered);
    }
    expect(count).toBeLessThan(10_000);
    const buffered = await metric(r.metricsPort, BUFFERED);
    // Unsent output: MAX_UNSENT plus one reply; input: what one read delivered plus the stream's buffer (64 KiB each at most).
    expect(buffered).toBeGreaterThan(0);
    expect(buffered).toBeLessThan(MAX_UNSENT + 2048 + 2 * 64 * 1024);

    const other = client(r.port);
    await other.write(framed(query(WEB, 42)));
    expect(decodeMessage((await other.waitReplies(1))[0] as Buffer).id).toBe(42);

    r.clock.advance(IDLE_MS);
    abuser.socket.resume(); // a client that reads nothing would not notice the close either
    await abuser.waitClosed();
    expect(abuser.replies.length).toBeLessThan(10_000);
    expect(await metric(r.metricsPort, closed('backpressure'))).toBe(1);
    expect(await metric(r.metricsPort, BUFFERED)).toBe(0);
  });
});
