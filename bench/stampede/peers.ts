/**
 * Real resolvers found on the machine (or named with `--peer NAME[=PATH]`),
 * configured by the harness the way a node would run them instead of
 * node-local-dns: cluster.local forwarded to kube-dns, everything else to the
 * external resolver, both the simulated ones on 127.0.0.1, nothing else.
 *
 * - `unbound` and `unbound-serve-expired` (RFC 8767 as Unbound does it);
 * - `dnsmasq` and `dnsmasq-stale` (`--use-stale-cache`, dnsmasq ≥ 2.89; only when named);
 * - `coredns`: CoreDNS with node-local-dns's Corefile (cache success 30 s,
 *   denial 5 s), only when a binary is found or named; kube-dns is asked over
 *   UDP here (the simulated one has no TCP), where node-local-dns forces TCP.
 *
 * Lifetimes of cached data are divided by the time scale as for the other
 * contenders (`timeline.ts`); waiting times keep their defaults.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { Contender } from './contender.js';
import type { ContenderContext } from './contender.js';

/** The peers the bench knows, and the binary each needs. */
export const PEERS: Readonly<Record<string, string>> = {
  unbound: 'unbound',
  'unbound-serve-expired': 'unbound',
  dnsmasq: 'dnsmasq',
  'dnsmasq-stale': 'dnsmasq',
  coredns: 'coredns',
};

/** Peers run when none are named. */
export const DEFAULT_PEERS = ['unbound', 'unbound-serve-expired', 'dnsmasq', 'coredns'];

/** Where `binary` is: on the PATH or in the sbin directories a non-root PATH may lack. */
export function findBinary(binary: string): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin'];
  for (const dir of dirs) if (dir !== '' && existsSync(join(dir, binary))) return join(dir, binary);
  return undefined;
}

class Peer extends Contender {
  constructor(
    name: string,
    port: number,
    context: ContenderContext,
    private readonly binary: string,
  ) {
    super(name, 'peer', port, context);
    mkdirSync(context.dir, { recursive: true });
  }

  get description(): string {
    switch (this.name) {
      case 'unbound':
        return `Unbound (${this.binary}), forward zones, no serve-expired`;
      case 'unbound-serve-expired':
        return `Unbound (${this.binary}), forward zones, serve-expired: yes (client timeout 1800 ms, reply TTL ${this.context.timeline.ttl(30)} s)`;
      case 'dnsmasq':
        return `dnsmasq (${this.binary}), --server per zone, cache 10000`;
      case 'dnsmasq-stale':
        return `dnsmasq (${this.binary}), --server per zone, --use-stale-cache`;
      default:
        return `CoreDNS (${this.binary}) with node-local-dns's Corefile (cache success 9984 ${this.context.timeline.ttl(30)}, denial 9984 ${this.context.timeline.ttl(5)})`;
    }
  }

  protected command() {
    const { kubeDns, external } = this.context.upstream;
    if (this.name.startsWith('unbound')) return { command: this.binary, args: ['-d', '-c', this.unboundConfig()] };
    if (this.name === 'coredns') return { command: this.binary, args: ['-conf', this.corefile()] };
    const args = [
      '--keep-in-foreground',
      '--conf-file=/dev/null',
      '--no-resolv',
      '--no-hosts',
      '--no-poll',
      '--bind-interfaces',
      '--listen-address=127.0.0.1',
      `--port=${this.port}`,
      '--pid-file=',
      '--cache-size=10000',
      `--server=/cluster.local/127.0.0.1#${kubeDns}`,
      `--server=127.0.0.1#${external}`,
      ...(this.name === 'dnsmasq-stale' ? ['--use-stale-cache'] : []),
    ];
    return { command: this.binary, args };
  }

  private unboundConfig(): string {
    const t = this.context.timeline;
    const { kubeDns, external } = this.context.upstream;
    const expired = this.name === 'unbound-serve-expired';
    const lines = [
      'server:',
      `  interface: 127.0.0.1@${this.port}`,
      `  port: ${this.port}`,
      '  do-ip6: no',
      '  access-control: 127.0.0.0/8 allow',
      '  username: ""',
      '  chroot: ""',
      `  directory: "${this.context.dir}"`,
      '  pidfile: ""',
      '  use-syslog: no',
      '  logfile: ""',
      '  verbosity: 0',
      '  num-threads: 1',
      '  do-not-query-localhost: no',
      '  module-config: "iterator"',
      '  qname-minimisation: no',
      '  prefetch: no',
      `  infra-host-ttl: ${t.ttl(900)}`,
      `  serve-expired: ${expired ? 'yes' : 'no'}`,
      ...(expired ? ['  serve-expired-ttl: 86400', `  serve-expired-reply-ttl: ${t.ttl(30)}`, '  serve-expired-client-timeout: 1800'] : []),
      'remote-control:',
      '  control-enable: no',
      'forward-zone:',
      '  name: "cluster.local."',
      `  forward-addr: 127.0.0.1@${kubeDns}`,
      'forward-zone:',
      '  name: "."',
      `  forward-addr: 127.0.0.1@${external}`,
    ];
    const file = join(this.context.dir, 'unbound.conf');
    writeFileSync(file, `${lines.join('\n')}\n`);
    return file;
  }

  private corefile(): string {
    const t = this.context.timeline;
    const { kubeDns, external } = this.context.upstream;
    const text = [
      `cluster.local:${this.port} {`,
      '    errors',
      `    cache {\n        success 9984 ${t.ttl(30)}\n        denial 9984 ${t.ttl(5)}\n    }`,
      '    bind 127.0.0.1',
      `    forward . 127.0.0.1:${kubeDns}`,
      '}',
      `.:${this.port} {`,
      '    errors',
      `    cache ${t.ttl(30)}`,
      '    bind 127.0.0.1',
      `    forward . 127.0.0.1:${external}`,
      '}',
    ].join('\n');
    const file = join(this.context.dir, 'Corefile');
    writeFileSync(file, `${text}\n`);
    return file;
  }
}

/** A peer to run, or why it is skipped. */
export type PeerChoice = { readonly name: string; readonly binary: string } | { readonly name: string; readonly skipped: string };

/** Resolves `--peer` values (`NAME` or `NAME=PATH`; `none`) to binaries, or reasons to skip. */
export function choosePeers(requested: readonly string[] | undefined): PeerChoice[] {
  const names = requested ?? DEFAULT_PEERS;
  if (names.includes('none')) return [];
  return names.map((spec): PeerChoice => {
    const [name = '', path] = spec.split('=', 2);
    const binary = PEERS[name];
    if (binary === undefined) return { name, skipped: `unknown peer '${name}' (known: ${Object.keys(PEERS).join(', ')})` };
    const found = path ?? findBinary(binary);
    if (found === undefined || !existsSync(found)) return { name, skipped: `${binary} not found${path ? ` at ${path}` : ' on this machine'}` };
    return { name, binary: found };
  });
}

/** The contender for a chosen peer. */
export function peerContender(choice: { name: string; binary: string }, port: number, context: ContenderContext): Contender {
  return new Peer(choice.name, port, context, choice.binary);
}
