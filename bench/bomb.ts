/**
 * `npm run bench -- bomb [--gib 4] [--pushes 3]`: memory of the resolver (dist/,
 * the real process) while it refuses gzip bombs pushed to PUT /v1/snapshot —
 * a few MB that unpack to --gib GiB. The resolver's RSS and that of its
 * verification process (where the unpacking happens, stopped at the 64 MiB
 * JSON limit) are sampled from /proc every 10 ms; the answer must be 413 and
 * the snapshot served must stay. Prints the baseline, the peaks and the RSS
 * after the pushes.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { generateKeyPair, publicKeyToPem } from '../snapshot/keys.js';
import { signSnapshot } from '../snapshot/sign.js';
import type { SignedSnapshot } from '../snapshot/types.js';
import { childPids, procMemory } from './children.js';
import { root } from './tools.js';

/** Resident set size of `pid` in MB (MiB, as the kernel counts); 0 when it is gone. */
const rssMb = (pid: number) => (procMemory(pid)?.rss ?? 0) / (1024 * 1024);

/**
 * A gzip stream that unpacks to `gib` GiB of spaces from a few MB: one member of
 * 64 MiB, repeated (gunzip reads concatenated members as one stream).
 */
export function gzipBomb(gib: number): Buffer {
  const member = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20), { level: 9 });
  return Buffer.concat(Array.from({ length: gib * 16 }, () => member));
}

/** The bench entry point. */
export async function bomb(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { gib: { type: 'string', default: '4' }, pushes: { type: 'string', default: '3' } } });
  const gib = Number(values.gib);
  const work = await mkdtemp(join(tmpdir(), 'holdfast-bomb-'));
  const keys = generateKeyPair();
  const keyFile = join(work, 'trusted.pub');
  await writeFile(keyFile, publicKeyToPem(keys.publicKey));
  const demo = (JSON.parse(readFileSync(join(root, 'demo', 'demo-snapshot.json'), 'utf8')) as SignedSnapshot).snapshot;
  const body = gzipBomb(gib);

  const args = [join(root, 'bin', 'holdfast'), 'resolver', '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--receiver-listen', '127.0.0.1:0',
    '--upstream', '127.0.0.1:9', '--trust-key', keyFile, '--state-dir', join(work, 'state')];
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
        if (line.includes('"resolver serving"')) resolve((JSON.parse(line) as { receiver: { port: number } }).receiver.port);
      });
      child.once('exit', (code) => reject(new Error(`the resolver exited (${code}) before serving`)));
    });
    const url = `http://127.0.0.1:${port}/v1/snapshot`;
    const pid = child.pid as number;
    const good = await fetch(url, { method: 'PUT', body: JSON.stringify(signSnapshot({ ...demo, generation: 1 }, keys.privateKey)) });
    if (good.status !== 204) throw new Error(`the first snapshot answered ${good.status}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const baseline = rssMb(pid);
    let peak = baseline;
    let childPeak = 0;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssMb(pid));
      for (const c of childPids(pid)) childPeak = Math.max(childPeak, rssMb(c));
    }, 10);
    const statuses: number[] = [];
    const began = performance.now();
    for (let i = 0; i < Number(values.pushes); i++) statuses.push((await fetch(url, { method: 'PUT', body })).status);
    const ms = (performance.now() - began) / Number(values.pushes);
    clearInterval(sampler);
    const status = await (await fetch(`${url}/status`)).json();
    process.stdout.write(
      `bomb: ${values.pushes} pushes of ${(body.length / 1e6).toFixed(1)} MB gzip unpacking to ${gib} GiB: answers ${statuses.join(', ')} (${ms.toFixed(0)} ms each), ` +
        `generation served after: ${JSON.stringify(status)}\n` +
        `bomb: resolver RSS baseline ${baseline.toFixed(0)} MB, peak ${peak.toFixed(0)} MB, after ${rssMb(pid).toFixed(0)} MB; verification process peak ${childPeak.toFixed(0)} MB\n`,
    );
    if (statuses.some((s) => s !== 413)) process.exitCode = 1;
  } finally {
    child.kill('SIGKILL');
    await rm(work, { recursive: true, force: true });
  }
}
