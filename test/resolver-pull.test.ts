/**
 * Pulling snapshots from a publisher (--snapshot-url), against a fake publisher
 * on 127.0.0.1 and with the resolver's clock and random source injected, so no
 * test waits for an interval: conditional GETs with the generation being served,
 * gzip, verification like every source (older and forged snapshots change
 * nothing, checked by DNS queries over UDP), backoff with jitter and its reset,
 * the body size limit, URLs in turn, pull combined with push and file, reload
 * and stop, and configuration errors.
 */
import { execFile } from 'node:child_process';
import type { KeyObject } from 'node:crypto';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../resolver/clock.js';
import { loadConfig } from '../resolver/config.js';
import { MAX_BACKOFF_MS, pullDelay } from '../resolver/intake/pull.js';
import type { SnapshotPuller } from '../resolver/intake/pull.js';
import { DEFAULT_MAX_BODY } from '../resolver/intake/receiver.js';
import { RRType } from '../resolver/wire/constants.js';
import { encodeQuery, recordText } from '../resolver/wire/decode.js';
import { generateKeyPair, publicKeyToPem } from '../snapshot/keys.js';
import { cleanupAfterEach } from './helpers/cleanup.js';
import { quietLogger, startResolver, udpQuery } from './helpers/dns.js';
import { WEB, signedDemo } from './helpers/snapshots.js';

const { defer } = cleanupAfterEach();
const trusted = generateKeyPair();
const stranger = generateKeyPair();
const INTERVAL_MS = 10_000;
const TIMEOUT_MS = 5_000;
let dir: string;
let keyFile: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'holdfast-pull-'));
  keyFile = join(dir, 'trusted.pub');
  await writeFile(keyFile, publicKeyToPem(trusted.publicKey));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** What the fake publisher does with the next requests. */
type Mode =
  /** The publisher's protocol: 200 with the snapshot and `ETag: "<generation>"`, 304 to a matching If-None-Match. */
  | { readonly kind: 'serve'; readonly generation: number; readonly body: Buffer; readonly gzip: boolean }
  | { readonly kind: 'status'; readonly status: number }
  /** Takes the request and never answers. */
  | { readonly kind: 'hang' }
  /** Closes the connection on the request. */
  | { readonly kind: 'reset' }
  /** 200 declaring a Content-Length over the limit. */
  | { readonly kind: 'declared-huge' }
  /** 200 with a chunked body that goes on until the client hangs up (or 4 times the limit). */
  | { readonly kind: 'endless' };

interface FakePublisher {
  readonly url: string;
  /** Headers of every request, in order. */
  readonly requests: { readonly ifNoneMatch: string | undefined; readonly acceptEncoding: string | undefined }[];
  /** Every answer: the status, with ` gzip` when the body was compressed. */
  readonly answers: string[];
  set(mode: Mode): void;
  /** Serves the demo snapshot at `generation` with web at `webIP`, signed by `key`. */
  serve(generation: number, webIP: string, options?: { gzip?: boolean; key?: KeyObject }): void;
  waitForRequests(n: number): Promise<void>;
  /** Bytes of the last endless body written before the client hung up. */
  endlessSent(): Promise<number>;
  close(): Promise<void>;
}

