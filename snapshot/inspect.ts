/**
 * A summary of a snapshot for people and scripts (`holdfast snapshot inspect`):
 * identity, age, counts, and whether the signature checks out.
 */
import type { KeyObject } from 'node:crypto';
import { HoldfastError } from '../common/errors.js';
import { verifySignature } from './sign.js';
import type { ServiceType, SignedSnapshot } from './types.js';

/**
 * Signature status as inspect reports it: `valid` (by a trusted key), `unsigned`,
 * `invalid` (with the reason), or `not-checked` (signed, but no trusted key given).
 */
export type SignatureReport =
  | { readonly status: 'valid'; readonly keyId: string }
  | { readonly status: 'unsigned' }
  | { readonly status: 'invalid'; readonly keyId?: string; readonly reason: string }
  | { readonly status: 'not-checked'; readonly keyId: string };

/** What `snapshot inspect` prints (as JSON with `--json`). */
export interface SnapshotSummary {
  readonly generation: number;
  readonly clusterDomain: string;
  readonly createdAt: string;
  /** Seconds between `createdAt` and now (negative if created in the future). */
  readonly ageSeconds: number;
  readonly services: {
    readonly total: number;
    readonly byType: Readonly<Record<ServiceType, number>>;
    readonly headless: number;
  };
  readonly endpoints: { readonly total: number; readonly ready: number };
  readonly namespaces: number;
  /** The namespaces a filtered snapshot was asked for (`?namespaces=`); absent for the whole cluster. */
  readonly filter?: readonly string[];
  readonly signature: SignatureReport;
}

/**
 * Checks the signature for reporting, never throwing: with no trusted keys a
 * signed snapshot is `not-checked`; with trusted keys an unsigned snapshot counts
 * as `unsigned` (callers decide whether that is a failure).
 */
export function checkSignature(signed: SignedSnapshot, trustedKeys: readonly KeyObject[]): SignatureReport {
  const keyId = signed.signature?.keyId;
  if (keyId === undefined) return { status: 'unsigned' };
  if (trustedKeys.length === 0) return { status: 'not-checked', keyId };
  try {
    verifySignature(signed, trustedKeys);
    return { status: 'valid', keyId };
  } catch (error) {
    if (!(error instanceof HoldfastError)) throw error;
    return { status: 'invalid', keyId, reason: error.message };
  }
}

/** Summarises a validated snapshot; `now` is the clock used for the age. */
export function summarizeSnapshot(signed: SignedSnapshot, signature: SignatureReport, now: Date): SnapshotSummary {
  const s = signed.snapshot;
  const byType: Record<ServiceType, number> = { ClusterIP: 0, NodePort: 0, LoadBalancer: 0, ExternalName: 0 };
  let headless = 0;
  let total = 0;
  let ready = 0;
  const namespaces = new Set<string>();
  for (const service of s.services) {
    byType[service.type] += 1;
    if (service.headless) headless += 1;
    namespaces.add(service.namespace);
    total += service.endpoints.length;
    for (const endpoint of service.endpoints) if (endpoint.ready) ready += 1;
  }
  return {
    generation: s.generation,
    clusterDomain: s.clusterDomain,
    createdAt: s.createdAt,
    ageSeconds: Math.round((now.getTime() - Date.parse(s.createdAt)) / 1000),
    services: { total: s.services.length, byType, headless },
    endpoints: { total, ready },
    namespaces: namespaces.size,
    ...(s.namespaces === undefined ? {} : { filter: s.namespaces }),
    signature,
  };
}

/** The human form of a summary, one fact per line. */
export function formatSummary(summary: SnapshotSummary): string {
  const t = summary.services.byType;
  const lines = [
    `generation:     ${summary.generation}`,
    `cluster domain: ${summary.clusterDomain}`,
    `created at:     ${summary.createdAt} (${formatAge(summary.ageSeconds)})`,
    `services:       ${summary.services.total} (ClusterIP ${t.ClusterIP}, NodePort ${t.NodePort}, LoadBalancer ${t.LoadBalancer}, ExternalName ${t.ExternalName}; headless ${summary.services.headless})`,
    `endpoints:      ${summary.endpoints.total} (${summary.endpoints.ready} ready)`,
    `namespaces:     ${summary.namespaces}${summary.filter ? ` (filtered to ${summary.filter.join(', ')})` : ''}`,
    `signature:      ${formatSignature(summary.signature)}`,
  ];
  return `${lines.join('\n')}\n`;
}

function formatSignature(report: SignatureReport): string {
  switch (report.status) {
    case 'valid':
      return `valid (key ${report.keyId})`;
    case 'unsigned':
      return 'unsigned';
    case 'invalid':
      return `INVALID: ${report.reason}`;
    case 'not-checked':
      return `not checked (signed by key ${report.keyId}; pass --trust-key to verify)`;
  }
}

/** Age as `3d 4h`, `2h 5m`, `4m 10s` or `12s` followed by `ago` (or `in the future`). */
export function formatAge(seconds: number): string {
  const future = seconds < 0;
  let rest = Math.abs(seconds);
  const d = Math.floor(rest / 86400);
  rest -= d * 86400;
  const h = Math.floor(rest / 3600);
  rest -= h * 3600;
  const m = Math.floor(rest / 60);
  const s = rest - m * 60;
  const text = d > 0 ? `${d}d ${h}h` : h > 0 ? `${h}h ${m}m` : m > 0 ? `${m}m ${s}s` : `${s}s`;
  return future ? `${text} in the future` : `${text} ago`;
}
