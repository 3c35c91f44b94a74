/** `ADDR:PORT` listen and upstream addresses: `127.0.0.1:53`, `[::1]:53`. */
import { isIP } from 'node:net';

/** A parsed host and port. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/**
 * Parses `ADDR:PORT` (IPv6 in brackets). With `defaultPort`, a bare address is
 * accepted too. Returns an error message instead of throwing, for config validation.
 */
export function parseHostPort(text: string, defaultPort?: number): HostPort | string {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(text) ?? /^([^:]+)(?::(\d+))?$/.exec(text);
  const bare = m === null && isIP(text) === 6 ? text : undefined;
  const host = bare ?? m?.[1];
  const portText = bare === undefined ? m?.[2] : undefined;
  if (host === undefined || isIP(host) === 0) return `'${text}' is not ADDR:PORT with an IP address`;
  if (portText === undefined) {
    if (defaultPort === undefined) return `'${text}' has no port (expected ADDR:PORT)`;
    return { host, port: defaultPort };
  }
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) return `'${text}' has an invalid port`;
  return { host, port };
}

/** Formats a host and port the way users write it (`[::1]:53`). */
export function formatHostPort(hp: HostPort): string {
  return isIP(hp.host) === 6 ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}
