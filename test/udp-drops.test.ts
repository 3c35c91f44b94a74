/**
 * holdfast_dns_udp_receive_drops_total: datagrams the kernel dropped because a
 * listener's receive buffer was full. The resolver (a real process, dist/) is
 * paused with SIGSTOP while datagrams are sent to it, so its buffer fills; after
 * SIGCONT every datagram sent is either read (counted as dropped 'response':
 * they have QR=1) or dropped by the kernel (the new counter), exactly.
 */
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseUdpTable } from '../resolver/server/udp-drops.js';
import { serveResolver, spawnHoldfast } from './helpers/process.js';
import type { Running } from './helpers/process.js';

const LINUX = existsSync('/proc/self/net/udp');
/** Large datagrams fill the buffer with fewer sends; QR=1 makes the resolver drop what it reads, counted. */
const DATAGRAM = Buffer.alloc(1200);
DATAGRAM[2] = 0x80;

/** Sends `total` datagrams to 127.0.0.1:`port` from `sockets` sockets (the kernel spreads SO_REUSEPORT groups by source port). */
async function blast(port: number, total: number, sockets = 32): Promise<void> {
  const open: Socket[] = await Promise.all(
    Array.from({ length: sockets }, () => new Promise<Socket>((resolve) => {
      const s = createSocket('udp4');
      s.on('error', () => {});
      s.bind(0, '127.0.0.1', () => resolve(s));
    })),
  );
  let sent = 0;
  await new Promise<void>((resolve) => {
    for (let i = 0; i < total; i++) {
      (open[i % sockets] as Socket).send(DATAGRAM, port, '127.0.0.1', () => {
        if (++sent === total) resolve();
      });
    }
  });
  for (const s of open) s.close();
}

/** The value of `name` (with `labels` as written in the text, or none) in a scrape; 0 when absent. */
async function scrape(metricsPort: number): Promise<(name: string, labels?: string) => number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  return (name, labels = '') => {
    const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
    return line === undefined ? undefined : Number(line.split(' ')[1]);
  };
}

/** What one resolver accounted for: datagrams read (and dropped as responses) and dropped by the kernel. */
async function accounted(metricsPort: number): Promise<{ read: number; kernel: number }> {
  const m = await scrape(metricsPort);
  const kernel = m('holdfast_dns_udp_receive_drops_total');
  if (kernel === undefined) throw new Error('holdfast_dns_udp_receive_drops_total is missing');
  return { read: m('holdfast_dns_dropped_total', '{transport="udp",reason="response"}') ?? 0, kernel };
}

/** Polls until the resolvers account for `total` datagrams together (they read their buffers after SIGCONT). */
async function settle(metricsPorts: readonly number[], total: number): Promise<{ read: number; kernel: number }[]> {
  let last: { read: number; kernel: number }[] = [];
  for (let i = 0; i < 100; i++) {
    last = await Promise.all(metricsPorts.map(accounted));
    if (last.reduce((n, a) => n + a.read + a.kernel, 0) >= total) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  return last;
}

async function paused<T>(procs: readonly Running[], during: () => Promise<T>): Promise<T> {
  for (const p of procs) p.child.kill('SIGSTOP');
  try {
    return await during();
  } finally {
    for (const p of procs) p.child.kill('SIGCONT');
  }
}

describe.skipIf(!LINUX)('kernel UDP receive drops (Linux)', () => {
  it('counts the datagrams a paused resolver could not take, every datagram accounted for once', async () => {
    const { proc, port, metricsPort } = await serveResolver(['--upstream', '127.0.0.1:9']);
    expect(await accounted(metricsPort)).toEqual({ read: 0, kernel: 0 });
    const total = 12_000;
    await paused([proc], () => blast(port, total));
    const [after] = await settle([metricsPort], total);
    expect(after?.kernel).toBeGreaterThan(0);
    expect((after?.read ?? 0) + (after?.kernel ?? 0)).toBe(total);
    // A counter: a later scrape does not go down, and nothing new was dropped.
    expect((await accounted(metricsPort)).kernel).toBe(after?.kernel);
  });

  it('with --workers 2, counts the process once (not once per worker)', async () => {
    const { proc, port, metricsPort } = await serveResolver(['--upstream', '127.0.0.1:9', '--workers', '2']);
    const total = 24_000;
    await paused([proc], () => blast(port, total));
    const [after] = await settle([metricsPort], total);
    expect(after?.kernel).toBeGreaterThan(0);
    expect((after?.read ?? 0) + (after?.kernel ?? 0)).toBe(total);
  });

  it("does not count another resolver's socket on the same port (SO_REUSEPORT)", async () => {
    const first = await serveResolver(['--upstream', '127.0.0.1:9']);
    const second = spawnHoldfast(['resolver', '--listen', `127.0.0.1:${first.port}`, '--metrics-listen', '127.0.0.1:0', '--upstream', '127.0.0.1:9']);
    const secondMetrics = ((await second.waitLog('resolver serving'))['metrics'] as { port: number }).port;
    const total = 24_000;
    await paused([first.proc, second], () => blast(first.port, total, 64));
    const [a, b] = await settle([first.metricsPort, secondMetrics], total);
    // Both buffers overflowed; the sum over both is exact, so neither counted the other's drops.
    expect(a?.kernel).toBeGreaterThan(0);
    expect(b?.kernel).toBeGreaterThan(0);
    expect((a?.read ?? 0) + (a?.kernel ?? 0) + (b?.read ?? 0) + (b?.kernel ?? 0)).toBe(total);
  });
});

describe('parseUdpTable', () => {
  it('reads port, inode and drops from /proc/net/udp and udp6 rows, skipping the header', () => {
    const v4 =
      '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n' +
      '  812: 0100007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 40213 2 0000000000000000 17\n';
    const v6 =
      '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n' +
      '  100: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 40999 2 0000000000000000 0\n';
    expect(parseUdpTable(v4)).toEqual([{ port: 53, inode: 40213, drops: 17 }]);
    expect(parseUdpTable(v6)).toEqual([{ port: 8080, inode: 40999, drops: 0 }]);
  });
});
