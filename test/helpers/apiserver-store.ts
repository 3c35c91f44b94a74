/**
 * The object store behind the fake kube-apiserver: one global resourceVersion
 * counter shared by all kinds (an etcd revision), the current objects, and the
 * event history that watches replay. Like etcd, the history can be compacted;
 * a watch or a continued list from before the compaction point is then expired
 * (410). Stored objects are frozen copies, so snapshots can share them.
 */
import { randomUUID } from 'node:crypto';

/** Object metadata as the fake reads and sets it; other fields pass through. */
export interface ObjectMeta {
  name?: string;
  namespace?: string;
  resourceVersion?: string;
  uid?: string;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  [field: string]: unknown;
}

/** A Kubernetes object in its JSON shape. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  [field: string]: unknown;
}

/** A stored object: kind, apiVersion and the server-set metadata always present. */
export type StoredObject = Readonly<KubeObject> & {
  readonly kind: string;
  readonly apiVersion: string;
  readonly metadata: Readonly<ObjectMeta> & { readonly name: string; readonly namespace: string; readonly resourceVersion: string };
};

/** A resource the fake serves (all are namespaced). */
export interface ResourceType {
  /** API group; '' for the core group. */
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  /** The lower-case plural of the URL path. */
  readonly plural: string;
}

/** The resources the fake serves. */
export const RESOURCES: readonly ResourceType[] = [
  { group: '', version: 'v1', kind: 'Service', plural: 'services' },
  { group: '', version: 'v1', kind: 'Pod', plural: 'pods' },
  { group: 'discovery.k8s.io', version: 'v1', kind: 'EndpointSlice', plural: 'endpointslices' },
  { group: 'apps', version: 'v1', kind: 'DaemonSet', plural: 'daemonsets' },
  { group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', plural: 'leases' },
];

/** `group/version`, or the version alone for the core group. */
export function apiVersionOf(type: ResourceType): string {
  return type.group === '' ? type.version : `${type.group}/${type.version}`;
}

/** The resource of `kind` (throws for a kind the fake does not serve). */
export function resourceOfKind(kind: string): ResourceType {
  const type = RESOURCES.find((t) => t.kind === kind);
  if (type === undefined) throw new Error(`fake apiserver: unknown kind ${kind}`);
  return type;
}

/** A change as etcd records it; `previous` is the state before it (absent for ADDED). */
export interface StoreEvent {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly rv: number;
  readonly object: StoredObject;
  readonly previous: StoredObject | undefined;
}

function keyOf(kind: string, namespace: string, name: string): string {
  // NUL sorts before every other character, so keys sort by namespace, then name (as etcd's do).
  return `${kind}\u0000${namespace}\u0000${name}`;
}

function freezeDeep<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) freezeDeep(inner);
    Object.freeze(value);
  }
  return value;
}

/** The store: objects, global resourceVersion, event history with compaction. */
export class ObjectStore {
  private revision = 1;
  private compactedAt = 1;
  private readonly objects = new Map<string, StoredObject>();
  private readonly history: StoreEvent[] = [];
  private readonly listeners = new Set<(event: StoreEvent) => void>();

  /** The current global resourceVersion. */
  get resourceVersion(): number {
    return this.revision;
  }

  /** The oldest resourceVersion still served to watches and continued lists. */
  get compactedRevision(): number {
    return this.compactedAt;
  }

  /** The object of `kind` named `name` in `namespace`, or undefined. */
  get(kind: string, namespace: string, name: string): StoredObject | undefined {
    return this.objects.get(keyOf(kind, namespace, name));
  }

  /**
   * Creates or replaces the object (by kind, namespace and name) at a new
   * resourceVersion; keeps uid and creationTimestamp across replacements.
   */
  put(object: KubeObject): StoreEvent {
    const { kind, apiVersion, metadata } = object;
    if (kind === undefined || apiVersion === undefined) throw new Error('fake apiserver: kind and apiVersion are required');
    if (apiVersion !== apiVersionOf(resourceOfKind(kind))) throw new Error(`fake apiserver: ${kind} is served as ${apiVersionOf(resourceOfKind(kind))}, not ${apiVersion}`);
    const name = metadata?.name;
    const namespace = metadata?.namespace;
    if (name === undefined || name === '' || namespace === undefined || namespace === '') throw new Error('fake apiserver: metadata.name and metadata.namespace are required');
    const key = keyOf(kind, namespace, name);
    const previous = this.objects.get(key);
    const rv = ++this.revision;
    const stored = freezeDeep({
      ...structuredClone(object),
      kind,
      apiVersion,
      metadata: {
        ...structuredClone(metadata),
        name,
        namespace,
        uid: previous?.metadata.uid ?? randomUUID(),
        creationTimestamp: previous?.metadata.creationTimestamp ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        resourceVersion: String(rv),
      },
    }) as StoredObject;
    this.objects.set(key, stored);
    return this.record({ type: previous === undefined ? 'ADDED' : 'MODIFIED', rv, object: stored, previous });
  }

  /** Deletes the object; the DELETED event carries its last state at the deletion's resourceVersion. */
  delete(kind: string, namespace: string, name: string): StoreEvent | undefined {
    const key = keyOf(kind, namespace, name);
    const previous = this.objects.get(key);
    if (previous === undefined) return undefined;
    this.objects.delete(key);
    const rv = ++this.revision;
    const object = freezeDeep({ ...previous, metadata: { ...previous.metadata, resourceVersion: String(rv) } });
    return this.record({ type: 'DELETED', rv, object, previous });
  }

  /** Drops the history: watches and continued lists from before now get 410 Expired. */
  compact(): void {
    this.history.length = 0;
    this.compactedAt = this.revision;
  }

  /**
   * The objects of `kind` as they were at resourceVersion `at` (default: now),
   * sorted by namespace then name; undefined when `at` is compacted away.
   */
  listAt(kind: string, at: number = this.revision): StoredObject[] | undefined {
    if (at < this.compactedAt) return undefined;
    const state = new Map(this.objects);
    for (let i = this.history.length - 1; i >= 0; i--) {
      const event = this.history[i];
      if (event === undefined || event.rv <= at) break;
      const { metadata } = event.object;
      const key = keyOf(event.object.kind, metadata.namespace, metadata.name);
      if (event.previous === undefined) state.delete(key);
      else state.set(key, event.previous);
    }
    return [...state.entries()]
      .filter(([, object]) => object.kind === kind)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, object]) => object);
  }

  /** The events after resourceVersion `after`, oldest first; undefined when compacted away. */
  eventsAfter(after: number): StoreEvent[] | undefined {
    if (after < this.compactedAt) return undefined;
    return this.history.filter((event) => event.rv > after);
  }

  /** Calls `listener` for every later change; returns the unsubscribe function. */
  subscribe(listener: (event: StoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private record(event: StoreEvent): StoreEvent {
    this.history.push(event);
    for (const listener of [...this.listeners]) listener(event);
    return event;
  }
}
