/**
 * The snapshot receiver: `PUT /v1/snapshot` on --receiver-listen. The body
 * (plain JSON or gzip, up to a size limit) goes through the same verification as
 * every other source (SnapshotStore.offer) and the answer says what happened:
 *
 *   204 applied · 304 already current (also for `If-None-Match: "<generation>"`,
 *   without reading the body) · 400 malformed · 403 bad signature · 409 older
 *   generation, or the current generation with other content · 413 too large
 *   (a body over the limit is not read further; a gzip body over the limit
 *   once unpacked is stopped there) · 405 other methods · 404 other paths
 *
 * Every refused snapshot is logged (warn) and counted in
 * holdfast_snapshot_loads_total{source="push"}, a body over the limit included.
 *
 * A rejected snapshot changes nothing. The current generation travels as an
 * ETag on every answer, so a publisher knows what a node holds.
 * `GET /v1/snapshot/status` returns it without sending anything.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { ListenError } from '../../common/errors.js';
import type { HostPort } from '../server/address.js';
import { formatHostPort } from '../server/address.js';
import { DEFAULT_LIMITS } from '../../snapshot/validate.js';
import type { OfferResult, SnapshotStore } from './store.js';

/** Largest request body accepted (compressed size); parseSnapshot limits the decompressed size. */
export const DEFAULT_MAX_BODY = DEFAULT_LIMITS.maxInputBytes;

const STATUS: Record<string, number> = {
  applied: 204,
  unchanged: 304,
  rejected_schema: 400,
  rejected_signature: 403,
  rejected_rollback: 409,
  rejected_conflict: 409,
  rejected_too_large: 413,
};

/** The HTTP status for a store outcome. */
export function statusFor(outcome: OfferResult): number {
  return STATUS[outcome.result === 'rejected' ? outcome.reason : outcome.result] ?? 400;
}

/** The receiver's HTTP server. */
export class SnapshotReceiver {
  private server: Server | undefined;

  constructor(
    private readonly store: SnapshotStore,
    private readonly log: Logger,
    private readonly maxBody: number = DEFAULT_MAX_BODY,
  ) {}

  /** Binds; rejects with a ListenError naming --receiver-listen when it cannot. */
  async listen(address: HostPort, reusePort = false): Promise<HostPort> {
    const server = createServer((req, res) => void this.handle(req, res));
    server.requestTimeout = 60_000;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error) =>
        reject(new ListenError(`cannot listen on --receiver-listen ${formatHostPort(address)}: ${error.message}`, { cause: error })),
      );
      server.listen({ port: address.port, host: address.host, reusePort }, () => resolve());
    });
    const bound = server.address();
    return { host: address.host, port: typeof bound === 'object' && bound !== null ? bound.port : address.port };
  }

  private etag(): string | undefined {
    const generation = this.store.current()?.generation;
    return generation === undefined ? undefined : `"${generation}"`;
  }

  private reply(res: ServerResponse, status: number, body: Record<string, unknown>): void {
    const etag = this.etag();
    const headers: Record<string, string> = etag ? { etag } : {};
    if (status === 204 || status === 304) {
      res.writeHead(status, headers).end();
      return;
    }
    res.writeHead(status, { ...headers, 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/v1/snapshot/status' && (req.method === 'GET' || req.method === 'HEAD')) {
      return this.reply(res, 200, { generation: this.store.current()?.generation ?? null });
    }
    if (path !== '/v1/snapshot') return this.reply(res, 404, { error: 'not found: PUT /v1/snapshot or GET /v1/snapshot/status' });
    if (req.method !== 'PUT') {
      res.setHeader('allow', 'PUT');
      return this.reply(res, 405, { error: 'use PUT' });
    }
    const current = this.etag();
    if (current !== undefined && req.headers['if-none-match'] === current) {
      req.resume();
      return this.reply(res, 304, {});
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > this.maxBody) {
      req.resume();
      return this.tooLarge(res, `body of ${declared} bytes is over the ${this.maxBody}-byte limit`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of req) {
        size += (chunk as Buffer).length;
        if (size > this.maxBody) {
          req.pause();
          return this.tooLarge(res, `body is over the ${this.maxBody}-byte limit (${size} bytes read, then stopped)`);
        }
        chunks.push(chunk as Buffer);
      }
    } catch {
      return; // the client went away
    }
    const outcome = await this.store.offer(Buffer.concat(chunks), 'push');
    this.reply(res, statusFor(outcome), outcome);
  }

  /** Answers 413 without reading further, logs and counts it; the connection closes after the answer. */
  private tooLarge(res: ServerResponse, message: string): void {
    res.setHeader('connection', 'close');
    res.once('finish', () => res.req.destroy());
    this.reply(res, 413, this.store.refuse('push', 'rejected_too_large', message));
  }

  /** Stops accepting and closes open connections. */
  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => server.close(() => resolve()).closeAllConnections());
  }
}
