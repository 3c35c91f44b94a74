/**
 * The node-local interface (like node-local-dns's `nodelocaldns`): a dummy link
 * holding each local IP as a /32 (/128), so the kernel delivers packets for those
 * addresses to this host. Kernels built without the dummy driver get an empty
 * bridge instead, which holds addresses the same way. An interface that already
 * exists under the name (left by a previous run, or node-local-dns) is adopted.
 */
import { isIPv6 } from 'node:net';
import { commandError } from './exec.js';
import type { Runner } from './exec.js';

/** What {@link ensureInterface} had to change; empty when everything was in place. */
export type InterfaceRepair = 'interface' | 'address' | 'link_up';

/** Address with its host prefix, as `ip` prints it. */
function withPrefix(ip: string): string {
  return isIPv6(ip) ? `${ip}/128` : `${ip}/32`;
}

/** The interface's state as `ip -o addr show` reports it, or undefined when it does not exist. */
async function readInterface(run: Runner, name: string): Promise<{ up: boolean; addresses: Set<string> } | undefined> {
  const link = await run('ip', ['-o', 'link', 'show', 'dev', name]);
  if (link.code !== 0) {
    if (/does not exist|Cannot find device/i.test(link.stderr)) return undefined;
    throw commandError('interface', 'ip', ['-o', 'link', 'show', 'dev', name], link);
  }
  const flags = /<([^>]*)>/.exec(link.stdout)?.[1]?.split(',') ?? [];
  const addr = await run('ip', ['-o', 'addr', 'show', 'dev', name]);
  const addresses = new Set<string>();
  for (const m of addr.stdout.matchAll(/\binet6?\s+(\S+)/g)) if (m[1]) addresses.add(m[1]);
  return { up: flags.includes('UP'), addresses };
}

async function ip(run: Runner, type: 'interface' | 'address', args: string[]): Promise<void> {
  const result = await run('ip', args);
  if (result.code !== 0) throw commandError(type, 'ip', args, result);
}

/**
 * Creates the interface if needed, adds missing addresses and brings it up.
 * Returns what it repaired and the link kind it created (when it created one).
 */
export async function ensureInterface(run: Runner, name: string, ips: readonly string[]): Promise<{ repaired: InterfaceRepair[]; created?: 'dummy' | 'bridge' }> {
  const repaired: InterfaceRepair[] = [];
  let created: 'dummy' | 'bridge' | undefined;
  let state = await readInterface(run, name);
  if (!state) {
    const dummy = await run('ip', ['link', 'add', name, 'type', 'dummy']);
    if (dummy.code === 0) created = 'dummy';
    else if (/unknown device type|not supported/i.test(dummy.stderr)) {
      await ip(run, 'interface', ['link', 'add', name, 'type', 'bridge']);
      created = 'bridge';
    } else throw commandError('interface', 'ip', ['link', 'add', name, 'type', 'dummy'], dummy);
    repaired.push('interface');
    state = { up: false, addresses: new Set() };
  }
  for (const address of ips) {
    if (state.addresses.has(withPrefix(address))) continue;
    // nodad: an IPv6 address is usable at once, without duplicate address detection.
    await ip(run, 'address', ['addr', 'add', withPrefix(address), 'dev', name, ...(isIPv6(address) ? ['nodad'] : [])]);
    repaired.push('address');
  }
  if (!state.up) {
    await ip(run, 'interface', ['link', 'set', 'dev', name, 'up']);
    repaired.push('link_up');
  }
  return created ? { repaired, created } : { repaired };
}

/** Deletes the interface (its addresses go with it); absent is fine. */
export async function removeInterface(run: Runner, name: string): Promise<void> {
  const result = await run('ip', ['link', 'del', 'dev', name]);
  if (result.code !== 0 && !/does not exist|Cannot find device/i.test(result.stderr)) {
    throw commandError('teardown', 'ip', ['link', 'del', 'dev', name], result);
  }
}
