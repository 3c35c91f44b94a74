/**
 * Client allow-list (`--allow-from CIDR`): which source addresses may use the
 * resolver. Queries from anywhere else are answered REFUSED (RFC 1035 §4.1.1:
 * "the name server refuses to perform the specified operation for policy
 * reasons"), never forwarded or cached (`dispatch.ts`).
 *
 * IPv4 clients, including IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`,
 * RFC 4291 §2.5.5.2, as a dual-stack socket reports them), are matched against
 * the IPv4 networks, and against IPv6 networks written in mapped form
 * (`::ffff:10.0.0.0/104`, taken as `10.0.0.0/8`); IPv6 clients against the IPv6
 * networks. Addresses are compared as 32-bit words; the answers for the last
 * few thousand IPv6 clients are remembered (`recent.ts`): parsing IPv6 text
 * costs 1.5 µs, reading a dotted quad less than a lookup.
 */
import { isIP } from 'node:net';
import { RecentMap } from './recent.js';

/** A network of an allow-list: its address masked to the prefix, as 32-bit words (1 for IPv4, 4 for IPv6). */
export interface Network {
  readonly family: 4 | 6;
  readonly words: readonly number[];
  readonly prefix: number;
}

/** An address as 32-bit words; IPv4-mapped IPv6 addresses come back as IPv4. */
interface Address {
  readonly family: 4 | 6;
  readonly words: readonly number[];
}

/** An IPv4 dotted quad as an unsigned 32-bit number, or -1 when it is not one. */
function ipv4Word(text: string, start = 0): number {
  let word = 0;
  let part = -1;
  let dots = 0;
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2e) {
      if (part < 0 || ++dots > 3) return -1;
      word = word * 256 + part;
      part = -1;
    } else if (c >= 0x30 && c <= 0x39) {
      part = part < 0 ? c - 0x30 : part * 10 + c - 0x30;
      if (part > 255) return -1;
    } else return -1;
  }
  if (part < 0 || dots !== 3) return -1;
  return word * 256 + part;
}

/** Eight 16-bit groups of a valid IPv6 literal (checked with isIP first), as four words. */
function ipv6Words(text: string): number[] {
  const halves = text.split('::');
  const groups = (part: string | undefined): number[] => {
    if (!part) return [];
    const out: number[] = [];
    for (const piece of part.split(':')) {
      if (piece.includes('.')) {
        const w = ipv4Word(piece);
        out.push(w >>> 16, w & 0xffff);
      } else out.push(parseInt(piece, 16));
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = groups(halves[1]);
  const all = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  return [0, 2, 4, 6].map((i) => (((all[i] as number) << 16) | (all[i + 1] as number)) >>> 0);
}

/** Parses an IP literal (a zone suffix `%eth0` is ignored); undefined when it is not one. */
function parseAddress(text: string): Address | undefined {
  const v4 = ipv4Word(text);
  if (v4 >= 0) return { family: 4, words: [v4] };
  const bare = text.replace(/%.*$/, '');
  if (isIP(bare) !== 6) return undefined;
  const words = ipv6Words(bare);
  if (words[0] === 0 && words[1] === 0 && words[2] === 0xffff) return { family: 4, words: [words[3] as number] };
  return { family: 6, words };
}

/** The mask of the `bits` leading bits of a 32-bit word (0 ≤ bits ≤ 32). */
const mask = (bits: number) => (bits <= 0 ? 0 : bits >= 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0);

/** The bits of word `i` (0-based) a prefix of `prefix` bits covers. */
const wordMask = (prefix: number, i: number) => mask(prefix - 32 * i);

/**
 * Parses `ADDR/PREFIX` or a bare address (a /32 or /128). Host bits beyond the
 * prefix are ignored (`10.1.2.3/8` is `10.0.0.0/8`). Returns an error message
 * instead of throwing, for config validation.
 */
export function parseCidr(text: string): Network | string {
  const slash = text.indexOf('/');
  const addressText = slash < 0 ? text : text.slice(0, slash);
  const prefixText = slash < 0 ? undefined : text.slice(slash + 1);
  const address = isIP(addressText) === 0 || addressText.includes('%') ? undefined : parseAddress(addressText);
  if (!address) return `'${text}' is not a network (ADDR/PREFIX or ADDR, IPv4 or IPv6)`;
  const written = isIP(addressText) === 6 ? 128 : 32;
  const prefix = prefixText === undefined ? written : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefix >= 0 && prefix <= written)) return `'${text}' has an invalid prefix length (0-${written})`;
  // An IPv4-mapped IPv6 network is the IPv4 network it maps.
  const bits = address.family === 4 && written === 128 ? prefix - 96 : prefix;
  if (bits < 0) return `'${text}': an IPv4-mapped network needs a prefix of at least 96`;
  return { family: address.family, words: address.words.map((w, i) => (w & wordMask(bits, i)) >>> 0), prefix: bits };
}

/** Whether `address` lies in `network` (same family). */
function contains(network: Network, address: Address): boolean {
  for (let i = 0; i < network.words.length; i++) {
    const m = wordMask(network.prefix, i);
    if (m === 0) return true;
    if (((address.words[i] as number) & m) >>> 0 !== network.words[i]) return false;
  }
  return true;
}

/** A set of client networks. */
export class AllowList {
  private readonly v4: Network[];
  private readonly v6: Network[];
  /** Answers for recent IPv6 clients. */
  private readonly recent = new RecentMap<boolean>(4096);

  constructor(readonly networks: readonly Network[]) {
    this.v4 = networks.filter((n) => n.family === 4);
    this.v6 = networks.filter((n) => n.family === 6);
  }

  /** Whether a client at `address` (as the socket reports it) may be answered; anything unparsable may not. */
  allows(address: string | undefined): boolean {
    if (address === undefined) return false;
    const v4 = ipv4Word(address);
    if (v4 >= 0) return this.v4.some((n) => contains(n, { family: 4, words: [v4] }));
    const known = this.recent.get(address);
    if (known !== undefined) return known;
    const parsed = parseAddress(address);
    const allowed = parsed !== undefined && (parsed.family === 4 ? this.v4 : this.v6).some((n) => contains(n, parsed));
    this.recent.add(address, allowed);
    return allowed;
  }
}
