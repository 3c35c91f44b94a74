/**
 * The iptables rules of node-local mode, the same ones node-local-dns installs:
 * for each local IP, raw-table NOTRACK for DNS (UDP and TCP) and health traffic to
 * and from it — connection tracking is skipped, so kube-proxy's DNAT (nat table)
 * never sees a query for the kube-dns ClusterIP and the local listener gets it —
 * and filter-table ACCEPT for the same traffic. Every rule carries a comment
 * naming holdfast.
 *
 * The capture is liveness-bound: the NOTRACK rules sit in a chain of their own,
 * reached from PREROUTING and OUTPUT only through a jump that matches until a wall-clock
 * time (`-m time --datestop`). The resolver moves that time forward while its
 * listeners answer; if the process dies without tearing down (SIGKILL, OOM kill,
 * a wedged event loop), the jump stops matching within the lease and queries for
 * the ClusterIP fall through to kube-proxy and kube-dns again instead of into a
 * socket nobody reads.
 *
 * Rules are checked with `-C` and repaired when they drift; `-w` respects the
 * node's xtables lock. Which iptables (nft or legacy) is used follows the node's
 * own rules, like kubernetes-sigs/iptables-wrappers decides.
 */
import { isIPv6 } from 'node:net';
import { NodeSetupError } from '../../common/errors.js';
import { commandError, describeFailure } from './exec.js';
import type { CommandResult, Runner } from './exec.js';

/** Chain holding the NOTRACK rules (raw table). */
export const NOTRACK_CHAIN = 'HOLDFAST-NOTRACK';
/** Comment on every rule holdfast installs. */
export const RULE_COMMENT = 'holdfast: node-local DNS';
/** Comment on the jumps whose --datestop is the capture lease. */
export const LEASE_COMMENT = 'holdfast: capture lease';

/** Which iptables to drive: the node's nft or legacy backend, or auto-detect. */
export type IptablesMode = 'auto' | 'nft' | 'legacy';

/** What to capture. */
export interface CaptureSpec {
  readonly ips: readonly string[];
  readonly dnsPort: number;
  /** The health/metrics port, also exempted from connection tracking (optional). */
  readonly healthPort?: number;
}

/** One rule: table, chain, match and target arguments (the comment is added). */
interface Rule {
  readonly table: 'raw' | 'filter';
  readonly chain: string;
  readonly args: readonly string[];
}

/** What {@link Iptables.ensure} repaired. */
export type RuleRepair = 'chain' | 'notrack' | 'accept';

/** The commands of one backend, for IPv4 and IPv6. */
export interface IptablesBinaries {
  readonly backend: 'nft' | 'legacy' | 'default';
  readonly v4: string;
  readonly v6: string;
}

/** Splits an `iptables -S` line into arguments (comments are double-quoted). */
export function splitRuleLine(line: string): string[] {
  return [...line.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((m) => (m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] ?? '')));
}

/** `--datestop` text for a time: UTC, whole seconds. */
export function datestop(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19);
}

/** Picks the iptables backend the node uses (hint chains kubelet/kube-proxy create, then rule counts). */
export async function detectIptables(run: Runner, mode: IptablesMode): Promise<IptablesBinaries> {
  const nft: IptablesBinaries = { backend: 'nft', v4: 'iptables-nft', v6: 'ip6tables-nft' };
  const legacy: IptablesBinaries = { backend: 'legacy', v4: 'iptables-legacy', v6: 'ip6tables-legacy' };
  if (mode === 'nft') return nft;
  if (mode === 'legacy') return legacy;
  const dump = async (file: string, table: string) => {
    const r = await run(file, ['-t', table]);
    return r.code === 0 ? r.stdout : undefined;
  };
  const [nftMangle, legacyMangle] = await Promise.all([dump('iptables-nft-save', 'mangle'), dump('iptables-legacy-save', 'mangle')]);
  if (nftMangle === undefined && legacyMangle === undefined) return { backend: 'default', v4: 'iptables', v6: 'ip6tables' };
  if (nftMangle === undefined) return legacy;
  if (legacyMangle === undefined) return nft;
  const hint = /KUBE-IPTABLES-HINT|KUBE-KUBELET-CANARY/;
  if (hint.test(nftMangle)) return nft;
  if (hint.test(legacyMangle)) return legacy;
  const count = (text: string | undefined) => (text ?? '').split('\n').filter((l) => l.startsWith('-A ')).length;
  const [nftNat, legacyNat] = await Promise.all([dump('iptables-nft-save', 'nat'), dump('iptables-legacy-save', 'nat')]);
  return count(legacyNat) > count(nftNat) ? legacy : nft;
}

