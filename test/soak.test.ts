/**
 * The soak bench: its verdict logic on made-up samples, and a bounded 20-second
 * run against a real resolver (dist) that must produce a verdict with no error
 * log lines and snapshots applied. Timings (p99, slopes) are printed, never asserted.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LEAK_BOUND, soakVerdict } from '../bench/soak.js';
import type { SoakSample, SoakVerdict } from '../bench/soak.js';
import { runBench } from './helpers/bench.js';

const MiB = 1024 * 1024;
const sample = (i: number, heap: number, rss: number, errors = 0): SoakSample => ({
  atSeconds: (i + 1) * 10,
  rssBytes: rss,
  heapUsedBytes: heap,
  sent: 1000,
  answered: 1000,
  p99Ms: 1,
  staleServed: 0,
  snapshotsApplied: i,
  errorLogLines: errors,
});
const flat = Array.from({ length: 12 }, (_, i) => sample(i, 20 * MiB, 100 * MiB));
const latencies = Array.from({ length: 1000 }, (_, i) => 0.1 + i / 1000);

describe('soakVerdict', () => {
  it('passes flat memory, no errors, the same latencies and every query answered', () => {
    const v = soakVerdict(flat, latencies, latencies);
    expect(v).toMatchObject({ noLeak: true, noErrors: true, p99Steady: true, allAnswered: true, pass: true });
    expect(v.heapSlopeBytesPerMinute).toBe(0);
  });

  it('calls a heap growing faster than the bound over the second half a leak, and gives the slope', () => {
    // Growth in the first half only (warm-up) is not a leak.
    const warm = flat.map((s, i) => ({ ...s, heapUsedBytes: (10 + Math.min(i, 6) * 2) * MiB }));
    expect(soakVerdict(warm, latencies, latencies).noLeak).toBe(true);
    const growing = flat.map((s, i) => ({ ...s, heapUsedBytes: 20 * MiB + i * 0.5 * MiB })); // 3 MiB/min at 10 s per sample
    const v = soakVerdict(growing, latencies, latencies);
    expect(v.noLeak).toBe(false);
    expect(v.pass).toBe(false);
    expect(v.heapSlopeBytesPerMinute).toBeCloseTo(3 * MiB, -3);
    expect(v.heapSlopeBytesPerMinute).toBeGreaterThan(LEAK_BOUND.heapBytesPerMinute);
    const rss = flat.map((s, i) => ({ ...s, rssBytes: 100 * MiB + i * MiB }));
    expect(soakVerdict(rss, latencies, latencies).noLeak).toBe(false);
  });

  it('does not call an RSS sawtooth (garbage-collection cycles) that stays under the first half\'s peak a leak', () => {
    // Rises 10 MiB per sample, falls back every 6 samples: the second half's line slopes up, its peak is no higher.
    const saw = flat.map((s, i) => ({ ...s, rssBytes: (150 + (i % 6) * 10) * MiB }));
    const v = soakVerdict(saw, latencies, latencies);
    expect(v.rssSlopeBytesPerMinute).toBeGreaterThan(LEAK_BOUND.rssBytesPerMinute);
    expect(v.rssPeakSecondHalfBytes).toBeLessThanOrEqual(v.rssPeakFirstHalfBytes);
    expect(v.noLeak).toBe(true);
    const higher = saw.map((s, i) => (i === 10 ? { ...s, rssBytes: 250 * MiB } : s));
    expect(soakVerdict(higher, latencies, latencies).noLeak).toBe(false);
  });

  it('fails on error log lines, a p99 that more than doubled, or unanswered queries', () => {
    const errors = flat.map((s, i) => ({ ...s, errorLogLines: i > 8 ? 1 : 0 }));
    expect(soakVerdict(errors, latencies, latencies)).toMatchObject({ noErrors: false, errorLogLines: 1, pass: false });
    const slower = latencies.map((ms) => ms * 10);
    expect(soakVerdict(flat, latencies, slower)).toMatchObject({ p99Steady: false, pass: false });
    const lost = flat.map((s, i) => (i === 3 ? { ...s, answered: 900 } : s));
    expect(soakVerdict(lost, latencies, latencies)).toMatchObject({ allAnswered: false, pass: false });
  });
});

describe('npm run bench -- soak (20 s)', () => {
  const out = mkdtempSync(join(tmpdir(), 'holdfast-soak-test-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('produces samples and a verdict, with no error log lines and the pushed snapshots applied', async () => {
    const run = await runBench('main.js', ['soak', '--seconds', '20', '--sample', '5', '--snapshot-every', '2', '--qps', '500', '--tcp-qps', '20', '--out', out], 90_000);
    expect(run.code, run.output).toBe(0);
    const report = JSON.parse(readFileSync(join(out, 'soak.json'), 'utf8')) as { samples: SoakSample[]; verdict: SoakVerdict };
    expect(report.samples).toHaveLength(4);
    for (const key of ['noLeak', 'noErrors', 'p99Steady', 'allAnswered', 'pass'] as const) expect(typeof report.verdict[key]).toBe('boolean');
    expect(report.verdict.errorLogLines).toBe(0);
    expect(report.samples.every((s) => s.sent > 0 && s.answered > 0 && s.rssBytes > 0 && s.heapUsedBytes > 0)).toBe(true);
    expect(report.samples[report.samples.length - 1]?.snapshotsApplied).toBeGreaterThan(2);
    expect(readFileSync(join(out, 'soak.md'), 'utf8')).toContain('Verdict:');
  }, 100_000);
});
