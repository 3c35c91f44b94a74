/**
 * `npm run bench -- crash [--rounds 100] [--out DIR] [--services N] [--endpoints N] [--seed N]`:
 * kill -9 the resolver (dist/, the real process) at random moments while
 * snapshots are being written to its --state-dir, again and again, and check
 * that every restart loads a valid snapshot — the one acknowledged last or the
 * one in flight — and never a partial file.
 *
 * Each round starts the resolver on the state directory the round before left,
 * then feeds it newer generations of a synthetic cluster's snapshot (a few MB,
 * so that writing it takes a while): pushed (PUT /v1/snapshot) in two rounds of
 * three, pulled from a publisher on 127.0.0.1 in the third. It is killed either
 * after a random delay or just as a temporary file appears in the state
 * directory (within 0-3 ms: mid-write). Then, before the next start:
 * - the state file must be byte for byte one of the snapshots sent, verify
 *   (schema and signature), and be of a generation between the last one the
 *   resolver acknowledged (204; pulls: the one applied before the last) and
 *   the newest one sent;
 * - temporary files left by the kill are counted; the next start must load
 *   exactly that generation and remove them (within 5 s: it waits to see that
 *   their writer's heartbeat has stopped).
 * Any other outcome fails the bench (exit code 1) with the round's details.
 * The figures go to stdout and, with --out, to DIR/crash.json.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { watch } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { buildSnapshot } from '../snapshot/build.js';
import { generateKeyPair, publicKeyToPem } from '../snapshot/keys.js';
import { signSnapshot, verifySignature } from '../snapshot/sign.js';
import type { SnapshotV1 } from '../snapshot/types.js';
import { parseSnapshot } from '../snapshot/validate.js';
import { syntheticCluster } from './cluster.js';
import { median, root } from './tools.js';

/** Settings of {@link crashRounds}. */
export interface CrashOptions {
  readonly rounds: number;
  readonly services: number;
  readonly endpoints: number;
  readonly seed: number;
  /** Progress lines (one per round); default none. */
  readonly print?: (line: string) => void;
}

/** What one round saw. */
export interface RoundOutcome {
  readonly round: number;
  readonly source: 'push' | 'pull';
  readonly kill: 'random' | 'mid-write';
  /** When the kill came, in ms after the first snapshot of the round was sent. */
  readonly killAfterMs: number;
  /** Last generation acknowledged (push: 204; pull: served and applied as logged) before the kill; the round's start otherwise. */
  readonly acknowledged: number;
  /** Newest generation sent. */
  readonly sent: number;
  /** Generation of the state file after the kill (checked: valid, one of those sent). */
  readonly persisted: number;
  /** 'previous': the acknowledged one; 'new': one in flight when killed. */
  readonly outcome: 'previous' | 'new';
  /** Temporary files the kill left in the state directory (the next start removes them). */
  readonly strays: number;
  /** Time from spawn to "resolver serving" of the start that loaded it, in ms. */
  readonly restartMs: number;
}

/** Summary of a run. */
export interface CrashSummary {
  readonly rounds: readonly RoundOutcome[];
  readonly previous: number;
  readonly new: number;
  readonly midWriteKills: number;
  readonly strays: number;
  readonly medianRestartMs: number;
  readonly snapshotBytes: number;
}

/** A round that went wrong: the bench's reason to fail. */
export class CrashCheckError extends Error {}

interface Started {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  /** Generation loaded from the state directory at start (undefined: none, or refused). */
  readonly loaded: number | undefined;
  readonly receiver: number;
  readonly ms: number;
  /** Generations the resolver logged as applied. */
  readonly applied: number[];
}

function startResolver(stateDir: string, keyFile: string, pullUrl: string | undefined): Promise<Started> {
  const args = [
    join(root, 'bin', 'holdfast'), 'resolver', '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--receiver-listen', '127.0.0.1:0',
    '--upstream', '127.0.0.1:9', '--trust-key', keyFile, '--state-dir', stateDir, '--no-reuse-port',
    ...(pullUrl ? ['--snapshot-url', pullUrl, '--snapshot-pull-interval', '100ms'] : []),
  ];
  const began = performance.now();
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const applied: number[] = [];
  let loaded: number | undefined;
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      if (line.includes('"snapshot applied"')) {
        const { generation, source } = JSON.parse(line) as { generation: number; source: string };
        applied.push(generation);
        if (source === 'state') loaded = generation;
      }
      if (!line.includes('"resolver serving"')) return;
      const { receiver } = JSON.parse(line) as { receiver: { port: number } };
      resolve({ child, exited, loaded, receiver: receiver.port, ms: performance.now() - began, applied });
    });
    child.once('exit', (code, signal) => reject(new CrashCheckError(`the resolver exited (${signal ?? code}) before serving: ${stderr.slice(-2000)}`)));
  });
}

