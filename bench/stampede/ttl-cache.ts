/**
 * The TTL-only baseline: a small forwarding cache that behaves like node-local-dns
 * with its default Corefile (CoreDNS `cache { success 9984 30; denial 9984 5 }`,
 * `forward`), written apart from holdfast's cache so the comparison does not
 * share its code. Only the message parsing comes from the project's wire helpers.
 *
 * - Cluster-zone names go to kube-dns, everything else to the external resolver.
 * - Positive answers are kept for their smallest TTL, at most `--success-ttl`;
 *   NXDOMAIN and NODATA for the SOA's negative TTL (RFC 2308), at most
 *   `--denial-ttl`; SERVFAIL for `--servfail-ttl` (CoreDNS's default 5 s), and
 *   an upstream that does not answer within `--timeout-ms` gives SERVFAIL too.
 * - Hits are served with TTLs decreased by their age. No serve-stale, no
 *   prefetch, no coalescing of identical misses (CoreDNS has none of them by
 *   default), at most 9984 entries of each kind, the oldest dropped first.
 *
 * Usage: node dist/bench/stampede/ttl-cache.js --listen PORT --cluster PORT --external PORT
 *        [--success-ttl 30] [--denial-ttl 5] [--servfail-ttl 5] [--timeout-ms 2000]
 * Listens on 127.0.0.1; prints {"port":N} when ready.
 */
import { createSocket } from 'node:dgram';
import { parseArgs } from 'node:util';
import { Rcode, RRType } from '../../resolver/wire/constants.js';
import { parseQuery } from '../../resolver/wire/query.js';
import type { Query } from '../../resolver/wire/query.js';
import { errorReply } from '../../resolver/wire/reply.js';
import { walkMessage } from '../../resolver/wire/walk.js';
import { ZONE } from './cluster.js';

const { values } = parseArgs({
  options: {
    listen: { type: 'string', default: '0' },
    cluster: { type: 'string' },
    external: { type: 'string' },
    'success-ttl': { type: 'string', default: '30' },
    'denial-ttl': { type: 'string', default: '5' },
    'servfail-ttl': { type: 'string', default: '5' },
    'timeout-ms': { type: 'string', default: '2000' },
  },
});
const successTtl = Number(values['success-ttl']);
const denialTtl = Number(values['denial-ttl']);
const servfailTtl = Number(values['servfail-ttl']);
const timeoutMs = Number(values['timeout-ms']);
const clusterPort = Number(values.cluster);
const externalPort = Number(values.external);
const MAX_ENTRIES = 9984;
const MAX_PENDING = 10_000;

interface Entry {
  readonly message: Buffer;
  readonly stored: number;
  readonly expires: number;
}
interface Pending {
  readonly query: Query;
  readonly port: number;
  readonly address: string;
  readonly upstreamPort: number;
  readonly timer: NodeJS.Timeout;
}

const positive = new Map<string, Entry>();
const negative = new Map<string, Entry>();
const pending = new Map<number, Pending>();
const socket = createSocket('udp4');
const upstream = createSocket('udp4');
const keyOf = (q: Query) => `${q.name}|${q.type}|${q.class}`;
const inCluster = (name: string) => name === ZONE || name.endsWith(`.${ZONE}`);

/** Seconds this reply may be cached and the map it goes to; undefined: not cached. */
function lifetime(message: Buffer): { seconds: number; map: Map<string, Entry> } | undefined {
  const rcode = message.readUInt16BE(2) & 0xf;
  if (rcode === Rcode.SERVFAIL) return { seconds: servfailTtl, map: negative };
  if (rcode !== Rcode.NOERROR && rcode !== Rcode.NXDOMAIN) return undefined;
  const layout = walkMessage(message);
  if (!layout) return undefined;
  const answers = layout.records.filter((r) => r.section === 'answer');
  if (rcode === Rcode.NOERROR && answers.length > 0) {
    return { seconds: Math.min(successTtl, ...answers.map((r) => message.readUInt32BE(r.ttlOffset))), map: positive };
  }
  const soa = layout.records.find((r) => r.section === 'authority' && r.type === RRType.SOA);
  if (!soa) return undefined;
  return { seconds: Math.min(denialTtl, message.readUInt32BE(soa.ttlOffset), message.readUInt32BE(soa.end - 4)), map: negative };
}

