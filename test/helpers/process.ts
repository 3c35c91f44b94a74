/**
 * Test helpers for holdfast as a process (bin/holdfast, built into dist/ first):
 * run a command to completion, or spawn a long-running one and follow its JSON
 * log lines; every spawned process is killed after each test.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { afterEach } from 'vitest';

/** The repository root and the CLI entry point. */
export const ROOT = resolve(import.meta.dirname, '..', '..');
export const BIN = join(ROOT, 'bin', 'holdfast');

/** The test's environment without any HOLDFAST_* variable, plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('HOLDFAST_')) env[k] = v;
  return { ...env, ...extra };
}

export interface Finished {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `holdfast ...args` to completion (killed after `timeoutMs`). */
export function runHoldfast(args: readonly string[], env: Record<string, string> = {}, timeoutMs = 10_000): Promise<Finished> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: cleanEnv(env) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      done({ code, signal, stdout, stderr });
    });
  });
}

export const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l !== '');

/** A spawned, serving resolver and its JSON log lines. */
export class Running {
  readonly logs: Record<string, unknown>[] = [];
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private buffered = '';
  private waiters: { match: (l: Record<string, unknown>) => boolean; wake: (l: Record<string, unknown>) => void }[] = [];

  constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (chunk: Buffer) => {
      this.buffered += chunk.toString();
      let nl: number;
      while ((nl = this.buffered.indexOf('\n')) >= 0) {
        const line = this.buffered.slice(0, nl);
        this.buffered = this.buffered.slice(nl + 1);
        let entry: Record<string, unknown>;
        try {
          entry = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        this.logs.push(entry);
        for (const w of this.waiters.filter((w) => w.match(entry))) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.wake(entry);
        }
      }
    });
    child.stderr?.on('data', (c: Buffer) => (this.stderr += c.toString()));
    this.exited = new Promise((done) => child.on('exit', (code, signal) => done({ code, signal })));
  }

  /** The first log line (already seen or to come) whose `msg` matches; rejects when the process exits first. */
  waitLog(msg: string | RegExp, from = 0, timeoutMs = 5000): Promise<Record<string, unknown>> {
    const match = (l: Record<string, unknown>) => (typeof msg === 'string' ? l['msg'] === msg : msg.test(String(l['msg'])));
    const seen = this.logs.slice(from).find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((done, reject) => {
      const timer = setTimeout(() => reject(new Error(`no log line '${String(msg)}' in ${timeoutMs} ms; stderr: ${this.stderr}`)), timeoutMs);
      const waiter = {
        match,
        wake: (l: Record<string, unknown>) => {
          clearTimeout(timer);
          done(l);
        },
      };
      this.waiters.push(waiter);
      void this.exited.then(({ code }) => {
        clearTimeout(timer);
        reject(new Error(`resolver exited (${code}) before logging '${String(msg)}': ${this.stderr}`));
      });
    });
  }
}

const running: Running[] = [];

/** How to spawn: `command` puts a wrapper (e.g. `ip netns exec NS`, `setpriv ...`) in front of node. */
export interface SpawnOptions {
  readonly command?: readonly string[];
}

/** Spawns `holdfast ...args`; the process is killed (SIGKILL) after the test unless it has exited. */
export function spawnHoldfast(args: readonly string[], env: Record<string, string> = {}, options: SpawnOptions = {}): Running {
  const [file, ...wrapper] = [...(options.command ?? []), process.execPath];
  const proc = new Running(spawn(file as string, [...wrapper, BIN, ...args], { cwd: ROOT, env: cleanEnv(env) }));
  running.push(proc);
  return proc;
}

afterEach(async () => {
  for (const proc of running.splice(0)) {
    if (proc.child.exitCode === null && proc.child.signalCode === null) {
      proc.child.kill('SIGKILL');
      await proc.exited;
    }
  }
});

/** Spawns a resolver on 127.0.0.1:0 and waits for its 'resolver serving' line; retries the UDP/TCP port race. */
export async function serveResolver(args: readonly string[], env: Record<string, string> = {}, options: SpawnOptions = {}): Promise<{ proc: Running; port: number; metricsPort: number }> {
  for (let attempt = 1; ; attempt++) {
    const proc = spawnHoldfast(['resolver', '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', ...args], env, options);
    try {
      const line = await proc.waitLog('resolver serving');
      const listen = line['listen'] as { port: number }[];
      const metrics = line['metrics'] as { port: number };
      return { proc, port: listen[0]?.port ?? 0, metricsPort: metrics.port };
    } catch (error) {
      // See startResolverRetrying in helpers/upstream.ts: TCP may find the port UDP got taken.
      if (attempt >= 5 || !/cannot listen on tcp .*EADDRINUSE/.test(proc.stderr)) throw error;
    }
  }
}

