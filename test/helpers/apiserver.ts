/**
 * An in-process fake kube-apiserver for tests: a real HTTP server on
 * 127.0.0.1 (port 0) that speaks the list/watch protocol (JSON only) for
 * Services, EndpointSlices, Pods, DaemonSets and Leases, so code under test can
 * run the real @kubernetes/client-node informers against it. Tests drive it
 * through a control API: change objects, send bookmarks, compact the history
 * (410 on resume), end watches as a restart does, and simulate outages (503
 * answers, or a refused port) and the recovery on the same port.
 *
 * client-node refuses an `http://` server unless the cluster has
 * `skipTLSVerify: true` ("HTTP protocol is not allowed when skipTLSVerify is
 * not set or false"); `kubeconfig()` and `kubeConfig()` set it
 * (`insecure-skip-tls-verify: true` in the YAML).
 */
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { ObjectStore, resourceOfKind } from './apiserver-store.js';
import type { KubeObject, StoredObject } from './apiserver-store.js';
import { route } from './apiserver-routes.js';
import { failure, sendStatus } from './apiserver-status.js';
import type { OpenWatch } from './apiserver-watch.js';

/** The object types of the store, for tests that build or read objects. */
export type { KubeObject, ObjectMeta, StoredObject } from './apiserver-store.js';
/** The object factories (apiserver-objects.ts), so tests import one module. */
export { daemonSet, endpointSlice, lease, pod, service } from './apiserver-objects.js';

/** Options of {@link startFakeApiserver}. */
export interface FakeApiserverOptions {
  /** When set, requests without `Authorization: Bearer <token>` get 401. */
  readonly token?: string;
}

/** One request as the fake received it. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  /** performance.now() on arrival (ms). */
  readonly time: number;
  /** The status answered; 0 until known (a POST or PUT body is still being read). */
  status: number;
}

/** How {@link FakeApiserver.outage} fails: 503 answers, or nothing listening (ECONNREFUSED). */
export type OutageMode = '503' | 'refuse';

/** A running fake kube-apiserver. */
export interface FakeApiserver {
  /** `http://127.0.0.1:<port>`; the same across outages. */
  readonly url: string;
  /** Every request received, in order. */
  readonly requests: readonly RecordedRequest[];
  /** Watch streams open now. */
  readonly openWatches: number;
  /** The current global resourceVersion. */
  readonly resourceVersion: string;
  /** Creates or replaces an object (kind and apiVersion required); returns it as stored. */
  apply(object: KubeObject): StoredObject;
  /** Deletes an object; returns its last state, or undefined when there was none. */
  remove(kind: string, namespace: string, name: string): StoredObject | undefined;
  /** The stored object (frozen), or undefined. */
  get(kind: string, namespace: string, name: string): StoredObject | undefined;
  /** Sends a BOOKMARK at the current resourceVersion to every watch that allowed bookmarks. */
  bookmark(): void;
  /** Drops the history: resuming a watch or a paged list from an older resourceVersion gets 410 Expired. */
  compact(): void;
  /** Ends every open watch stream cleanly, as an apiserver restart does. */
  closeWatches(): void;
  /** Starts an outage: '503' answers everything 503 and ends open watches; 'refuse' stops listening and destroys connections. */
  outage(mode: OutageMode): Promise<void>;
  /** Ends an outage, listening again on the same port. */
  restore(): Promise<void>;
  /** Writes `<dir>/kubeconfig` (server = url, bearer token, current-context set); returns its path. */
  kubeconfig(dir: string): Promise<string>;
  /** A KubeConfig for this server, loaded with loadFromOptions. */
  kubeConfig(): KubeConfig;
  close(): Promise<void>;
}

const DEFAULT_TOKEN = 'fake-apiserver-token';

/** Starts a fake kube-apiserver on 127.0.0.1, port 0. */
export async function startFakeApiserver(options: FakeApiserverOptions = {}): Promise<FakeApiserver> {
  const store = new ObjectStore();
  const watches = new Set<OpenWatch>();
  const sockets = new Set<Socket>();
  const requests: RecordedRequest[] = [];
  const token = options.token ?? DEFAULT_TOKEN;
  let mode: OutageMode | undefined;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const entry: RecordedRequest = { method: req.method ?? '', path: url.pathname, query: Object.fromEntries(url.searchParams), time: performance.now(), status: 0 };
    requests.push(entry);
    if (mode === '503') {
      sendStatus(res, failure(503, 'ServiceUnavailable', 'the server is currently unable to handle the request'));
    } else if (options.token !== undefined && req.headers.authorization !== `Bearer ${options.token}`) {
      sendStatus(res, failure(401, 'Unauthorized', 'Unauthorized'));
    } else {
      await route({ store, watches }, req, res, url);
    }
    entry.status = res.statusCode;
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendStatus(res, failure(500, 'InternalError', String(error)));
      else res.destroy();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  const stopListening = () => new Promise<void>((resolve) => server.close(() => resolve()));
  const endWatches = () => {
    for (const watch of [...watches]) watch.end();
  };

  await listen(0);
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('fake apiserver: no TCP address');
  const { port } = address;
  const url = `http://127.0.0.1:${port}`;

  const kubeConfigOptions = {
    clusters: [{ name: 'fake', server: url, skipTLSVerify: true }],
    users: [{ name: 'fake', token }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'fake', namespace: 'default' }],
    currentContext: 'fake',
  };

  return {
    url,
    requests,
    get openWatches() {
      return watches.size;
    },
    get resourceVersion() {
      return String(store.resourceVersion);
    },
    apply: (object) => store.put(object).object,
    remove: (kind, namespace, name) => store.delete(resourceOfKind(kind).kind, namespace, name)?.object,
    get: (kind, namespace, name) => store.get(resourceOfKind(kind).kind, namespace, name),
    bookmark() {
      for (const watch of watches) watch.bookmark(store.resourceVersion);
    },
    compact: () => store.compact(),
    closeWatches: endWatches,
    async outage(next) {
      if (mode !== undefined) throw new Error(`fake apiserver: already in a '${mode}' outage`);
      mode = next;
      if (next === '503') return endWatches();
      const closed = stopListening();
      for (const socket of sockets) socket.destroy();
      await closed;
    },
    async restore() {
      const was = mode;
      mode = undefined;
      if (was === 'refuse') await listen(port);
    },
    async kubeconfig(dir) {
      const path = join(dir, 'kubeconfig');
      const yaml = {
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'fake', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'fake', user: { token } }],
        contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake', namespace: 'default' } }],
        'current-context': 'fake',
      };
      await writeFile(path, stringify(yaml));
      return path;
    },
    kubeConfig() {
      const config = new KubeConfig();
      config.loadFromOptions(structuredClone(kubeConfigOptions));
      return config;
    },
    async close() {
      endWatches();
      const closed = mode === 'refuse' ? Promise.resolve() : stopListening();
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
