/**
 * A slow, limited and (on request) flapping upstream for the overload and soak
 * benches, run as a child process so the load generator does not slow it:
 * a UDP socket on 127.0.0.1 that answers A queries with one address.
 *
 * Usage: node dist/bench/fake-upstream.js '<json UpstreamSpec>'
 * Prints `{"port":N}` once bound.
 *
 * - every reply waits `delayMs`;
 * - at most `capacity` queries per second are answered (a token bucket);
 *   the rest are dropped, so the resolver's exchange times out;
 * - names whose first label starts with `short` get TTL `shortTtl`, others `ttl`;
 * - names whose first label starts with `silent` are never answered;
 * - names with a label `flaky` fail while the upstream is "down": it is up for
 *   `upMs`, down for `downMs`, in turn (from start); down means SERVFAIL for
 *   half of them and silence for the rest (by name), so stale answers are served.
 */
import { createSocket } from 'node:dgram';
import { Rcode } from '../resolver/wire/constants.js';
import { encodeSections } from '../resolver/wire/encode.js';
import { parseQuery } from '../resolver/wire/query.js';
import { composeReply, EMPTY_SECTIONS } from '../resolver/wire/reply.js';

/** How the fake upstream behaves. */
export interface UpstreamSpec {
  readonly delayMs: number;
  readonly capacity: number;
  readonly ttl: number;
  readonly shortTtl: number;
  /** Flapping of `flaky` names; none when either is 0. */
  readonly upMs: number;
  readonly downMs: number;
}

const spec = JSON.parse(process.argv[2] ?? '{}') as UpstreamSpec;
const started = performance.now();
let tokens = spec.capacity;
let refilled = started;

function down(): boolean {
  if (spec.upMs <= 0 || spec.downMs <= 0) return false;
  return (performance.now() - started) % (spec.upMs + spec.downMs) >= spec.upMs;
}

function take(): boolean {
  const now = performance.now();
  tokens = Math.min(spec.capacity, tokens + ((now - refilled) / 1000) * spec.capacity);
  refilled = now;
  if (tokens < 1) return false;
  tokens--;
  return true;
}

const socket = createSocket('udp4');
socket.on('error', () => {});
socket.on('message', (msg, rinfo) => {
  const parsed = parseQuery(msg);
  if (parsed.kind !== 'query') return;
  const query = parsed.query;
  if (!take()) return;
  const name = query.name;
  let reply: Buffer;
  if (name.startsWith('silent')) return;
  if (name.split('.').includes('flaky') && down()) {
    if (name.length % 2 === 0) return;
    reply = composeReply(query, Rcode.SERVFAIL, false, EMPTY_SECTIONS);
  } else {
    const ttl = name.startsWith('short') ? spec.shortTtl : spec.ttl;
    const answers = query.type === 1 ? [{ name, ttl, data: { type: 'A' as const, address: `192.0.2.${(name.length % 250) + 1}` } }] : [];
    reply = composeReply(query, Rcode.NOERROR, false, encodeSections(answers));
  }
  setTimeout(() => socket.send(reply, rinfo.port, rinfo.address), spec.delayMs);
});
socket.bind(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: socket.address().port })}\n`));
