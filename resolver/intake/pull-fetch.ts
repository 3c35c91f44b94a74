/**
 * One conditional GET of a publisher's snapshot (`GET /v1/snapshot`), bounded:
 * `If-None-Match: "<generation>"` so an unchanged snapshot costs a 304,
 * `Accept-Encoding: gzip` (the body is kept compressed: SnapshotStore.offer
 * unpacks it under its own limit), a cap on the bytes read — a body over it is
 * aborted as soon as it shows, from Content-Length or while streaming — and one
 * deadline for the whole exchange, body included, on the injected clock. A
 * 200 whose ETag names an older generation than the one served is not read.
 * Never throws: every failure comes back as a {@link PullFailure}.
 */
import { request as httpRequest } from 'node:http';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { etagGeneration } from '../../common/url.js';
import type { Clock } from '../clock.js';

/** Why a pull failed (the `reason` label of holdfast_snapshot_pull_errors_total). */
export type PullErrorReason = 'unreachable' | 'timeout' | 'http_status' | 'too_large';

/** A pull that brought no snapshot. */
export interface PullFailure {
  readonly kind: 'error';
  readonly reason: PullErrorReason;
  /** Set for `http_status`. */
  readonly status?: number;
  readonly message: string;
}

/** What one GET gave. */
export type PullResponse =
  | { readonly kind: 'body'; readonly bytes: Buffer }
  | { readonly kind: 'not-modified' }
  /** The publisher's ETag names an older generation than ours (e.g. after a break-glass push): body not read. */
  | { readonly kind: 'older'; readonly generation: number }
  | PullFailure;

/** Options of {@link fetchSnapshot}. */
export interface FetchOptions {
  /** The generation being served, sent as `If-None-Match: "<generation>"`; undefined: none yet. */
  readonly generation: number | undefined;
  readonly timeoutMs: number;
  /** Largest body read (bytes on the wire). */
  readonly maxBody: number;
  readonly clock: Clock;
  /** Aborts the exchange (resolver shutting down); it then resolves as `unreachable`. */
  readonly signal?: AbortSignal;
}

/** GETs `url` once; resolves with the body, a 304, or why not. */
export function fetchSnapshot(url: URL, options: FetchOptions): Promise<PullResponse> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = { accept: 'application/json', 'accept-encoding': 'gzip' };
    if (options.generation !== undefined) headers['if-none-match'] = `"${options.generation}"`;
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    let req: ClientRequest | undefined;
    let done = false;
    const finish = (outcome: PullResponse) => {
      if (done) return;
      done = true;
      timer.cancel();
      options.signal?.removeEventListener('abort', onAbort);
      if (outcome.kind !== 'body') req?.destroy();
      resolve(outcome);
    };
    const fail = (reason: PullErrorReason, message: string, status?: number) =>
      finish(status === undefined ? { kind: 'error', reason, message } : { kind: 'error', reason, message, status });
    const onAbort = () => fail('unreachable', 'pull cancelled');
    const timer = options.clock.timer(options.timeoutMs, () => fail('timeout', `no complete answer within ${options.timeoutMs} ms`));
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort);
    // A connection per pull: polls are seconds apart, and a kept-alive socket the
    // publisher closes just as it is reused would fail the pull for nothing.
    try {
      req = send(url, { method: 'GET', headers, agent: false }, (res) => onResponse(res, options, finish, fail));
    } catch (error) {
      return fail('unreachable', error instanceof Error ? error.message : String(error));
    }
    req.on('error', (error) => fail('unreachable', error.message));
    req.end();
  });
}

function onResponse(
  res: IncomingMessage,
  { maxBody, generation }: FetchOptions,
  finish: (outcome: PullResponse) => void,
  fail: (reason: PullErrorReason, message: string, status?: number) => void,
): void {
  res.on('error', (error) => fail('unreachable', error.message));
  const status = res.statusCode ?? 0;
  if (status === 304) {
    res.resume();
    return finish({ kind: 'not-modified' });
  }
  if (status !== 200) {
    res.resume();
    return fail('http_status', `HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''}`, status);
  }
  const tagged = etagGeneration(res.headers.etag);
  if (tagged !== undefined && generation !== undefined && tagged < generation) return finish({ kind: 'older', generation: tagged });
  const declared = Number(res.headers['content-length'] ?? 0);
  if (declared > maxBody) return fail('too_large', `body of ${declared} bytes is over the ${maxBody}-byte limit`);
  const chunks: Buffer[] = [];
  let size = 0;
  res.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > maxBody) return fail('too_large', `body is over the ${maxBody}-byte limit`);
    chunks.push(chunk);
  });
  res.on('end', () => finish({ kind: 'body', bytes: Buffer.concat(chunks) }));
  res.on('aborted', () => fail('unreachable', 'connection closed before the end of the body'));
}
