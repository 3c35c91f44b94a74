/**
 * Child processes of the harness (resolvers under test, peers): every one is
 * registered and ended when the harness ends, on error, on SIGINT/SIGTERM, and
 * even when the harness itself is killed (spawned through `setpriv --pdeathsig`
 * where util-linux has it).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { has } from '../tools.js';

/** A port on 127.0.0.1 that is free for both UDP and TCP right now. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const udp = createSocket('udp4');
    const port = await new Promise<number>((resolve) => udp.bind(0, '127.0.0.1', () => resolve(udp.address().port)));
    const tcp = createServer();
    const ok = await new Promise<boolean>((resolve) => {
      tcp.once('error', () => resolve(false));
      tcp.listen(port, '127.0.0.1', () => resolve(true));
    });
    udp.close();
    if (ok) {
      await new Promise((resolve) => tcp.close(resolve));
      return port;
    }
  }
  throw new Error('no free port on 127.0.0.1');
}

/** A started child process. */
export class Child {
  /** The last few KiB of its stderr (and of stdout lines that are not JSON), for error messages. */
  output = '';
  readonly exited: Promise<number | null>;
  private readonly listeners = new Set<(line: string) => void>();

  constructor(
    readonly name: string,
    readonly process: ChildProcess,
  ) {
    const keep = (text: string) => {
      this.output = (this.output + text).slice(-4096);
    };
    if (process.stdout) createInterface({ input: process.stdout }).on('line', (line) => {
      for (const l of this.listeners) l(line);
      if (!line.startsWith('{')) keep(`${line}\n`);
    });
    process.stderr?.on('data', (chunk: Buffer) => keep(chunk.toString()));
    this.exited = new Promise((resolve) => {
      process.once('exit', (code) => resolve(code));
      process.once('error', () => resolve(null)); // could not be started at all
    });
  }

  /** True while the process runs. */
  get running(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  /** Resolves with the first stdout line for which `match` returns a value; rejects on exit or after `timeoutMs`. */
  waitLine<T>(match: (line: string) => T | undefined, timeoutMs = 15_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error(`${this.name}: not ready after ${timeoutMs} ms; output: ${this.output}`)), timeoutMs);
      const listener = (line: string) => {
        const value = match(line);
        if (value !== undefined) finish(undefined, value);
      };
      const finish = (error: Error | undefined, value?: T) => {
        clearTimeout(timer);
        this.listeners.delete(listener);
        if (error) reject(error);
        else resolve(value as T);
      };
      this.listeners.add(listener);
      void this.exited.then((code) => finish(new Error(`${this.name} exited (${code}); output: ${this.output}`)));
    });
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
  async stop(graceMs = 2000): Promise<void> {
    if (!this.running) return;
    this.process.kill('SIGTERM');
    const timer = setTimeout(() => this.process.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Every child the harness started. */
export class Children {
  private readonly all = new Set<Child>();
  private readonly deathSignal = has('setpriv');

  constructor() {
    process.once('exit', () => {
      for (const c of this.all) if (c.running) c.process.kill('SIGKILL');
    });
  }

  /** Starts `command args` with stdout and stderr piped. */
  spawn(name: string, command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Child {
    const [cmd, ...rest] = this.deathSignal ? ['setpriv', '--pdeathsig', 'KILL', '--', command, ...args] : [command, ...args];
    const child = new Child(name, spawn(cmd as string, rest, { stdio: ['ignore', 'pipe', 'pipe'], env }));
    child.process.on('error', (error) => {
      child.output += `\n${error.message}`;
    });
    this.all.add(child);
    void child.exited.then(() => this.all.delete(child));
    return child;
  }

  /** Stops every child still running. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.all].map((c) => c.stop(1000)));
  }
}
