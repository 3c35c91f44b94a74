/**
 * Request routing of the fake kube-apiserver: the REST paths
 * (`/api/v1/...`, `/apis/{group}/{version}/...`, all namespaces or one),
 * lists with `limit`/`continue` paging that stays consistent at the first
 * page's resourceVersion, single gets, watches, and Lease writes with the real
 * optimistic concurrency (see apiserver-writes.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RESOURCES, apiVersionOf } from './apiserver-store.js';
import type { ObjectStore, ResourceType, StoredObject } from './apiserver-store.js';
import { SelectorError, parseSelectors } from './apiserver-select.js';
import type { Selector } from './apiserver-select.js';
import { badRequest, failure, notFound, sendJson, sendStatus } from './apiserver-status.js';
import { serveWatch } from './apiserver-watch.js';
import type { OpenWatch } from './apiserver-watch.js';
import { createLease, updateLease } from './apiserver-writes.js';

/** A parsed resource path. */
interface Route {
  readonly type: ResourceType;
  /** Undefined for the all-namespaces path. */
  readonly namespace: string | undefined;
  /** Set for a single-object path. */
  readonly name: string | undefined;
}

/** What the routes need from the server: the store and the set of open watches. */
export interface RouteContext {
  readonly store: ObjectStore;
  readonly watches: Set<OpenWatch>;
}

function parseRoute(pathname: string): Route | undefined {
  const parts = pathname.split('/').filter((part) => part !== '').map(decodeURIComponent);
  const [root, ...rest] = parts;
  const [group, version, ...tail] = root === 'api' ? ['', ...rest] : root === 'apis' ? rest : [];
  let plural: string | undefined;
  let namespace: string | undefined;
  let name: string | undefined;
  if (tail.length === 1) [plural] = tail;
  else if (tail[0] === 'namespaces' && (tail.length === 3 || tail.length === 4)) [, namespace, plural, name] = tail;
  const type = RESOURCES.find((t) => t.group === group && t.version === version && t.plural === plural);
  return type === undefined ? undefined : { type, namespace, name };
}

/** The continue token: base64 JSON of the list's resourceVersion and the key after the last item sent. */
interface ContinueToken {
  readonly rv: number;
  readonly start: string;
}

function sortKey(object: StoredObject): string {
  return `${object.metadata.namespace}\u0000${object.metadata.name}`;
}

function decodeContinue(token: string): ContinueToken | undefined {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString());
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    const { rv, start } = parsed as Record<string, unknown>;
    return typeof rv === 'number' && typeof start === 'string' ? { rv, start } : undefined;
  } catch {
    return undefined;
  }
}

/** A list item as the real API returns it: without kind and apiVersion. */
function listItem(object: StoredObject): Record<string, unknown> {
  const { kind: _kind, apiVersion: _apiVersion, ...item } = object;
  return item;
}

function serveList(store: ObjectStore, route: Route, selector: Selector, query: URLSearchParams, res: ServerResponse): void {
  const { type } = route;
  const limit = Number.parseInt(query.get('limit') ?? '0', 10);
  const continueParam = query.get('continue');
  const token = continueParam === null || continueParam === '' ? undefined : decodeContinue(continueParam);
  if (continueParam !== null && continueParam !== '' && token === undefined) return sendStatus(res, badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)'));
  const at = token?.rv ?? store.resourceVersion;
  const snapshot = store.listAt(type.kind, at);
  if (snapshot === undefined) {
    const message = 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue value from the response to get an inconsistent list.';
    return sendStatus(res, failure(410, 'Expired', message));
  }
  const matching = snapshot.filter((o) => (route.namespace === undefined || o.metadata.namespace === route.namespace) && selector(o) && (token === undefined || sortKey(o) > token.start));
  const page = limit > 0 ? matching.slice(0, limit) : matching;
  const last = page.at(-1);
  const metadata: Record<string, unknown> = { resourceVersion: String(at) };
  if (page.length < matching.length && last !== undefined) {
    metadata['continue'] = Buffer.from(JSON.stringify({ rv: at, start: sortKey(last) } satisfies ContinueToken)).toString('base64url');
    if (!query.has('labelSelector') && !query.has('fieldSelector')) metadata['remainingItemCount'] = matching.length - page.length;
  }
  sendJson(res, 200, { kind: `${type.kind}List`, apiVersion: apiVersionOf(type), metadata, items: page.map(listItem) });
}

/** An integer resourceVersion parameter: undefined when absent or empty, NaN when malformed. */
function resourceVersionParam(query: URLSearchParams): number | undefined {
  const value = query.get('resourceVersion');
  if (value === null || value === '') return undefined;
  return /^\d+$/.test(value) ? Number(value) : Number.NaN;
}

function serveCollection(ctx: RouteContext, route: Route, query: URLSearchParams, res: ServerResponse): void {
  let selector: Selector;
  try {
    selector = parseSelectors(query.get('labelSelector'), query.get('fieldSelector'));
  } catch (error) {
    if (error instanceof SelectorError) return sendStatus(res, badRequest(error.message));
    throw error;
  }
  const watchParam = query.get('watch');
  if (watchParam !== 'true' && watchParam !== '1') return serveList(ctx.store, route, selector, query, res);
  const resourceVersion = resourceVersionParam(query);
  if (Number.isNaN(resourceVersion)) return sendStatus(res, badRequest(`invalid resource version: ${query.get('resourceVersion')}`));
  const timeout = Number(query.get('timeoutSeconds') ?? Number.NaN);
  const watch = serveWatch(
    ctx.store,
    {
      type: route.type,
      namespace: route.namespace,
      selector,
      resourceVersion,
      bookmarks: query.get('allowWatchBookmarks') === 'true',
      timeoutSeconds: Number.isFinite(timeout) && timeout > 0 ? timeout : undefined,
    },
    res,
    () => ctx.watches.delete(watch),
  );
  if (!res.writableEnded) ctx.watches.add(watch);
}

/** Answers one API request (auth and outages are the caller's business). */
export async function route(ctx: RouteContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const found = parseRoute(url.pathname);
  if (found === undefined) return sendStatus(res, failure(404, 'NotFound', 'the server could not find the requested resource'));
  const { type, namespace, name } = found;
  if (req.method === 'GET' && name === undefined) return serveCollection(ctx, found, url.searchParams, res);
  if (req.method === 'GET' && name !== undefined && namespace !== undefined) {
    const object = ctx.store.get(type.kind, namespace, name);
    return object === undefined ? sendStatus(res, notFound(type, name)) : sendJson(res, 200, object);
  }
  if (type.kind === 'Lease' && namespace !== undefined) {
    if (req.method === 'POST' && name === undefined) return createLease(ctx.store, type, namespace, req, res);
    if (req.method === 'PUT' && name !== undefined) return updateLease(ctx.store, type, namespace, name, req, res);
  }
  sendStatus(res, failure(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource (the fake serves ${req.method ?? ''} ${url.pathname} nowhere)`));
}
