/**
 * Not an open resolver, over real sockets on loopback: --allow-from (REFUSED
 * outside it over UDP and TCP, malformed queries from outside dropped, nothing
 * forwarded or cached, IPv4-mapped and IPv6 clients, SIGHUP, worker threads),
 * the per-client UDP rate limit on an injected clock (burst, refill, slip,
 * clients apart, TCP not limited, a bounded table), and no amplification: UDP
 * replies never larger than 512 bytes without EDNS or than the client's EDNS size
 * (512 at least) for zone answers, cache hits and forwarded replies, and error
 * replies never larger than the query.
 */
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../resolver/clock.js';
import { loadConfig } from '../resolver/config.js';
import { AllowList, parseCidr } from '../resolver/server/access.js';
import type { Network } from '../resolver/server/access.js';
import { RateLimiter } from '../resolver/server/ratelimit.js';
import { Rcode, RRType } from '../resolver/wire/constants.js';
import { decodeMessage, encodeQuery } from '../resolver/wire/decode.js';
import { buildSnapshot } from '../snapshot/build.js';
import { cleanupAfterEach } from './helpers/cleanup.js';
import { startResolver, tcpExchange, udpQuery, udpRaw } from './helpers/dns.js';
import { ROOT, errorLines, runHoldfast, serveResolver } from './helpers/process.js';
import { WEB } from './helpers/snapshots.js';
import { a, manyA } from './helpers/upstream.js';

const DEMO = join(ROOT, 'demo', 'demo-snapshot.json');
const NAME = 'www.example.com';
const { defer, upstream } = cleanupAfterEach();

