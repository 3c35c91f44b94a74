/**
 * holdfast's own record types: what the zone and the forwarder hand to the wire
 * layer. Only `resolver/wire/` turns them into bytes.
 */

/** RDATA of the record types the cluster zone serves. */
export type RData =
  | { readonly type: 'A'; readonly address: string }
  | { readonly type: 'AAAA'; readonly address: string }
  | { readonly type: 'CNAME'; readonly target: string }
  | { readonly type: 'PTR'; readonly target: string }
  | { readonly type: 'NS'; readonly target: string }
  | { readonly type: 'TXT'; readonly texts: readonly string[] }
  | {
      readonly type: 'SRV';
      readonly priority: number;
      readonly weight: number;
      readonly port: number;
      readonly target: string;
    }
  | {
      readonly type: 'SOA';
      readonly mname: string;
      readonly rname: string;
      readonly serial: number;
      readonly refresh: number;
      readonly retry: number;
      readonly expire: number;
      readonly minimum: number;
    };

/** A resource record of class IN. */
export interface ResourceRecord {
  /** Owner name, presentation form without trailing dot. */
  readonly name: string;
  readonly ttl: number;
  readonly data: RData;
}
