/**
 * The publisher's only door to the kube-apiserver: JSON requests, paginated
 * lists and watch streams over node:http(s), authenticated with a kubeconfig
 * (or the in-cluster service account) through @kubernetes/client-node, every
 * request rate-limited by one token bucket and counted by verb, resource and
 * status. Watches speak the real protocol (newline-delimited events,
 * bookmarks, server-side timeouts) and plug into client-node's ListWatch.
 */
import { request as httpRequest } from 'node:http';
import type { IncomingMessage, RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import { ConfigError, KubeApiError } from '../../common/errors.js';
import type { RateLimiter } from './limiter.js';
import type { PublisherMetrics } from '../metrics.js';

/** A list answer: the items as the API sent them and the list's resourceVersion. */
export interface ListResult {
  readonly items: Record<string, unknown>[];
  readonly resourceVersion: string;
}

/** What client-node's ListWatch needs of a watcher (the shape of its `Watch`). */
export interface Watcher {
  watch(
    path: string,
    params: Record<string, string | undefined>,
    callback: (phase: string, object: Record<string, unknown>, event: unknown) => void,
    done: (error: unknown) => void,
  ): Promise<{ abort(): void }>;
}

/** Loads `path`, or the in-cluster service account when `path` is undefined. */
export function loadKubeConfig(path: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (path !== undefined) kc.loadFromFile(path);
    else if (process.env['KUBERNETES_SERVICE_HOST']) kc.loadFromCluster();
    else throw new Error('not running in a cluster (KUBERNETES_SERVICE_HOST is unset); pass --kubeconfig PATH');
  } catch (error) {
    throw new ConfigError([`--kubeconfig: ${error instanceof Error ? error.message : String(error)}`]);
  }
  if (!kc.getCurrentCluster()) throw new ConfigError([`--kubeconfig: ${path ?? 'in-cluster config'} has no current cluster`]);
  return kc;
}

/** Rate-limited, counted access to the kube-apiserver. */
export class KubeApi {
  private readonly server: string;

  constructor(
    private readonly kc: KubeConfig,
    private readonly limiter: RateLimiter,
    private readonly metrics: PublisherMetrics,
    private readonly timeoutMs = 30_000,
  ) {
    this.server = (kc.getCurrentCluster()?.server ?? '').replace(/\/$/, '');
  }

  private async options(url: URL, method: string): Promise<RequestOptions> {
    const opts: RequestOptions & { agent?: unknown } = { method, headers: { accept: 'application/json' } };
    await this.kc.applyToHTTPSOptions(opts as Parameters<KubeConfig['applyToHTTPSOptions']>[0]);
    if (url.protocol === 'http:' && !(opts.agent instanceof Object && 'proxy' in opts.agent)) delete opts.agent;
    return opts;
  }

