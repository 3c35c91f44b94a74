/**
 * The quick stampede replay (`npm run bench:stampede -- --quick`, peers left out
 * to spare the CPU) as a whole: it must finish, write a report of the promised
 * shape, and show holdfast with snapshots riding out the outage that breaks the
 * TTL-only baseline, without raising the load on kube-dns.
 *
 * The thresholds leave room for a noisy machine (the figures here are 100 % vs
 * below 25 %), but not for the behaviour to regress: a holdfast that lost its
 * snapshot on restart, or fell back to kube-dns, fails them.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runBench } from './helpers/bench.js';

const out = mkdtempSync(join(tmpdir(), 'holdfast-stampede-test-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

/** Runs the quick bench, bounded to `limitMs`. */
const runQuick = (limitMs: number) => runBench(join('stampede', 'main.js'), ['--quick', '--peer', 'none', '--out', out], limitMs);

/** True when `text` is one well-formed <svg> element: every tag closed, in order. */
function wellFormedSvg(text: string): boolean {
  const body = text.trim();
  if (!body.startsWith('<svg') || !body.endsWith('</svg>') || !body.includes('xmlns="http://www.w3.org/2000/svg"')) return false;
  const open: string[] = [];
  for (const [tag] of body.matchAll(/<[^>]+>/g)) {
    if (tag.startsWith('<!--') || tag.startsWith('<?') || tag.startsWith('<!')) continue;
    const name = /^<\/?([\w:-]+)/.exec(tag)?.[1];
    if (name === undefined) return false;
    if (tag.startsWith('</')) {
      if (open.pop() !== name) return false;
    } else if (!tag.endsWith('/>')) open.push(name);
  }
  return open.length === 0;
}

interface Summary {
  successBefore: number | null;
  successDuring: number | null;
  successAfter: number | null;
  firstFailureSeconds: number | null;
  upstreamAmplification: number | null;
  recoverySeconds: number | null;
  p99MsDuring: number | null;
}
interface Report {
  timeScale: number;
  resolvers: { name: string; kind: string; summary: Summary; series: Record<string, unknown>[] }[];
}

describe('stampede replay, quick', () => {
  it('writes stampede.json, stampede.md and SVG charts, and holdfast with snapshots beats the TTL-only baseline', async () => {
    const { code, output } = await runQuick(105_000);
    expect(code, output).toBe(0);
    expect(output).toMatch(/\[stampede\] t=.* min (warmup|outage|recovery) +\|/); // progress lines

    const report = JSON.parse(readFileSync(join(out, 'stampede.json'), 'utf8')) as Report;
    expect(report.timeScale).toBe(60);
    expect(report.resolvers.map((r) => r.kind)).toEqual(['holdfast-snapshot', 'holdfast-forward', 'ttl-only']);
    for (const r of report.resolvers) {
      for (const key of ['successBefore', 'successDuring', 'successAfter', 'firstFailureSeconds', 'upstreamAmplification', 'recoverySeconds', 'p99MsDuring'] as const) {
        expect(r.summary, `${r.name}.summary.${key}`).toHaveProperty(key);
        const value = r.summary[key];
        expect(value === null || (typeof value === 'number' && value >= 0), `${r.name}.summary.${key} = ${value}`).toBe(true);
      }
      expect(r.series.length).toBeGreaterThan(40); // one point per wall-clock second of a ~50 s run
      expect(Object.keys(r.series[0] ?? {})).toEqual(expect.arrayContaining(['t', 'phase', 'queries', 'success', 'p99Ms', 'upstreamKubeDns', 'lookupsFailed', 'timeouts']));
      expect(r.summary.successBefore).toBeGreaterThan(0.99);
    }

    const md = readFileSync(join(out, 'stampede.md'), 'utf8');
    expect(md).toContain('| resolver | success before | during outage |');
    for (const r of report.resolvers) expect(md).toMatch(new RegExp(`^\\| ${r.name} \\|`, 'm'));
    for (const file of ['success.svg', 'upstream.svg']) {
      const svg = readFileSync(join(out, file), 'utf8');
      expect(wellFormedSvg(svg), file).toBe(true);
      for (const r of report.resolvers) expect(svg, `${file} legend`).toContain(r.name);
    }

    const by = (kind: string) => report.resolvers.find((r) => r.kind === kind)?.summary as Summary;
    const snapshot = by('holdfast-snapshot');
    const ttlOnly = by('ttl-only');
    expect(snapshot.successDuring).toBeGreaterThanOrEqual(0.99);
    expect(ttlOnly.successDuring).toBeLessThan(0.6);
    expect((snapshot.successDuring ?? 0) - (ttlOnly.successDuring ?? 1)).toBeGreaterThan(0.35);
    expect(snapshot.upstreamAmplification).not.toBeNull();
    expect(snapshot.upstreamAmplification).toBeLessThanOrEqual(1.0);
  }, 120_000);
});