/** The cached message for `query`, with its ID and TTLs decreased by `age` seconds. */
function render(entry: Entry, query: Query, now: number): Buffer {
  const out = Buffer.from(entry.message);
  out.writeUInt16BE(query.id, 0);
  query.raw.copy(out, 12, 12, query.questionEnd); // the client's case
  const age = Math.floor((now - entry.stored) / 1000);
  for (const r of walkMessage(out)?.records ?? []) {
    if (r.type !== RRType.OPT) out.writeUInt32BE(Math.max(0, out.readUInt32BE(r.ttlOffset) - age), r.ttlOffset);
  }
  return out;
}

function store(key: string, message: Buffer): void {
  const life = lifetime(message);
  if (!life || life.seconds <= 0) return;
  const now = Date.now();
  life.map.delete(key);
  life.map.set(key, { message, stored: now, expires: now + life.seconds * 1000 });
  if (life.map.size > MAX_ENTRIES) life.map.delete(life.map.keys().next().value as string);
}

function servfail(p: Pending): Buffer {
  return errorReply(p.query.id, p.query.raw.readUInt16BE(2), Rcode.SERVFAIL, p.query.raw.subarray(12, p.query.questionEnd), undefined);
}

socket.on('message', (msg, rinfo) => {
  const parsed = parseQuery(msg);
  if (parsed.kind !== 'query') return;
  const query = parsed.query;
  const key = keyOf(query);
  const now = Date.now();
  const hit = positive.get(key) ?? negative.get(key);
  if (hit && hit.expires > now) {
    socket.send(render(hit, query, now), rinfo.port, rinfo.address);
    return;
  }
  const upstreamPort = inCluster(query.name) ? clusterPort : externalPort;
  let id = (Math.random() * 0x10000) | 0;
  for (let tries = 0; pending.has(id) && tries < 0x10000; tries++) id = (id + 1) & 0xffff;
  if (pending.size >= MAX_PENDING || pending.has(id)) {
    socket.send(errorReply(query.id, msg.readUInt16BE(2), Rcode.SERVFAIL, msg.subarray(12, query.questionEnd), undefined), rinfo.port, rinfo.address);
    return;
  }
  const timer = setTimeout(() => {
    const p = pending.get(id);
    if (!p) return;
    pending.delete(id);
    const reply = servfail(p);
    store(key, Buffer.from(reply));
    socket.send(reply, p.port, p.address);
  }, timeoutMs);
  pending.set(id, { query, port: rinfo.port, address: rinfo.address, upstreamPort, timer });
  const out = Buffer.from(msg);
  out.writeUInt16BE(id, 0);
  upstream.send(out, upstreamPort, '127.0.0.1');
});

upstream.on('message', (msg, rinfo) => {
  if (msg.length < 12) return;
  const p = pending.get(msg.readUInt16BE(0));
  if (!p || rinfo.port !== p.upstreamPort || rinfo.address !== '127.0.0.1') return;
  const layout = walkMessage(msg);
  if (layout?.questionName !== p.query.name || layout.questionType !== p.query.type) return;
  pending.delete(msg.readUInt16BE(0));
  clearTimeout(p.timer);
  store(keyOf(p.query), Buffer.from(msg));
  const reply = Buffer.from(msg);
  reply.writeUInt16BE(p.query.id, 0);
  socket.send(reply, p.port, p.address);
});

socket.on('error', () => undefined);
upstream.on('error', () => undefined);
upstream.bind(0, '127.0.0.1');
socket.bind(Number(values.listen), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: socket.address().port })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