/** The publisher side: newer generations of one snapshot, signed, remembered by content. */
class Generations {
  private readonly byDigest = new Map<string, number>();
  newest = 0;
  constructor(
    private readonly base: SnapshotV1,
    private readonly key: KeyObject,
  ) {}

  next(): { generation: number; bytes: Buffer } {
    const generation = ++this.newest;
    const bytes = Buffer.from(JSON.stringify(signSnapshot({ ...this.base, generation }, this.key)));
    this.byDigest.set(createHash('sha256').update(bytes).digest('hex'), generation);
    return { generation, bytes };
  }

  /** The generation whose exact bytes these are, or undefined (a partial or foreign file). */
  which(bytes: Buffer): number | undefined {
    return this.byDigest.get(createHash('sha256').update(bytes).digest('hex'));
  }
}

/** A publisher on 127.0.0.1 that hands out a newer generation at each pull. */
async function pullServer(generations: Generations): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const { generation, bytes } = generations.next();
    res.writeHead(200, { 'content-type': 'application/json', etag: `"${generation}"` }).end(bytes);
    req.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { server, url: `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/v1/snapshot` };
}

const strayNames = async (dir: string) => (await readdir(dir)).filter((name) => name.endsWith('.tmp'));

/** Runs the rounds; resolves with the summary, rejects with a CrashCheckError on the first bad round. */
export async function crashRounds(options: CrashOptions): Promise<CrashSummary> {
  const print = options.print ?? (() => {});
  const work = await mkdtemp(join(tmpdir(), 'holdfast-crash-'));
  const stateDir = join(work, 'state');
  await mkdir(stateDir);
  const keys = generateKeyPair();
  const keyFile = join(work, 'trusted.pub');
  await writeFile(keyFile, publicKeyToPem(keys.publicKey));
  const { snapshot: base } = buildSnapshot(syntheticCluster({ services: options.services, endpoints: options.endpoints }, options.seed), {
    clusterDomain: 'cluster.local',
    generation: 0,
    now: new Date(),
  });
  const generations = new Generations(base, keys.privateKey);
  let random = options.seed >>> 0 || 1;
  const rand = () => ((random = (Math.imul(random, 1_103_515_245) + 12_345) >>> 0) / 2 ** 32);

  let acknowledged = 0; // generation the state must hold at least
  let sentMax = 0;
  const outcomes: RoundOutcome[] = [];
  let pending: Omit<RoundOutcome, 'restartMs'> | undefined;
  const servers: Server[] = [];
  let running: ChildProcess | undefined;
  try {
    for (let round = 1; round <= options.rounds + 1; round++) {
      const source = round % 3 === 0 ? 'pull' : 'push';
      const last = round > options.rounds;
      let url: string | undefined;
      if (source === 'pull' && !last) {
        const started = await pullServer(generations);
        servers.push(started.server);
        url = started.url;
      }
      const resolver = await startResolver(stateDir, keyFile, url);
      running = resolver.child;
      // The start removes them in the background, once it has seen their writer's heartbeat stop (about a second).
      let left = await strayNames(stateDir);
      for (let i = 0; i < 50 && left.length > 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        left = await strayNames(stateDir);
      }
      if (pending) {
        if (resolver.loaded !== pending.persisted) {
          throw new CrashCheckError(`round ${pending.round}: the restart loaded generation ${resolver.loaded}, the state file holds ${pending.persisted}`);
        }
        if (left.length > 0) throw new CrashCheckError(`round ${pending.round}: temporary files remain after the restart: ${left.join(', ')}`);
        const outcome = { ...pending, restartMs: resolver.ms };
        outcomes.push(outcome);
        print(
          `round ${String(outcome.round).padStart(3)}  ${outcome.source}  kill ${outcome.kill.padEnd(9)} at ${String(Math.round(outcome.killAfterMs)).padStart(5)} ms  ` +
            `acked ${outcome.acknowledged}  sent ${outcome.sent}  loaded ${outcome.persisted} (${outcome.outcome})  strays ${outcome.strays}  restart ${Math.round(outcome.restartMs)} ms`,
        );
      }
      if (last) {
        resolver.child.kill('SIGTERM');
        await resolver.exited;
        break;
      }
      acknowledged = resolver.loaded ?? 0;
      const roundStart = acknowledged;

      // Feed it and kill it.
      const midWrite = round % 2 === 0;
      let killedAt = 0;
      let killed = false;
      const began = performance.now();
      const kill = () => {
        if (killed) return;
        killed = true;
        killedAt = performance.now() - began;
        resolver.child.kill('SIGKILL');
      };
      const watcher = midWrite
        ? watch(stateDir, (_event, name) => {
            if (name?.endsWith('.tmp')) setTimeout(kill, Math.floor(rand() * 4));
          })
        : undefined;
      const fallback = setTimeout(kill, midWrite ? 20_000 : rand() * 2500);
      if (source === 'pull') {
        // A pulled generation is persisted before the next one is taken: every one applied but the last is acknowledged.
        await resolver.exited;
        sentMax = generations.newest;
        acknowledged = Math.max(roundStart, ...resolver.applied.slice(0, -1));
      } else {
        const put = `http://127.0.0.1:${resolver.receiver}/v1/snapshot`;
        while (!killed) {
          const { generation, bytes } = generations.next();
          sentMax = generation;
          try {
            const res = await fetch(put, { method: 'PUT', body: bytes });
            if (res.status === 204) acknowledged = generation;
            else if (!killed) throw new CrashCheckError(`round ${round}: generation ${generation} answered ${res.status}: ${await res.text()}`);
          } catch (error) {
            if (error instanceof CrashCheckError) throw error;
            if (!killed) throw new CrashCheckError(`round ${round}: push failed before the kill: ${String(error)}`);
          }
        }
        await resolver.exited;
      }
      clearTimeout(fallback);
      watcher?.close();

      // What the kill left.
      const bytes = await readFile(join(stateDir, 'snapshot.json')).catch(() => undefined);
      const strays = (await strayNames(stateDir)).length;
      if (!bytes) {
        if (acknowledged > 0) throw new CrashCheckError(`round ${round}: the state file is gone (generation ${acknowledged} was acknowledged)`);
        pending = undefined;
        continue;
      }
      const persisted = generations.which(bytes);
      if (persisted === undefined) throw new CrashCheckError(`round ${round}: the state file (${bytes.length} bytes) is not one of the snapshots sent: partial or corrupt`);
      verifySignature(parseSnapshot(bytes), [keys.publicKey]);
      if (persisted < acknowledged || persisted > sentMax) {
        throw new CrashCheckError(`round ${round}: the state file holds generation ${persisted}, outside [acknowledged ${acknowledged}, sent ${sentMax}]`);
      }
      pending = {
        round,
        source,
        kill: midWrite ? 'mid-write' : 'random',
        killAfterMs: killedAt,
        acknowledged,
        sent: sentMax,
        persisted,
        outcome: persisted === acknowledged ? 'previous' : 'new',
        strays,
      };
    }
  } finally {
    if (running && running.exitCode === null && running.signalCode === null) running.kill('SIGKILL');
    for (const server of servers) server.close();
    await rm(work, { recursive: true, force: true });
  }
  return {
    rounds: outcomes,
    previous: outcomes.filter((o) => o.outcome === 'previous').length,
    new: outcomes.filter((o) => o.outcome === 'new').length,
    midWriteKills: outcomes.filter((o) => o.strays > 0).length,
    strays: outcomes.reduce((n, o) => n + o.strays, 0),
    medianRestartMs: median(outcomes.map((o) => o.restartMs)),
    snapshotBytes: JSON.stringify(signSnapshot(base, keys.privateKey)).length,
  };
}

