/**
 * `npm run bench:stampede -- [options]`: replays the cache-expiry stampede of a
 * control-plane outage (issue 5) against holdfast and the baselines, and writes
 * the report. Everything runs on 127.0.0.1; every process it starts is ended
 * when it ends, fails, or gets SIGINT/SIGTERM.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Children } from './children.js';
import { parseStampedeOptions, UsageRequest } from './options.js';
import type { StampedeOptions } from './options.js';
import { replay } from './replay.js';
import { buildReport, summaryTable, targetLines, writeReport } from './report.js';
import { prepare } from './setup.js';
import { Timeline } from './timeline.js';
import type { Upstreams } from './upstreams.js';

const log = (line: string) => process.stdout.write(`[stampede] ${line}\n`);

async function run(options: StampedeOptions): Promise<number> {
  const timeline = new Timeline(options.timeScale, options.warmup, options.outage, options.recovery);
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-stampede-'));
  const children = new Children();
  const abort = new AbortController();
  let upstreams: Upstreams | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    log(`${signal}: stopping`);
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const wall = (timeline.end / timeline.scale / 60).toFixed(1);
    log(`time scale ${timeline.scale}×: ${(timeline.end / 60).toFixed(0)} scenario minutes in about ${wall} wall-clock minutes`);
    const prepared = await prepare(options, timeline, dir, children, (u) => (upstreams = u), log);
    if (abort.signal.aborted) return 130;
    const replayed = await replay(options, timeline, prepared, log, abort.signal);
    if (replayed.interrupted) return 130;
    const report = buildReport(options, timeline, replayed, prepared.skipped);
    const out = resolve(options.out);
    await writeReport(out, report, timeline);
    process.stdout.write(`\n${summaryTable(report)}\n\n${targetLines(report).join('\n')}\n\nreport: ${join(out, 'stampede.md')}\n`);
    return 0;
  } finally {
    await children.stopAll();
    await upstreams?.close();
    rmSync(dir, { recursive: true, force: true });
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

let options: StampedeOptions | undefined;
try {
  options = parseStampedeOptions(process.argv.slice(2));
} catch (error) {
  if (error instanceof UsageRequest) process.stdout.write(error.message);
  else {
    process.stderr.write(`stampede: ${(error as Error).message}\n(npm run bench:stampede -- --help for the options)\n`);
    process.exitCode = 2;
  }
}
if (options) {
  try {
    process.exitCode = await run(options);
  } catch (error) {
    process.stderr.write(`stampede: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  }
}
