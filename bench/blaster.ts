/**
 * The overload bench's load generator, a child process: sends `rate` queries per
 * second of the overload mix (`overload-mix.ts`) for `seconds` from 32 UDP
 * sockets on 127.0.0.1, whatever comes back (an open loop: unlike dnsperf, whose
 * bounded number of outstanding queries stops it sending when the server stops
 * answering). Replies are read and thrown away. At most rate × seconds queries.
 *
 * Usage: node dist/bench/blaster.js PORT RATE SECONDS TAG [silent]
 * Prints `{"sent":N,"seconds":S}` when done (S: the time the sending took).
 */
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { queryMix } from './overload-mix.js';

const [portText = '0', rateText = '1000', secondsText = '1', tag = 'x', mode = ''] = process.argv.slice(2);
const port = Number(portText);
const rate = Number(rateText);
const seconds = Number(secondsText);
const make = queryMix(tag, mode === 'silent');
const sockets: Socket[] = [];
for (let i = 0; i < 32; i++) {
  const s = createSocket({ type: 'udp4', lookup: (address: string, _family: unknown, callback: (e: null, a: string, f: number) => void) => callback(null, address, 4) } as never);
  s.on('message', () => {});
  s.on('error', () => {});
  s.bind(0, '127.0.0.1');
  sockets.push(s);
}
const total = Math.floor(rate * seconds);
let sent = 0;
const started = performance.now();
const timer = setInterval(() => {
  const elapsed = (performance.now() - started) / 1000;
  const due = Math.min(total, Math.floor(elapsed * rate));
  // Bounded per tick so replies and the timer still get a turn when the rate is out of reach.
  const stop = Math.min(due, sent + Math.max(1000, rate / 100));
  for (; sent < stop; sent++) {
    const q = make(sent);
    q.writeUInt16BE(sent & 0xffff, 0);
    (sockets[sent & 31] as Socket).send(q, port, '127.0.0.1');
  }
  if (sent >= total || elapsed >= seconds) {
    clearInterval(timer);
    process.stdout.write(`${JSON.stringify({ sent, seconds: elapsed })}\n`);
    setTimeout(() => process.exit(0), 100);
  }
}, 1);
