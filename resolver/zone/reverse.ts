/**
 * Reverse-mapping names (RFC 1035 §3.5 in-addr.arpa, RFC 3596 §2.5 ip6.arpa) and
 * the dashed form of an IP used as an endpoint's name when it has no hostname
 * (as CoreDNS's kubernetes plugin does; the specification leaves the form to the
 * implementation).
 */
import { isIPv4, isIPv6 } from 'node:net';

/** Expands an IPv6 address to its 8 groups of 4 hex digits. */
function expandIPv6(address: string): string[] {
  let text = address.toLowerCase();
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4?.[1]) {
    const parts = v4[1].split('.').map(Number);
    const hi = (((parts[0] ?? 0) << 8) | (parts[1] ?? 0)).toString(16);
    const lo = (((parts[2] ?? 0) << 8) | (parts[3] ?? 0)).toString(16);
    text = text.slice(0, text.length - v4[1].length) + `${hi}:${lo}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? [] : new Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...fill, ...right].map((g) => g.padStart(4, '0'));
}

/** The PTR owner name for an IP address, e.g. 10.0.0.1 → 1.0.0.10.in-addr.arpa. */
export function reverseName(address: string): string {
  if (isIPv4(address)) return `${address.split('.').reverse().join('.')}.in-addr.arpa`;
  if (isIPv6(address)) return `${expandIPv6(address).join('').split('').reverse().join('.')}.ip6.arpa`;
  throw new Error(`not an IP address: ${address}`);
}

/** The dashed label for an IP: 10.0.0.1 → 10-0-0-1, fd00::1 → fd00--1. */
export function dashedLabel(address: string): string {
  return address.toLowerCase().replace(/[.:]/g, '-');
}

/** True for names under in-addr.arpa or ip6.arpa. */
export function isReverseName(name: string): boolean {
  return name.endsWith('.in-addr.arpa') || name.endsWith('.ip6.arpa') || name === 'in-addr.arpa' || name === 'ip6.arpa';
}