  private send(url: URL, opts: RequestOptions, body: string | undefined) {
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, opts);
    if (body !== undefined) {
      req.setHeader('content-type', 'application/json');
      req.setHeader('content-length', Buffer.byteLength(body));
    }
    req.end(body);
    return req;
  }

  /** One JSON request; resolves to the parsed body, rejects with a KubeApiError. */
  async request<T>(method: string, path: string, resource: string, init: { query?: Record<string, string>; body?: unknown } = {}): Promise<T> {
    await this.limiter.take();
    const url = new URL(this.server + path);
    for (const [key, value] of Object.entries(init.query ?? {})) url.searchParams.set(key, value);
    const opts = await this.options(url, method);
    const verb = method.toLowerCase();
    let res: IncomingMessage;
    let text: string;
    try {
      const req = this.send(url, opts, init.body === undefined ? undefined : JSON.stringify(init.body));
      req.setTimeout(this.timeoutMs, () => req.destroy(Object.assign(new Error(`no answer within ${this.timeoutMs} ms`), { code: 'ETIMEDOUT' })));
      res = await new Promise<IncomingMessage>((resolve, reject) => req.once('response', resolve).once('error', reject));
      const chunks: Buffer[] = [];
      for await (const chunk of res) chunks.push(chunk as Buffer);
      text = Buffer.concat(chunks).toString('utf8');
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'error';
      this.metrics.apiRequests.inc({ verb, resource, code: 'error' });
      throw new KubeApiError(0, code, `${method} ${url.pathname}: ${(error as Error).message}`, { cause: error });
    }
    const status = res.statusCode ?? 0;
    this.metrics.apiRequests.inc({ verb, resource, code: String(status) });
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (status < 200 || status > 299) {
      const st = (parsed ?? {}) as { reason?: string; message?: string };
      throw new KubeApiError(status, st.reason ?? String(status), `${method} ${url.pathname}: ${status} ${st.message ?? text.slice(0, 200)}`);
    }
    if (parsed === undefined) throw new KubeApiError(status, 'BadResponse', `${method} ${url.pathname}: the answer is not JSON`);
    return parsed as T;
  }

  /** Lists `path` page by page (`limit`/`continue`), one consistent resourceVersion. */
  async list(path: string, resource: string, query: Record<string, string> = {}, pageSize = 500): Promise<ListResult> {
    const items: Record<string, unknown>[] = [];
    let token: string | undefined;
    let resourceVersion = '';
    do {
      const page = await this.request<{ items?: Record<string, unknown>[]; metadata?: { resourceVersion?: string; continue?: string } }>('GET', path, resource, {
        query: { ...query, limit: String(pageSize), ...(token ? { continue: token } : {}) },
      });
      items.push(...(page.items ?? []));
      resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
      token = page.metadata?.continue || undefined;
    } while (token !== undefined);
    return { items, resourceVersion };
  }

  /**
   * A watcher for client-node's ListWatch on `resource`: asks for bookmarks and a
   * server-side timeout (jittered 4–6 min, so streams end cleanly and spread
   * out), and counts events by type.
   */
  watcher(resource: string, random: () => number = Math.random): Watcher {
    return {
      watch: async (path, params, callback, done) => {
        await this.limiter.take();
        const url = new URL(this.server + path);
        const timeoutSeconds = Math.round(240 + random() * 120);
        for (const [key, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(key, value);
        url.searchParams.set('watch', 'true');
        url.searchParams.set('allowWatchBookmarks', 'true');
        url.searchParams.set('timeoutSeconds', String(timeoutSeconds));
        const opts = await this.options(url, 'GET');
        let finished = false;
        const finish = (error: unknown) => {
          if (finished) return;
          finished = true;
          req.destroy();
          done(error);
        };
        const req = this.send(url, opts, undefined);
        // No byte for this long (bookmarks arrive about every minute): the stream is dead.
        req.setTimeout((timeoutSeconds + 30) * 1000, () => finish(new KubeApiError(0, 'ETIMEDOUT', `watch ${url.pathname}: silent stream`)));
        req.once('error', (error) => {
          this.metrics.apiRequests.inc({ verb: 'watch', resource, code: 'error' });
          finish(new KubeApiError(0, (error as { code?: string }).code ?? 'error', `watch ${url.pathname}: ${error.message}`, { cause: error }));
        });
        req.once('response', (res) => {
          const status = res.statusCode ?? 0;
          this.metrics.apiRequests.inc({ verb: 'watch', resource, code: String(status) });
          if (status !== 200) {
            res.resume();
            finish(new KubeApiError(status, String(status), `watch ${url.pathname}: ${status} ${res.statusMessage ?? ''}`));
            return;
          }
          res.setEncoding('utf8');
          let buffered = '';
          res.on('data', (chunk: string) => {
            buffered += chunk;
            let nl: number;
            while ((nl = buffered.indexOf('\n')) >= 0) {
              const line = buffered.slice(0, nl);
              buffered = buffered.slice(nl + 1);
              if (line.trim() === '' || finished) continue;
              let event: { type?: string; object?: Record<string, unknown> };
              try {
                event = JSON.parse(line) as typeof event;
              } catch {
                this.metrics.watchEvents.inc({ resource, type: 'malformed' });
                continue;
              }
              const type = typeof event.type === 'string' ? event.type : 'unknown';
              this.metrics.watchEvents.inc({ resource, type: ['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR'].includes(type) ? type : 'unknown' });
              if (event.object && typeof event.object === 'object') callback(type, event.object, event);
            }
          });
          res.once('end', () => finish(null));
          res.once('error', (error) => finish(error));
          res.once('close', () => finish(null));
        });
        return {
          abort: () => {
            finished = true;
            req.destroy();
          },
        };
      },
    };
  }
}
