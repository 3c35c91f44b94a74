/**
 * Hostile snapshots for intake tests, as the bytes an attacker or a broken
 * publisher would send, and a resolver harness that says whether one changed
 * anything: the answers, the state file, the counters and the log.
 */
import type { KeyObject } from 'node:crypto';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { expect } from 'vitest';
import { RRType } from '../../resolver/wire/constants.js';
import { encodeQuery, recordText } from '../../resolver/wire/decode.js';
import type { EndpointV1, ServiceV1, SnapshotV1 } from '../../snapshot/types.js';
import { startResolver, udpQuery } from './dns.js';
import { demoSnapshot, signedBytes, WEB } from './snapshots.js';


/** The demo snapshot at `generation` with web's service replaced by `change(web)`. */
export function withWeb(generation: number, change: (web: ServiceV1) => unknown): SnapshotV1 {
  const s = demoSnapshot(generation, '10.96.99.99');
  return { ...s, services: s.services.map((v) => (v.namespace === 'default' && v.name === 'web' ? (change(v) as ServiceV1) : v)) };
}


/** `depth` nested arrays: `[[[...]]]`. */
export const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

/**
 * The demo snapshot's text with `count` endpoints for web, written as a string
 * (building a million objects first would cost the test far more).
 */
export function manyEndpointsJson(generation: number, count: number): string {
  const s = withWeb(generation, (web) => ({ ...web, endpoints: [] }));
  const endpoint: EndpointV1 = { addresses: ['10.244.1.10'], ready: true, serving: true, terminating: false, ports: [] };
  const text = JSON.stringify({ snapshot: s });
  const marker = '"endpoints":[]';
  const at = text.indexOf(marker, text.indexOf('"name":"web"'));
  const one = JSON.stringify(endpoint);
  return `${text.slice(0, at)}"endpoints":[${`${one},`.repeat(count - 1)}${one}]${text.slice(at + marker.length)}`;
}

/** A resolver holding the demo snapshot at generation 5 (web at 10.96.10.10), with its log captured. */
export interface Holding {
  readonly port: number;
  readonly metricsPort: number;
  readonly stateDir: string;
  readonly stateFile: string;
  /** The state file's bytes once generation 5 was applied. */
  readonly stateBytes: Buffer;
  readonly logs: Record<string, unknown>[];
  readonly resolver: Awaited<ReturnType<typeof startResolver>>['resolver'];
  /** PUT /v1/snapshot. */
  put(body: Buffer | string): Promise<Response>;
}

/** Starts a resolver with `flags` plus a receiver and a state dir, and pushes generation 5 signed by `key`. */
export async function holding(flags: Record<string, string | string[]>, key: KeyObject, defer: (close: () => Promise<void>) => void): Promise<Holding> {
  const stateDir = await mkdtemp(join(tmpdir(), 'holdfast-hostile-'));
  const logs: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  const started = await startResolver({ 'receiver-listen': '127.0.0.1:0', 'state-dir': stateDir, ...flags }, {}, log);
  defer(() => started.resolver.stop());
  const url = `http://127.0.0.1:${started.resolver.receiverAddress?.port}/v1/snapshot`;
  const put = (body: Buffer | string) => fetch(url, { method: 'PUT', body });
  expect((await put(signedBytes(demoSnapshot(5), key))).status).toBe(204);
  const stateFile = join(stateDir, 'snapshot.json');
  return { ...started, stateDir, stateFile, stateBytes: await readFile(stateFile), logs, put };
}

/** holdfast_snapshot_loads_total{source, result}, 0 when absent. */
export async function loads(metricsPort: number, source: string, result: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const line = new RegExp(`^holdfast_snapshot_loads_total\\{source="${source}",result="${result}"\\} (\\d+)$`, 'm').exec(text);
  return Number(line?.[1] ?? 0);
}

/** Web's A answer. */
export async function webA(port: number): Promise<string[]> {
  return (await udpQuery(port, encodeQuery(WEB, RRType.A))).answers.map(recordText);
}

/**
 * Checks that a rejection (`reason`, from `source`) changed nothing: counted
 * once, logged as a warning naming the reason, generation 5 still answered,
 * the state file byte for byte the same, no temporary file left.
 */
export async function unchangedAfter(h: Holding, source: string, reason: string): Promise<void> {
  expect(await loads(h.metricsPort, source, reason)).toBe(1);
  const warning = h.logs.find((l) => l['level'] === 40 && l['reason'] === reason && l['source'] === source);
  expect(warning?.['msg']).toMatch(/^snapshot rejected: ./);
  expect(await webA(h.port)).toEqual([`${WEB}. 5 IN A 10.96.10.10`]);
  expect(h.resolver.store.current()?.generation).toBe(5);
  expect((await readFile(h.stateFile)).equals(h.stateBytes)).toBe(true);
  expect((await readdir(h.stateDir)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
}