/** The body of GET /metrics. */
async function scrape(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

/** The value of `series` (name and labels as written) in a scrape, 0 when absent. */
function value(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

/** Waits until `check` holds, polling every 20 ms, at most `ms` (a failure, not a timing). */
async function until(check: () => Promise<boolean> | boolean, ms = 5000): Promise<void> {
  const end = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Starts an in-process resolver and stops it after the test. */
async function resolverWith(flags: Parameters<typeof startResolver>[0], deps: Parameters<typeof startResolver>[1] = {}) {
  const started = await startResolver(flags, deps);
  defer(() => started.resolver.stop());
  return started;
}

/** A UDP client bound to `host` (any of 127.0.0.0/8 is loopback on Linux) that keeps every reply. */
async function udpClient(host = '127.0.0.1'): Promise<{ socket: Socket; replies: Buffer[] }> {
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  const replies: Buffer[] = [];
  socket.on('message', (msg) => replies.push(msg));
  await new Promise<void>((resolve) => socket.bind(0, host, resolve));
  defer(() => new Promise((resolve) => socket.close(() => resolve())));
  return { socket, replies };
}

function header(id: number, flags: number, qd = 1, an = 0, ns = 0, ar = 0): Buffer {
  const h = Buffer.alloc(12);
  [id, flags, qd, an, ns, ar].forEach((v, i) => h.writeUInt16BE(v, i * 2));
  return h;
}

/** A query whose question parses but whose additional section is `garbage`: FORMERR from a client inside. */
function malformed(id: number, garbage = Buffer.alloc(40, 0xff)): Buffer {
  const query = encodeQuery(NAME, RRType.A, { id });
  return Buffer.concat([header(id, 0x0100, 1, 0, 0, 1), query.subarray(12), garbage]);
}

/** `query` with an OPT record carrying `padding` bytes of option data (RFC 7830 padding, code 12). */
function withPaddedOpt(name: string, id: number, padding: number): Buffer {
  const query = encodeQuery(name, RRType.A, { id });
  const opt = Buffer.alloc(11 + 4 + padding);
  opt.writeUInt16BE(RRType.OPT, 1);
  opt.writeUInt16BE(4096, 3);
  opt.writeUInt16BE(4 + padding, 9);
  opt.writeUInt16BE(12, 11);
  opt.writeUInt16BE(padding, 13);
  const out = Buffer.concat([query, opt]);
  out.writeUInt16BE(1, 10);
  return out;
}

/** `query` with its opcode set to `opcode` (5: UPDATE, which holdfast does not implement). */
function withOpcode(query: Buffer, opcode: number): Buffer {
  query.writeUInt16BE((query.readUInt16BE(2) & ~0x7800) | (opcode << 11), 2);
  return query;
}

describe('CIDR matcher', () => {
  const allows = (networks: readonly string[], address: string) => new AllowList(networks.map((n) => parseCidr(n) as Network)).allows(address);

  it.each([
    ['10.0.0.0/8', '10.255.255.255', true],
    ['10.0.0.0/8', '11.0.0.0', false],
    ['10.0.0.0/8', '9.255.255.255', false],
    ['10.1.2.3/8', '10.200.0.1', true], // host bits beyond the prefix are ignored
    ['0.0.0.0/0', '203.0.113.9', true],
    ['0.0.0.0/0', '::1', false],
    ['0.0.0.0/0', '::ffff:203.0.113.9', true], // mapped: an IPv4 client
    ['192.0.2.1', '192.0.2.1', true], // a bare address is a /32
    ['192.0.2.1', '192.0.2.2', false],
    ['192.0.2.1/32', '192.0.2.0', false],
    ['255.255.255.255/32', '255.255.255.255', true],
    ['255.255.255.255/32', '255.255.255.254', false],
    ['128.0.0.0/1', '200.1.1.1', true], // the top bit (sign of a 32-bit int)
    ['128.0.0.0/1', '127.255.255.255', false],
    ['172.16.0.0/12', '172.31.255.255', true],
    ['172.16.0.0/12', '172.32.0.0', false],
    ['10.0.0.0/8', '::ffff:10.1.2.3', true],
    ['10.0.0.0/8', '::ffff:11.1.2.3', false],
    ['::ffff:10.0.0.0/104', '10.9.9.9', true], // a mapped network is the IPv4 network
    ['::ffff:10.0.0.0/104', '::ffff:10.9.9.9', true],
    ['::ffff:10.0.0.0/104', '11.0.0.0', false],
    ['::/0', '2001:db8::1', true],
    ['::/0', '::1', true],
    ['::/0', '127.0.0.1', false], // IPv6 networks take IPv6 clients only
    ['::/0', '::ffff:127.0.0.1', false],
    ['::1', '::1', true], // a bare address is a /128
    ['::1', '::2', false],
    ['::1/128', '0:0:0:0:0:0:0:1', true],
    ['2001:db8::/32', '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', true],
    ['2001:db8::/32', '2001:db9::', false],
    ['2001:db8:0:0:8000::/65', '2001:db8::8000:0:0:1', true], // prefix inside a 32-bit word
    ['2001:db8:0:0:8000::/65', '2001:db8::7fff:ffff:ffff:ffff', false],
    ['2001:db8::1/127', '2001:db8::0', true],
    ['2001:db8::1/127', '2001:db8::2', false],
    ['64:ff9b::192.0.2.1', '64:ff9b::c000:201', true], // dotted tail
    ['fe80::/10', 'fe80::1%eth0', true], // a zone suffix from the socket is ignored
    ['10.0.0.0/8', 'not an address', false],
  ] as const)('%s allows %s: %s', (network, address, expected) => {
    expect(allows([network], address)).toBe(expected);
  });

  it('allows what any network of the list allows', () => {
    const list = ['10.0.0.0/8', '192.168.0.0/16', 'fd00::/8'];
    expect(['10.1.1.1', '192.168.5.5', 'fd12::1'].map((ip) => allows(list, ip))).toEqual([true, true, true]);
    expect(['11.1.1.1', '192.169.0.0', 'fe00::1', '::1'].map((ip) => allows(list, ip))).toEqual([false, false, false, false]);
    expect(allows(list, '10.0.0.1')).toBe(true); // asked again: the remembered answer is the same
    expect(allows(list, '11.0.0.1')).toBe(false);
  });

  it.each(['10.0.0.0/33', '::/129', '10.0.0.0/', '10.0.0.0/-1', '10.0.0.0/8/8', '10.0.0/8', '010.0.0.0/8', 'example.com', '', '::ffff:10.0.0.0/95', 'fe80::1%eth0/64', '10.0.0.0/ 8'])(
    'rejects %j',
    (text) => {
      expect(typeof parseCidr(text)).toBe('string');
    },
  );
});

describe('--allow-from', () => {
  it('answers REFUSED outside the list, over UDP and TCP, with the query ID and question; forwards and caches nothing', async () => {
    const up = await upstream({ kind: 'answer', records: [a(NAME, '192.0.2.7')] });
    const { port, metricsPort, resolver } = await resolverWith({ upstream: [up.address], 'allow-from': ['10.0.0.0/8', '192.168.0.0/16'], 'snapshot-file': DEMO, 'allow-unsigned': true });
    for (const [name, id] of [[NAME, 0x4242], [WEB, 0x4343]] as const) {
      const udp = await udpQuery(port, encodeQuery(name, RRType.A, { id }));
      expect(udp).toMatchObject({ id, rcode: Rcode.REFUSED, answers: [], questions: [{ name, type: RRType.A, class: 1 }] });
      const [tcpBytes] = await tcpExchange(port, [encodeQuery(name, RRType.A, { id })]);
      expect(decodeMessage(tcpBytes as Buffer)).toMatchObject({ id, rcode: Rcode.REFUSED, answers: [], questions: [{ name, type: RRType.A, class: 1 }] });
    }
    expect(up.count()).toBe(0);
    const text = await scrape(metricsPort);
    expect(value(text, 'holdfast_dns_refused_total{transport="udp",reason="acl"}')).toBe(2);
    expect(value(text, 'holdfast_dns_refused_total{transport="tcp",reason="acl"}')).toBe(2);
    expect(value(text, 'holdfast_cache_misses_total')).toBe(0);

    // The same resolver let in: the answer comes from the upstream, so no REFUSED was cached.
    await resolver.reload(loadConfig({ flags: { upstream: [up.address], 'allow-from': ['127.0.0.0/8'], 'snapshot-file': DEMO, 'allow-unsigned': true }, env: {} }));
    const allowed = await udpQuery(port, encodeQuery(NAME, RRType.A, { id: 7 }));
    expect(allowed).toMatchObject({ rcode: Rcode.NOERROR, answers: [{ name: NAME, data: { type: 'A', address: '192.0.2.7' } }] });
    expect(up.count()).toBe(1);
  });

  it('answers clients inside the list (a network and a bare address, comma-separated)', async () => {
    const up = await upstream({ kind: 'answer', records: [a(NAME, '192.0.2.8')] });
    const { port } = await resolverWith({ upstream: [up.address], 'allow-from': ['10.0.0.0/8,127.0.0.1'], 'snapshot-file': DEMO, 'allow-unsigned': true });
    expect((await udpQuery(port, encodeQuery(NAME, RRType.A))).answers).toHaveLength(1);
    expect((await udpQuery(port, encodeQuery(WEB, RRType.A))).answers).toHaveLength(1);
    const [tcpBytes] = await tcpExchange(port, [encodeQuery(WEB, RRType.A)]);
    expect(decodeMessage(tcpBytes as Buffer).rcode).toBe(Rcode.NOERROR);
    // 127.0.0.2 is loopback too, but not 127.0.0.1.
    const other = await udpClient('127.0.0.2');
    other.socket.send(encodeQuery(WEB, RRType.A, { id: 9 }), port, '127.0.0.1');
    await until(() => other.replies.length === 1);
    expect(decodeMessage(other.replies[0] as Buffer)).toMatchObject({ id: 9, rcode: Rcode.REFUSED });
  });

  it('drops a malformed query from outside (FORMERR inside), counted', async () => {
    const inside = await resolverWith({ 'allow-from': ['127.0.0.0/8'] });
    expect(decodeMessage((await udpRaw(inside.port, malformed(5))) as Buffer)).toMatchObject({ id: 5, rcode: Rcode.FORMERR });

    const outside = await resolverWith({ 'allow-from': ['10.0.0.0/8'] });
    const { socket, replies } = await udpClient();
    socket.send(malformed(6), outside.port, '127.0.0.1');
    socket.send(encodeQuery(NAME, RRType.A, { id: 7 }), outside.port, '127.0.0.1'); // sent after it: the first reply, were there one
    await until(() => replies.length >= 1);
    expect(replies.map((r) => decodeMessage(r))).toMatchObject([{ id: 7, rcode: Rcode.REFUSED }]);
    expect(value(await scrape(outside.metricsPort), 'holdfast_dns_dropped_total{transport="udp",reason="acl"}')).toBe(1);
  });

  it('matches IPv6 clients against IPv6 networks (::1)', async () => {
    const v4only = await resolverWith({ listen: ['[::1]:0'], 'allow-from': ['127.0.0.0/8'], 'snapshot-file': DEMO, 'allow-unsigned': true });
    expect(decodeMessage((await udpRaw(v4only.port, encodeQuery(WEB, RRType.A), 2000, '::1')) as Buffer).rcode).toBe(Rcode.REFUSED);
    const v6 = await resolverWith({ listen: ['[::1]:0'], 'allow-from': ['127.0.0.0/8', '::1'], 'snapshot-file': DEMO, 'allow-unsigned': true });
    expect(decodeMessage((await udpRaw(v6.port, encodeQuery(WEB, RRType.A), 2000, '::1')) as Buffer).answers).toHaveLength(1);
  });

  it.each([
    { args: ['--allow-from', '10.0.0.0/33'], flag: '--allow-from' },
    { args: ['--allow-from', '127.0.0.0/8,bogus'], flag: '--allow-from' },
    { args: ['--rate-limit=-1'], flag: '--rate-limit' },
    { args: ['--rate-limit', '1.5'], flag: '--rate-limit' },
    { args: ['--rate-limit', '10', '--rate-limit-burst', '0'], flag: '--rate-limit-burst' },
    { args: ['--rate-limit-slip', 'often'], flag: '--rate-limit-slip' },
  ])('exits 2 naming $flag for $args', async ({ args, flag }) => {
    const { code, stderr } = await runHoldfast(['resolver', '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--upstream', '127.0.0.1:9', ...args]);
    expect(code).toBe(2);
    expect(errorLines(stderr).some((l) => l.includes(`${flag}:`))).toBe(true);
  });

  describe('as a process with --workers 2', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'holdfast-access-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('reaches every worker, and a new list in the --config file takes effect on SIGHUP', async () => {
      const config = join(dir, 'access.yaml');
      await writeFile(config, 'allow-from: [10.0.0.0/8]\n');
      const { proc, port } = await serveResolver(['--config', config, '--workers', '2', '--upstream', '127.0.0.1:9', '--snapshot-file', DEMO, '--allow-unsigned']);
      // Each query from its own socket (source port), so the kernel spreads them over both workers.
      const rcodes = async () => (await Promise.all(Array.from({ length: 16 }, (_, i) => udpQuery(port, encodeQuery(WEB, RRType.A, { id: i + 1 }))))).map((r) => r.rcode);
      expect(new Set(await rcodes())).toEqual(new Set([Rcode.REFUSED]));
      const [tcpBytes] = await tcpExchange(port, [encodeQuery(WEB, RRType.A)]);
      expect(decodeMessage(tcpBytes as Buffer).rcode).toBe(Rcode.REFUSED);

      await writeFile(config, 'allow-from: [10.0.0.0/8, 127.0.0.0/8]\n');
      const mark = proc.logs.length;
      proc.child.kill('SIGHUP');
      await proc.waitLog('configuration reloaded', mark);
      await until(async () => (await rcodes()).every((r) => r === Rcode.NOERROR));
    });

    it('limits the rate in every worker', async () => {
      const { port, metricsPort } = await serveResolver(['--workers', '2', '--rate-limit', '1', '--rate-limit-burst', '1', '--rate-limit-slip', '0', '--upstream', '127.0.0.1:9', '--snapshot-file', DEMO, '--allow-unsigned']);
      const { socket } = await udpClient();
      const started = performance.now();
      for (let i = 0; i < 20; i++) socket.send(encodeQuery(WEB, RRType.A, { id: i }), port, '127.0.0.1');
      const counts = async () => {
        const text = await scrape(metricsPort);
        return { answered: value(text, 'holdfast_dns_requests_total{transport="udp",qtype="A",rcode="NOERROR"}'), dropped: value(text, 'holdfast_dns_dropped_total{transport="udp",reason="ratelimit"}') };
      };
      await until(async () => {
        const { answered, dropped } = await counts();
        return answered + dropped === 20;
      });
      const { answered } = await counts();
      // One token at once, one more per second that passed while sending (real clock in workers).
      expect(answered).toBeGreaterThanOrEqual(1);
      expect(answered).toBeLessThanOrEqual(1 + Math.ceil((performance.now() - started) / 1000));
    });
  });
});

