/**
 * Regenerates the Kubernetes API schemas the deploy tests check manifests against:
 * one file per Kubernetes minor version, `test/k8s-schemas/<version>.json`.
 *
 * Source: the model classes of `@kubernetes/client-node`, which the Kubernetes
 * JavaScript client generates from the OpenAPI document of one Kubernetes release
 * (the header of every model file names it, e.g. `release-1.29`). From each model
 * this keeps what a strict API server checks on create: the field names (JSON
 * names), each field's type, and which fields are required. Only the types
 * reachable from the kinds in KINDS are kept.
 *
 * Run with Node 24 (type stripping), from the repository root, with the npm
 * registry reachable:  node test/k8s-schemas/generate.ts
 * No client-node release was generated from Kubernetes 1.31; 1.30 and 1.32 bracket it.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Kubernetes version → the client-node release generated from its OpenAPI document. */
const RELEASES: Record<string, string> = {
  '1.29': '0.21.0',
  '1.30': '0.22.3',
  '1.32': '1.1.2',
  '1.33': '1.3.0',
};

/** apiVersion/kind → model class: every built-in kind the manifests may use. */
const KINDS: Record<string, string> = {
  'v1/ConfigMap': 'V1ConfigMap',
  'v1/Namespace': 'V1Namespace',
  'v1/Secret': 'V1Secret',
  'v1/Service': 'V1Service',
  'v1/ServiceAccount': 'V1ServiceAccount',
  'apps/v1/DaemonSet': 'V1DaemonSet',
  'apps/v1/Deployment': 'V1Deployment',
  'policy/v1/PodDisruptionBudget': 'V1PodDisruptionBudget',
  'rbac.authorization.k8s.io/v1/ClusterRole': 'V1ClusterRole',
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': 'V1ClusterRoleBinding',
  'rbac.authorization.k8s.io/v1/Role': 'V1Role',
  'rbac.authorization.k8s.io/v1/RoleBinding': 'V1RoleBinding',
};

interface Model {
  fields: Record<string, string>;
  required: string[];
}

/** A client-node type string in the schema's notation: string, number, boolean, any, int-or-string, T[], map<T>, or a model name. */
function normalise(type: string): string {
  const array = /^Array<(.+)>$/.exec(type);
  if (array?.[1]) return `${normalise(array[1])}[]`;
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map?.[1]) return `map<${normalise(map[1])}>`;
  if (type === 'Date') return 'string';
  if (type === 'IntOrString') return 'int-or-string';
  if (type === 'object' || type === 'any') return 'any';
  return type;
}

function references(type: string): string[] {
  return [...type.matchAll(/[A-Z]\w+/g)].map((m) => m[0]);
}

function readModels(dir: string): { models: Map<string, Model>; openapi: string } {
  const models = new Map<string, Model>();
  let openapi = '';
  for (const file of readdirSync(dir)) {
    if (!file.endsWith('.js')) continue;
    const js = readFileSync(join(dir, file), 'utf8');
    const m = /(\w+)\.attributeTypeMap = (\[[\s\S]*?\]);/.exec(js);
    if (!m?.[1] || !m[2]) continue;
    openapi ||= /(?:version of the OpenAPI document|OpenAPI spec version): (\S+)/.exec(js)?.[1] ?? '';
    const attributes = JSON.parse(m[2]) as { name: string; baseName: string; type: string }[];
    const dts = readFileSync(join(dir, file.replace(/\.js$/, '.d.ts')), 'utf8');
    const optional = new Set([...dts.matchAll(/^\s+'([^']+)'\?:/gm)].map((p) => p[1]));
    const fields: Record<string, string> = {};
    const required: string[] = [];
    for (const a of attributes) {
      fields[a.baseName] = normalise(a.type);
      if (!optional.has(a.name)) required.push(a.baseName);
    }
    models.set(m[1], { fields, required });
  }
  return { models, openapi };
}

function generate(version: string, release: string, work: string): void {
  const pkg = `@kubernetes/client-node@${release}`;
  const tgz = execFileSync('npm', ['pack', pkg, '--silent', '--pack-destination', work], { encoding: 'utf8' }).trim().split('\n').pop() ?? '';
  const dir = join(work, release);
  execFileSync('mkdir', ['-p', dir]);
  execFileSync('tar', ['-xzf', join(work, tgz), '-C', dir]);
  const gen = join(dir, 'package', 'dist', 'gen');
  const modelDir = readdirSync(gen).includes('models') ? join(gen, 'models') : join(gen, 'model');
  const { models, openapi } = readModels(modelDir);
  const types: Record<string, Model> = {};
  const queue = Object.values(KINDS);
  while (queue.length > 0) {
    const name = queue.pop() ?? '';
    const model = models.get(name);
    if (types[name] || !model) continue;
    types[name] = model;
    for (const type of Object.values(model.fields)) queue.push(...references(type).filter((r) => r !== 'Array'));
  }
  const missing = Object.values(KINDS).filter((k) => !types[k]);
  if (missing.length > 0) throw new Error(`${pkg}: no model for ${missing.join(', ')}`);
  const sorted = Object.fromEntries(Object.entries(types).sort(([a], [b]) => a.localeCompare(b)));
  const out = { kubernetes: version, source: `${pkg}, generated from the Kubernetes OpenAPI document ${openapi}`, kinds: KINDS, types: sorted };
  writeFileSync(new URL(`./${version}.json`, import.meta.url), `${JSON.stringify(out)}\n`);
  process.stdout.write(`${version}: ${Object.keys(sorted).length} types from ${pkg} (${openapi})\n`);
}

const work = mkdtempSync(join(tmpdir(), 'k8s-schemas-'));
try {
  for (const [version, release] of Object.entries(RELEASES)) generate(version, release, work);
} finally {
  rmSync(work, { recursive: true, force: true });
}
