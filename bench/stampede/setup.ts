/**
 * Everything the replay needs before the clock starts: the model, the node's pod
 * plan, the signing key and the two signed snapshots (before and after the
 * outage's endpoint changes), the simulated upstreams, and the contenders,
 * each started on its own port and, for holdfast with snapshots, given its first
 * snapshot by a push, as a publisher would.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateKeyPair, publicKeyToPem } from '../../snapshot/keys.js';
import { signSnapshot } from '../../snapshot/sign.js';
import { HoldfastForward, HoldfastSnapshot, TtlOnly } from './builtin.js';
import type { Children } from './children.js';
import { freePort } from './children.js';
import { buildCluster, clusterSnapshot } from './cluster.js';
import type { ClusterModel } from './cluster.js';
import type { Contender, ContenderContext } from './contender.js';
import type { StampedeOptions } from './options.js';
import { choosePeers, peerContender } from './peers.js';
import { planNode } from './pods.js';
import type { NodePlan } from './pods.js';
import type { Timeline } from './timeline.js';
import { Upstreams } from './upstreams.js';

/** What `prepare` made. */
export interface Prepared {
  readonly model: ClusterModel;
  readonly plan: NodePlan;
  readonly upstreams: Upstreams;
  readonly contenders: readonly Contender[];
  readonly skipped: readonly { readonly name: string; readonly reason: string }[];
  /** The signed snapshot with the endpoints after the outage, as JSON bytes. */
  readonly snapshotAfter: Buffer;
}

/**
 * Builds the model and starts upstreams and contenders. Whatever it started is
 * registered with `children` (processes) or handed to `track` (the upstreams)
 * before anything can fail, so the caller can clean up.
 */
export async function prepare(options: StampedeOptions, timeline: Timeline, dir: string, children: Children, track: (u: Upstreams) => void, log: (line: string) => void): Promise<Prepared> {
  const model = buildCluster({ services: options.services, seed: options.seed, ttls: options.ttls, ttlSpreadSeconds: options.ttlSpread, changed: options.changed });
  const plan = planNode(model, options.pods, options.newPods, options.seed + 1);
  const keys = generateKeyPair();
  const trustKey = join(dir, 'trust.pub');
  writeFileSync(trustKey, publicKeyToPem(keys.publicKey));
  const signed = (generation: number, after: boolean) => Buffer.from(JSON.stringify(signSnapshot(clusterSnapshot(model, generation, after), keys.privateKey)));
  const snapshotBefore = signed(1, false);
  const snapshotAfter = signed(2, true);

  const peers = choosePeers(options.peers);
  const skipped: { name: string; reason: string }[] = peers.flatMap((p) => ('skipped' in p ? [{ name: p.name, reason: p.skipped }] : []));
  for (const s of skipped) log(`peer ${s.name} skipped: ${s.reason}`);
  const runnable = peers.flatMap((p) => ('binary' in p ? [p] : []));
  const count = 3 + runnable.length;

  const upstreams = await Upstreams.start({
    model: model.options,
    timeScale: timeline.scale,
    instances: count,
    failure: options.failure,
  });
  track(upstreams);
  const context = (i: number, name: string): ContenderContext => {
    const own = join(dir, name);
    mkdirSync(own, { recursive: true });
    return { children, timeline, upstream: upstreams.ports[i] as (typeof upstreams.ports)[number], instance: i, dir: own, root: new URL('../../..', import.meta.url).pathname };
  };
  const snapshotHolder = new HoldfastSnapshot(await freePort(), await freePort(), trustKey, context(0, 'holdfast-snapshot'));
  const contenders: Contender[] = [snapshotHolder, new HoldfastForward(await freePort(), context(1, 'holdfast-forward')), new TtlOnly(await freePort(), context(2, 'ttl-only'))];
  for (const c of contenders) {
    await c.start();
    log(`started ${c.name} on 127.0.0.1:${c.port}: ${c.description}`);
  }
  for (const [i, p] of runnable.entries()) {
    const peer = peerContender(p, await freePort(), context(3 + i, p.name));
    try {
      await peer.start();
      contenders.push(peer);
      log(`started ${peer.name} on 127.0.0.1:${peer.port}: ${peer.description}`);
    } catch (error) {
      await peer.stop();
      const reason = `did not start: ${(error as Error).message.split('\n')[0] ?? ''}`;
      skipped.push({ name: p.name, reason });
      log(`peer ${p.name} skipped: ${reason}`);
    }
  }
  await snapshotHolder.push(snapshotBefore);
  return { model, plan, upstreams, contenders, skipped, snapshotAfter };
}