/** The node-local rules for a set of IPs, on one backend. */
export class Iptables {
  constructor(
    private readonly run: Runner,
    private readonly binaries: IptablesBinaries,
    private readonly spec: CaptureSpec,
  ) {}

  /** The backend in use, for logs. */
  get backend(): string {
    return this.binaries.backend;
  }

  private families(): { file: string; ips: string[] }[] {
    const v4 = this.spec.ips.filter((ip) => !isIPv6(ip));
    const v6 = this.spec.ips.filter((ip) => isIPv6(ip));
    return [
      ...(v4.length > 0 ? [{ file: this.binaries.v4, ips: v4 }] : []),
      ...(v6.length > 0 ? [{ file: this.binaries.v6, ips: v6 }] : []),
    ];
  }

  private rules(ips: readonly string[]): { notrack: Rule[]; accept: Rule[] } {
    const notrack: Rule[] = [];
    const accept: Rule[] = [];
    const port = String(this.spec.dnsPort);
    for (const ip of ips) {
      for (const proto of ['udp', 'tcp']) {
        notrack.push({ table: 'raw', chain: NOTRACK_CHAIN, args: ['-p', proto, '-d', ip, '--dport', port, '-j', 'NOTRACK'] });
        notrack.push({ table: 'raw', chain: NOTRACK_CHAIN, args: ['-p', proto, '-s', ip, '--sport', port, '-j', 'NOTRACK'] });
        accept.push({ table: 'filter', chain: 'INPUT', args: ['-p', proto, '-d', ip, '--dport', port, '-j', 'ACCEPT'] });
        accept.push({ table: 'filter', chain: 'OUTPUT', args: ['-p', proto, '-s', ip, '--sport', port, '-j', 'ACCEPT'] });
      }
      if (this.spec.healthPort !== undefined) {
        const health = String(this.spec.healthPort);
        notrack.push({ table: 'raw', chain: NOTRACK_CHAIN, args: ['-p', 'tcp', '-d', ip, '--dport', health, '-j', 'NOTRACK'] });
        notrack.push({ table: 'raw', chain: NOTRACK_CHAIN, args: ['-p', 'tcp', '-s', ip, '--sport', health, '-j', 'NOTRACK'] });
      }
    }
    return { notrack, accept };
  }

  private async call(file: string, args: readonly string[]): Promise<CommandResult> {
    return this.run(file, ['-w', '10', ...args]);
  }

  private async must(file: string, args: readonly string[], type: 'iptables' | 'lease' | 'teardown'): Promise<void> {
    const result = await this.call(file, args);
    if (result.code !== 0) throw commandError(type, file, args, result);
  }

  private async exists(file: string, rule: Rule): Promise<boolean> {
    const args = ['-t', rule.table, '-C', rule.chain, ...rule.args, '-m', 'comment', '--comment', RULE_COMMENT];
    const result = await this.call(file, args);
    if (result.code === 0) return true;
    if (result.code === 1) return false;
    throw commandError('iptables', file, args, result);
  }

  private async list(file: string, table: string, chain: string): Promise<string[] | undefined> {
    const result = await this.call(file, ['-t', table, '-S', chain]);
    if (result.code !== 0) return undefined;
    return result.stdout.split('\n').filter((l) => l.startsWith('-A '));
  }

