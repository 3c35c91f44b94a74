/**
 * Watch streams of the fake kube-apiserver: HTTP 200, then one JSON event per
 * line. Without a resourceVersion (or with "0") the stream starts with
 * synthetic ADDED events for the current objects; with one it replays the
 * history after it, or, when that is compacted away, sends a single ERROR
 * event with a 410 Expired Status and ends, as a real apiserver does. Events
 * are filtered like the real watch cache's: an object that stops matching the
 * selector arrives as DELETED (its previous state at the event's
 * resourceVersion), one that starts matching as ADDED.
 */
import type { ServerResponse } from 'node:http';
import { apiVersionOf } from './apiserver-store.js';
import type { ObjectStore, ResourceType, StoreEvent, StoredObject } from './apiserver-store.js';
import type { Selector } from './apiserver-select.js';
import { failure } from './apiserver-status.js';

/** What a watch request asks for. */
export interface WatchRequest {
  readonly type: ResourceType;
  /** Undefined for all namespaces. */
  readonly namespace: string | undefined;
  readonly selector: Selector;
  /** The `resourceVersion` parameter: undefined, "0" or an integer string (checked by the caller). */
  readonly resourceVersion: number | undefined;
  readonly bookmarks: boolean;
  readonly timeoutSeconds: number | undefined;
}

/** An open watch stream, as the server's control API sees it. */
export interface OpenWatch {
  /** Sends a BOOKMARK at resourceVersion `rv` if the client allowed bookmarks. */
  bookmark(rv: number): void;
  /** Ends the stream cleanly (the client sees the body end). */
  end(): void;
}

type WatchEvent = { readonly type: 'ADDED' | 'MODIFIED' | 'DELETED'; readonly object: StoredObject };

/** The event a watcher with `matches` sees for `event`, if any (cacher semantics). */
function visible(event: StoreEvent, kind: string, matches: (o: StoredObject) => boolean): WatchEvent | undefined {
  if (event.object.kind !== kind) return undefined;
  const now = event.type !== 'DELETED' && matches(event.object);
  const before = event.previous !== undefined && matches(event.previous);
  if (now && before) return { type: 'MODIFIED', object: event.object };
  if (now) return { type: 'ADDED', object: event.object };
  if (!before || event.previous === undefined) return undefined;
  if (event.type === 'DELETED') return { type: 'DELETED', object: event.object };
  const object = { ...event.previous, metadata: { ...event.previous.metadata, resourceVersion: String(event.rv) } };
  return { type: 'DELETED', object };
}

/**
 * Serves a watch on `res`; returns the open watch, already subscribed, so no
 * change can fall between the replay and the live events. `onEnd` runs once
 * when the stream is over, whoever ended it.
 */
export function serveWatch(store: ObjectStore, request: WatchRequest, res: ServerResponse, onEnd: () => void): OpenWatch {
  const { type } = request;
  const matches = (o: StoredObject) => (request.namespace === undefined || o.metadata.namespace === request.namespace) && request.selector(o);
  const send = (line: unknown) => {
    if (!res.writableEnded) res.write(`${JSON.stringify(line)}\n`);
  };
  res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private' });
  res.flushHeaders();

  const forward = (event: StoreEvent) => {
    const seen = visible(event, type.kind, matches);
    if (seen !== undefined) send(seen);
  };
  let unsubscribe = () => {};
  let timer: NodeJS.Timeout | undefined;
  const watch: OpenWatch = {
    bookmark(rv) {
      if (request.bookmarks) send({ type: 'BOOKMARK', object: { kind: type.kind, apiVersion: apiVersionOf(type), metadata: { resourceVersion: String(rv) } } });
    },
    end() {
      if (!res.writableEnded) res.end();
    },
  };
  res.once('close', () => {
    unsubscribe();
    clearTimeout(timer);
    onEnd();
  });

  if (request.resourceVersion === undefined || request.resourceVersion === 0) {
    for (const object of store.listAt(type.kind) ?? []) if (matches(object)) send({ type: 'ADDED', object });
  } else {
    const backlog = store.eventsAfter(request.resourceVersion);
    if (backlog === undefined) {
      const message = `too old resource version: ${request.resourceVersion} (${store.compactedRevision})`;
      send({ type: 'ERROR', object: failure(410, 'Expired', message) });
      watch.end();
      return watch;
    }
    for (const event of backlog) forward(event);
  }
  unsubscribe = store.subscribe(forward);
  if (request.timeoutSeconds !== undefined) timer = setTimeout(() => watch.end(), request.timeoutSeconds * 1000);
  return watch;
}
