/** The fuzz run's probes: a valid query for a zone name must get the right addresses, over UDP or TCP. */
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { framed } from '../frames.js';
import { checkReply, inspectInput } from './check.js';
import { buildQuery } from './inputs.js';
import { frames } from './tcp.js';
import type { ProbeTarget } from './target.js';

/** Sends `query` and returns the reply, or undefined after `timeoutMs`. */
function exchange(port: number, query: Buffer, transport: 'udp' | 'tcp', timeoutMs: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    let close = () => {};
    const timer = setTimeout(() => done(undefined), timeoutMs);
    const done = (reply: Buffer | undefined) => {
      clearTimeout(timer);
      close();
      resolve(reply);
    };
    if (transport === 'udp') {
      const socket = createSocket('udp4');
      close = () => socket.close();
      socket.on('message', (msg) => done(msg));
      socket.on('error', () => done(undefined));
      socket.send(query, port, '127.0.0.1');
      return;
    }
    const socket = connect({ host: '127.0.0.1', port });
    close = () => socket.destroy();
    let buffered = Buffer.alloc(0);
    socket.on('error', () => done(undefined));
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const [reply] = frames(buffered);
      if (reply) done(Buffer.from(reply));
    });
    socket.write(framed(query));
  });
}

/** Asks for the A records of `target`; undefined when the reply is right, else what is wrong. */
export async function probe(port: number, target: ProbeTarget, transport: 'udp' | 'tcp', id: number, timeoutMs = 2000): Promise<string | undefined> {
  const query = buildQuery(id & 0xffff, target.name, 1, 1, 1232);
  const reply = await exchange(port, query, transport, timeoutMs);
  if (!reply) return `no reply to ${target.name} A over ${transport} in ${timeoutMs} ms`;
  const result = checkReply(reply, inspectInput(query), transport);
  if (typeof result === 'string') return result;
  const got = [...result.addresses].sort().join(',');
  const want = [...target.addresses].sort().join(',');
  if (result.rcode !== 0 || got !== want) return `${target.name} A over ${transport}: rcode ${result.rcode}, addresses [${got}], expected [${want}]`;
  return undefined;
}
