/**
 * The replay itself: one simulated node per contender, all driven by the same
 * pod plan at the same time, while the timeline's events happen to all of them
 * at once: the control plane goes down (kube-dns fails and gets its capacity
 * limit), new pods start, every contender restarts once (a moment apart, so
 * they do not compete for the CPU), the control plane comes back with the
 * endpoint changes, and holdfast gets the new snapshot a publish delay later.
 *
 * Bounded in time: requests stop at the scenario's end, lookups in flight get a
 * drain window, then the stubs are closed.
 */
import { RRType } from '../../resolver/wire/constants.js';
import { decodeMessage } from '../../resolver/wire/decode.js';
import { HoldfastSnapshot } from './builtin.js';
import type { Contender } from './contender.js';
import type { PodPlan } from './pods.js';
import type { StampedeOptions } from './options.js';
import { Recorder } from './recorder.js';
import type { Prepared } from './setup.js';
import { NodeStub } from './stub.js';
import type { Timeline } from './timeline.js';
import { NodeLoad } from './workload.js';

/** One contender with its node and its record. */
export interface Lane {
  readonly contender: Contender;
  readonly rec: Recorder;
  readonly stub: NodeStub;
  readonly load: NodeLoad;
}

/** What the replay leaves for the report. */
export interface Replayed {
  readonly lanes: readonly Lane[];
  /** kube-dns capacity per node during and after the outage, queries per wall-clock second. */
  readonly capacity: number | undefined;
  readonly interrupted: boolean;
}

interface TimedEvent {
  readonly at: number;
  readonly run: () => void;
  fired?: boolean;
}

const pct = (x: number | null) => (x === null ? '   -  ' : `${(x * 100).toFixed(1).padStart(5)}%`);

/** Runs the timeline against every contender of `prepared`. */
export async function replay(options: StampedeOptions, timeline: Timeline, prepared: Prepared, log: (line: string) => void, signal: AbortSignal): Promise<Replayed> {
  const { model, plan, upstreams, contenders } = prepared;
  const attempts = timeline.clientAttemptsMs();
  const freshAddresses = new Map(model.services.filter((s) => s.changed).map((s) => [s.fqdn, new Set(s.endpointsAfter.map((e) => e.ip))]));
  // Until the clock starts (the recorder is set), the stubs' traffic is not recorded.
  const stubs: { contender: Contender; stub: NodeStub; holder: { rec?: Recorder } }[] = [];
  for (const contender of contenders) {
    const holder: { rec?: Recorder } = {};
    const stub = new NodeStub(contender.port, attempts, {
      query: (outcome) => holder.rec?.query(outcome),
      watches: (name) => freshAddresses.has(name),
      reply: (name, message) => {
        if (holder.rec) classify(holder.rec, freshAddresses, name, message);
      },
    });
    await stub.bind();
    stubs.push({ contender, stub, holder });
  }
  await prewarm(stubs.map((s) => s.stub), plan.initial);
  await upstreams.sample(); // the warm-up's own count starts now

  const t0 = performance.now();
  const lanes: Lane[] = stubs.map(({ contender, stub, holder }) => {
    const rec = new Recorder(timeline, t0);
    holder.rec = rec;
    const load = new NodeLoad(
      stub,
      { ratePerPod: options.rate / options.pods, appRetries: 3, appRetryBaseMs: 1000, maxPressure: 4, maxInFlight: 2000 },
      { lookup: (result, started, pod) => rec.lookup(result, started, pod), requestFailed: () => rec.request('failed'), shed: () => rec.request('shed') },
      options.seed + 2,
    );
    for (const pod of plan.initial) load.startPod(pod);
    return { contender, rec, stub, load };
  });
  const changedNames = [...freshAddresses.keys()];
  let nextProbe = 0;

  let capacity: number | undefined;
  const pending: Promise<unknown>[] = [];
  const baseline = lanes.find((l) => l.contender.kind === 'ttl-only') ?? lanes[0];
  const events: TimedEvent[] = [
    {
      at: timeline.outageStart,
      run: () => {
        const peak = Math.max(0, ...(baseline?.rec.buckets ?? []).filter((_, i) => timeline.scenario(i * 1000 + 500) >= timeline.warmup / 2).map((b) => b.upstream.kubeDns));
        capacity = options.capacity ?? Math.max(10, Math.round(options.headroom * peak));
        upstreams.capacity(capacity);
        upstreams.outage(true);
        log(`control plane down; kube-dns capacity ${capacity} queries/s per node`);
      },
    },
    ...plan.fresh.map((pod, k) => ({ at: timeline.outageStart + (timeline.outage * (k + 1)) / (plan.fresh.length + 1), run: () => lanes.forEach((l) => l.load.startPod(pod)) })),
    {
      at: timeline.outageStart + timeline.outage / 2,
      run: () =>
        lanes.forEach((lane, i) => {
          const restart = async () => {
            await new Promise((r) => setTimeout(r, i * 500));
            const record = { at: timeline.scenario(performance.now() - t0), gapMs: 0 };
            lane.rec.restart = record;
            try {
              record.gapMs = await lane.contender.restart();
              log(`restarted ${lane.contender.name}: not serving for ${Math.round(record.gapMs)} ms`);
            } catch (error) {
              log(`restart of ${lane.contender.name} failed: ${(error as Error).message}`);
            }
          };
          pending.push(restart());
        }),
    },
    {
      at: timeline.outageEnd,
      run: () => {
        upstreams.outage(false);
        upstreams.endpointsChanged();
        log('control plane back, with the endpoint changes made meanwhile');
      },
    },
    {
      at: timeline.outageEnd + options.publishDelay,
      run: () => {
        const holder = contenders.find((c) => c instanceof HoldfastSnapshot);
        if (holder) pending.push(holder.push(prepared.snapshotAfter).then(() => log('new snapshot pushed to holdfast-snapshot'), (e: Error) => log(e.message)));
      },
    },
  ];

  let last = t0;
  let nextProgress = options.progressSeconds * 1000;
  const sampler = setInterval(() => {
    const at = performance.now();
    void upstreams.sample().then((counts) => lanes.forEach((l) => l.rec.upstream(counts[l.contender.instance] ?? { kubeDns: 0, kubeDnsDropped: 0, kubeDnsFailed: 0, external: 0 }, at)));
  }, 1000);
  await new Promise<void>((done) => {
    const ticker = setInterval(() => {
      const now = performance.now();
      const s = timeline.scenario(now - t0);
      for (const lane of lanes) lane.load.tick(now - last);
      last = now;
      if (s >= timeline.outageEnd && changedNames.length > 0 && now - t0 >= nextProbe) {
        // Staleness probes: one changed service every 100 ms, asked by its absolute name.
        nextProbe = now - t0 + 100;
        const name = changedNames[Math.floor((now - t0) / 100) % changedNames.length] as string;
        for (const lane of lanes) void lane.stub.lookup(`${name}.`, []);
      }
      for (const e of events) {
        if (!e.fired && s >= e.at) {
          e.fired = true;
          e.run();
        }
      }
      if (now - t0 >= nextProgress) {
        nextProgress += options.progressSeconds * 1000;
        const done = Math.floor((now - t0) / 1000) - 1; // the last second whose upstream sample is in
        log(progressLine(lanes, timeline, s, Math.max(0, done - options.progressSeconds), done));
      }
      if (s >= timeline.end || signal.aborted) {
        clearInterval(ticker);
        done();
      }
    }, 20);
  });
  for (const lane of lanes) lane.load.stop();
  const drainUntil = performance.now() + (signal.aborted ? 0 : attempts.reduce((a, b) => a + b, 0) + 1000);
  while (performance.now() < drainUntil && lanes.some((l) => l.load.lookupsInFlight > 0)) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, signal.aborted ? 0 : 1100)); // one more upstream sample
  clearInterval(sampler);
  for (const lane of lanes) {
    lane.load.mute();
    lane.stub.close();
  }
  await Promise.allSettled(pending);
  return { lanes, capacity, interrupted: signal.aborted };
}

