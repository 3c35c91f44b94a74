/**
 * The resolver under fuzz: a real `holdfast resolver` child process (dist/) on
 * 127.0.0.1 with a free port, serving the demo cluster (headless services, SRV
 * ports, an ExternalName) from a snapshot signed with a key made for the run,
 * and forwarding every other name to the fuzz upstream on loopback. Reads its
 * memory (RSS from /proc, heap and cache size from /metrics) and its error logs.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zoneRecords } from '../../resolver/zone/records.js';
import { generateKeyPair, publicKeyToPem } from '../../snapshot/keys.js';
import { signSnapshot } from '../../snapshot/sign.js';
import type { SignedSnapshot, SnapshotV1 } from '../../snapshot/types.js';
import { Children } from '../stampede/children.js';
import type { Child } from '../stampede/children.js';
import { procMemory, Scrape } from '../children.js';
import { root } from '../tools.js';
import type { NameEntry } from './inputs.js';
import { startFuzzUpstream } from './upstream.js';
import type { FuzzUpstream } from './upstream.js';

/** A name of the zone whose A records the probes check, and the addresses it must have. */
export interface ProbeTarget {
  readonly name: string;
  readonly addresses: readonly string[];
}

/** Memory figures of the resolver process. */
export interface Memory {
  /** VmRSS from /proc/<pid>/status. */
  readonly rss: number;
  /** holdfast_nodejs_heap_size_used_bytes. */
  readonly heap: number;
  /** holdfast_nodejs_external_memory_bytes (Buffers and other memory outside the V8 heap). */
  readonly external: number;
  /** holdfast_cache_bytes (the forwarding cache's own estimate of its size). */
  readonly cache: number;
  /** holdfast_cache_entries (all types). */
  readonly entries: number;
}

/** A running target. */
export interface Target {
  readonly port: number;
  readonly pid: number;
  readonly child: Child;
  readonly upstream: FuzzUpstream;
  /** Names to build inputs from: every name of the zone with its types, and forwarded ones. */
  readonly names: readonly NameEntry[];
  readonly probe: ProbeTarget;
  /** Log lines of level error or fatal. */
  readonly errorLogs: string[];
  /** Memory now; with `collect`, after a full garbage collection (through the inspector, see {@link collectGarbage}). */
  memory(collect?: boolean): Promise<Memory>;
  stop(): Promise<void>;
}

/** Names outside the cluster zone: answered by the fuzz upstream. */
const FORWARDED: NameEntry[] = [
  { name: 'example.com', types: [1, 28, 15, 16] },
  { name: 'www.example.org', types: [1, 28, 5] },
  { name: 'a.b.c.d.e.f.example.net', types: [1, 33, 16] },
  { name: '', types: [2, 6, 1] },
  { name: 'in-addr.arpa', types: [12, 2] },
];

/** Starts the fuzz upstream and the resolver (with `extraArgs` added); `seed` drives the upstream's choices. */
export async function startTarget(seed: number, extraArgs: readonly string[] = []): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-fuzz-'));
  const demo: SnapshotV1 = (JSON.parse(readFileSync(join(root, 'demo/demo-snapshot.json'), 'utf8')) as SignedSnapshot).snapshot;
  const keys = generateKeyPair();
  writeFileSync(join(dir, 'key.pub'), publicKeyToPem(keys.publicKey));
  writeFileSync(join(dir, 'snapshot.json'), JSON.stringify(signSnapshot(demo, keys.privateKey)));
  const zone = zoneRecords(demo, { ttl: 5 });
  const names: NameEntry[] = [...zone.nodes, ...zone.reverse].map(([name, types]) => ({ name, types: types.size > 0 ? [...types.keys()] : [1, 28] }));
  names.push(...FORWARDED);
  const web = demo.services.find((s) => s.name === 'web' && s.namespace === 'default');
  const probe: ProbeTarget = { name: `web.default.svc.${demo.clusterDomain}`, addresses: (web?.clusterIPs ?? []).filter((ip) => ip.includes('.')) };

  const upstream = await startFuzzUpstream(seed ^ 0x5eed);
  const children = new Children();
  const errorLogs: string[] = [];
  const args = [
    '--inspect=127.0.0.1:0', // only for a full garbage collection before the memory is read
    join(root, 'bin/holdfast'), 'resolver',
    '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0',
    '--upstream', `127.0.0.1:${upstream.port}`,
    '--snapshot-file', join(dir, 'snapshot.json'), '--trust-key', join(dir, 'key.pub'),
    '--upstream-timeout', '500ms', '--log-level', 'info',
    ...extraArgs,
  ];
  let child: Child | undefined;
  let serving: { port: number; metrics: number } | undefined;
  for (let attempt = 1; serving === undefined; attempt++) {
    child = children.spawn('resolver', process.execPath, args);
    try {
      serving = await child.waitLine((line) => {
        if (!line.includes('"resolver serving"')) return undefined;
        const l = JSON.parse(line) as { listen: { port: number }[]; metrics: { port: number } };
        return { port: l.listen[0]?.port ?? 0, metrics: l.metrics.port };
      });
    } catch (error) {
      // With port 0, TCP must bind the port UDP got; another socket may hold it (see test/helpers/upstream.ts).
      if (attempt >= 5 || !/EADDRINUSE/.test(child.output)) {
        await upstream.close();
        throw error;
      }
    }
  }
  const resolver = child as Child;
  void resolver
    .waitLine((line) => {
      if (/"level":(5\d|60)/.test(line)) errorLogs.push(line);
      return undefined;
    }, 2 ** 31 - 1)
    .catch(() => {});
  const pid = resolver.process.pid ?? 0;
  let inspector: string | undefined;
  for (let i = 0; i < 40 && !(inspector = /ws:\/\/127\.0\.0\.1:\d+\/[\w-]+/.exec(resolver.output)?.[0]); i++) await new Promise((r) => setTimeout(r, 50));
  if (!inspector) throw new Error(`resolver: no inspector address in its output: ${resolver.output}`);
  const inspectorUrl = inspector;
  return {
    port: serving.port,
    pid,
    child: resolver,
    upstream,
    names,
    probe,
    errorLogs,
    memory: async (collect = false) => {
      if (collect) await collectGarbage(inspectorUrl);
      const m = await Scrape.of(serving.metrics);
      return { rss: procMemory(pid)?.rss ?? Number.NaN, heap: m.sum('holdfast_nodejs_heap_size_used_bytes'), external: m.sum('holdfast_nodejs_external_memory_bytes'), cache: m.sum('holdfast_cache_bytes'), entries: m.sum('holdfast_cache_entries') };
    },
    stop: async () => {
      await children.stopAll();
      await upstream.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Runs a full garbage collection in the resolver through its inspector
 * (HeapProfiler.collectGarbage), so that the heap read next is what is alive, not
 * what a collection has not yet taken back: the only way to compare memory before
 * and after a run without changing the resolver. Rejects after 10 s.
 */
async function collectGarbage(url: string): Promise<void> {
  const ws = new WebSocket(url);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('inspector: no answer to HeapProfiler.collectGarbage in 10 s')), 10_000);
      ws.onerror = () => reject(new Error(`inspector: cannot connect to ${url}`));
      ws.onopen = () => ws.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' }));
      ws.onmessage = (event) => {
        if ((JSON.parse(String(event.data)) as { id?: number }).id !== 1) return;
        clearTimeout(timer);
        resolve();
      };
    });
  } finally {
    ws.close();
  }
}
