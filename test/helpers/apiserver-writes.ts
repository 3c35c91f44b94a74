/**
 * Lease writes of the fake kube-apiserver, with the real registry's rules
 * (k8s.io/apiserver registry/generic/registry/store.go and the lease strategy:
 * AllowCreateOnUpdate true, AllowUnconditionalUpdate false):
 * - POST creates: 201; 409 AlreadyExists when the name is taken; 500 when the
 *   body carries a resourceVersion ("should not be set on objects to be created").
 * - PUT updates: 422 Invalid without metadata.resourceVersion, 409 Conflict when
 *   it differs from the stored one, else 200; an absent lease is created (201).
 * - spec.acquireTime/renewTime are MicroTime: exactly six fractional digits, or
 *   400, as Go's time.Parse(RFC3339Micro) demands. A plain JS Date serialises
 *   with three; client-node's V1MicroTime with six.
 * Every accepted write bumps the resourceVersion (a real apiserver skips
 * writes that change nothing; this fake does not).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { apiVersionOf } from './apiserver-store.js';
import type { KubeObject, ObjectStore, ResourceType } from './apiserver-store.js';
import { badRequest, failure, qualified, sendJson, sendStatus } from './apiserver-status.js';
import type { FailureStatus } from './apiserver-status.js';

const MAX_BODY_BYTES = 1 << 20;
const MICRO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$/;

async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString();
}

/** The body as a Lease for `namespace`, or the Status that rejects it. */
async function leaseBody(type: ResourceType, namespace: string, req: IncomingMessage): Promise<KubeObject | FailureStatus> {
  const text = await readBody(req);
  if (text === undefined) return failure(413, 'RequestEntityTooLarge', 'the request body is too large');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return badRequest(`the body of the request was in an unknown format: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return badRequest('the body of the request must be a JSON object');
  const body = parsed as KubeObject;
  if ((body.kind !== undefined && body.kind !== type.kind) || (body.apiVersion !== undefined && body.apiVersion !== apiVersionOf(type))) {
    return badRequest(`${body.kind ?? ''} in version "${body.apiVersion ?? ''}" cannot be handled as a ${type.kind}: wrong kind or apiVersion`);
  }
  if (body.metadata?.namespace !== undefined && body.metadata.namespace !== namespace) {
    return badRequest('the namespace of the provided object does not match the namespace sent on the request');
  }
  const spec = (body['spec'] ?? {}) as Record<string, unknown>;
  for (const field of ['acquireTime', 'renewTime']) {
    const value = spec[field];
    if (value !== undefined && value !== null && (typeof value !== 'string' || !MICRO_TIME.test(value))) {
      return badRequest(`Lease in version "v1" cannot be handled as a Lease: parsing time ${JSON.stringify(value)} as "2006-01-02T15:04:05.000000Z07:00": cannot parse`);
    }
  }
  const duration = spec['leaseDurationSeconds'];
  if (duration !== undefined && duration !== null && (typeof duration !== 'number' || duration <= 0)) {
    return failure(422, 'Invalid', `Lease.coordination.k8s.io "${body.metadata?.name ?? ''}" is invalid: spec.leaseDurationSeconds: Invalid value: ${JSON.stringify(duration)}: must be greater than 0`);
  }
  return { ...body, kind: type.kind, apiVersion: apiVersionOf(type), metadata: { ...body.metadata, namespace } };
}

function isStatus(value: KubeObject | FailureStatus): value is FailureStatus {
  return value.kind === 'Status';
}

/** POST .../namespaces/{ns}/leases. */
export async function createLease(store: ObjectStore, type: ResourceType, namespace: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await leaseBody(type, namespace, req);
  if (isStatus(body)) return sendStatus(res, body);
  const name = body.metadata?.name;
  if (name === undefined || name === '') {
    return sendStatus(res, failure(422, 'Invalid', `Lease.coordination.k8s.io "" is invalid: metadata.name: Required value: name or generateName is required`));
  }
  if (body.metadata?.resourceVersion !== undefined && body.metadata.resourceVersion !== '') {
    return sendStatus(res, failure(500, 'InternalError', 'resourceVersion should not be set on objects to be created'));
  }
  if (store.get(type.kind, namespace, name) !== undefined) {
    return sendStatus(res, failure(409, 'AlreadyExists', `${qualified(type)} "${name}" already exists`, { type, name }));
  }
  sendJson(res, 201, store.put(body).object);
}

/** PUT .../namespaces/{ns}/leases/{name}. */
export async function updateLease(store: ObjectStore, type: ResourceType, namespace: string, name: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await leaseBody(type, namespace, req);
  if (isStatus(body)) return sendStatus(res, body);
  if (body.metadata?.name !== name) {
    return sendStatus(res, badRequest(`the name of the object (${body.metadata?.name ?? ''}) does not match the name on the URL (${name})`));
  }
  const stored = store.get(type.kind, namespace, name);
  if (stored === undefined) return sendJson(res, 201, store.put(body).object);
  const expected = body.metadata.resourceVersion;
  if (expected === undefined || expected === '') {
    return sendStatus(res, failure(422, 'Invalid', `Lease.coordination.k8s.io "${name}" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update`, { type, name }));
  }
  if (expected !== stored.metadata.resourceVersion) {
    const message = `Operation cannot be fulfilled on ${qualified(type)} "${name}": the object has been modified; please apply your changes to the latest version and try again`;
    return sendStatus(res, failure(409, 'Conflict', message, { type, name }));
  }
  sendJson(res, 200, store.put(body).object);
}
