// A tiny DNS/HTTP tool run inside a test's network namespaces (`ip netns exec NS node
// test/helpers/netns-tool.mjs …`), where the test process itself cannot open sockets.
// Uses the built wire code (dist/, made by `npm test` before vitest runs).
//   query HOST PORT NAME [TIMEOUT_MS]   one A query over UDP; prints {"rcode":…,"a":[…]} or {"error":…}
//   serve HOST PORT IP                  fake kube-dns: answers every A query with IP; prints "ready"
//   get URL                             HTTP GET; prints {"status":…,"body":…}
import { createSocket } from 'node:dgram';
import { decodeMessage, encodeQuery } from '../../dist/resolver/wire/decode.js';

const [mode, ...args] = process.argv.slice(2);

if (mode === 'query') {
  const [host, port, name, timeout = '1000'] = args;
  const socket = createSocket('udp4');
  const id = Math.floor(Math.random() * 65536);
  const timer = setTimeout(() => {
    console.log(JSON.stringify({ error: 'timeout' }));
    process.exit(0);
  }, Number(timeout));
  socket.on('error', (error) => {
    console.log(JSON.stringify({ error: error.code ?? error.message }));
    process.exit(0);
  });
  socket.on('message', (msg) => {
    const reply = decodeMessage(msg);
    if (reply.id !== id) return;
    clearTimeout(timer);
    console.log(JSON.stringify({ rcode: reply.rcode, a: reply.answers.filter((r) => r.type === 1).map((r) => r.data.address) }));
    process.exit(0);
  });
  // Connected, so an ICMP port unreachable comes back as an error instead of a silent wait.
  socket.connect(Number(port), host, () => socket.send(encodeQuery(name, 1, { id })));
} else if (mode === 'serve') {
  const [host, port, ip] = args;
  const socket = createSocket('udp4');
  socket.on('message', (msg, rinfo) => {
    const q = decodeMessage(msg);
    const question = q.questions[0];
    if (!question) return;
    const name = Buffer.concat(question.name.split('.').filter(Boolean).map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])).concat([Buffer.from([0])]));
    const header = Buffer.alloc(12);
    header.writeUInt16BE(q.id, 0);
    header.writeUInt16BE(0x8180, 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(1, 6);
    const tail = Buffer.alloc(4);
    tail.writeUInt16BE(1, 0);
    tail.writeUInt16BE(1, 2);
    const answer = Buffer.concat([Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4]), Buffer.from(ip.split('.').map(Number))]);
    socket.send(Buffer.concat([header, name, tail, answer]), rinfo.port, rinfo.address);
  });
  socket.bind(Number(port), host, () => console.log('ready'));
} else if (mode === 'get') {
  const response = await fetch(args[0], { signal: AbortSignal.timeout(3000) }).catch((error) => ({ error }));
  if ('error' in response) console.log(JSON.stringify({ error: String(response.error) }));
  else console.log(JSON.stringify({ status: response.status, body: await response.text() }));
} else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
