/**
 * The harness's handle on the simulated upstreams (`upstream-sim.ts`, a worker
 * thread): start them, switch the control plane off and on, set kube-dns's
 * capacity, and read how many queries reached them.
 */
import { Worker } from 'node:worker_threads';
import type { InstanceCounts, SimCommand, SimEvent, SimInit } from './upstream-sim.js';

/** Ports of one resolver's upstreams. */
export interface UpstreamPorts {
  readonly kubeDns: number;
  readonly external: number;
}

/** Running simulated upstreams. */
export class Upstreams {
  private nextId = 1;
  private readonly waiting = new Map<number, (counts: readonly InstanceCounts[]) => void>();
  private readonly exited: Promise<void>;

  private constructor(
    private readonly worker: Worker,
    /** Per resolver under test, in the order of `SimInit.instances`. */
    readonly ports: readonly UpstreamPorts[],
  ) {
    worker.on('message', (event: SimEvent) => {
      if (event.kind !== 'sample') return;
      this.waiting.get(event.id)?.(event.counts);
      this.waiting.delete(event.id);
    });
    worker.on('error', (error) => process.stderr.write(`upstream simulator failed: ${error.stack ?? error.message}\n`));
    this.exited = new Promise((resolve) => worker.once('exit', () => resolve()));
  }

  /** Starts the worker and waits until every socket is bound. */
  static start(init: SimInit): Promise<Upstreams> {
    const worker = new Worker(new URL('./upstream-sim.js', import.meta.url), { workerData: init });
    return new Promise((resolve, reject) => {
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`upstream simulator exited (${code}) before it was ready`)));
      worker.once('message', (event: SimEvent) => {
        if (event.kind === 'ready') resolve(new Upstreams(worker, event.ports));
      });
    });
  }

  private send(command: SimCommand): void {
    this.worker.postMessage(command);
  }

  /** Control plane down (`true`) or back (`false`). */
  outage(on: boolean): void {
    this.send({ kind: 'outage', on });
  }

  /** From now on kube-dns serves the endpoints that changed during the outage. */
  endpointsChanged(): void {
    this.send({ kind: 'after' });
  }

  /** kube-dns capacity per instance in queries per (wall-clock) second; undefined: unlimited. */
  capacity(perSecond: number | undefined): void {
    this.send({ kind: 'capacity', perSecond });
  }

  /** Queries per instance since the previous sample. */
  sample(): Promise<readonly InstanceCounts[]> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.send({ kind: 'sample', id });
    });
  }

  /** Closes the sockets and ends the worker (terminated if it has not ended within a second). */
  async close(): Promise<void> {
    this.send({ kind: 'close' });
    const timer = setTimeout(() => void this.worker.terminate(), 1000);
    await this.exited;
    clearTimeout(timer);
  }
}
