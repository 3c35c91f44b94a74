/**
 * The quick throughput bench (`npm run bench:throughput -- --quick`, built-in
 * Node load generator, peers left out to keep it short) as a whole: it must
 * finish and write throughput.json and throughput.md of the promised shape.
 * Speed is not checked here: that is what the bench is for.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runBench } from './helpers/bench.js';

const out = mkdtempSync(join(tmpdir(), 'holdfast-throughput-test-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

/** Runs the quick bench, bounded to `limitMs`. */
const runQuick = (limitMs: number) =>
  runBench('throughput-main.js', ['--quick', '--seconds', '0.5', '--rounds', '1', '--loadgen', 'node', '--peer', 'none', '--workers', '2', '--out', out], limitMs);

interface Server {
  name: string;
  kind: string;
  qps: number;
  qpsRounds: number[];
  latencyMs: { p50: number; p99: number; p99_9: number };
  cpuUsPerQuery: number | null;
}

describe('throughput bench, quick', () => {
  it('writes throughput.json and throughput.md with the bare ceiling, holdfast zone and cache hits', async () => {
    const { code, output } = await runQuick(50_000);
    expect(code, output).toBe(0);
    const report = JSON.parse(readFileSync(join(out, 'throughput.json'), 'utf8')) as {
      quick: boolean;
      loadgen: string;
      rounds: number;
      servers: Server[];
      skipped: unknown[];
      ratios: { zoneOfBare: number; cacheOfBare: number; cacheOfPeer: Record<string, number>; scaling: { workers: number; zone: number; cache: number; zoneCpu: number } | null };
    };
    expect(report.quick).toBe(true);
    expect(report.loadgen).toBe('node');
    expect(report.servers.map((s) => s.kind)).toEqual(['bare', 'holdfast-zone', 'holdfast-cache', 'holdfast-zone-workers', 'holdfast-cache-workers']);
    expect(report.servers.map((s) => s.name).slice(3)).toEqual(['holdfast-zone-x2', 'holdfast-cache-x2']);
    for (const s of report.servers) {
      expect(s.qpsRounds).toHaveLength(1);
      expect(s.qps, s.name).toBeGreaterThan(0);
      const { p50, p99, p99_9 } = s.latencyMs;
      expect(p50, s.name).toBeGreaterThan(0);
      expect(p50).toBeLessThanOrEqual(p99);
      expect(p99).toBeLessThanOrEqual(p99_9);
    }
    expect(report.ratios.zoneOfBare).toBeGreaterThan(0);
    expect(report.ratios.cacheOfBare).toBeGreaterThan(0);
    expect(report.ratios.cacheOfPeer).toEqual({});
    expect(report.ratios.scaling?.workers).toBe(2);
    expect(report.ratios.scaling?.zone).toBeGreaterThan(0);
    if (process.platform === 'linux') {
      for (const s of report.servers) expect(s.cpuUsPerQuery, s.name).toBeGreaterThan(0);
    }

    const md = readFileSync(join(out, 'throughput.md'), 'utf8');
    expect(md).toContain('| server | QPS (median) | of bare | CPU µs/query | p50 ms | p99 ms | p99.9 ms |');
    for (const s of report.servers) expect(md).toMatch(new RegExp(`^\\| ${s.name} \\| \\d+ \\|`, 'm'));
    expect(md).toContain('holdfast cluster zone / bare:');
    expect(md).toContain('holdfast --workers 2 / one thread:');
    expect(md).toContain('CoreDNS');
  }, 60_000);
});
