/**
 * `npm run bench -- <name> [options]`: the benchmark entry point.
 * Benches: `throughput` (cluster-zone queries per second, holdfast next to a bare
 * node:dgram server) and `snapshot` (build, sign, verify and apply a large
 * snapshot; memory; query stalls while it is applied) and `restart` (queries lost
 * while the resolver restarts under load, hand-over versus stop-start) and `overload` (stepped
 * loads beyond capacity: answers, drops, memory, recovery) and `soak` (10 minutes of mixed
 * load with snapshot pushes: leaks, error logs, p99). Run without a name for
 * all of them with default options.
 */
import { overload } from './overload.js';
import { restart } from './restart.js';
import { snapshot } from './snapshot.js';
import { soak } from './soak.js';
import { throughput } from './throughput.js';

const benches: Record<string, (argv: string[]) => Promise<void>> = { throughput, snapshot, restart, overload, soak };

const [name, ...rest] = process.argv.slice(2);
if (name === '--help' || name === '-h') {
  process.stdout.write(`Usage: npm run bench -- [${Object.keys(benches).join('|')}] [options]\n`);
} else if (name === undefined) {
  for (const bench of Object.values(benches)) await bench([]);
} else {
  const bench = benches[name];
  if (!bench) {
    process.stderr.write(`unknown bench '${name}'; known: ${Object.keys(benches).join(', ')}\n`);
    process.exitCode = 2;
  } else await bench(rest);
}
