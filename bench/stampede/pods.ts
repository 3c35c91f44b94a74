/**
 * The pods of one simulated node, planned once from the model so every resolver
 * under test serves the very same pods: each pod lives in a namespace and depends
 * on a handful of services (some in its own namespace, the rest drawn by cluster
 * popularity) and external hosts, written the way applications write them
 * (`web`, `web.team-007`, `web.team-007.svc`, the full name, `api-3.example.com`).
 *
 * New pods that start during the outage depend only on services that no pod of
 * the node asked for before, so no cache on the node can hold them.
 */
import type { ClusterModel, ExternalHost, ModelService } from './cluster.js';
import { HOST_DOMAIN, ZONE } from './cluster.js';
import { Rng, Zipf } from './random.js';

/** A name a pod looks up. */
export interface Dependency {
  /** The name as the application passes it to getaddrinfo. */
  readonly text: string;
  readonly service: ModelService | undefined;
  readonly external: ExternalHost | undefined;
}

/** One pod: its search path and what it looks up, most used first. */
export interface PodPlan {
  readonly namespace: string;
  readonly search: readonly string[];
  readonly deps: readonly Dependency[];
  /** Started during the outage. */
  readonly fresh: boolean;
}

/** The pods of a node: those running before the outage, and those starting during it. */
export interface NodePlan {
  readonly initial: readonly PodPlan[];
  readonly fresh: readonly PodPlan[];
}

/** The search path Kubernetes writes into a pod's resolv.conf (ClusterFirst DNS policy). */
export function searchPath(namespace: string): string[] {
  return [`${namespace}.svc.${ZONE}`, `svc.${ZONE}`, ZONE, HOST_DOMAIN];
}

function serviceText(s: ModelService, namespace: string, rng: Rng): string {
  if (s.namespace === namespace) return rng.chance(0.7) ? s.name : s.fqdn;
  const r = rng.next();
  return r < 0.6 ? `${s.name}.${s.namespace}` : r < 0.7 ? `${s.name}.${s.namespace}.svc` : s.fqdn;
}

function makePod(model: ClusterModel, rng: Rng, externalRank: Zipf, fresh: boolean, allowed: (s: ModelService) => boolean): PodPlan {
  const namespace = rng.pick(model.namespaces);
  const local = model.services.filter((s) => s.namespace === namespace && allowed(s));
  const want = fresh ? rng.between(3, 6) : rng.between(4, 11);
  const deps: Dependency[] = [];
  const seen = new Set<string>();
  for (let tries = 0; deps.length < want && tries < 1000; tries++) {
    if (!fresh && rng.chance(0.12)) {
      const host = model.external[externalRank.sample(rng)] as ExternalHost;
      if (!seen.has(host.name)) deps.push({ text: host.name, service: undefined, external: host });
      seen.add(host.name);
      continue;
    }
    const s = local.length > 0 && rng.chance(0.4) ? rng.pick(local) : (model.byRank[model.popularity.sample(rng)] as ModelService);
    if (seen.has(s.fqdn) || !allowed(s)) continue;
    seen.add(s.fqdn);
    deps.push({ text: serviceText(s, namespace, rng), service: s, external: undefined });
  }
  return { namespace, search: searchPath(namespace), deps, fresh };
}

/** Plans `pods` pods running from the start and `freshPods` that start during the outage. */
export function planNode(model: ClusterModel, pods: number, freshPods: number, seed: number): NodePlan {
  const rng = new Rng(seed);
  const externalRank = new Zipf(model.external.length);
  const initial = Array.from({ length: pods }, () => makePod(model, rng, externalRank, false, () => true));
  const known = new Set(initial.flatMap((p) => p.deps.flatMap((d) => (d.service ? [d.service.fqdn] : []))));
  const fresh: PodPlan[] = [];
  for (let i = 0; i < freshPods; i++) {
    const pod = makePod(model, rng, externalRank, true, (s) => !known.has(s.fqdn));
    for (const d of pod.deps) if (d.service) known.add(d.service.fqdn);
    fresh.push(pod);
  }
  return { initial, fresh };
}
