/**
 * `npm run fuzz -- [--count N] [--seconds S] [--seed X] [--out DIR]`: the wire fuzz
 * harness (see harness.ts). Defaults: a million inputs, at most ten minutes of
 * sending, a random seed (printed, to replay), reports in bench/out/fuzz. Exits 1
 * when a check failed or the resolver died. All traffic stays on 127.0.0.1.
 */
import { resolve, join } from 'node:path';
import { parseArgs } from 'node:util';
import { root } from '../tools.js';
import { runFuzz } from './harness.js';
import { summary, writeFuzzReport } from './report.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '1000000' },
    seconds: { type: 'string', default: '600' },
    seed: { type: 'string' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write('Usage: npm run fuzz -- [--count N (1000000)] [--seconds S (600)] [--seed X (random)] [--out DIR (bench/out/fuzz)]\n');
  process.exit(0);
}
const count = Number(values.count);
const seconds = Number(values.seconds);
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
if (!(Number.isInteger(count) && count >= 100 && count <= 100_000_000 && seconds > 0 && seconds <= 86_400 && Number.isInteger(seed) && seed >= 0)) {
  process.stderr.write('fuzz: need 100 ≤ --count ≤ 100000000 (an integer), 0 < --seconds ≤ 86400, --seed a non-negative integer\n');
  process.exit(2);
}
const out = resolve(values.out ?? join(root, 'bench', 'out', 'fuzz'));
process.stdout.write(`fuzz: ${count} inputs, at most ${seconds} s, seed ${seed}\n`);
const report = await runFuzz({ count, seconds, seed, progress: (line) => process.stdout.write(`${line}\n`) });
const written = writeFuzzReport(out, report);
process.stdout.write(`${summary(report).join('\n')}\nreport: ${written.markdown}, ${written.json}\n`);
if (written.reproducers) process.stdout.write(`reproducers of the failed checks (hex): ${written.reproducers}\n`);
if (written.crashInputs) process.stdout.write(`inputs sent just before the resolver exited (hex): ${written.crashInputs}\n`);
process.exitCode = report.ok ? 0 : 1;
