/**
 * Name and address checks shared by the snapshot validator and builder:
 * RFC 1123 labels and names as Kubernetes validates them, IP literals, and
 * RFC 3339 date-times.
 */
import { isIP } from 'node:net';

/** Longest DNS label (RFC 1035 §2.3.4). */
export const MAX_LABEL_LENGTH = 63;
/** Longest DNS name in text form without the trailing dot (RFC 1035 §2.3.4, 255 octets on the wire). */
export const MAX_NAME_LENGTH = 253;

const LABEL = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

/**
 * True for a lower-case RFC 1123 label (§2.1: may start with a digit) of at most 63
 * characters: what Kubernetes calls a DNS_LABEL (namespaces, service names, port
 * names, endpoint hostnames).
 */
export function isDnsLabel(value: string): boolean {
  return value.length <= MAX_LABEL_LENGTH && LABEL.test(value);
}

/**
 * True for a lower-case DNS name made of {@link isDnsLabel} labels, at most 253
 * characters, without a trailing dot (Kubernetes' DNS_SUBDOMAIN rule).
 */
export function isDnsName(value: string): boolean {
  if (value.length === 0 || value.length > MAX_NAME_LENGTH) return false;
  return value.split('.').every(isDnsLabel);
}

/** True for an IPv4 or IPv6 address literal without a zone index (`%eth0`). */
export function isIpAddress(value: string): boolean {
  return !value.includes('%') && isIP(value) !== 0;
}

/**
 * Shows an untrusted value in an error message: JSON, cut to `max` characters.
 * Never throws: a value too deeply nested to encode (a million `[`) shows as
 * `[…]` or `{…}`.
 */
export function show(value: unknown, max = 60): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = Array.isArray(value) ? '[…]' : typeof value === 'object' && value !== null ? '{…}' : typeof value;
  }
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))$/;

/** True for an RFC 3339 §5.6 date-time with valid field ranges (leap second 60 allowed). */
export function isRfc3339(text: string): boolean {
  const m = RFC3339.exec(text);
  if (!m) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth) return false;
  if (hour > 23 || minute > 59 || second > 60) return false;
  if (m[9] !== undefined && (Number(m[9]) > 23 || Number(m[10]) > 59)) return false;
  return true;
}
