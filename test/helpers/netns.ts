/**
 * Network namespaces for node-local tests: a "node" namespace (where the resolver
 * runs and a fake kube-proxy DNATs the kube-dns ClusterIP to a fake kube-dns) and a
 * "pod" namespace joined to it by a veth pair, like a pod on its node. Everything
 * stays inside namespaces the test creates; they are deleted afterwards.
 *
 * {@link netnsSupport} says why not when the machine cannot do it (not root, no
 * `ip netns`, no iptables), so tests skip with that reason.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { BIN, cleanEnv, ROOT, Running } from './process.js';

const TOOL = join(ROOT, 'test', 'helpers', 'netns-tool.mjs');

/** Undefined when namespaces, veth and iptables work here; otherwise the reason they do not. */
export function netnsSupport(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'creating network namespaces needs root';
  for (const [file, args] of [['ip', ['-V']], ['iptables', ['--version']]] as const) {
    const r = spawnSync(file, args);
    if (r.error || r.status !== 0) return `${file} is not installed (apt-get install iproute2 iptables)`;
  }
  const name = `hf-probe-${process.pid}`;
  const r = spawnSync('ip', ['netns', 'add', name]);
  if (r.status !== 0) return `ip netns add failed: ${r.stderr.toString().trim()}`;
  const nat = spawnSync('ip', ['netns', 'exec', name, 'iptables', '-t', 'nat', '-L', '-n']);
  spawnSync('ip', ['netns', 'del', name]);
  if (nat.status !== 0) return `iptables does not work in a namespace: ${nat.stderr.toString().trim()}`;
  return undefined;
}

/** The kube-dns ClusterIP of the test cluster, the link-local IP, and what the fake kube-dns answers. */
export const CLUSTER_IP = '10.96.0.10';
export const LOCAL_IP = '169.254.20.10';
export const KUBE_DNS_ANSWER = '10.0.0.99';

/** A node namespace, a pod namespace, a fake kube-proxy rule and a fake kube-dns. */
export class TestNode {
  readonly node: string;
  readonly pod: string;
  /** The node's address on the veth: the fake kube-dns listens here on port 1053. */
  readonly nodeIp = '10.123.0.1';
  private kubeDns: ReturnType<typeof spawn> | undefined;

  constructor(tag: string) {
    this.node = `hf-${tag}-n${process.pid}`;
    this.pod = `hf-${tag}-p${process.pid}`;
  }

  private sh(args: string[]): string {
    return execFileSync('ip', args, { encoding: 'utf8' });
  }

  /** Creates both namespaces, the veth pair, the DNAT and the fake kube-dns. */
  async create(): Promise<void> {
    this.destroy();
    const { node, pod } = this;
    this.sh(['netns', 'add', node]);
    this.sh(['netns', 'add', pod]);
    this.sh(['-n', node, 'link', 'set', 'lo', 'up']);
    this.sh(['-n', pod, 'link', 'set', 'lo', 'up']);
    this.sh(['link', 'add', 'hfv0', 'netns', node, 'type', 'veth', 'peer', 'name', 'hfv1', 'netns', pod]);
    this.sh(['-n', node, 'addr', 'add', `${this.nodeIp}/24`, 'dev', 'hfv0']);
    this.sh(['-n', node, 'link', 'set', 'hfv0', 'up']);
    this.sh(['-n', pod, 'addr', 'add', '10.123.0.2/24', 'dev', 'hfv1']);
    this.sh(['-n', pod, 'link', 'set', 'hfv1', 'up']);
    this.sh(['-n', pod, 'route', 'add', 'default', 'via', this.nodeIp]);
    // kube-proxy (iptables mode) in miniature: the ClusterIP is DNATed to kube-dns.
    for (const chain of ['PREROUTING', 'OUTPUT']) {
      this.exec(['iptables', '-t', 'nat', '-A', chain, '-d', `${CLUSTER_IP}/32`, '-p', 'udp', '--dport', '53', '-j', 'DNAT', '--to-destination', `${this.nodeIp}:1053`]);
    }
    const kubeDns = spawn('ip', ['netns', 'exec', node, process.execPath, TOOL, 'serve', this.nodeIp, '1053', KUBE_DNS_ANSWER], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.kubeDns = kubeDns;
    await new Promise<void>((resolve, reject) => {
      kubeDns.stdout?.once('data', () => resolve());
      kubeDns.once('exit', (code) => reject(new Error(`fake kube-dns exited ${code}`)));
    });
  }

  /** Runs a command inside the node namespace; returns its stdout (throws on failure). */
  exec(args: string[]): string {
    return execFileSync('ip', ['netns', 'exec', this.node, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** One A query from the pod namespace. */
  query(server: string, name: string, timeoutMs = 1000): { rcode?: number; a?: string[]; error?: string } {
    const out = execFileSync('ip', ['netns', 'exec', this.pod, process.execPath, TOOL, 'query', server, '53', name, String(timeoutMs)], { encoding: 'utf8' });
    return JSON.parse(out) as { rcode?: number; a?: string[]; error?: string };
  }

  /** GET from the pod namespace (e.g. the resolver's /metrics on the node's address). */
  get(url: string): { status?: number; body?: string; error?: string } {
    const out = execFileSync('ip', ['netns', 'exec', this.pod, process.execPath, TOOL, 'get', url], { encoding: 'utf8' });
    return JSON.parse(out) as { status?: number; body?: string; error?: string };
  }

  /** iptables-save lines holdfast installed, in the node namespace. */
  holdfastRules(): string[] {
    return this.exec(['iptables-save']).split('\n').filter((l) => l.includes('holdfast'));
  }

  /** Addresses on the node's `name` interface, or undefined when it does not exist. */
  addresses(name = 'nodelocaldns'): string[] | undefined {
    const r = spawnSync('ip', ['-n', this.node, '-o', 'addr', 'show', 'dev', name], { encoding: 'utf8' });
    if (r.status !== 0) return undefined;
    return [...r.stdout.matchAll(/inet (\S+)/g)].map((m) => m[1] ?? '');
  }

  /** Spawns `holdfast resolver …` inside the node namespace. */
  resolver(args: readonly string[]): Running {
    return new Running(spawn('ip', ['netns', 'exec', this.node, process.execPath, BIN, 'resolver', ...args], { cwd: ROOT, env: cleanEnv() }));
  }

  /** Kills the fake kube-dns and deletes both namespaces (the veth goes with them). */
  destroy(): void {
    this.kubeDns?.kill('SIGKILL');
    spawnSync('ip', ['netns', 'del', this.node]);
    spawnSync('ip', ['netns', 'del', this.pod]);
  }
}