describe('--rate-limit (injected clock)', () => {
  /** A resolver answering the demo zone with the limit on, its clock, and a scrape of its counters. */
  async function limited(flags: Record<string, string>) {
    const clock = new ManualClock();
    const started = await resolverWith({ 'snapshot-file': DEMO, 'allow-unsigned': true, ...flags }, { clock });
    const counts = async () => {
      const text = await scrape(started.metricsPort);
      return {
        answered: value(text, 'holdfast_dns_requests_total{transport="udp",qtype="A",rcode="NOERROR"}'),
        dropped: value(text, 'holdfast_dns_dropped_total{transport="udp",reason="ratelimit"}'),
        slipped: value(text, 'holdfast_dns_ratelimit_slipped_total'),
        clients: value(text, 'holdfast_dns_ratelimit_clients'),
      };
    };
    /** Sends `n` queries at once from `client`; resolves with the replies once the resolver has handled every one. */
    const burst = async (client: { socket: Socket; replies: Buffer[] }, n: number): Promise<Buffer[]> => {
      const before = await counts();
      const seen = client.replies.length;
      for (let i = 0; i < n; i++) client.socket.send(encodeQuery(WEB, RRType.A, { id: i + 1 }), started.port, '127.0.0.1');
      let after = before;
      await until(async () => {
        after = await counts();
        return after.answered + after.dropped - before.answered - before.dropped === n;
      });
      await until(() => client.replies.length - seen === after.answered - before.answered);
      return client.replies.slice(seen);
    };
    return { ...started, clock, counts, burst };
  }

  it('answers the burst, drops the rest (counted), refills at the rate up to the burst', async () => {
    const r = await limited({ 'rate-limit': '10', 'rate-limit-burst': '20', 'rate-limit-slip': '0' });
    const client = await udpClient();
    expect(await r.burst(client, 30)).toHaveLength(20);
    expect((await r.counts()).dropped).toBe(10);
    expect(await r.burst(client, 5)).toHaveLength(0); // the clock has not moved
    r.clock.advance(500); // 10 per second: 5 tokens
    expect(await r.burst(client, 10)).toHaveLength(5);
    r.clock.advance(60_000); // a long quiet: a full bucket, no more
    const replies = await r.burst(client, 30);
    expect(replies).toHaveLength(20);
    expect(new Set(replies.map((b) => decodeMessage(b).rcode))).toEqual(new Set([Rcode.NOERROR]));
    expect(await r.counts()).toMatchObject({ answered: 45, dropped: 30, slipped: 0, clients: 1 });
  });

  it('one noisy client does not limit another (127.0.0.1 and 127.0.0.2)', async () => {
    const r = await limited({ 'rate-limit': '5', 'rate-limit-burst': '5', 'rate-limit-slip': '0' });
    const noisy = await udpClient('127.0.0.1');
    const quiet = await udpClient('127.0.0.2');
    expect(await r.burst(noisy, 20)).toHaveLength(5);
    expect(await r.burst(quiet, 3)).toHaveLength(3);
    expect(await r.burst(noisy, 3)).toHaveLength(0);
    expect((await r.counts()).clients).toBe(2);
  });

  it('answers every --rate-limit-slip-th query over the limit with an empty TC=1 reply no larger than the query; TCP is not limited', async () => {
    const r = await limited({ 'rate-limit': '1', 'rate-limit-burst': '1', 'rate-limit-slip': '2' });
    const client = await udpClient();
    const query = encodeQuery(WEB, RRType.A, { id: 1, ednsUdpSize: 1232 });
    const replies = await r.burst(client, 9); // 1 answered; of the 8 over the limit, every 2nd slips
    const decoded = replies.map((b) => decodeMessage(b));
    expect(decoded.filter((d) => !d.tc)).toHaveLength(1);
    const slipped = decoded.filter((d) => d.tc);
    expect(slipped).toHaveLength(4);
    for (const [i, d] of slipped.entries()) {
      expect(d).toMatchObject({ rcode: Rcode.NOERROR, answers: [], authority: [], questions: [{ name: WEB, type: RRType.A, class: 1 }] });
      expect((replies[decoded.indexOf(d)] as Buffer).length, `slip ${i}`).toBeLessThanOrEqual(query.length);
    }
    expect(await r.counts()).toMatchObject({ answered: 5, dropped: 4, slipped: 4 }); // slipped replies are answers too
    // The client asks again over TCP, as a real one does after TC: answered in full.
    const tcp = await tcpExchange(r.port, Array.from({ length: 5 }, (_, i) => encodeQuery(WEB, RRType.A, { id: 100 + i })));
    expect(tcp.map((b) => decodeMessage(b).answers.length)).toEqual([1, 1, 1, 1, 1]);
  });

  it('takes a new limit on reload, keeping the buckets; off at 0', async () => {
    const r = await limited({ 'rate-limit': '5', 'rate-limit-burst': '5', 'rate-limit-slip': '0' });
    const client = await udpClient();
    expect(await r.burst(client, 10)).toHaveLength(5);
    const reload = (flags: Record<string, string>) =>
      r.resolver.reload(loadConfig({ flags: { listen: ['127.0.0.1:0'], 'metrics-listen': '127.0.0.1:0', upstream: ['127.0.0.1:9'], 'snapshot-file': DEMO, 'allow-unsigned': true, ...flags }, env: {} }));
    await reload({ 'rate-limit': '100', 'rate-limit-burst': '100', 'rate-limit-slip': '0' });
    expect(await r.burst(client, 3)).toHaveLength(0); // still empty: a SIGHUP is no way around the limit
    r.clock.advance(100); // 100 per second now: 10 tokens
    expect(await r.burst(client, 20)).toHaveLength(10);
    await reload({ 'rate-limit': '0' });
    expect(await r.burst(client, 20)).toHaveLength(20);
    expect((await r.counts()).clients).toBe(0);
  });

  it('keeps at most its bound of clients; a client that keeps sending is never forgotten', () => {
    const clock = new ManualClock();
    const limiter = new RateLimiter({ qps: 1, burst: 1, slip: 0 }, clock, 8);
    expect(limiter.check('10.0.0.1')).toBe('pass');
    for (let i = 0; i < 1000; i++) {
      // A flood of new (forged) sources between two queries of the noisy client.
      expect(limiter.check(`192.0.2.${i % 250}:${i}`)).toBe('pass');
      expect(limiter.check(i % 2 ? '10.0.0.1' : '::ffff:10.0.0.1')).toBe('drop'); // mapped: the same client
      expect(limiter.size).toBeLessThanOrEqual(8);
    }
    // A client silent while as many others as the bound were seen is forgotten: a full bucket again.
    expect(limiter.check('10.0.0.2')).toBe('pass');
    expect(limiter.check('10.0.0.2')).toBe('drop');
    for (let i = 0; i < 8; i++) limiter.check(`10.0.1.${i}`);
    expect(limiter.check('10.0.0.2')).toBe('pass');
  });
});