/** Records whether an A answer for a changed service has its new endpoints. */
function classify(rec: Recorder, freshAddresses: ReadonlyMap<string, ReadonlySet<string>>, name: string, message: Buffer): void {
  let decoded;
  try {
    decoded = decodeMessage(message);
  } catch {
    return;
  }
  if (decoded.questions[0]?.type !== RRType.A) return;
  const fresh = freshAddresses.get(name);
  rec.changedAnswer(decoded.answers.some((a) => a.data.type === 'A' && fresh?.has(a.data.address) === true));
}

/** Before the clock starts, every pod has looked up each of its names once, as it did when it started. */
async function prewarm(stubs: readonly NodeStub[], pods: readonly PodPlan[]): Promise<void> {
  const work = pods.flatMap((pod) => pod.deps.map((dep) => ({ name: dep.text, search: pod.search })));
  await Promise.all(
    stubs.map(async (stub) => {
      for (let i = 0; i < work.length; i += 25) await Promise.all(work.slice(i, i + 25).map((w) => stub.lookup(w.name, w.search)));
    }),
  );
}

/** Success and kube-dns load per resolver over buckets [from, to). */
function progressLine(lanes: readonly Lane[], timeline: Timeline, s: number, from: number, to: number): string {
  const parts = lanes.map((l) => {
    const buckets = l.rec.buckets.slice(from, to);
    const lookups = buckets.reduce((n, b) => n + b.lookups, 0);
    const ok = buckets.reduce((n, b) => n + b.lookupsOk, 0);
    const kube = buckets.reduce((n, b) => n + b.upstream.kubeDns, 0) / Math.max(1, buckets.length);
    return `${l.contender.name} ${pct(lookups === 0 ? null : ok / lookups)} kube-dns ${kube.toFixed(0).padStart(4)}/s`;
  });
  return `t=${(s / 60).toFixed(1).padStart(5)}/${(timeline.end / 60).toFixed(0)} min ${timeline.phase(s).padEnd(8)} | ${parts.join(' | ')}`;
}
