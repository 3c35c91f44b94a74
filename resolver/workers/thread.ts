/**
 * A worker thread of `--workers N` (started by `pool.ts`): the DNS serving path
 * (`serving.ts`: cluster zone, forwarding cache with its own forwarder, the
 * dispatcher) on its own UDP and TCP sockets, bound with SO_REUSEPORT to the
 * same addresses as the other workers'. It answers from the zone the main thread
 * last sent, keeps its own cache and its own metrics registry (sent on request,
 * summed by the main thread), and logs through the main thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { causeCode } from '../../common/errors.js';
import { createLogger } from '../../common/log.js';
import { systemClock } from '../clock.js';
import { ResolverMetrics } from '../metrics.js';
import { DnsService } from '../serving.js';
import { inheritInSlices } from '../zone/inherit.js';
import { ClusterZone } from '../zone/zone.js';
import type { FromWorker, ToWorker, WorkerInit } from './protocol.js';

if (!parentPort) throw new Error('resolver/workers/thread.js runs as a worker thread of the resolver');
const port: MessagePort = parentPort;
const init = workerData as WorkerInit;
const post = (message: FromWorker) => port.postMessage(message);

const log = createLogger(init.config.logLevel, { write: (line: string) => post({ type: 'log', line }) }).child({ worker: init.index });
const metrics = new ResolverMetrics(Date.now, { defaultMetrics: false });
let zone = init.zone && new ClusterZone(init.zone);
const service = new DnsService(init.config, { metrics, log, clock: systemClock, random: Math.random, zone: () => zone });

/** Serves `next` from now on; its answers encoded by the zone before are taken over in the background. */
function swap(next: ClusterZone): void {
  const previous = zone;
  zone = next;
  if (previous) inheritInSlices(next, previous, () => zone, log);
}

async function handle(message: ToWorker): Promise<void> {
  switch (message.type) {
    case 'zone':
      return swap(new ClusterZone(message.image));
    case 'reload':
      service.reload(message.config);
      log.level = message.config.logLevel;
      return;
    case 'metrics':
      return post({ type: 'metrics', id: message.id, metrics: await metrics.registry.getMetricsAsJSON() });
    case 'stop':
      await service.close(message.graceMs, message.handOver === true);
      post({ type: 'stopped' });
      port.close();
      return;
  }
}

port.on('message', (message: ToWorker) => void handle(message));
try {
  post({ type: 'listening', addresses: await service.listen(init.addresses, true) });
} catch (error) {
  post({ type: 'failed', message: error instanceof Error ? error.message : String(error), code: causeCode(error) });
  await service.close(0);
  port.close();
}
