/**
 * The operations endpoint: `/metrics` (Prometheus text), `/healthz` (the process
 * is alive and its event loop turns), `/readyz` (listeners are up and the
 * resolver is not shutting down). Bound to loopback unless configured otherwise.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { ListenError } from '../common/errors.js';
import { formatHostPort } from './server/address.js';
import type { HostPort } from './server/address.js';

/** What `/readyz` reports. */
export interface ReadinessSource {
  ready(): boolean;
  status(): Record<string, unknown>;
}

/** What `/metrics` serves: a prom-client Registry, or the worker pool's aggregate (`workers/metrics.ts`). */
export interface MetricsText {
  metrics(): Promise<string>;
  readonly contentType: string;
}

/** Options of {@link startHttp} for servers that share the port with more than operations. */
export interface HttpExtras {
  /** Flag named in a bind error (default --metrics-listen). */
  readonly flag?: string;
  /** Handles other routes first; returns false to fall through to the operations routes. */
  readonly route?: (req: IncomingMessage, res: ServerResponse, path: string) => boolean;
  /** SO_REUSEPORT, so a new process can bind the port beside this one. */
  readonly reusePort?: boolean;
}

/** Starts the operations HTTP server. */
export async function startHttp(
  address: HostPort,
  metrics: { readonly registry: MetricsText },
  readiness: ReadinessSource,
  extras: HttpExtras = {},
): Promise<{ server: Server; address: HostPort }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (extras.route?.(req, res, path)) return;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        (error: unknown) => res.writeHead(500).end(String(error)),
      );
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const ready = readiness.ready();
      res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' }).end(`${JSON.stringify({ ready, ...readiness.status() })}\n`);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /healthz or /readyz\n');
    }
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) =>
      reject(new ListenError(`cannot listen on ${extras.flag ?? '--metrics-listen'} ${formatHostPort(address)}: ${error.message}`, { cause: error })),
    );
    server.listen({ port: address.port, host: address.host, reusePort: extras.reusePort ?? false }, () => resolve());
  });
  const bound = server.address();
  const port = typeof bound === 'object' && bound !== null ? bound.port : address.port;
  return { server, address: { host: address.host, port } };
}
