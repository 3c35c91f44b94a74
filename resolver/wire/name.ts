/**
 * Domain names as holdfast's code sees them.
 *
 * A {@link DnsName} is the lower-cased presentation form without the trailing
 * dot (`web.default.svc.cluster.local`; the root is ''), branded so a raw,
 * case-preserving string cannot be used as a lookup or cache key by accident
 * (RFC 4343: comparisons are case-insensitive for ASCII).
 */

declare const dnsNameBrand: unique symbol;
/** A lower-cased, dot-separated name without the trailing dot. */
export type DnsName = string & { readonly [dnsNameBrand]: true };

/**
 * Converts presentation text (any case, optional trailing dot) to a DnsName.
 * Only ASCII letters are folded (RFC 4343 §3).
 */
export function toDnsName(text: string): DnsName {
  const trimmed = text.endsWith('.') ? text.slice(0, -1) : text;
  return trimmed.replace(/[A-Z]+/g, (s) => s.toLowerCase()) as DnsName;
}

/** True when `name` equals `zone` or lies below it. */
export function isSubdomain(name: DnsName, zone: DnsName): boolean {
  if (zone === '') return true;
  return name === zone || (name.length > zone.length && name.endsWith(zone) && name[name.length - zone.length - 1] === '.');
}

/** The labels of `name` above `zone` (`a.b.zone` under `zone` → ['a','b']); `name` must be in `zone`. */
export function labelsAbove(name: DnsName, zone: DnsName): string[] {
  if (name === zone) return [];
  const head = zone === '' ? name : name.slice(0, name.length - zone.length - 1);
  return head.split('.');
}

/** RFC 1123 §2.1 label: letters, digits and hyphens, 1–63 octets, no leading or trailing hyphen. */
export function isHostLabel(label: string): boolean {
  return /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(label);
}