  /** Installs missing rules (NOTRACK chain contents, ACCEPT rules); returns what it repaired. */
  async ensure(): Promise<RuleRepair[]> {
    const repaired: RuleRepair[] = [];
    for (const { file, ips } of this.families()) {
      const { notrack, accept } = this.rules(ips);
      let present = await this.list(file, 'raw', NOTRACK_CHAIN);
      if (present === undefined) {
        await this.must(file, ['-t', 'raw', '-N', NOTRACK_CHAIN], 'iptables');
        repaired.push('chain');
        present = [];
      }
      let complete = present.length === notrack.length;
      for (const rule of notrack) if (complete && !(await this.exists(file, rule))) complete = false;
      if (!complete) {
        // Rebuilt as a whole: while the chain is empty, queries go through kube-proxy, not nowhere.
        await this.must(file, ['-t', 'raw', '-F', NOTRACK_CHAIN], 'iptables');
        for (const rule of notrack) await this.must(file, ['-t', 'raw', '-A', NOTRACK_CHAIN, ...rule.args, '-m', 'comment', '--comment', RULE_COMMENT], 'iptables');
        repaired.push('notrack');
      }
      let added = false;
      for (const rule of accept) {
        if (await this.exists(file, rule)) continue;
        await this.must(file, ['-t', 'filter', '-I', rule.chain, '1', ...rule.args, '-m', 'comment', '--comment', RULE_COMMENT], 'iptables');
        added = true;
      }
      if (added) repaired.push('accept');
    }
    return repaired;
  }

  /** Lease jumps present in raw PREROUTING/OUTPUT: the rule's arguments and its expiry (ms). */
  private async leases(file: string, chain: string): Promise<{ args: string[]; expiresAt: number }[]> {
    const lines = (await this.list(file, 'raw', chain)) ?? [];
    const out: { args: string[]; expiresAt: number }[] = [];
    for (const line of lines) {
      if (!line.includes(LEASE_COMMENT)) continue;
      const args = splitRuleLine(line).slice(2);
      const stop = args[args.indexOf('--datestop') + 1];
      out.push({ args, expiresAt: stop ? Date.parse(`${stop}Z`) : 0 });
    }
    return out;
  }

  /**
   * Moves the capture lease to end by `expiresAt` (ms): a jump with the new --datestop is
   * inserted first, then older ones are deleted, so the capture never lapses while
   * renewed. Jumps that expire later (another holdfast on the node renewed them)
   * are kept.
   */
  async renewLease(expiresAt: number): Promise<void> {
    // --datestop matches through the whole second it names: name the one before `expiresAt`.
    const stop = datestop(expiresAt - 1000);
    const renewed = Date.parse(`${stop}Z`);
    for (const { file } of this.families()) {
      for (const chain of ['PREROUTING', 'OUTPUT']) {
        const current = await this.leases(file, chain);
        if (!current.some((l) => l.expiresAt >= renewed)) {
          await this.must(file, ['-t', 'raw', '-I', chain, '1', '-m', 'time', '--datestop', stop, '-m', 'comment', '--comment', LEASE_COMMENT, '-j', NOTRACK_CHAIN], 'lease');
        }
        for (const old of current) {
          if (old.expiresAt >= renewed) continue;
          const args = ['-t', 'raw', '-D', chain, ...old.args];
          const result = await this.call(file, args);
          // 1: already gone (another holdfast on the node renewed at the same moment).
          if (result.code !== 0 && result.code !== 1) throw commandError('lease', file, args, result);
        }
      }
    }
  }

  /** Removes every rule and chain holdfast installed; collects failures and throws them together. */
  async teardown(): Promise<void> {
    const failures: string[] = [];
    const attempt = async (file: string, args: readonly string[]) => {
      const result = await this.call(file, args);
      if (result.code !== 0) failures.push(describeFailure(file, args, result));
      return result.code === 0;
    };
    for (const { file, ips } of this.families()) {
      for (const chain of ['PREROUTING', 'OUTPUT']) {
        for (const lease of await this.leases(file, chain)) await attempt(file, ['-t', 'raw', '-D', chain, ...lease.args]);
      }
      if ((await this.list(file, 'raw', NOTRACK_CHAIN)) !== undefined) {
        if (await attempt(file, ['-t', 'raw', '-F', NOTRACK_CHAIN])) await attempt(file, ['-t', 'raw', '-X', NOTRACK_CHAIN]);
      }
      for (const rule of this.rules(ips).accept) {
        // Deleted until none is left (an interrupted run may have added one twice).
        for (let i = 0; i < 8 && (await this.exists(file, rule)); i++) {
          if (!(await attempt(file, ['-t', 'filter', '-D', rule.chain, ...rule.args, '-m', 'comment', '--comment', RULE_COMMENT]))) break;
        }
      }
    }
    if (failures.length > 0) throw new NodeSetupError('teardown', failures.join('; '));
  }
}
