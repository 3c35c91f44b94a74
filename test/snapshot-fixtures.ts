/** Shared fixtures for the snapshot tests: a fixed Ed25519 key pair and a small valid snapshot. */
import type { SnapshotV1 } from '../snapshot/types.js';

/** A fixed Ed25519 key made with `openssl genpkey -algorithm ed25519`. */
export const FIXED_PRIVATE_PEM = `-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEII2iHfI6HZNogtO0tya/WdbJ2vk5NQdurjM5t1DAMtLF
-----END PRIVATE KEY-----
`;

/** Its public key, from `openssl pkey -pubout`. */
export const FIXED_PUBLIC_PEM = `-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAaXf+Lur/I0Kwr5huDFv8QR+2NpO/7hURaw2GNouR1Ws=
-----END PUBLIC KEY-----
`;

/** `openssl pkey -pubout -outform DER | sha256sum | cut -c1-16`. */
export const FIXED_KEY_ID = '39b16b91b66c0696';

/** A one-service snapshot. */
export function smallSnapshot(): SnapshotV1 {
  return {
    format: 'holdfast.snapshot/v1',
    clusterDomain: 'cluster.local',
    generation: 7,
    createdAt: '2024-12-11T00:00:00Z',
    services: [
      {
        namespace: 'default',
        name: 'kubernetes',
        type: 'ClusterIP',
        clusterIPs: ['10.96.0.1'],
        headless: false,
        ports: [{ name: 'https', protocol: 'TCP', port: 443 }],
        publishNotReadyAddresses: false,
        endpoints: [
          { addresses: ['172.18.0.2'], ready: true, serving: true, terminating: false, ports: [{ name: 'https', protocol: 'TCP', port: 6443 }] },
        ],
      },
    ],
  };
}

/** Canonical signing input of {@link smallSnapshot}, written out by hand. */
export const SMALL_SIGNING_INPUT =
  'holdfast-snapshot-v1\n' +
  '{"clusterDomain":"cluster.local","createdAt":"2024-12-11T00:00:00Z","format":"holdfast.snapshot/v1","generation":7,' +
  '"services":[{"clusterIPs":["10.96.0.1"],"endpoints":[{"addresses":["172.18.0.2"],"ports":[{"name":"https","port":6443,"protocol":"TCP"}],' +
  '"ready":true,"serving":true,"terminating":false}],"headless":false,"name":"kubernetes","namespace":"default",' +
  '"ports":[{"name":"https","port":443,"protocol":"TCP"}],"publishNotReadyAddresses":false,"type":"ClusterIP"}]}';

/** `openssl pkeyutl -sign -rawin -inkey <FIXED key>` over {@link SMALL_SIGNING_INPUT}, base64. */
export const SMALL_SIGNATURE =
  'OIyFPLHlwfUhnHUzJhkg4ck1VbhMPh48wDe8L/6jxNBUak+WSbQRIrUp0k8ddd2bk8I4RMb/ktky8HxF4kKQAw==';
