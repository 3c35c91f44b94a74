/**
 * The Node ceiling for the throughput bench: a bare node:dgram server that answers
 * from a Map of ready reply bytes keyed by the question, patching only the ID.
 * No parsing, no checks, no metrics — nothing a real resolver could skip. Its
 * socket sends the way holdfast's does (an address "lookup" that hands the IP
 * literal back at once, not through process.nextTick), so the ceiling is not
 * lower than what holdfast's own socket handling allows.
 *
 * Usage: node dist/bench/bare-server.js PORT SNAPSHOT QUERYFILE [TTL]
 * The Map is filled once at start from holdfast's own zone for each query in QUERYFILE
 * (dnsperf format: `name type`), so both servers send byte-identical answers.
 * TTL (default 5) is the TTL of the answers: the throughput bench also runs it
 * as the fake upstream of the caches under test, with a long TTL so every
 * measured query is a hit. Questions not in the Map get REFUSED (so a peer's
 * readiness probe gets an answer); the bench never sends them.
 */
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { parseSnapshot } from '../snapshot/validate.js';
import { parseQuery } from '../resolver/wire/query.js';
import { encodeQuery } from '../resolver/wire/decode.js';
import { ClusterZone } from '../resolver/zone/zone.js';
import { typeCode } from './queries.js';

const [portText = '0', snapshotPath = 'demo/demo-snapshot.json', queryFile = '', ttlText = '5'] = process.argv.slice(2);
const zone = ClusterZone.fromSnapshot(parseSnapshot(readFileSync(snapshotPath)).snapshot, { ttl: Number(ttlText) });
const answers = new Map<string, Buffer>();
for (const line of readFileSync(queryFile, 'utf8').split('\n')) {
  const [name, type] = line.trim().split(/\s+/);
  if (!name || !type) continue;
  const parsed = parseQuery(encodeQuery(name, typeCode(type), { recursionDesired: true }));
  if (parsed.kind !== 'query') continue;
  answers.set(parsed.query.raw.toString('latin1', 12), zone.answer(parsed.query));
}
const socket = createSocket({ type: 'udp4', lookup: (address, family, callback) => callback(null, address, typeof family === 'number' ? family : 4) });
socket.on('message', (msg, rinfo) => {
  const reply = answers.get(msg.toString('latin1', 12));
  if (!reply) {
    if (msg.length < 12) return;
    const refused = Buffer.from(msg);
    refused[2] = ((msg[2] as number) & 0x79) | 0x80; // QR, keep opcode and RD
    refused[3] = 0x05; // REFUSED
    socket.send(refused, rinfo.port, rinfo.address);
    return;
  }
  const out = Buffer.from(reply);
  out[0] = msg[0] as number;
  out[1] = msg[1] as number;
  socket.send(out, rinfo.port, rinfo.address);
});
socket.bind(Number(portText), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: socket.address().port, answers: answers.size })}\n`);
});
process.on('SIGTERM', () => socket.close(() => process.exit(0)));