describe('no amplification', () => {
  let dir: string;
  let zone: Awaited<ReturnType<typeof startResolver>>;
  const BIG = 'big.default.svc.cluster.local'; // 100 endpoints: about 1.7 kB of A records
  const SMALL = 'small.default.svc.cluster.local'; // 10 endpoints: about 230 bytes

  beforeAll(async () => {
    const headless = (name: string, n: number) => [
      { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec: { clusterIP: 'None' } },
      {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: `${name}-x`, namespace: 'default', labels: { 'kubernetes.io/service-name': name } },
        addressType: 'IPv4',
        endpoints: Array.from({ length: n }, (_, i) => ({ addresses: [`10.2.${Math.floor(i / 200)}.${(i % 200) + 1}`], conditions: { ready: true } })),
      },
    ];
    const { snapshot, problems } = buildSnapshot([...headless('big', 100), ...headless('small', 10)], { clusterDomain: 'cluster.local', generation: 1, now: new Date() });
    expect(problems).toEqual([]);
    dir = await mkdtemp(join(tmpdir(), 'holdfast-amp-'));
    await writeFile(join(dir, 'snapshot.json'), JSON.stringify({ snapshot }));
    zone = await startResolver({ 'snapshot-file': join(dir, 'snapshot.json'), 'allow-unsigned': true });
  });

  afterAll(async () => {
    await zone.resolver.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** The UDP reply to `name` with `edns` (undefined: no OPT), and the full answer over TCP for comparison. */
  async function both(port: number, name: string, edns: number | undefined) {
    const query = encodeQuery(name, RRType.A, { id: 0x5151, ...(edns === undefined ? {} : { ednsUdpSize: edns }) });
    const udp = await udpQuery(port, query);
    const [tcp] = await tcpExchange(port, [query]);
    return { udp, full: decodeMessage(tcp as Buffer), fullLength: (tcp as Buffer).length };
  }

  it.each([
    { edns: undefined, limit: 512 },
    { edns: 100, limit: 512 }, // below 512 counts as 512 (RFC 6891 §6.2.5)
    { edns: 512, limit: 512 },
    { edns: 1000, limit: 1000 },
    { edns: 1232, limit: 1232 },
    { edns: 4096, limit: 1232 }, // holdfast's own maximum
  ])('zone answer of a headless service with 100 endpoints, EDNS $edns: at most $limit bytes, TC', async ({ edns, limit }) => {
    const { udp, full, fullLength } = await both(zone.port, BIG, edns);
    expect(fullLength).toBeGreaterThan(limit); // otherwise this case tests nothing
    expect(full.answers).toHaveLength(100);
    expect(udp.raw.length).toBeLessThanOrEqual(limit);
    expect(udp.tc).toBe(true);
    expect(udp.id).toBe(0x5151);
  });

  it('a reply that fits 512 bytes is not cut for an EDNS size below 512', async () => {
    const { udp, fullLength } = await both(zone.port, SMALL, 100);
    expect(fullLength).toBeGreaterThan(100);
    expect(udp.tc).toBe(false);
    expect(udp.answers).toHaveLength(10);
  });

  it('forwarded replies and cache hits: at most 512 bytes without EDNS, at most the EDNS size with it', async () => {
    const MEDIUM = 'medium.example.com';
    // About 1 kB for NAME, 380 bytes for MEDIUM.
    const up = await upstream((q) => ({ kind: 'answer', records: q.name === MEDIUM ? manyA(MEDIUM, 20) : manyA(NAME, 60) }));
    const { port } = await resolverWith({ upstream: [up.address] });
    const miss = await udpQuery(port, encodeQuery(NAME, RRType.A));
    const asked = up.count(); // over UDP, then TCP: the upstream's UDP reply was too long for 512 bytes
    expect(miss.raw.length).toBeLessThanOrEqual(512);
    expect(miss.tc).toBe(true);
    for (const edns of [undefined, 100, 600, 1232]) {
      const { udp, fullLength } = await both(port, NAME, edns);
      const limit = Math.max(512, edns ?? 512);
      expect(udp.raw.length, `EDNS ${edns}`).toBeLessThanOrEqual(limit);
      expect(udp.tc, `EDNS ${edns}`).toBe(fullLength > limit);
      if (!udp.tc) expect(udp.answers).toHaveLength(60);
    }
    expect(await both(port, NAME, 600).then((r) => r.fullLength)).toBeGreaterThan(600); // so some of them were cut
    expect(up.count()).toBe(asked); // all of them cache hits
    // Below 512 counts as 512: a 380-byte answer goes out whole, forwarded and from the cache.
    for (const source of ['forwarded', 'cached']) {
      const medium = await udpQuery(port, encodeQuery(MEDIUM, RRType.A, { ednsUdpSize: 100 }));
      expect(medium.raw.length, source).toBeGreaterThan(100);
      expect(medium.tc, source).toBe(false);
      expect(medium.answers, source).toHaveLength(20);
    }
    expect(up.queries.filter((q) => q.name === MEDIUM)).toHaveLength(1);
  });

  it.each([
    { what: 'REFUSED (outside --allow-from)', query: () => encodeQuery(WEB, RRType.A, { id: 1 }), size: (q: Buffer) => q.length, rcode: Rcode.REFUSED },
    { what: 'REFUSED with a padded OPT', query: () => withPaddedOpt(WEB, 2, 400), size: () => 12 + WEB.length + 2 + 4 + 11, rcode: Rcode.REFUSED },
  ])('$what: no larger than needed', async ({ query, size, rcode }) => {
    const { port } = await resolverWith({ 'allow-from': ['10.0.0.0/8'] });
    const q = query();
    const reply = (await udpRaw(port, q)) as Buffer;
    expect(decodeMessage(reply).rcode).toBe(rcode);
    expect(reply.length).toBe(size(q));
    expect(reply.length).toBeLessThanOrEqual(q.length);
  });

  it.each([
    { what: 'FORMERR for 400 bytes of garbage after the question', query: () => malformed(3, Buffer.alloc(400, 0xff)), size: 12 + NAME.length + 2 + 4, rcode: Rcode.FORMERR },
    { what: 'FORMERR for no question', query: () => header(4, 0x0100, 0), size: 12, rcode: Rcode.FORMERR },
    { what: 'NOTIMP for an unknown opcode with a padded OPT', query: () => withOpcode(withPaddedOpt(NAME, 5, 400), 5), size: 12 + 11, rcode: Rcode.NOTIMP },
  ])('$what: no larger than needed', async ({ query, size, rcode }) => {
    const q = query();
    const reply = (await udpRaw(zone.port, q)) as Buffer;
    expect(reply.readUInt16BE(2) & 0xf).toBe(rcode);
    expect(reply.length).toBe(size);
    expect(reply.length).toBeLessThan(q.length + 1);
  });
});