async function startPublisher(): Promise<FakePublisher> {
  let mode: Mode = { kind: 'status', status: 503 };
  const requests: FakePublisher['requests'] = [];
  const answers: string[] = [];
  let endlessDone: Promise<number> = Promise.resolve(0);
  const server = createServer((req, res) => {
    requests.push({ ifNoneMatch: req.headers['if-none-match'], acceptEncoding: req.headers['accept-encoding'] });
    const answer = (status: number, note = '') => answers.push(`${status}${note}`);
    switch (mode.kind) {
      case 'serve': {
        const etag = `"${mode.generation}"`;
        if (req.headers['if-none-match'] === etag) {
          answer(304);
          return void res.writeHead(304, { etag }).end();
        }
        const gzip = mode.gzip && /\bgzip\b/.test(req.headers['accept-encoding'] ?? '');
        answer(200, gzip ? ' gzip' : '');
        const headers = { etag, 'content-type': 'application/json', ...(gzip ? { 'content-encoding': 'gzip' } : {}) };
        return void res.writeHead(200, headers).end(gzip ? gzipSync(mode.body) : mode.body);
      }
      case 'status':
        answer(mode.status);
        return void res.writeHead(mode.status, { 'content-type': 'text/plain' }).end('no snapshot yet\n');
      case 'hang':
        return;
      case 'reset':
        return void req.socket.destroy();
      case 'declared-huge':
        answer(200);
        res.writeHead(200, { 'content-length': String(DEFAULT_MAX_BODY + 1) });
        return void res.write('{');
      case 'endless':
        answer(200);
        endlessDone = endless(res);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/v1/snapshot`,
    requests,
    answers,
    set: (next) => {
      mode = next;
    },
    serve(generation, webIP, options = {}) {
      mode = { kind: 'serve', generation, body: signedDemo(options.key ?? trusted.privateKey, generation, webIP), gzip: options.gzip ?? false };
    },
    waitForRequests: (n) => until(`${n} requests at the publisher`, () => requests.length >= n),
    endlessSent: () => endlessDone,
    close: () => new Promise<void>((resolve) => server.close(() => resolve()).closeAllConnections()),
  };
}

/** Writes 1 MiB chunks, heeding back-pressure, until the client hangs up; resolves with the bytes written. */
function endless(res: ServerResponse): Promise<number> {
  const chunk = Buffer.alloc(1024 * 1024, 0x20);
  let sent = 0;
  let open = true;
  res.writeHead(200, { 'content-type': 'application/json' });
  const pump = () => {
    while (open && sent < 4 * DEFAULT_MAX_BODY) {
      sent += chunk.length;
      if (!res.write(chunk)) return void res.once('drain', pump);
    }
    if (open) res.end();
  };
  const done = new Promise<number>((resolve) => res.on('close', () => resolve(sent)));
  res.on('close', () => (open = false));
  pump();
  return done;
}

/** Checks `check` every 20 ms (real time) until it holds; fails after 3 s. */
async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = performance.now() + 3000;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function publisher(): Promise<FakePublisher> {
  const p = await startPublisher();
  defer(() => p.close());
  return p;
}

/** The answer a resolver serving web at `ip` gives. */
const served = (ip: string) => [`${WEB}. 5 IN A ${ip}`];

/**
 * A resolver pulling from `urls` on a manual clock, random source 0.5 (no jitter)
 * until `setRandom`. Unless `settle` is false, its first round (started at
 * start-up) has finished when this resolves.
 */
async function pulling(urls: readonly string[], options: { flags?: Record<string, string | string[]>; settle?: boolean; log?: pino.Logger } = {}) {
  const clock = new ManualClock();
  let random = 0.5;
  const flags = { 'trust-key': [keyFile], 'snapshot-url': [...urls], 'snapshot-pull-timeout': `${TIMEOUT_MS}ms`, ...options.flags };
  const started = await startResolver(flags, { clock, random: () => random }, options.log ?? quietLogger());
  defer(() => started.resolver.stop());
  const puller = started.resolver.puller as SnapshotPuller;
  if (options.settle !== false) await puller.settled();
  return {
    ...started,
    clock,
    puller,
    setRandom: (r: number) => {
      random = r;
    },
    /** Moves the clock to the next scheduled round and waits for it; resolves with its result. */
    next: async () => {
      clock.advance(puller.scheduledDelayMs ?? Number.NaN);
      return puller.settled().then(() => puller.lastResult);
    },
    web: async () => (await udpQuery(started.port, encodeQuery(WEB, RRType.A))).answers.map(recordText),
    metrics: async () => (await fetch(`http://127.0.0.1:${started.metricsPort}/metrics`)).text(),
  };
}

describe('pulling from a publisher', () => {
  it('applies the first pull, then asks with If-None-Match: "<generation>" and keeps serving on 304', async () => {
    const pub = await publisher();
    pub.serve(5, '10.96.5.5');
    const p = await pulling([pub.url]);
    expect(await p.web()).toEqual(served('10.96.5.5'));
    expect(pub.requests[0]?.ifNoneMatch).toBeUndefined();
    expect(p.puller.scheduledDelayMs).toBe(INTERVAL_MS);

    expect(await p.next()).toBe('unchanged');
    expect(pub.requests[1]?.ifNoneMatch).toBe('"5"');
    expect(pub.answers).toEqual(['200', '304']);
    expect(await p.web()).toEqual(served('10.96.5.5'));
    const text = await p.metrics();
    expect(text).toContain('holdfast_snapshot_loads_total{source="pull",result="applied"} 1');
    expect(text).toMatch(/^holdfast_snapshot_generation 5$/m);
    for (const reason of ['unreachable', 'timeout', 'http_status', 'too_large']) {
      expect(text).toContain(`holdfast_snapshot_pull_errors_total{reason="${reason}"} 0`);
    }
  });

  it('asks for gzip and applies a gzip body', async () => {
    const pub = await publisher();
    pub.serve(6, '10.96.6.6', { gzip: true });
    const p = await pulling([pub.url]);
    expect(pub.requests[0]?.acceptEncoding).toMatch(/\bgzip\b/);
    expect(pub.answers).toEqual(['200 gzip']);
    expect(await p.web()).toEqual(served('10.96.6.6'));
  });

  it('applies a newer generation at the next poll', async () => {
    const pub = await publisher();
    pub.serve(5, '10.96.5.5');
    const p = await pulling([pub.url]);
    pub.serve(7, '10.96.7.7', { gzip: true });
    expect(await p.next()).toBe('updated');
    expect(await p.web()).toEqual(served('10.96.7.7'));
    expect(await p.next()).toBe('unchanged');
    expect(pub.requests.map((r) => r.ifNoneMatch)).toEqual([undefined, '"5"', '"7"']);
    expect(await p.metrics()).toContain('holdfast_snapshot_loads_total{source="pull",result="applied"} 2');
  });

  it('does not download a snapshot whose ETag names an older generation than the one served, and keeps the zone', async () => {
    const pub = await publisher();
    pub.serve(5, '10.96.5.5');
    const p = await pulling([pub.url]);
    pub.serve(3, '10.96.66.66');
    expect(await p.next()).toBe('unchanged');
    expect(pub.answers).toEqual(['200', '200']);
    expect(await p.web()).toEqual(served('10.96.5.5'));
    expect(await p.metrics()).not.toContain('result="rejected_rollback"');
    expect(p.puller.scheduledDelayMs).toBe(INTERVAL_MS);
  });

  it.each([
    { what: 'a newer generation signed by an untrusted key', reason: 'rejected_signature', key: stranger.privateKey, generation: 9 },
  ])('rejects $what ($reason), keeps the zone, backs off, and applies the next good one', async ({ reason, key, generation }) => {
    const pub = await publisher();
    pub.serve(5, '10.96.5.5');
    const p = await pulling([pub.url]);
    pub.serve(generation, '10.96.66.66', { key });
    expect(await p.next()).toBe('failed');
    expect(await p.web()).toEqual(served('10.96.5.5'));
    const text = await p.metrics();
    expect(text).toContain(`holdfast_snapshot_loads_total{source="pull",result="${reason}"} 1`);
    expect(text).toMatch(/^holdfast_snapshot_generation 5$/m);
    expect(p.puller.scheduledDelayMs).toBe(2 * INTERVAL_MS);

    pub.serve(10, '10.96.10.10');
    expect(await p.next()).toBe('updated');
    expect(await p.web()).toEqual(served('10.96.10.10'));
    expect(p.puller.scheduledDelayMs).toBe(INTERVAL_MS);
  });

  it.each([
    { what: '503 (no snapshot yet)', mode: { kind: 'status', status: 503 } as const, reason: 'http_status' },
    { what: 'a connection reset', mode: { kind: 'reset' } as const, reason: 'unreachable' },
    { what: 'no answer within the timeout', mode: { kind: 'hang' } as const, reason: 'timeout' },
  ])('after $what, backs off (interval × 2^n, capped, on the clock) and resets after a success', async ({ mode, reason }) => {
    const pub = await publisher();
    pub.set(mode);
    const p = await pulling([pub.url], { settle: false });
    /** Lets the round in flight fail: a hanging request needs the clock to reach its deadline. */
    const fail = async () => {
      if (mode.kind === 'hang') {
        await pub.waitForRequests(asked);
        p.clock.advance(TIMEOUT_MS);
      }
      await p.puller.settled();
    };
    let asked = 1;
    await fail();
    expect(await p.web()).toEqual([]); // SERVFAIL: nothing ever loaded
    const delays = [p.puller.scheduledDelayMs];
    for (let round = 2; round <= 6; round++) {
      const delay = p.puller.scheduledDelayMs ?? 0;
      p.clock.advance(delay - 1);
      expect(pub.requests).toHaveLength(asked); // not before its time
      p.clock.advance(1);
      asked++;
      await pub.waitForRequests(asked);
      await fail();
      delays.push(p.puller.scheduledDelayMs);
    }
    expect(delays).toEqual([20_000, 40_000, 80_000, 160_000, MAX_BACKOFF_MS, MAX_BACKOFF_MS]);
    expect(await p.metrics()).toContain(`holdfast_snapshot_pull_errors_total{reason="${reason}"} 6`);

    pub.serve(5, '10.96.5.5');
    expect(await p.next()).toBe('updated');
    expect(await p.web()).toEqual(served('10.96.5.5'));
    expect(p.puller.scheduledDelayMs).toBe(INTERVAL_MS);
    p.setRandom(0); // jitter: -20 % ...
    await p.next();
    expect(p.puller.scheduledDelayMs).toBe(0.8 * INTERVAL_MS);
    p.setRandom(0.999); // ... to +20 %
    await p.next();
    expect(p.puller.scheduledDelayMs).toBe(Math.round(INTERVAL_MS * (0.8 + 0.4 * 0.999)));
  });

  it.each([
    { what: 'declared in Content-Length', mode: { kind: 'declared-huge' } as const },
    { what: 'streamed without a length', mode: { kind: 'endless' } as const },
  ])('aborts a body over the size limit $what, counts it, and keeps the zone', async ({ mode }) => {
    const pub = await publisher();
    pub.serve(5, '10.96.5.5');
    const p = await pulling([pub.url]);
    pub.set(mode);
    expect(await p.next()).toBe('failed');
    if (mode.kind === 'endless') expect(await pub.endlessSent()).toBeLessThan(2 * DEFAULT_MAX_BODY);
    expect(await p.web()).toEqual(served('10.96.5.5'));
    const text = await p.metrics();
    expect(text).toContain('holdfast_snapshot_pull_errors_total{reason="too_large"} 1');
    expect(text).toContain('holdfast_snapshot_loads_total{source="pull",result="rejected_too_large"} 1');
  });

  it('warns when a URL starts failing and when the reason changes, not at every poll, and says when it works again', async () => {
    const lines: { level: number; msg: string; url?: string }[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]) });
    const pub = await publisher();
    const p = await pulling([pub.url], { log });
    for (let i = 0; i < 3; i++) await p.next();
    pub.set({ kind: 'reset' });
    for (let i = 0; i < 3; i++) await p.next();
    pub.serve(5, '10.96.5.5');
    await p.next();
    await p.next();
    const pull = lines.filter((l) => l.url === pub.url).map((l) => `${l.level} ${l.msg}`);
    expect(pull).toEqual([
      '40 snapshot pull from this URL failing: HTTP 503 Service Unavailable',
      '40 snapshot pull from this URL failing: socket hang up',
      '30 snapshot pull works again',
    ]);
    expect(lines.filter((l) => l.msg === 'pulling snapshots')).toHaveLength(1);
  });

  it('tries the URLs in turn, starting with the one that answered last', async () => {
    const closed = await publisher();
    await closed.close(); // nothing listens there any more: connection refused
    const a = await publisher();
    const b = await publisher();
    a.serve(5, '10.96.5.5');
    b.serve(6, '10.96.6.6');
    const p = await pulling([closed.url, a.url, b.url]);
    expect(await p.web()).toEqual(served('10.96.5.5'));
    expect(b.requests).toHaveLength(0);
    expect(await p.metrics()).toContain('holdfast_snapshot_pull_errors_total{reason="unreachable"} 1');

    expect(await p.next()).toBe('unchanged'); // a first: 304
    expect(b.requests).toHaveLength(0);
    a.set({ kind: 'status', status: 503 });
    expect(await p.next()).toBe('updated'); // a fails, b has 6
    expect(await p.web()).toEqual(served('10.96.6.6'));
    expect(p.puller.scheduledDelayMs).toBe(INTERVAL_MS); // the round succeeded: no backoff
    expect(await p.next()).toBe('unchanged'); // b first now
    expect(a.requests).toHaveLength(3);
    expect(b.requests.map((r) => r.ifNoneMatch)).toEqual(['"5"', '"6"']);
  });

  it('combines with push and file: the newest verified generation wins', async () => {
    const file = join(dir, 'combined.json');
    await writeFile(file, signedDemo(trusted.privateKey, 10, '10.96.10.10'));
    const pub = await publisher();
    pub.serve(12, '10.96.12.12');
    const p = await pulling([pub.url], { flags: { 'snapshot-file': file, 'snapshot-poll-interval': '100ms', 'receiver-listen': '127.0.0.1:0' } });
    expect(await p.web()).toEqual(served('10.96.12.12')); // file 10 at start, then pull 12
    const push = (generation: number, ip: string) =>
      fetch(`http://127.0.0.1:${p.resolver.receiverAddress?.port}/v1/snapshot`, { method: 'PUT', body: signedDemo(trusted.privateKey, generation, ip) });

    expect((await push(13, '10.96.13.13')).status).toBe(204);
    expect(await p.web()).toEqual(served('10.96.13.13'));
    expect(await p.next()).toBe('unchanged'); // the publisher still has 12: older than what is served, not downloaded
    expect(pub.requests.at(-1)?.ifNoneMatch).toBe('"13"');
    expect(await p.web()).toEqual(served('10.96.13.13'));
    expect((await push(11, '10.96.11.11')).status).toBe(409);

    await writeFile(`${file}.tmp`, signedDemo(trusted.privateKey, 14, '10.96.14.14'));
    await rename(`${file}.tmp`, file);
    await until('the file with generation 14 to be served', async () => (await p.web())[0] === served('10.96.14.14')[0]);

    pub.serve(15, '10.96.15.15');
    expect(await p.next()).toBe('updated');
    expect(pub.requests.at(-1)?.ifNoneMatch).toBe('"14"');
    expect(await p.web()).toEqual(served('10.96.15.15'));
    const text = await p.metrics();
    for (const [source, result, n] of [
      ['file', 'applied', 2],
      ['push', 'applied', 1],
      ['push', 'rejected_rollback', 1],
      ['pull', 'applied', 2],
    ] as const) {
      expect(text).toContain(`holdfast_snapshot_loads_total{source="${source}",result="${result}"} ${n}`);
    }
    expect(text).not.toContain('source="pull",result="rejected_rollback"');
  });

  it('restarts on a reload that changes the URLs, keeps going on one that does not, and stops with the resolver', async () => {
    const a = await publisher();
    const b = await publisher();
    a.serve(5, '10.96.5.5');
    b.serve(6, '10.96.6.6');
    const p = await pulling([a.url]);
    const reloadWith = (url: string) =>
      p.resolver.reload(
        loadConfig({ flags: { upstream: ['127.0.0.1:9'], 'log-level': 'silent', 'trust-key': [keyFile], 'snapshot-url': [url], 'snapshot-pull-timeout': `${TIMEOUT_MS}ms` }, env: {} }),
      );
    const first = p.resolver.puller;
    await reloadWith(a.url);
    expect(p.resolver.puller).toBe(first);

    await reloadWith(b.url);
    const second = p.resolver.puller as SnapshotPuller;
    expect(second).not.toBe(first);
    await second.settled();
    expect(await p.web()).toEqual(served('10.96.6.6'));
    expect(b.requests.map((r) => r.ifNoneMatch)).toEqual(['"5"']);
    p.clock.advance(INTERVAL_MS); // when both pullers had their next round due
    await second.settled();
    expect(second.lastResult).toBe('unchanged');
    expect(b.requests).toHaveLength(2);
    expect(a.requests).toHaveLength(1); // the old puller is gone

    await p.resolver.stop();
    expect(second.scheduledDelayMs).toBeUndefined();
    const asked = b.requests.length;
    p.clock.advance(10 * MAX_BACKOFF_MS);
    expect(b.requests).toHaveLength(asked);
  });
});

