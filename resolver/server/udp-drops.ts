/**
 * Datagrams the kernel dropped because a listener's receive buffer was full:
 * what happens to UDP queries when the resolver cannot keep up. They never
 * reach the process, so nothing else counts them.
 *
 * Linux only: the `drops` column of /proc/self/net/udp and udp6, summed over the
 * sockets that are this process's own (socket inodes from /proc/self/fd, so a
 * second resolver sharing the port with SO_REUSEPORT is not counted) and bound
 * to a DNS listen port (not the upstream sockets). Worker threads share the
 * process's descriptor table, so one collector on the main thread sees every
 * worker's sockets. Read at scrape time; where /proc/self/net/udp does not
 * exist the metric is not registered at all.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { Counter } from 'prom-client';
import type { Registry } from 'prom-client';

/** The metric's name (process-wide, not summed over workers: `workers/metrics.ts`). */
export const UDP_DROPS_METRIC = 'holdfast_dns_udp_receive_drops_total';

const TABLES = ['/proc/self/net/udp', '/proc/self/net/udp6'];

/** One row of /proc/net/udp{,6}. */
export interface UdpSocketRow {
  readonly port: number;
  readonly inode: number;
  readonly drops: number;
}

/**
 * The rows of a /proc/net/udp or udp6 table (proc(5): `sl local_address
 * rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ref
 * pointer drops`); lines that do not have that shape are skipped.
 */
export function parseUdpTable(text: string): UdpSocketRow[] {
  const rows: UdpSocketRow[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 13 || !/^\d+:$/.test(f[0] as string)) continue;
    const port = Number.parseInt((f[1] as string).split(':')[1] ?? '', 16);
    const inode = Number(f[9]);
    const drops = Number(f[12]);
    if (Number.isInteger(port) && Number.isInteger(inode) && Number.isInteger(drops)) rows.push({ port, inode, drops });
  }
  return rows;
}

/** Inodes of the sockets among this process's open file descriptors. */
async function ownSocketInodes(): Promise<Set<number>> {
  const inodes = new Set<number>();
  const fds = await readdir('/proc/self/fd').catch(() => [] as string[]);
  await Promise.all(
    fds.map(async (fd) => {
      const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
      const match = /^socket:\[(\d+)\]$/.exec(target);
      if (match) inodes.add(Number(match[1]));
    }),
  );
  return inodes;
}

/**
 * Kernel receive-buffer drops on this process's sockets bound to `ports`, as a
 * total that never goes down: a socket that closes (a worker restarted, a
 * hand-over socket) keeps its last count in the total.
 */
class UdpDropTotal {
  /** Last count seen per socket inode. */
  private readonly last = new Map<number, number>();
  private closed = 0;

  async read(ports: ReadonlySet<number>): Promise<number> {
    const [own, ...tables] = await Promise.all([ownSocketInodes(), ...TABLES.map((t) => readFile(t, 'utf8').catch(() => ''))]);
    const now = new Map<number, number>();
    for (const row of tables.flatMap(parseUdpTable)) {
      if (own.has(row.inode) && ports.has(row.port)) now.set(row.inode, row.drops);
    }
    for (const [inode, drops] of this.last) if (!now.has(inode)) this.closed += drops;
    this.last.clear();
    let total = this.closed;
    for (const [inode, drops] of now) {
      this.last.set(inode, drops);
      total += drops;
    }
    return total;
  }
}

/**
 * Registers {@link UDP_DROPS_METRIC} in `registry`, counting the sockets bound
 * to `ports()` (the DNS listen ports, read at each scrape). False, and nothing
 * registered, where the kernel tables are missing (not Linux).
 */
export function registerUdpReceiveDrops(registry: Registry, ports: () => readonly number[]): boolean {
  if (!existsSync(TABLES[0] as string)) return false;
  const total = new UdpDropTotal();
  let published = 0;
  new Counter({
    name: UDP_DROPS_METRIC,
    help: 'UDP queries the kernel dropped because a DNS listener\'s receive buffer was full (the resolver did not keep up); Linux, this process\'s listening sockets only.',
    registers: [registry],
    async collect() {
      const value = await total.read(new Set(ports()));
      if (value > published) this.inc(value - published);
      published = Math.max(published, value);
    },
  });
  return true;
}
