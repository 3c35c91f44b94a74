/** `npm run bench:throughput -- [options]`: the throughput bench on its own (see throughput.ts). */
import { throughput } from './throughput.js';

await throughput(process.argv.slice(2));
