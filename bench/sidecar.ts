/**
 * `npm run bench -- sidecar`: the memory of a sidecar resolver, to size its
 * container (deploy/sidecar). A synthetic cluster (cluster.ts) of --services
 * services and --endpoints endpoints is signed and served over HTTP on loopback
 * as a publisher serves a view; a real `holdfast resolver` process pulls it
 * (--snapshot-url, state in a temporary directory), answers every cluster name
 * of it once (so its answer templates are built, as a busy pod would), then
 * pulls a second generation with 1 % of the endpoints moved.
 *
 * Printed: the resolver's RSS (VmRSS) and peak (VmHWM) after each step, from
 * /proc, and the peak of the verification process that checks every pulled
 * (gzip) snapshot and stays up to a minute after it; a container holds both.
 * No timing: memory only. Linux only (/proc).
 *
 * Usage: npm run bench -- sidecar [--services 1000] [--endpoints 10000]
 */
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { encodeQuery } from '../resolver/wire/decode.js';
import { buildSnapshot } from '../snapshot/build.js';
import { generateKeyPair, publicKeyToPem } from '../snapshot/keys.js';
import { signSnapshot } from '../snapshot/sign.js';
import type { SnapshotV1 } from '../snapshot/types.js';
import { syntheticCluster } from './cluster.js';
import { clusterQueries, typeCode } from './queries.js';
import { childPids, procMemory } from './children.js';
import { root } from './tools.js';

const out = (line: string) => process.stdout.write(`${line}\n`);
const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;

/** VmRSS and VmHWM of `pid`, in KiB (0 when gone). */
function memory(pid: number): { rss: number; peak: number } {
  const m = procMemory(pid);
  return m ? { rss: m.rss / 1024, peak: m.peak / 1024 } : { rss: 0, peak: 0 };
}

/** `snapshot` at `generation` with the first endpoint of 1 % of the services moved. */
function churned(snapshot: SnapshotV1, generation: number): SnapshotV1 {
  const services = snapshot.services.map((service, i) => {
    const [first, ...rest] = service.endpoints;
    if (i % 100 !== 0 || !first) return service;
    return { ...service, endpoints: [{ ...first, addresses: [`10.127.0.${i % 256}`] }, ...rest] };
  });
  return { ...snapshot, generation, services };
}

/** Sends each query once and waits for its reply (at most 2 s each); returns how many were answered. */
async function askAll(port: number, queries: readonly Buffer[]): Promise<number> {
  const socket = createSocket('udp4');
  let answered = 0;
  try {
    for (const query of queries) {
      const reply = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 2000);
        socket.once('message', () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      socket.send(query, port, '127.0.0.1');
      if (await reply) answered++;
    }
  } finally {
    socket.close();
  }
  return answered;
}

/** Runs the sidecar memory bench with `argv` options. */
export async function sidecar(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { services: { type: 'string', default: '1000' }, endpoints: { type: 'string', default: '10000' } } });
  const size = { services: Number(values.services), endpoints: Number(values.endpoints) };
  const keys = generateKeyPair();
  const { snapshot } = buildSnapshot(syntheticCluster(size), { clusterDomain: 'cluster.local', generation: 1, now: new Date() });
  const encode = (s: SnapshotV1) => gzipSync(JSON.stringify(signSnapshot(s, keys.privateKey)));
  let served = { generation: 1, gzip: encode(snapshot) };
  const endpoints = snapshot.services.reduce((n, s) => n + s.endpoints.length, 0);
  out(`sidecar bench: ${snapshot.services.length} services, ${endpoints} endpoints, ${(served.gzip.length / 1024).toFixed(0)} KiB gzip`);

  const http = createServer((req, res) => {
    const etag = `"${served.generation}"`;
    if (req.headers['if-none-match'] === etag) return void res.writeHead(304, { etag }).end();
    res.writeHead(200, { etag, 'content-type': 'application/json', 'content-encoding': 'gzip' }).end(served.gzip);
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-sidecar-bench-'));
  const keyFile = join(dir, 'trusted.pub');
  writeFileSync(keyFile, publicKeyToPem(keys.publicKey));
  const url = `http://127.0.0.1:${(http.address() as { port: number }).port}/v1/snapshot`;
  const child = spawn(
    process.execPath,
    [join(root, 'bin/holdfast'), 'resolver', '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--snapshot-url', url, '--snapshot-pull-interval', '500ms', '--trust-key', keyFile, '--state-dir', join(dir, 'state'), '--upstream', '127.0.0.1:9'],
    { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const waiting = new Map<string, (line: Record<string, unknown>) => void>();
  createInterface({ input: child.stdout }).on('line', (text) => {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    const key = line['msg'] === 'snapshot applied' ? `applied ${String(line['generation'])}` : String(line['msg']);
    waiting.get(key)?.(line);
  });
  const logged = (key: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no '${key}' from the resolver in 60 s`)), 60_000);
      waiting.set(key, (line) => {
        clearTimeout(timer);
        resolve(line);
      });
    });
  const pid = child.pid ?? 0;
  const report = (step: string) => {
    const main = memory(pid);
    const verifier = childPids(pid).map(memory).reduce((a, b) => ({ rss: a.rss + b.rss, peak: Math.max(a.peak, b.peak) }), { rss: 0, peak: 0 });
    out(`  ${step.padEnd(34)} resolver RSS ${mib(main.rss)} (peak ${mib(main.peak)}); verification process RSS ${mib(verifier.rss)} (peak ${mib(verifier.peak)})`);
    return { main, verifier };
  };
  try {
    const serving = logged('resolver serving');
    const first = logged('applied 1');
    const dns = ((await serving)['listen'] as { port: number }[])[0]?.port ?? 0;
    await first;
    report('first snapshot pulled');
    const queries = clusterQueries(snapshot).map((line) => {
      const [name = '', type = 'A'] = line.split(' ');
      return encodeQuery(name, typeCode(type));
    });
    const answered = await askAll(dns, queries);
    report(`${answered}/${queries.length} names answered`);
    const second = logged('applied 2');
    served = { generation: 2, gzip: encode(churned(snapshot, 2)) };
    await second;
    const after = report('second generation pulled');
    out(`  container peak: about ${mib(after.main.peak + after.verifier.peak)} (resolver peak + verification process peak)`);
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    http.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
