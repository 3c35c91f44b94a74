/**
 * Checks Kubernetes objects the way a strict API server does on create (kubectl's
 * default --validate=strict): unknown fields, wrong types and missing required
 * fields are errors. Built-in kinds are checked against test/k8s-schemas (one file
 * per Kubernetes version, see generate.ts there); Prometheus operator kinds against
 * the validators of @kubernetes-models/prometheus-operator, with unknown fields found
 * by watching which fields the validator reads (it checks types, formats and
 * required fields, but lets unknown ones through).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from './process.js';

/** A Kubernetes object as rendered. */
export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Record<string, string> };
  readonly [field: string]: unknown;
}

/** The schema of the built-in kinds for one Kubernetes version. */
export interface KubeSchema {
  readonly kubernetes: string;
  readonly source: string;
  readonly kinds: Readonly<Record<string, string>>;
  readonly types: Readonly<Record<string, { readonly fields: Readonly<Record<string, string>>; readonly required: readonly string[] }>>;
}

const SCHEMA_DIR = join(ROOT, 'test', 'k8s-schemas');

/** Every schema in test/k8s-schemas, oldest version first. */
export const SCHEMAS: readonly KubeSchema[] = readdirSync(SCHEMA_DIR)
  .filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(readFileSync(join(SCHEMA_DIR, f), 'utf8')) as KubeSchema)
  .sort((a, b) => Number(a.kubernetes.split('.')[1]) - Number(b.kubernetes.split('.')[1]));

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** What is wrong with `obj` for the API server of `schema`'s version (empty: nothing). */
export function schemaErrors(obj: KubeObject, schema: KubeSchema): string[] {
  const type = schema.kinds[`${obj.apiVersion}/${obj.kind}`];
  if (type === undefined) return [`${obj.apiVersion} ${obj.kind}: not a built-in kind of this check`];
  const errors: string[] = [];
  const check = (value: unknown, t: string, path: string): void => {
    const fail = (what: string): void => {
      errors.push(`${path || '/'}: ${what}, got ${JSON.stringify(value)?.slice(0, 60)}`);
    };
    if (t === 'any') return;
    if (t.endsWith('[]')) {
      if (!Array.isArray(value)) return fail(`expected a list of ${t.slice(0, -2)}`);
      value.forEach((v: unknown, i) => check(v, t.slice(0, -2), `${path}/${i}`));
      return;
    }
    const map = /^map<(.+)>$/.exec(t);
    if (map?.[1]) {
      if (!isRecord(value)) return fail('expected a map');
      for (const [k, v] of Object.entries(value)) check(v, map[1], `${path}/${k}`);
      return;
    }
    if (t === 'string' || t === 'number' || t === 'boolean') {
      if (typeof value !== t) fail(`expected a ${t}`);
      return;
    }
    if (t === 'int-or-string') {
      if (typeof value !== 'string' && !Number.isInteger(value)) fail('expected an integer or a string');
      return;
    }
    const model = schema.types[t];
    if (model === undefined) return fail(`no schema for ${t}`);
    if (!isRecord(value)) return fail(`expected an object (${t})`);
    for (const field of model.required) if (value[field] === undefined || value[field] === null) errors.push(`${path}/${field}: required (${t})`);
    for (const [field, v] of Object.entries(value)) {
      const ft = model.fields[field];
      if (ft === undefined) errors.push(`${path}/${field}: unknown field of ${t}`);
      else if (v !== null) check(v, ft, `${path}/${field}`);
    }
  };
  check(obj, type, '');
  return errors.map((e) => `${obj.kind}/${obj.metadata.name}${e}`);
}

/** The Prometheus operator kinds checked, and their validator in @kubernetes-models/prometheus-operator. */
const OPERATOR_KINDS: Readonly<Record<string, string>> = {
  'monitoring.coreos.com/v1/ServiceMonitor': 'ServiceMonitor',
  'monitoring.coreos.com/v1/PodMonitor': 'PodMonitor',
  'monitoring.coreos.com/v1/PrometheusRule': 'PrometheusRule',
};

type Validator = ((data: unknown) => boolean) & { errors?: { instancePath: string; message?: string }[] | null };

/** True for the custom resource kinds {@link customResourceErrors} checks. */
export function isOperatorKind(obj: KubeObject): boolean {
  return `${obj.apiVersion}/${obj.kind}` in OPERATOR_KINDS;
}

/** Wraps `value` so that every field the validator reads is recorded per object. */
function watchReads(value: unknown, reads: Map<object, Set<string>>): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const read = new Set<string>();
  reads.set(value, read);
  return new Proxy(value, {
    get(target, key, receiver) {
      if (typeof key === 'string') read.add(key);
      return watchReads(Reflect.get(target, key, receiver), reads);
    },
  });
}

/** What is wrong with a Prometheus operator object (empty: nothing). */
export async function customResourceErrors(obj: KubeObject): Promise<string[]> {
  const kind = OPERATOR_KINDS[`${obj.apiVersion}/${obj.kind}`];
  if (kind === undefined) return [`${obj.apiVersion} ${obj.kind}: not a Prometheus operator kind of this check`];
  const file = join(ROOT, 'node_modules', '@kubernetes-models', 'prometheus-operator', '_schemas', `ComGithubPrometheusOperatorPrometheusOperatorPkgApisMonitoringV1${kind}.js`);
  const { validate } = (await import(pathToFileURL(file).href)) as { validate: Validator };
  const reads = new Map<object, Set<string>>();
  const errors: string[] = [];
  if (!validate(watchReads(obj, reads))) {
    for (const e of validate.errors ?? []) errors.push(`${e.instancePath || '/'}: ${e.message ?? 'invalid'}`);
  }
  // A field the validator never read is one its schema does not have; an object none of
  // whose fields were read is free-form (a map the validator did not walk).
  const walk = (value: unknown, path: string): void => {
    if (Array.isArray(value)) value.forEach((v: unknown, i) => walk(v, `${path}/${i}`));
    if (!isRecord(value)) return;
    const read = reads.get(value);
    if (read === undefined || read.size === 0) return;
    for (const [field, v] of Object.entries(value)) {
      if (!read.has(field)) errors.push(`${path}/${field}: unknown field`);
      else walk(v, `${path}/${field}`);
    }
  };
  walk(obj, '');
  return errors.map((e) => `${obj.kind}/${obj.metadata.name}${e}`);
}
