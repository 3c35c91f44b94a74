/**
 * End-to-end tests of `holdfast keygen` and `holdfast snapshot build|inspect`,
 * spawning the built CLI (bin/holdfast runs dist/; `npm test` builds first).
 */
import { spawnSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyId } from '../snapshot/keys.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'holdfast');
const DEMO = join(ROOT, 'demo', 'demo-cluster.yaml');

interface Run { code: number | null; stdout: string; stderr: string }

function holdfast(args: string[], input?: string): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', ...(input === undefined ? {} : { input }) });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'holdfast-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('holdfast keygen', () => {
  it('writes a 0600 private key and a 0644 public key, prints the key id, and will not overwrite', async () => {
    const out = join(dir, 'keys', 'nested');
    const first = holdfast(['keygen', '--out-dir', out]);
    expect(first.code, first.stderr).toBe(0);
    expect((await stat(join(out, 'holdfast.key'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(out, 'holdfast.pub'))).mode & 0o777).toBe(0o644);
    const pub = await readFile(join(out, 'holdfast.pub'), 'utf8');
    expect(first.stdout).toContain(`key id:      ${keyId(createPublicKey(pub))}`);

    const again = holdfast(['keygen', '--out-dir', out]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(`holdfast keygen: ${join(out, 'holdfast.key')} already exists; not overwriting it (pass --force to replace the key pair)\n`);
    expect(await readFile(join(out, 'holdfast.pub'), 'utf8')).toBe(pub);

    const forced = holdfast(['keygen', '--out-dir', out, '--force']);
    expect(forced.code).toBe(0);
    expect(await readFile(join(out, 'holdfast.pub'), 'utf8')).not.toBe(pub);
    expect((await stat(join(out, 'holdfast.key'))).mode & 0o777).toBe(0o600);
    expect((await readdir(out)).sort()).toEqual(['holdfast.key', 'holdfast.pub']); // no temp files left
  });

  it('exits 2 without --out-dir and 0 for --help', () => {
    const r = holdfast(['keygen']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('holdfast keygen: --out-dir is required\n');
    const help = holdfast(['keygen', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: holdfast keygen --out-dir DIR/);
  });
});

describe('holdfast snapshot build / inspect', () => {
  let keys: string;
  let otherKeys: string;
  let signedFile: string;
  beforeAll(async () => {
    keys = join(dir, 'k1');
    otherKeys = join(dir, 'k2');
    expect(holdfast(['keygen', '--out-dir', keys]).code).toBe(0);
    expect(holdfast(['keygen', '--out-dir', otherKeys]).code).toBe(0);
    signedFile = join(dir, 'signed.json');
    const orphan = '\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: orphan, namespace: default, labels: {kubernetes.io/service-name: nope}}\naddressType: IPv4\nendpoints: []\n';
    const input = (await readFile(DEMO, 'utf8')) + orphan;
    const r = holdfast(['snapshot', 'build', '-f', '-', '--signing-key', join(keys, 'holdfast.key'), '--generation', '5', '-o', signedFile], input);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.split('\n')).toEqual([
      'holdfast snapshot build: skipped EndpointSlice default/orphan: its Service default/nope is not in the input (or was skipped)',
      expect.stringMatching(/^holdfast snapshot build: wrote .*signed\.json: generation 5, 10 services, 19 endpoints, signed by key [0-9a-f]{16}; 1 problem reported$/),
      '',
    ]);
  });

  it('builds from stdin to a signed file that inspect --json verifies with --trust-key', async () => {
    const written = JSON.parse(await readFile(signedFile, 'utf8'));
    expect(written.signature.algorithm).toBe('ed25519');
    const pub = join(keys, 'holdfast.pub');
    const r = holdfast(['snapshot', 'inspect', signedFile, '--trust-key', join(otherKeys, 'holdfast.pub'), '--trust-key', pub, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({
      generation: 5,
      clusterDomain: 'cluster.local',
      services: { total: 10, headless: 3, byType: { ClusterIP: 7, NodePort: 1, LoadBalancer: 1, ExternalName: 1 } },
      endpoints: { total: 19, ready: 16 },
      namespaces: 4,
      signature: { status: 'valid', keyId: keyId(createPublicKey(await readFile(pub, 'utf8'))) },
    });
    expect(summary.ageSeconds).toBeGreaterThanOrEqual(0);
  });

  it('prints a human summary; the signature is "not checked" without --trust-key', () => {
    const r = holdfast(['snapshot', 'inspect', signedFile]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^generation: +5$/m);
    expect(r.stdout).toMatch(/^services: +10 \(ClusterIP 7, NodePort 1, LoadBalancer 1, ExternalName 1; headless 3\)$/m);
    expect(r.stdout).toMatch(/^signature: +not checked \(signed by key [0-9a-f]{16}; pass --trust-key to verify\)$/m);
  });

  it('exits 1 for a snapshot signed by an untrusted key, or tampered with', async () => {
    const wrong = holdfast(['snapshot', 'inspect', signedFile, '--trust-key', join(otherKeys, 'holdfast.pub')]);
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toMatch(/^signature: +INVALID: snapshot is signed by unknown key id/m);
    expect(wrong.stderr).toMatch(new RegExp(`^holdfast snapshot inspect: ${signedFile}: snapshot is signed by unknown key id [0-9a-f]{16} \\(trusted key ids: [0-9a-f]{16}\\)\\n$`));

    const tampered = join(dir, 'tampered.json');
    const envelope = JSON.parse(await readFile(signedFile, 'utf8'));
    envelope.snapshot.services[0].endpoints[0].addresses = ['10.1.2.3'];
    await writeFile(tampered, JSON.stringify(envelope));
    const bad = holdfast(['snapshot', 'inspect', tampered, '--trust-key', join(keys, 'holdfast.pub'), '--json']);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout).signature.status).toBe('invalid');
    expect(bad.stderr).toMatch(/^holdfast snapshot inspect: .*tampered\.json: signature by key [0-9a-f]{16} does not match the snapshot content\n$/);
  });

  it('builds unsigned to stdout; inspect fails on it when a trusted key is required', async () => {
    const r = holdfast(['snapshot', 'build', '-f', DEMO, '--cluster-domain', 'Corp.Example.', '-o', '-']);
    expect(r.code, r.stderr).toBe(0);
    const envelope = JSON.parse(r.stdout);
    expect(envelope.signature).toBeUndefined();
    expect(envelope.snapshot.clusterDomain).toBe('corp.example');
    const file = join(dir, 'unsigned.json');
    await writeFile(file, r.stdout);
    expect(holdfast(['snapshot', 'inspect', file]).stdout).toMatch(/^signature: +unsigned$/m);
    const strict = holdfast(['snapshot', 'inspect', file, '--trust-key', join(keys, 'holdfast.pub')]);
    expect(strict.code).toBe(1);
    expect(strict.stderr).toMatch(/unsigned\.json: snapshot is unsigned/);
  });

  it('exits 1 naming the field when the file fails schema validation', async () => {
    const file = join(dir, 'broken.json');
    const envelope = JSON.parse(await readFile(signedFile, 'utf8'));
    envelope.snapshot.services[3].clusterIPs = ['10.96.10.x'];
    await writeFile(file, JSON.stringify(envelope));
    const r = holdfast(['snapshot', 'inspect', file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`holdfast snapshot inspect: ${file}: invalid snapshot: services[3] (default/web).clusterIPs[0]: "10.96.10.x" is not an IPv4 or IPv6 address\n`);
  });

  it.each([
    [['snapshot', 'build', '-f', DEMO, '-o', '-', '--colour'], 2, /^holdfast snapshot build: Unknown option '--colour'/],
    [['snapshot', 'inspect', 'x.json', '--trust'], 2, /^holdfast snapshot inspect: Unknown option '--trust'/],
    [['snapshot', 'build', '-f', DEMO], 2, /^holdfast snapshot build: -o\/--output is required/],
    [['snapshot', 'build', '-f', DEMO, '-o', '-', '--generation', '-3'], 2, /--generation/],
    [['snapshot', 'frobnicate'], 2, /^holdfast snapshot: unknown subcommand 'frobnicate'/],
    [['snapshot', 'build', '-f', '/nonexistent/cluster.yaml', '-o', '-'], 1, /^holdfast snapshot build: cannot read input file \/nonexistent\/cluster\.yaml: no such file or directory\n$/],
    [['snapshot', 'inspect', '/nonexistent/snap.json'], 1, /^holdfast snapshot inspect: cannot read snapshot file \/nonexistent\/snap\.json: no such file or directory\n$/],
    [['snapshot', 'build', '-f', DEMO, '-o', '-', '--signing-key', '/nonexistent/k.key'], 1, /^holdfast snapshot build: cannot read private key file \/nonexistent\/k\.key: no such file/],
    [['snapshot', 'inspect', DEMO, '--trust-key', '/nonexistent/k.pub'], 1, /cannot read public key file \/nonexistent\/k\.pub/],
    [['snapshot', 'inspect', DEMO], 1, /demo-cluster\.yaml: snapshot is not valid JSON/],
  ])('%j exits %i with a one-line error', (args, code, message) => {
    const r = holdfast(args);
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(message);
  });

  it('rejects input that is not kubectl output, naming the source', () => {
    const r = holdfast(['snapshot', 'build', '-f', '-', '-o', '-'], 'just some text\n');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('holdfast snapshot build: stdin: input is not a Kubernetes object or List (got string)\n');
  });

  it('prints usage for --help on each subcommand', () => {
    for (const sub of ['build', 'inspect']) {
      const r = holdfast(['snapshot', sub, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Usage: holdfast snapshot ${sub}`));
    }
    expect(holdfast(['snapshot', '--help']).code).toBe(0);
  });
});
