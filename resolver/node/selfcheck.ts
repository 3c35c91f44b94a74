/**
 * Asks each DNS listener one question over UDP, the way a pod would, and waits
 * for a reply with the same ID. Any reply counts (SERVFAIL too): it proves the
 * socket is bound and the event loop turns, which is what the capture lease
 * is bound to.
 */
import { randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { RRType } from '../wire/constants.js';
import { encodeQuery } from '../wire/decode.js';
import { formatHostPort } from '../server/address.js';
import type { HostPort } from '../server/address.js';

/** Resolves when `address` answered `name SOA` within `timeoutMs`; rejects otherwise. */
export function askOnce(address: HostPort, name: string, timeoutMs: number): Promise<void> {
  const id = randomInt(0, 0x10000);
  const socket = createSocket(isIPv6(address.host) ? 'udp6' : 'udp4');
  return new Promise<void>((resolve, reject) => {
    const finish = (error?: Error) => {
      clearTimeout(timer);
      socket.close();
      if (error) reject(error);
      else resolve();
    };
    const timer = setTimeout(() => finish(new Error(`no answer from ${formatHostPort(address)} within ${timeoutMs} ms`)), timeoutMs);
    socket.on('error', (error) => finish(new Error(`${formatHostPort(address)}: ${error.message}`)));
    socket.on('message', (msg) => {
      if (msg.length >= 2 && msg.readUInt16BE(0) === id) finish();
    });
    socket.send(encodeQuery(name, RRType.SOA, { id }), address.port, address.host);
  });
}

/** Every address answers (two tries each, `timeoutMs` apiece); rejects naming the first that did not. */
export async function selfCheck(addresses: readonly HostPort[], name: string, timeoutMs = 1000): Promise<void> {
  for (const address of addresses) {
    try {
      await askOnce(address, name, timeoutMs);
    } catch {
      await askOnce(address, name, timeoutMs);
    }
  }
}
