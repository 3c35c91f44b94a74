/**
 * A resolver under test: a separate process on 127.0.0.1:`port` that the
 * harness starts, restarts once mid-outage, and stops. Each one forwards to its
 * own simulated kube-dns and external resolver, never anywhere else.
 */
import { createSocket } from 'node:dgram';
import { RRType } from '../../resolver/wire/constants.js';
import { encodeQuery } from '../../resolver/wire/decode.js';
import type { Child, Children } from './children.js';
import type { Timeline } from './timeline.js';
import type { UpstreamPorts } from './upstreams.js';

/** The kinds the report knows. */
export type Kind = 'holdfast-snapshot' | 'holdfast-forward' | 'ttl-only' | 'peer';

/** What every contender is given. */
export interface ContenderContext {
  readonly children: Children;
  readonly timeline: Timeline;
  readonly upstream: UpstreamPorts;
  /** Which of the simulated upstream pairs is its own. */
  readonly instance: number;
  /** A directory of its own for configuration and state. */
  readonly dir: string;
  /** The repository root (for bin/holdfast and dist/). */
  readonly root: string;
}

/** Asks 127.0.0.1:`port` once; true when anything answered within `timeoutMs`. */
export function answers(port: number, timeoutMs = 200): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    const timer = setTimeout(() => {
      socket.close();
      resolve(false);
    }, timeoutMs);
    socket.once('message', () => {
      clearTimeout(timer);
      socket.close();
      resolve(true);
    });
    socket.on('error', () => undefined);
    socket.send(encodeQuery('ready-probe.corp.internal', RRType.A), port, '127.0.0.1');
  });
}

/** A resolver under test run as one child process. */
export abstract class Contender {
  protected child: Child | undefined;

  constructor(
    readonly name: string,
    readonly kind: Kind,
    readonly port: number,
    protected readonly context: ContenderContext,
  ) {}

  /** Which of the simulated upstream pairs is its own. */
  get instance(): number {
    return this.context.instance;
  }

  /** One line on how it is configured, for the report. */
  abstract get description(): string;

  /** The command line that starts it. */
  protected abstract command(): { command: string; args: string[]; env?: NodeJS.ProcessEnv };

  /** Resolves once the process serves DNS (default: it answers a probe; polled for 15 s). */
  protected async ready(child: Child): Promise<void> {
    const deadline = performance.now() + 15_000;
    while (performance.now() < deadline) {
      if (!child.running) throw new Error(`${this.name} exited (${child.process.exitCode}); output: ${child.output}`);
      if (await answers(this.port, 100)) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`${this.name} does not answer on 127.0.0.1:${this.port}; output: ${child.output}`);
  }

  /** Starts it and waits until it serves. */
  async start(): Promise<void> {
    const { command, args, env } = this.command();
    const child = this.context.children.spawn(this.name, command, args, env);
    this.child = child;
    await this.ready(child);
  }

  /** Stops it (SIGTERM) and starts it again; resolves with the wall ms it did not serve. */
  async restart(): Promise<number> {
    const began = performance.now();
    await this.child?.stop();
    await this.start();
    return performance.now() - began;
  }

  /** Stops it. */
  async stop(): Promise<void> {
    await this.child?.stop();
  }
}
