/** Writing a fuzz report: fuzz.json, fuzz.md, and the reproducers of any failure or crash. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mib } from './harness.js';
import type { FuzzReport } from './harness.js';

/** The files written. */
export interface Written {
  readonly json: string;
  readonly markdown: string;
  /** reproducers.json (failed checks with input and reply, hex) when any check failed. */
  readonly reproducers: string | undefined;
  /** crash-inputs.hex (the last inputs sent, one per line) when the resolver exited. */
  readonly crashInputs: string | undefined;
}

const rcodes = (by: Record<string, number>) =>
  Object.entries(by)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(', ') || 'none';

/** A short text summary, the same lines as fuzz.md's body. */
export function summary(r: FuzzReport): string[] {
  const m = r.memory;
  return [
    `result: ${r.ok ? 'PASS' : 'FAIL'} — ${r.failureCount} failed checks; resolver ${r.alive ? 'alive' : `dead (${r.exit})`}; stopped by ${r.stoppedBy} after ${r.elapsedSeconds.toFixed(1)} s (seed ${r.seed})`,
    `UDP: ${r.udp.inputs} inputs, ${r.udp.perSecond.toFixed(0)} inputs/s; ${r.udp.replies} replies (${rcodes(r.udp.byRcode)}; TC ${r.udp.truncated}); dropped as required ${r.udp.dropped}; unanswered ${r.udp.unanswered}; late ${r.udp.late}`,
    `TCP: ${r.tcp.inputs} inputs, ${r.tcp.perSecond.toFixed(0)} inputs/s, ${Object.values(r.tcp.connections).reduce((a, b) => a + b, 0)} connections (${rcodes(r.tcp.connections)}); ${r.tcp.replies} replies (${rcodes(r.tcp.byRcode)}); dropped as required ${r.tcp.dropped}; unanswered ${r.tcp.unanswered}`,
    `probes: ${r.probes.sent} sent, ${r.probes.failed} failed; final UDP ${r.probes.finalUdp ?? 'ok'}, final TCP ${r.probes.finalTcp ?? 'ok'}`,
    `memory (heap / external / RSS / cache): ${(['baseline', 'peak', 'end'] as const).map((k) => `${k} ${mib(m[k].heap)} / ${mib(m[k].external)} / ${mib(m[k].rss)} / ${mib(m[k].cache)}`).join('; ')}`,
    `memory bound: ${m.rule} = ${mib(m.bound)}: ${m.withinBound ? 'within' : 'EXCEEDED'}`,
    `upstream answers: ${rcodes(r.upstream)}`,
    ...Object.entries(r.failuresByCheck).map(([check, n]) => `failed ${n}×: ${check}`),
  ];
}

/** Writes the report files into `out`. */
export function writeFuzzReport(out: string, r: FuzzReport): Written {
  mkdirSync(out, { recursive: true });
  const json = join(out, 'fuzz.json');
  const markdown = join(out, 'fuzz.md');
  writeFileSync(json, `${JSON.stringify(r, null, 2)}\n`);
  writeFileSync(
    markdown,
    [
      '# holdfast wire fuzz',
      '',
      `${r.count} inputs asked, at most ${r.secondsLimit} s; seed ${r.seed}. Replay with \`npm run fuzz -- --count ${r.count} --seed ${r.seed}\`.`,
      '',
      ...summary(r).map((l) => `- ${l}`),
      '',
    ].join('\n'),
  );
  let reproducers: string | undefined;
  if (r.failures.length > 0) {
    reproducers = join(out, 'reproducers.json');
    writeFileSync(reproducers, `${JSON.stringify(r.failures, null, 2)}\n`);
  }
  let crashInputs: string | undefined;
  if (r.crashInputs.length > 0) {
    crashInputs = join(out, 'crash-inputs.hex');
    writeFileSync(crashInputs, `${r.crashInputs.join('\n')}\n`);
  }
  return { json, markdown, reproducers, crashInputs };
}
