/**
 * The holdfast snapshot format, version 1 (`holdfast.snapshot/v1`).
 *
 * A snapshot is everything a resolver needs to answer the cluster zone per the
 * Kubernetes DNS-Based Service Discovery specification (kubernetes/dns
 * `docs/specification.md`, schema 1.1.0): every Service with its cluster IPs,
 * ports and ExternalName, and the endpoints of its EndpointSlices.
 *
 * On disk and on the wire it travels inside a {@link SignedSnapshot} envelope.
 * The signature covers the canonical encoding of `snapshot` (see
 * `snapshot/canonical.ts`), so key order and whitespace in the file do not matter.
 * The format is documented for users in `snapshot/README.md`.
 */

/** The `format` tag of version 1. A reader rejects any other value. */
export const SNAPSHOT_FORMAT = 'holdfast.snapshot/v1';

/** Service types as the Kubernetes API names them. */
export type ServiceType = 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';

/** Every {@link ServiceType}, in the order error messages list them. */
export const SERVICE_TYPES: readonly string[] = ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'];

/**
 * Most cluster IPs of one service: one per IP family, as Kubernetes validates
 * `spec.clusterIPs` (dual-stack). Not a tunable limit: more is never valid.
 */
export const MAX_CLUSTER_IPS = 2;

/** Every port protocol, in the order error messages list them. */
export const PROTOCOLS: readonly string[] = ['TCP', 'UDP', 'SCTP'];

/** A port of a Service or of an EndpointSlice. `name` is '' for an unnamed port. */
export interface PortV1 {
  readonly name: string;
  readonly protocol: 'TCP' | 'UDP' | 'SCTP';
  readonly port: number;
}

/**
 * One endpoint of an EndpointSlice. The conditions are copied as the API reports
 * them, with an unset `ready` already resolved to `true` (the API defines unset as
 * ready) and unset `serving` to the value of `ready`, unset `terminating` to false.
 */
export interface EndpointV1 {
  /** IPv4 or IPv6 addresses, as text. At least one. */
  readonly addresses: readonly string[];
  /** `hostname` of the endpoint (a DNS label), when the API set one. */
  readonly hostname?: string;
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  /** Ports of the EndpointSlice this endpoint came from. */
  readonly ports: readonly PortV1[];
}

/** One Service and its endpoints. */
export interface ServiceV1 {
  readonly namespace: string;
  readonly name: string;
  readonly type: ServiceType;
  /** `spec.clusterIPs`; empty for a headless service (`clusterIP: None`) and for ExternalName. */
  readonly clusterIPs: readonly string[];
  /** True when the service is headless (`clusterIP: None`). */
  readonly headless: boolean;
  readonly ports: readonly PortV1[];
  /** `spec.externalName`, only for type ExternalName. */
  readonly externalName?: string;
  /** `spec.publishNotReadyAddresses`: publish endpoints that are not ready. */
  readonly publishNotReadyAddresses: boolean;
  readonly endpoints: readonly EndpointV1[];
}

/** The signed content. */
export interface SnapshotV1 {
  readonly format: typeof SNAPSHOT_FORMAT;
  /** Cluster DNS domain, lower case, no trailing dot, e.g. `cluster.local`. */
  readonly clusterDomain: string;
  /** Strictly increasing across snapshots of one cluster; a resolver never goes back. */
  readonly generation: number;
  /** RFC 3339 UTC creation time. */
  readonly createdAt: string;
  /**
   * Set on a namespace-filtered snapshot (`GET /v1/snapshot?namespaces=a,b`):
   * the namespaces asked for, sorted, each once; `services` then holds services
   * of these namespaces only. Absent: the whole cluster. Signed like the rest,
   * so a resolver can tell which view of a generation it holds.
   */
  readonly namespaces?: readonly string[];
  /** Sorted by namespace, then name. */
  readonly services: readonly ServiceV1[];
}

/** Signature block of the envelope. */
export interface SignatureV1 {
  readonly algorithm: 'ed25519';
  /** First 16 hex digits of SHA-256 over the DER (SPKI) public key. */
  readonly keyId: string;
  /** Base64 Ed25519 signature over the signing input of `snapshot/canonical.ts`. */
  readonly value: string;
}

/** What is stored in files and sent over HTTP. `signature` is absent only for unsigned snapshots. */
export interface SignedSnapshot {
  readonly snapshot: SnapshotV1;
  readonly signature?: SignatureV1;
}
