/**
 * The processes the overload and soak benches drive: a resolver (dist, a real
 * child process) whose JSON log lines are watched for errors, and the fake
 * upstream (`fake-upstream.ts`); plus reading the resolver's /metrics and /proc.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { UpstreamSpec } from './fake-upstream.js';
import { root, startServer } from './tools.js';

/** A running resolver child. */
export interface ResolverChild {
  readonly child: ChildProcess;
  readonly port: number;
  readonly metricsPort: number;
  /** The snapshot receiver's port (0 without --receiver-listen). */
  readonly receiverPort: number;
  /** Log lines at level 50 (error) or above so far, and the first few of them. */
  readonly errors: { count: number; readonly first: string[] };
}

/** Starts `holdfast resolver` with `args` on CPU(s) `cpus`; resolves once it serves. */
export async function startResolverChild(args: readonly string[], cpus: number | string = 0): Promise<ResolverChild> {
  type Bound = { port: number; metricsPort: number; receiverPort: number };
  const pick = (line: string): Bound | undefined => {
    if (!line.includes('"resolver serving"')) return undefined;
    const l = JSON.parse(line) as { listen: { port: number }[]; metrics: { port: number }; receiver?: { port: number } };
    return { port: l.listen[0]?.port ?? 0, metricsPort: l.metrics.port, receiverPort: l.receiver?.port ?? 0 };
  };
  const started = await startServer([join(root, 'bin', 'holdfast'), 'resolver', ...args], pick, false, cpus);
  const errors = { count: 0, first: [] as string[] };
  createInterface({ input: started.child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    let level = 0;
    try {
      level = Number((JSON.parse(line) as { level?: number }).level ?? 0);
    } catch {
      level = 50; // not JSON: something wrote to stdout that is not a log line
    }
    if (level < 50) return;
    errors.count++;
    if (errors.first.length < 5) errors.first.push(line.slice(0, 500));
  });
  return { child: started.child, ...started.port, errors };
}

/** Starts the fake upstream (`fake-upstream.ts`) on CPU(s) `cpus`; resolves with its port. */
export async function startFakeUpstream(spec: UpstreamSpec, cpus: number | string = 1): Promise<{ child: ChildProcess; port: number }> {
  const pick = (line: string) => (line.startsWith('{"port"') ? (JSON.parse(line) as { port: number }).port : undefined);
  return startServer([join(root, 'dist', 'bench', 'fake-upstream.js'), JSON.stringify(spec)], pick, false, cpus);
}

/** One /metrics scrape, summed by metric name. */
export class Scrape {
  private constructor(private readonly lines: readonly string[]) {}

  static async of(metricsPort: number): Promise<Scrape> {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    return new Scrape(text.split('\n').filter((l) => l !== '' && !l.startsWith('#')));
  }

  /** The sum of every series of `name` whose labels contain each of `labels` (`key="value"`). */
  sum(name: string, ...labels: string[]): number {
    let total = 0;
    for (const line of this.lines) {
      const brace = line.indexOf('{');
      const space = line.lastIndexOf(' ');
      const metric = brace >= 0 ? line.slice(0, brace) : line.slice(0, space);
      if (metric !== name || !labels.every((l) => line.includes(l))) continue;
      total += Number(line.slice(space + 1));
    }
    return total;
  }

  /** The series of `name` summed by the value of its label `label`. */
  by(name: string, label: string): Record<string, number> {
    const out: Record<string, number> = {};
    const pattern = new RegExp(`${label}="([^"]*)"`);
    for (const line of this.lines) {
      if (!line.startsWith(`${name}{`)) continue;
      const key = pattern.exec(line)?.[1] ?? '';
      out[key] = (out[key] ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return out;
  }
}

/** VmRSS and VmHWM (peak RSS) of `pid` in bytes, from /proc (undefined elsewhere or when it is gone). */
export function procMemory(pid: number): { rss: number; peak: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024;
    return { rss: kb('VmRSS'), peak: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

/** Pids of the child processes of `pid` (a resolver's verification process), from /proc; none elsewhere or when it is gone. */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Stops `child` with SIGTERM (SIGKILL after 5 s) and waits for it. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/**
 * Caps `pid` (every thread) at `fraction` of one CPU with a CPU cgroup (v2
 * `cpu.max`, or v1 `cpu.cfs_quota_us`): a resolver small enough that a load
 * generator on the other CPU of a small machine can offer several times its
 * capacity. Returns how to remove the cgroup (after the process has exited), or
 * undefined where no cgroup can be made (not root, not Linux).
 */
export function limitCpu(pid: number, fraction: number): (() => void) | undefined {
  const period = 100_000;
  const quota = Math.max(1000, Math.round(fraction * period));
  const v2 = existsSync('/sys/fs/cgroup/cgroup.controllers');
  const dir = v2 ? `/sys/fs/cgroup/holdfast-bench-${pid}` : `/sys/fs/cgroup/cpu/holdfast-bench-${pid}`;
  try {
    mkdirSync(dir);
    if (v2) writeFileSync(join(dir, 'cpu.max'), `${quota} ${period}`);
    else {
      writeFileSync(join(dir, 'cpu.cfs_period_us'), String(period));
      writeFileSync(join(dir, 'cpu.cfs_quota_us'), String(quota));
    }
    writeFileSync(join(dir, 'cgroup.procs'), String(pid));
  } catch {
    try {
      rmdirSync(dir);
    } catch {
      // never made
    }
    return undefined;
  }
  return () => {
    try {
      rmdirSync(dir);
    } catch {
      // still has a process; the kernel keeps it until then
    }
  };
}
