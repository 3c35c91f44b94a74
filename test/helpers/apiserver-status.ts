/**
 * Status bodies and JSON replies of the fake kube-apiserver, in the shapes the
 * real one sends (meta/v1 Status: kind, apiVersion, metadata, status, message,
 * reason, details, code).
 */
import type { ServerResponse } from 'node:http';
import type { ResourceType } from './apiserver-store.js';

/** A meta/v1 Status with status Failure. */
export interface FailureStatus {
  readonly kind: 'Status';
  readonly apiVersion: 'v1';
  readonly metadata: Record<string, never>;
  readonly status: 'Failure';
  readonly message: string;
  readonly reason: string;
  readonly details?: { readonly name?: string; readonly group?: string; readonly kind?: string };
  readonly code: number;
}

/** A failure Status; `about` fills details (name, group, kind as the plural) as the real server does. */
export function failure(code: number, reason: string, message: string, about?: { type: ResourceType; name: string }): FailureStatus {
  const base = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code } as const;
  if (about === undefined) return base;
  const details = about.type.group === '' ? { name: about.name, kind: about.type.plural } : { name: about.name, group: about.type.group, kind: about.type.plural };
  return { ...base, details };
}

/** `leases.coordination.k8s.io`, or `services` for the core group: how messages name a resource. */
export function qualified(type: ResourceType): string {
  return type.group === '' ? type.plural : `${type.plural}.${type.group}`;
}

/** 404 NotFound for one object. */
export function notFound(type: ResourceType, name: string): FailureStatus {
  return failure(404, 'NotFound', `${qualified(type)} "${name}" not found`, { type, name });
}

/** 400 BadRequest. */
export function badRequest(message: string): FailureStatus {
  return failure(400, 'BadRequest', message);
}

/** Sends `body` as JSON with `code`. */
export function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': bytes.length });
  res.end(bytes);
}

/** Sends a failure Status with its own code. */
export function sendStatus(res: ServerResponse, status: FailureStatus): void {
  sendJson(res, status.code, status);
}
