/** `--workers`: how many threads serve DNS. */
import { availableParallelism } from 'node:os';

/** Most worker threads accepted. */
export const MAX_WORKERS = 64;

/**
 * The number of serving threads `--workers TEXT` asks for: an integer from 1 to
 * {@link MAX_WORKERS}, or 0 for one per CPU this process may use
 * (`os.availableParallelism()`, which follows the CPU affinity mask, e.g. taskset
 * or a cgroup cpuset), at most {@link MAX_WORKERS}. A string says what is wrong.
 */
export function workerCount(text: string, cpus: () => number = availableParallelism): number | string {
  const n = /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isInteger(n) || n > MAX_WORKERS) return `'${text}' is not an integer from 0 to ${MAX_WORKERS} (0: one per CPU)`;
  return n === 0 ? Math.max(1, Math.min(MAX_WORKERS, cpus())) : n;
}
