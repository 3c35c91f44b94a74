/**
 * `holdfast resolver` as a process (bin/holdfast, built into dist/ first): exit codes
 * and one-line errors naming the flag, variable, file or address at fault; serving
 * and a prompt exit 0 on SIGTERM; SIGHUP reloading the --config file, and keeping
 * the running configuration when the new one is invalid.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OPTIONS } from '../resolver/config.js';
import { RRType } from '../resolver/wire/constants.js';
import { encodeQuery, recordText } from '../resolver/wire/decode.js';
import { udpQuery } from './helpers/dns.js';
import { ROOT, errorLines, runHoldfast, serveResolver } from './helpers/process.js';

const run = (args: readonly string[], env: Record<string, string> = {}) => runHoldfast(['resolver', ...args], env);
import { a, startUpstream } from './helpers/upstream.js';
import type { FakeUpstream } from './helpers/upstream.js';

const DEMO = join(ROOT, 'demo', 'demo-snapshot.json');
const WEB = 'web.default.svc.cluster.local';
const NAME = 'www.example.com';

let dir: string;
let upstreamA: FakeUpstream;
let upstreamB: FakeUpstream;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'holdfast-cli-'));
  // Each answers the name asked (a record for another name would be scrubbed as out of bailiwick).
  upstreamA = await startUpstream((q) => ({ kind: 'answer', records: [a(q.name, '192.0.2.1')] }));
  upstreamB = await startUpstream((q) => ({ kind: 'answer', records: [a(q.name, '192.0.2.2')] }));
});

afterAll(async () => {
  await upstreamA.close();
  await upstreamB.close();
  await rm(dir, { recursive: true, force: true });
});

describe('usage and configuration errors', () => {
  it('--help exits 0 and lists every option', async () => {
    const { code, stdout, stderr } = await run(['--help']);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    for (const name of Object.keys(OPTIONS)) expect(stdout).toContain(`--${name}`);
  });

  it.each([
    { what: 'an unknown flag', args: ['--bogus-flag'], names: [['--bogus-flag']] },
    { what: 'a flag without its value', args: ['--upstream'], names: [['--upstream']] },
    { what: 'a listen address that is not ADDR:PORT', args: ['--listen', 'nonsense', '--upstream', '127.0.0.1:9'], names: [['--listen', 'nonsense']] },
    { what: 'a listen address without a port', args: ['--listen', '127.0.0.1', '--upstream', '127.0.0.1:9'], names: [['--listen', '127.0.0.1']] },
    {
      what: 'several bad values (all reported)',
      args: ['--listen', 'bad', '--cluster-ttl', 'x', '--max-tcp-connections', '0', '--log-level', 'loud', '--upstream', '127.0.0.1:99999'],
      names: [['--listen', 'bad'], ['--cluster-ttl', "'x'"], ['--max-tcp-connections', "'0'"], ['--log-level', 'loud'], ['--upstream', '99999']],
    },
    {
      what: 'TTLs longer than a DNS TTL can be',
      args: ['--listen', '127.0.0.1:0', '--upstream', '127.0.0.1:9', '--cluster-ttl', '10000000000s', '--cache-max-ttl', '2147483648'],
      names: [['--cluster-ttl', '2147483647'], ['--cache-max-ttl', '2147483647']],
    },
    { what: 'a snapshot file without a trusted key', args: ['--listen', '127.0.0.1:0', '--upstream', '127.0.0.1:9', '--snapshot-file', DEMO], names: [['--trust-key']] },
    { what: 'node-local mode without local IPs', args: ['--setup-interface', '--listen', '127.0.0.1:53', '--upstream', '127.0.0.1:9'], names: [['--local-ip', 'required']] },
    {
      what: 'bad node-local settings (all reported)',
      args: ['--setup-interface', '--local-ip', '169.254.20.10,10.96.0.300', '--interface-name', 'a-name-far-too-long', '--iptables', 'ebpf', '--setup-check-interval', '10s', '--capture-lease', '15s', '--upstream', '127.0.0.1:9'],
      names: [['--local-ip', '10.96.0.300'], ['--interface-name', 'a-name-far-too-long'], ['--iptables', 'ebpf'], ['--capture-lease', 'twice']],
    },
  ])('exits 2 on $what, one line per problem naming the flag', async ({ args, names }) => {
    const { code, stderr } = await run(args);
    expect(code).toBe(2);
    const lines = errorLines(stderr);
    expect(lines).toHaveLength(names.length);
    for (const line of lines) expect(line).toMatch(/^holdfast resolver: /);
    for (const parts of names) expect(lines.filter((l) => parts.every((p) => l.includes(p))), parts.join(' ')).toHaveLength(1);
  });

  it('exits 2 naming a trusted key file that does not exist', async () => {
    const { code, stderr } = await run(['--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--upstream', '127.0.0.1:9', '--trust-key', '/nonexistent/key.pub']);
    expect(code).toBe(2);
    expect(errorLines(stderr)).toEqual([expect.stringMatching(/--trust-key.*\/nonexistent\/key\.pub/)]);
  });

  it.each([
    { variable: 'HOLDFAST_LISTEN', value: 'bad' },
    { variable: 'HOLDFAST_UPSTREAM_TIMEOUT', value: 'soon' },
    { variable: 'HOLDFAST_ALLOW_UNSIGNED', value: 'maybe' },
  ])('exits 2 naming $variable when it is invalid', async ({ variable, value }) => {
    const { code, stderr } = await run(['--upstream', '127.0.0.1:9'], { [variable]: value });
    expect(code).toBe(2);
    expect(errorLines(stderr)).toEqual([expect.stringContaining(variable)]);
    expect(stderr).toContain(value);
  });

  it('exits 2 naming the config file and the unknown key in it', async () => {
    const file = join(dir, 'unknown-key.yaml');
    await writeFile(file, 'upstream: 127.0.0.1:9\nlisten-adress: 127.0.0.1:0\n');
    const { code, stderr } = await run(['--config', file]);
    expect(code).toBe(2);
    expect(errorLines(stderr)).toEqual([expect.stringMatching(new RegExp(`${file.replace(/[.]/g, '\\.')}.*listen-adress`))]);
  });

  it('exits 2 naming a config file that cannot be read', async () => {
    const { code, stderr } = await run(['--config', join(dir, 'missing.yaml'), '--upstream', '127.0.0.1:9']);
    expect(code).toBe(2);
    expect(stderr).toContain('missing.yaml');
  });

  it.each(['udp', 'tcp'] as const)('exits 1 naming the address when its %s port is in use', async (transport) => {
    let port: number;
    let release: () => Promise<void>;
    if (transport === 'udp') {
      const socket = createSocket('udp4');
      await new Promise<void>((done) => socket.bind(0, '127.0.0.1', done));
      port = socket.address().port;
      release = () => new Promise((done) => socket.close(() => done()));
    } else {
      const server = createServer();
      await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
      port = (server.address() as { port: number }).port;
      release = () => new Promise((done) => server.close(() => done()));
    }
    try {
      const started = performance.now();
      const { code, stderr } = await run(['--listen', `127.0.0.1:${port}`, '--metrics-listen', '127.0.0.1:0', '--upstream', '127.0.0.1:9']);
      expect(code).toBe(1);
      expect(errorLines(stderr)).toEqual([expect.stringContaining(`127.0.0.1:${port}`)]);
      expect(stderr).toContain(transport);
      expect(performance.now() - started).toBeLessThan(5000);
    } finally {
      await release();
    }
  });

  it('exits 1 naming --metrics-listen when its port is in use', async () => {
    const server = createServer();
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const port = (server.address() as { port: number }).port;
    try {
      const { code, stderr } = await run(['--listen', '127.0.0.1:0', '--metrics-listen', `127.0.0.1:${port}`, '--upstream', '127.0.0.1:9']);
      expect(code).toBe(1);
      expect(errorLines(stderr)).toEqual([expect.stringMatching(new RegExp(`--metrics-listen 127\\.0\\.0\\.1:${port}`))]);
    } finally {
      await new Promise<void>((done) => server.close(() => done()));
    }
  });
});

describe('running', () => {
  it('serves on the bound port, then exits 0 promptly on SIGTERM', async () => {
    const { proc, port, metricsPort } = await serveResolver(['--snapshot-file', DEMO, '--allow-unsigned', '--upstream', upstreamA.address]);
    expect(port).toBeGreaterThan(0);
    const reply = await udpQuery(port, encodeQuery(WEB, RRType.A));
    expect(reply.answers.map(recordText)).toEqual([`${WEB}. 5 IN A 10.96.10.10`]);
    const ready = await fetch(`http://127.0.0.1:${metricsPort}/readyz`);
    expect(ready.status).toBe(200);

    const started = performance.now();
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toEqual({ code: 0, signal: null });
    expect(performance.now() - started).toBeLessThan(3000);
    expect(proc.logs.map((l) => l['msg'])).toContain('resolver stopped');
  });

  it('applies a changed upstream in the --config file on SIGHUP', async () => {
    const config = join(dir, 'reload.yaml');
    await writeFile(config, `upstream: ${upstreamA.address}\nupstream-timeout: 200ms\n`);
    const { proc, port } = await serveResolver(['--config', config]);
    const before = { a: upstreamA.count(), b: upstreamB.count() };
    expect((await udpQuery(port, encodeQuery(NAME, RRType.A))).answers.map(recordText)).toEqual([`${NAME}. 60 IN A 192.0.2.1`]);

    await writeFile(config, `upstream: [${upstreamB.address}]\nupstream-timeout: 200ms\n`);
    const mark = proc.logs.length;
    proc.child.kill('SIGHUP');
    await proc.waitLog('configuration reloaded', mark);
    // The first answer is cached (TTL 60), so the new upstream is seen through a name not asked before.
    expect((await udpQuery(port, encodeQuery(NAME, RRType.A))).answers.map(recordText)).toEqual([`${NAME}. 60 IN A 192.0.2.1`]);
    expect((await udpQuery(port, encodeQuery('new.example.com', RRType.A))).answers.map(recordText)).toEqual(['new.example.com. 60 IN A 192.0.2.2']);
    expect(upstreamA.count() - before.a).toBe(1);
    expect(upstreamB.count() - before.b).toBe(1);
  });

  it('applies a changed cluster-ttl on SIGHUP (resolver.ts: "TTL ... take effect")', async () => {
    const config = join(dir, 'ttl.yaml');
    await writeFile(config, `upstream: ${upstreamA.address}\ncluster-ttl: 5s\n`);
    const { proc, port } = await serveResolver(['--config', config, '--snapshot-file', DEMO, '--allow-unsigned']);
    expect((await udpQuery(port, encodeQuery(WEB, RRType.A))).answers[0]?.ttl).toBe(5);
    await writeFile(config, `upstream: ${upstreamA.address}\ncluster-ttl: 30s\n`);
    const mark = proc.logs.length;
    proc.child.kill('SIGHUP');
    await proc.waitLog('configuration reloaded', mark);
    expect((await udpQuery(port, encodeQuery(WEB, RRType.A))).answers[0]?.ttl).toBe(30);
    expect((await udpQuery(port, encodeQuery('nope.default.svc.cluster.local', RRType.A))).authority[0]?.ttl).toBe(30);
  });

  it.each([
    { what: 'an unknown key', content: (up: string) => `upstream: ${up}\nupstreams: 127.0.0.1:53\n` },
    { what: 'a bad value', content: (up: string) => `upstream: ${up}\ncluster-ttl: forever\n` },
    { what: 'broken YAML', content: () => 'upstream: [unclosed\n' },
  ])('keeps running with the old configuration when SIGHUP finds $what', async ({ content }) => {
    const config = join(dir, `invalid-${Math.random().toString(36).slice(2)}.yaml`);
    await writeFile(config, `upstream: ${upstreamA.address}\n`);
    const { proc, port } = await serveResolver(['--config', config, '--snapshot-file', DEMO, '--allow-unsigned']);
    await writeFile(config, content(upstreamB.address));
    const mark = proc.logs.length;
    proc.child.kill('SIGHUP');
    const failed = await proc.waitLog(/reload failed/, mark);
    expect(JSON.stringify(failed['problems'])).toContain(config);
    expect(proc.child.exitCode).toBeNull();
    const beforeB = upstreamB.count();
    expect((await udpQuery(port, encodeQuery(NAME, RRType.A))).answers.map(recordText)).toEqual([`${NAME}. 60 IN A 192.0.2.1`]);
    expect((await udpQuery(port, encodeQuery(WEB, RRType.A))).rcode).toBe(0);
    expect(upstreamB.count()).toBe(beforeB);

    proc.child.kill('SIGTERM');
    expect((await proc.exited).code).toBe(0);
  });
});
