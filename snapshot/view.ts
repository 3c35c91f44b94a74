/**
 * Namespace-filtered snapshots ("views"): what `GET /v1/snapshot?namespaces=a,b`
 * serves and `holdfast resolver --namespaces a,b` asks for, so a sidecar holds
 * the services of the namespaces its workload talks to, not the whole cluster.
 *
 * A view of generation G carries G itself (and G's `createdAt`): it is a
 * deterministic projection of G's content, so every view of G that names the
 * same namespaces is byte-for-byte the same snapshot, wherever and however
 * often it is built. The namespace list is part of the signed content, so a
 * resolver can tell which view of a generation it holds (see `resolver/intake/verify.ts`).
 */
import { isDnsLabel, show } from './names.js';
import type { SnapshotV1 } from './types.js';

/** Most namespaces one view may name (a query string of about 4 KiB at most). */
export const MAX_VIEW_NAMESPACES = 64;

/**
 * The canonical namespace list of `items` (sorted, each once), or why it is not
 * one: every item must be a Kubernetes namespace name (a lower-case RFC 1123
 * label), 1 to {@link MAX_VIEW_NAMESPACES} of them.
 */
export function namespaceList(items: readonly string[]): { readonly namespaces: readonly string[] } | { readonly error: string } {
  const bad = items.filter((ns) => !isDnsLabel(ns));
  if (bad.length > 0) {
    return { error: `${bad.slice(0, 5).map((ns) => show(ns, 70)).join(', ')} ${bad.length === 1 ? 'is not a namespace name' : 'are not namespace names'} (lower-case RFC 1123 labels, at most 63 characters)` };
  }
  const namespaces = [...new Set(items)].sort();
  if (namespaces.length === 0) return { error: 'no namespace given' };
  if (namespaces.length > MAX_VIEW_NAMESPACES) return { error: `${namespaces.length} namespaces, more than the ${MAX_VIEW_NAMESPACES} a view may name` };
  return { namespaces };
}

/** The view of `snapshot` holding the services of `namespaces` (a {@link namespaceList}) only; unsigned. */
export function filterSnapshot(snapshot: SnapshotV1, namespaces: readonly string[]): SnapshotV1 {
  const wanted = new Set(namespaces);
  return {
    format: snapshot.format,
    clusterDomain: snapshot.clusterDomain,
    generation: snapshot.generation,
    createdAt: snapshot.createdAt,
    namespaces: [...namespaces],
    services: snapshot.services.filter((service) => wanted.has(service.namespace)),
  };
}

/** The key of a view in caches, logs and comparisons: `a,b`; '' for the whole cluster. */
export function viewKey(namespaces: readonly string[] | undefined): string {
  return namespaces === undefined ? '' : namespaces.join(',');
}
