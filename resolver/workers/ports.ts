/**
 * Port 0 for worker threads: every worker must bind the same port, so a free one
 * is chosen first. Binding port 0 with SO_REUSEPORT would not do: for UDP, Linux
 * may then pick a port that a SO_REUSEPORT socket of the same user already holds,
 * and the workers would share it with a stranger. So the port is found with
 * plain sockets (UDP, then TCP on the same port), released, and bound by the
 * workers; should another process take it in between, the pool tries again.
 */
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { isIPv6 } from 'node:net';
import { ListenError } from '../../common/errors.js';
import { formatHostPort } from '../server/address.js';
import type { HostPort } from '../server/address.js';

/** A port free for both UDP and TCP on `host` just now. */
async function freePort(host: string): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const udp = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4', ipv6Only: isIPv6(host) });
    const port = await new Promise<number>((resolve, reject) => {
      udp.once('error', (error) => reject(new ListenError(`cannot listen on udp ${formatHostPort({ host, port: 0 })}: ${error.message}`, { cause: error })));
      udp.bind(0, host, () => resolve(udp.address().port));
    });
    const tcp = createServer();
    const free = await new Promise<boolean>((resolve) => {
      tcp.once('error', () => resolve(false));
      tcp.listen({ host, port, ipv6Only: isIPv6(host) }, () => resolve(true));
    });
    await new Promise<void>((resolve) => udp.close(() => resolve()));
    if (free) await new Promise<void>((resolve) => tcp.close(() => resolve()));
    if (free || attempt >= 10) return port;
  }
}

/** `addresses` with every port 0 replaced by a port free for UDP and TCP. */
export async function reservePorts(addresses: readonly HostPort[]): Promise<HostPort[]> {
  const out: HostPort[] = [];
  for (const address of addresses) out.push(address.port === 0 ? { host: address.host, port: await freePort(address.host) } : address);
  return out;
}
