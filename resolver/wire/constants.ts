/**
 * DNS numbers holdfast uses (RFC 1035 §3.2, RFC 6891, RFC 3596, RFC 2782).
 * The rest of the code names types and rcodes through these, never by literal.
 */

/** Resource record types (RFC 1035 §3.2.2 and later registrations). */
export const RRType = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  MX: 15,
  PTR: 12,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  DNAME: 39,
  OPT: 41,
  DS: 43,
  RRSIG: 46,
  NSEC: 47,
  NSEC3: 50,
  ANY: 255,
} as const;
/** A record type number. */
export type RRTypeCode = number;

/** Classes (RFC 1035 §3.2.4). */
export const RRClass = { IN: 1, CH: 3, ANY: 255 } as const;

/** Response codes, including the 12-bit extended BADVERS of RFC 6891 §9. */
export const Rcode = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  BADVERS: 16,
} as const;
/** A response code number (12-bit when EDNS is in use). */
export type RcodeValue = number;

/** Text names of the response codes, for metrics labels and logs. */
export const RCODE_NAMES: Readonly<Record<number, string>> = {
  0: 'NOERROR',
  1: 'FORMERR',
  2: 'SERVFAIL',
  3: 'NXDOMAIN',
  4: 'NOTIMP',
  5: 'REFUSED',
  16: 'BADVERS',
};

/** Text names of the record types that get their own metrics label; others count as `other`. */
export const QTYPE_NAMES: Readonly<Record<number, string>> = {
  1: 'A',
  2: 'NS',
  5: 'CNAME',
  6: 'SOA',
  12: 'PTR',
  16: 'TXT',
  28: 'AAAA',
  33: 'SRV',
  255: 'ANY',
  65: 'HTTPS',
  64: 'SVCB',
  15: 'MX',
};

/** RFC 1035 §4.1.1: the fixed header length. */
export const HEADER_SIZE = 12;
/** RFC 1035 §4.2.1: the UDP payload limit without EDNS. */
export const CLASSIC_UDP_SIZE = 512;
/** DNS Flag Day 2020: the EDNS buffer size holdfast advertises and never exceeds over UDP. */
export const EDNS_UDP_SIZE = 1232;
/** RFC 1035 §2.3.4: maximum wire length of a name. */
export const MAX_NAME_OCTETS = 255;
