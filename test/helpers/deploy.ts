/**
 * Helpers for the tests of deploy/: rendering kustomizations with `kubectl kustomize`,
 * finding objects and containers in the result, the environment kubelet gives a
 * container (Service variables and `$(VAR)` expansion), and commands taken from the
 * documentation, so that what the docs say is what the tests run.
 */
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from './k8s-schema.js';

/** True when `kubectl` is on PATH (rendering needs it; the tests that render are skipped without it). */
export const HAVE_KUBECTL = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0;

/** The objects `kubectl kustomize dir` renders. */
export async function render(dir: string): Promise<KubeObject[]> {
  const { stdout } = await promisify(execFile)('kubectl', ['kustomize', dir], { maxBuffer: 64 * 1024 * 1024 });
  return parseAllDocuments(stdout)
    .map((d) => d.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null);
}

/** The object of `kind` named `name` (or starting with it, for hash-suffixed ConfigMaps); throws when absent. */
export function find(objects: readonly KubeObject[], kind: string, name: string): KubeObject {
  const found = objects.find((o) => o.kind === kind && (o.metadata.name === name || o.metadata.name.startsWith(`${name}-`)));
  if (!found) throw new Error(`no ${kind} ${name} in the rendered objects`);
  return found;
}

/** A container as far as these tests read it. */
export interface Container {
  readonly name: string;
  readonly args?: readonly string[];
  readonly env?: readonly { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  readonly ports?: readonly { containerPort: number; hostPort?: number }[];
  readonly securityContext?: Record<string, unknown>;
  readonly volumeMounts?: readonly { name: string; mountPath: string; readOnly?: boolean }[];
  readonly [field: string]: unknown;
}

/** The pod spec of a DaemonSet or Deployment. */
export function podSpec(workload: KubeObject): Record<string, unknown> & { containers: Container[]; volumes?: Record<string, unknown>[] } {
  const spec = workload['spec'] as { template: { spec: Record<string, unknown> & { containers: Container[] } } };
  return spec.template.spec;
}

/** The volume named `name` of a pod spec. */
export function volume(workload: KubeObject, name: string): Record<string, unknown> {
  const v = podSpec(workload).volumes?.find((x) => x['name'] === name);
  if (!v) throw new Error(`${workload.metadata.name} has no volume ${name}`);
  return v;
}

/** The variables kubelet injects for a Service into pods of its namespace (Docker link style). */
export function serviceVariables(service: KubeObject, clusterIP: string): Record<string, string> {
  const prefix = service.metadata.name.toUpperCase().replace(/-/g, '_');
  const ports = ((service['spec'] as { ports?: { name?: string; port: number; protocol?: string }[] }).ports ?? []);
  const [first] = ports;
  if (!first) return {};
  const url = (p: { port: number; protocol?: string }) => `${(p.protocol ?? 'TCP').toLowerCase()}://${clusterIP}:${p.port}`;
  const vars: Record<string, string> = {
    [`${prefix}_SERVICE_HOST`]: clusterIP,
    [`${prefix}_SERVICE_PORT`]: String(first.port),
    [`${prefix}_PORT`]: url(first),
  };
  for (const p of ports) {
    const proto = p.protocol ?? 'TCP';
    const base = `${prefix}_PORT_${p.port}_${proto}`;
    if (p.name) vars[`${prefix}_SERVICE_PORT_${p.name.toUpperCase().replace(/-/g, '_')}`] = String(p.port);
    Object.assign(vars, { [base]: url(p), [`${base}_PROTO`]: proto.toLowerCase(), [`${base}_PORT`]: String(p.port), [`${base}_ADDR`]: clusterIP });
  }
  return vars;
}

/**
 * A container's environment as kubelet builds it: the Service variables first, then the
 * container's own variables in order, each `$(NAME)` replaced when NAME is defined by
 * then (`$$` escapes); field references from `fields`. Also returns the references
 * that stayed unresolved.
 */
export function containerEnvironment(
  container: Container,
  services: Record<string, string>,
  fields: Record<string, string>,
): { env: Record<string, string>; unresolved: string[] } {
  const env: Record<string, string> = { ...services };
  const unresolved: string[] = [];
  for (const e of container.env ?? []) {
    if (e.valueFrom?.fieldRef) {
      env[e.name] = fields[e.valueFrom.fieldRef.fieldPath] ?? '';
      continue;
    }
    env[e.name] = (e.value ?? '').replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (match, name?: string) => {
      if (name === undefined) return '$';
      const value = env[name];
      if (value === undefined) unresolved.push(`${e.name}: $(${name})`);
      return value ?? match;
    });
  }
  return { env, unresolved };
}

/**
 * The fenced code block that follows the marker `<!-- test: NAME -->` in a Markdown
 * text (the marker is invisible when the Markdown is rendered).
 */
export function taggedBlock(markdown: string, name: string): string {
  const at = markdown.indexOf(`<!-- test: ${name} -->`);
  if (at < 0) throw new Error(`no block tagged ${name}`);
  const m = /```[a-z]*\n([\s\S]*?)```/.exec(markdown.slice(at));
  if (!m?.[1]) throw new Error(`no code block after the tag ${name}`);
  return m[1];
}
