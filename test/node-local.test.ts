/**
 * Node-local mode in network namespaces the test creates: a "node" with a fake
 * kube-proxy (ClusterIP DNAT) and a fake kube-dns answering 10.0.0.99, and a "pod"
 * that queries 169.254.20.10 and the ClusterIP across a veth, as a pod would.
 * holdfast answers from the demo snapshot (kubernetes.default → 10.96.0.1), so
 * every answer says who gave it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CLUSTER_IP, KUBE_DNS_ANSWER, LOCAL_IP, netnsSupport, TestNode } from './helpers/netns.js';
import type { Running } from './helpers/process.js';
import { ROOT } from './helpers/process.js';

const unsupported = netnsSupport();
if (unsupported) console.warn(`node-local tests skipped: ${unsupported}`);

const NAME = 'kubernetes.default.svc.cluster.local';
/** Rules other than the lease jumps (of which there are briefly two per chain while one is renewed). */
const fixedRules = (node: TestNode) => node.holdfastRules().filter((l) => !l.includes('capture lease'));
const HOLDFAST_ANSWER = '10.96.0.1';

describe.skipIf(unsupported !== undefined)('node-local mode (--setup-interface) in a network namespace', { timeout: 20_000 }, () => {
  const node = new TestNode('nl');
  const started: Running[] = [];
  let stateDir = '';

  beforeAll(async () => {
    await node.create();
  });
  afterAll(() => node.destroy());
  afterEach(async () => {
    for (const proc of started.splice(0)) {
      if (proc.child.exitCode === null && proc.child.signalCode === null) {
        proc.child.kill('SIGKILL');
        await proc.exited;
      }
    }
    // Whatever a test left behind (a SIGKILLed resolver's rules) is not the next test's problem.
    for (const cmd of [
      ['ip', 'link', 'del', 'nodelocaldns'],
      ['sh', '-c', 'iptables-save | grep -v holdfast | iptables-restore'],
    ]) {
      try {
        node.exec(cmd);
      } catch {
        // absent already
      }
    }
    rmSync(stateDir, { recursive: true, force: true });
  });

  function start(extra: readonly string[] = []): Running {
    stateDir ||= mkdtempSync(join(tmpdir(), 'holdfast-nl-'));
    const proc = node.resolver([
      '--setup-interface',
      '--local-ip',
      `${LOCAL_IP},${CLUSTER_IP}`,
      '--snapshot-file',
      join(ROOT, 'demo', 'demo-snapshot.json'),
      '--allow-unsigned',
      '--upstream',
      `${node.nodeIp}:1053`,
      '--state-dir',
      stateDir,
      '--metrics-listen',
      `${node.nodeIp}:9253`,
      '--setup-check-interval',
      '1s',
      '--capture-lease',
      '3s',
      ...extra,
    ]);
    started.push(proc);
    return proc;
  }

  it('answers on both local IPs, shows its interface and rules, and removes them on SIGTERM', async () => {
    expect(node.query(CLUSTER_IP, NAME).a).toEqual([KUBE_DNS_ANSWER]); // before: kube-proxy → kube-dns
    const proc = start();
    await proc.waitLog('resolver serving');
    expect(node.query(LOCAL_IP, NAME).a).toEqual([HOLDFAST_ANSWER]);
    expect(node.query(CLUSTER_IP, NAME).a).toEqual([HOLDFAST_ANSWER]);
    expect(node.addresses()?.sort()).toEqual([`${CLUSTER_IP}/32`, `${LOCAL_IP}/32`]);
    const rules = node.holdfastRules();
    for (const ip of [LOCAL_IP, CLUSTER_IP]) {
      for (const proto of ['udp', 'tcp']) {
        expect(rules).toContain(`-A HOLDFAST-NOTRACK -d ${ip}/32 -p ${proto} -m ${proto} --dport 53 -m comment --comment "holdfast: node-local DNS" -j NOTRACK`);
        expect(rules).toContain(`-A HOLDFAST-NOTRACK -s ${ip}/32 -p ${proto} -m ${proto} --sport 53 -m comment --comment "holdfast: node-local DNS" -j NOTRACK`);
        expect(rules).toContain(`-A INPUT -d ${ip}/32 -p ${proto} -m ${proto} --dport 53 -m comment --comment "holdfast: node-local DNS" -j ACCEPT`);
        expect(rules).toContain(`-A OUTPUT -s ${ip}/32 -p ${proto} -m ${proto} --sport 53 -m comment --comment "holdfast: node-local DNS" -j ACCEPT`);
      }
    }
    const leases = rules.filter((l) => /^-A (PREROUTING|OUTPUT) -m time --datestop \S+ -m comment --comment "holdfast: capture lease" -j HOLDFAST-NOTRACK$/.test(l));
    expect(new Set(leases.map((l) => l.split(' ')[1]))).toEqual(new Set(['PREROUTING', 'OUTPUT']));
    const metrics = node.get(`http://${node.nodeIp}:9253/metrics`).body ?? '';
    expect(metrics).toMatch(/^holdfast_node_setup_errors_total\{type="iptables"\} 0$/m);
    expect(metrics).toMatch(/^holdfast_node_setup_repairs_total\{what="notrack"\} 1$/m);
    expect(Number(/^holdfast_node_capture_lease_expiry_timestamp_seconds (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThan(Date.now() / 1000);

    proc.child.kill('SIGTERM');
    expect((await proc.exited).code).toBe(0);
    expect(node.holdfastRules()).toEqual([]);
    expect(node.addresses()).toBeUndefined();
    expect(node.query(CLUSTER_IP, NAME).a).toEqual([KUBE_DNS_ANSWER]);
  });

  it('after SIGKILL the capture lease lapses: the ClusterIP goes back to kube-dns within the lease; a restart takes it again', async () => {
    const proc = start();
    await proc.waitLog('resolver serving');
    const ruleCount = fixedRules(node).length;
    expect(node.query(CLUSTER_IP, NAME).a).toEqual([HOLDFAST_ANSWER]);
    proc.child.kill('SIGKILL');
    await proc.exited;
    const killedAt = Date.now();
    let answer: string[] | undefined;
    while (Date.now() - killedAt < 8000) {
      answer = node.query(CLUSTER_IP, NAME, 300).a;
      if (answer?.[0] === KUBE_DNS_ANSWER) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const handedBackMs = Date.now() - killedAt;
    expect(answer).toEqual([KUBE_DNS_ANSWER]);
    // The lease ends at most 3 s after the last renewal (before the kill), plus the query that saw it.
    expect(handedBackMs).toBeLessThan(4500);
    if (process.env['HOLDFAST_TEST_REPORT']) console.log(`ClusterIP back to kube-dns ${handedBackMs} ms after SIGKILL (lease 3 s)`);

    const again = start();
    await again.waitLog('resolver serving');
    expect(node.query(CLUSTER_IP, NAME).a).toEqual([HOLDFAST_ANSWER]);
    expect(fixedRules(node)).toHaveLength(ruleCount); // adopted, not duplicated
    again.child.kill('SIGTERM');
    expect((await again.exited).code).toBe(0);
    expect(node.holdfastRules()).toEqual([]);
  });

  it('repairs rules and addresses removed behind its back', async () => {
    const proc = start();
    await proc.waitLog('resolver serving');
    const before = fixedRules(node).length;
    node.exec(['iptables', '-t', 'raw', '-F', 'HOLDFAST-NOTRACK']);
    node.exec(['iptables', '-D', 'INPUT', '-d', `${CLUSTER_IP}/32`, '-p', 'udp', '-m', 'udp', '--dport', '53', '-m', 'comment', '--comment', 'holdfast: node-local DNS', '-j', 'ACCEPT']);
    node.exec(['ip', 'addr', 'del', `${LOCAL_IP}/32`, 'dev', 'nodelocaldns']);
    await proc.waitLog('iptables rules had drifted: repaired', 0, 5000);
    expect(fixedRules(node)).toHaveLength(before);
    expect(node.addresses()?.sort()).toEqual([`${CLUSTER_IP}/32`, `${LOCAL_IP}/32`]);
    expect(node.query(LOCAL_IP, NAME).a).toEqual([HOLDFAST_ANSWER]);
    const metrics = node.get(`http://${node.nodeIp}:9253/metrics`).body ?? '';
    expect(metrics).toMatch(/^holdfast_node_setup_repairs_total\{what="notrack"\} 2$/m);
    expect(metrics).toMatch(/^holdfast_node_setup_repairs_total\{what="accept"\} 2$/m);
    expect(metrics).toMatch(/^holdfast_node_setup_repairs_total\{what="address"\} 3$/m);
  });

  it('a resolver that cannot bind its addresses exits 1 and never captures DNS', async () => {
    node.exec(['ip', 'link', 'add', 'nodelocaldns', 'type', 'bridge']);
    node.exec(['ip', 'addr', 'add', `${CLUSTER_IP}/32`, 'dev', 'nodelocaldns']);
    node.exec(['ip', 'link', 'set', 'nodelocaldns', 'up']);
    // Something else (no SO_REUSEPORT) holds the ClusterIP's port 53.
    const blocker = node.resolver(['--listen', `${CLUSTER_IP}:53`, '--no-reuse-port', '--metrics-listen', '127.0.0.1:0', '--upstream', `${node.nodeIp}:1053`]);
    started.push(blocker);
    await blocker.waitLog('resolver serving');
    const proc = start();
    const { code } = await proc.exited;
    expect(code).toBe(1);
    expect(proc.stderr).toMatch(/cannot listen on udp 10\.96\.0\.10:53/);
    expect(node.holdfastRules()).toEqual([]);
  });

  it('hitless restart: the old resolver serves until the new one does, then leaves the interface and rules to it', async () => {
    const old = start(['--log-level', 'info']);
    await old.waitLog('resolver serving');
    const next = start();
    await next.waitLog('resolver serving');
    old.child.kill('SIGTERM');
    const { code } = await old.exited;
    expect(code).toBe(0);
    expect(old.logs.map((l) => l['msg'])).toContain('another resolver serves these addresses: leaving the interface and rules to it');
    expect(node.query(CLUSTER_IP, NAME).a).toEqual([HOLDFAST_ANSWER]);
    expect(node.query(LOCAL_IP, NAME).a).toEqual([HOLDFAST_ANSWER]);
    expect(node.holdfastRules().length).toBeGreaterThan(0);
    next.child.kill('SIGTERM');
    expect((await next.exited).code).toBe(0);
    expect(node.holdfastRules()).toEqual([]);
  });
});
