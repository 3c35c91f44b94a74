/** Small helpers the benches share: the repository root, tool detection, CPU pinning, child servers, medians, percentiles. */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

/** The repository root (benches run from dist/bench/; tests import them from bench/). */
export const root = new URL(import.meta.url.includes('/dist/bench/') ? '../..' : '..', import.meta.url).pathname;

/** True when `command` is on the PATH. */
export function has(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** `argv` run on CPU `cpus` (a number, or a list such as `0-1`; through taskset when it exists, else unpinned). */
export function pinned(cpus: number | string, argv: readonly string[]): string[] {
  return has('taskset') ? ['taskset', '-c', String(cpus), ...argv] : [...argv];
}

/** The median of `xs` (NaN when empty). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  if (s.length === 0) return Number.NaN;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** The `p`-th percentile (0-100, nearest rank) of ascending `sorted`. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

/**
 * Starts node with `args` (pinned to `cpus`, CPU 0 by default, when taskset exists)
 * and resolves with the first stdout line `pick` makes something of. `ipc` opens an IPC channel.
 */
export function startServer<T>(args: string[], pick: (line: string) => T | undefined, ipc = false, cpus: number | string = 0): Promise<{ child: ChildProcess; port: T }> {
  const [cmd, ...rest] = pinned(cpus, [process.execPath, ...args]);
  const child = spawn(cmd as string, rest, { cwd: root, stdio: ipc ? ['ignore', 'pipe', 'inherit', 'ipc'] : ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.on('line', (line) => {
      const port = pick(line);
      if (port !== undefined) resolve({ child, port });
    });
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)));
  });
}

let clockTicks: number | undefined;

/**
 * CPU time (user + system, every thread) a process has used so far, in seconds,
 * from /proc/PID/stat; undefined where there is no /proc or the process is gone.
 */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    return (Number(fields[11]) + Number(fields[12])) / clockTicks;
  } catch {
    return undefined;
  }
}