/** The bench entry point. */
export async function crash(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: 'string', default: '100' },
      services: { type: 'string', default: '1000' },
      endpoints: { type: 'string', default: '20000' },
      seed: { type: 'string', default: '7' },
      out: { type: 'string' },
    },
  });
  const options: CrashOptions = {
    rounds: Number(values.rounds),
    services: Number(values.services),
    endpoints: Number(values.endpoints),
    seed: Number(values.seed),
    print: (line) => process.stdout.write(`${line}\n`),
  };
  process.stdout.write(`crash: ${options.rounds} rounds of kill -9 while snapshots of ${options.services} services / ${options.endpoints} endpoints are written\n`);
  const began = performance.now();
  let summary: CrashSummary;
  try {
    summary = await crashRounds(options);
  } catch (error) {
    process.stderr.write(`\nCRASH BENCH FAILED: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
    return;
  }
  const seconds = (performance.now() - began) / 1000;
  process.stdout.write(
    `\ncrash: ${summary.rounds.length} rounds in ${seconds.toFixed(0)} s, every restart loaded a valid snapshot: ` +
      `${summary.previous} the acknowledged one, ${summary.new} the one in flight; ` +
      `${summary.midWriteKills} kills left a temporary file (${summary.strays} in all), every one removed at the next start; ` +
      `median restart ${summary.medianRestartMs.toFixed(0)} ms; snapshot ${(summary.snapshotBytes / 1e6).toFixed(1)} MB\n`,
  );
  if (values.out) {
    await mkdir(values.out, { recursive: true });
    await writeFile(join(values.out, 'crash.json'), `${JSON.stringify({ options: { ...options, print: undefined }, seconds, ...summary }, null, 2)}\n`);
  }
}
