/**
 * `npm run bench -- <name> [options]`: the benchmark entry point.
 * Benches: `throughput` (cluster-zone queries per second, holdfast next to a bare
 * node:dgram server) and `snapshot` (build, sign, verify and apply a large
 * snapshot; memory; query stalls while it is applied) and `restart` (queries lost
 * while the resolver restarts under load, hand-over versus stop-start), `crash` (kill -9
 * while snapshots are written to the state directory; every restart must load a valid one),
 * `bomb` (the resolver's memory while it refuses gzip bombs pushed to it), `sidecar` (memory
 * of a resolver pulling a 1,000-service snapshot, to size deploy/sidecar), `overload` (stepped
 * loads beyond capacity: answers, drops, memory, recovery) and `soak` (10 minutes of mixed
 * load with snapshot pushes: leaks, error logs, p99).
 * Run without a name for all of them with default options.
 */
import { bomb } from './bomb.js';
import { crash } from './crash.js';
import { overload } from './overload.js';
import { restart } from './restart.js';
import { sidecar } from './sidecar.js';
import { snapshot } from './snapshot.js';
import { soak } from './soak.js';
import { throughput } from './throughput.js';

const benches: Record<string, (argv: string[]) => Promise<void>> = { throughput, snapshot, restart, crash, bomb, sidecar, overload, soak };

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