describe('pullDelay', () => {
  it.each([
    { failures: 0, random: 0.5, delay: 10_000 },
    { failures: 0, random: 0, delay: 8_000 },
    { failures: 0, random: 0.75, delay: 11_000 },
    { failures: 1, random: 0.5, delay: 20_000 },
    { failures: 4, random: 0.5, delay: 160_000 },
    { failures: 5, random: 0.5, delay: MAX_BACKOFF_MS },
    { failures: 60, random: 0, delay: 0.8 * MAX_BACKOFF_MS },
  ])('interval 10s, $failures failed rounds, random $random: $delay ms', ({ failures, random, delay }) => {
    expect(pullDelay(10_000, failures, () => random)).toBe(delay);
  });

  it('never backs off below an interval longer than the cap', () => {
    expect(pullDelay(600_000, 3, () => 0.5)).toBe(600_000);
  });
});

describe('configuration', () => {
  it('reads URLs from flags, HOLDFAST_SNAPSHOT_URL or the YAML file, adding /v1/snapshot to a bare URL', () => {
    const load = (flags: Record<string, string[]>, env: NodeJS.ProcessEnv) =>
      loadConfig({ flags: { upstream: ['127.0.0.1:9'], 'allow-unsigned': true, config: 'c.yaml', ...flags }, env, readFile: () => 'snapshot-url:\n  - http://yaml:9255\n  - https://yaml2/x\n' });
    expect(load({}, {}).snapshotUrls).toEqual(['http://yaml:9255/v1/snapshot', 'https://yaml2/x']);
    expect(load({}, { HOLDFAST_SNAPSHOT_URL: 'http://env/a,http://env/b' }).snapshotUrls).toEqual(['http://env/a', 'http://env/b']);
    const flagged = load({ 'snapshot-url': ['http://flag:1/p'] }, { HOLDFAST_SNAPSHOT_URL: 'http://env/a' });
    expect(flagged.snapshotUrls).toEqual(['http://flag:1/p']);
    expect(flagged.snapshotPullIntervalMs).toBe(10_000);
    expect(flagged.snapshotPullTimeoutMs).toBe(30_000);
  });

  const run = promisify(execFile);
  const resolver = (args: string[], env: Record<string, string> = {}) =>
    run(process.execPath, ['bin/holdfast', 'resolver', '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--upstream', '127.0.0.1:9', ...args], {
      env: { PATH: process.env['PATH'] ?? '', ...env },
      timeout: 10_000,
    }).then(
      (r) => ({ code: 0, stderr: r.stderr }),
      (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
    );

  it.each([
    { what: 'a value that is not a URL', args: ['--allow-unsigned', '--snapshot-url', 'not a url'], env: {}, says: "--snapshot-url: 'not a url' is not a URL" },
    { what: 'a URL that is not http(s)', args: ['--allow-unsigned', '--snapshot-url', 'ftp://publisher/'], env: {}, says: "--snapshot-url: 'ftp://publisher/' is not an http or https URL" },
    { what: 'a bad HOLDFAST_SNAPSHOT_URL', args: ['--allow-unsigned'], env: { HOLDFAST_SNAPSHOT_URL: 'publisher:9255' }, says: "HOLDFAST_SNAPSHOT_URL: 'publisher:9255' is not an http or https URL" },
    { what: 'a pull interval that is not a duration', args: ['--allow-unsigned', '--snapshot-url', 'http://p/', '--snapshot-pull-interval', 'often'], env: {}, says: "--snapshot-pull-interval: 'often'" },
    { what: 'a URL without a trusted key', args: ['--snapshot-url', 'http://p/'], env: {}, says: '--trust-key: required' },
  ])('exits 2 on $what, naming it', async ({ args, env, says }) => {
    const { code, stderr } = await resolver(args, env);
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toEqual([expect.stringContaining(says)]);
  });
});
