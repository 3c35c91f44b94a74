/**
 * Label and field selectors of the fake kube-apiserver, parsed as the real one
 * does: equality (`k=v`, `k==v`, `k!=v`), existence (`k`, `!k`) and sets
 * (`k in (a,b)`, `k notin (a,b)`) for labels; `metadata.name` and
 * `metadata.namespace` (`=`, `==`, `!=`) for fields. A selector it cannot
 * parse is a 400, as on a real server.
 */
import type { KubeObject } from './apiserver-store.js';

/** A parsed selector: true when the object matches. */
export type Selector = (object: KubeObject) => boolean;

/** Thrown for a selector the fake cannot parse; the server answers 400 BadRequest. */
export class SelectorError extends Error {
  override readonly name = 'SelectorError';
}

/** Splits on commas outside parentheses. */
function requirements(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')') depth--;
    else if (text[i] === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((part) => part.trim()).filter((part) => part !== '');
}

function labelRequirement(text: string): Selector {
  const set = /^([\w./-]+)\s+(in|notin)\s+\(([^()]*)\)$/.exec(text);
  if (set !== null) {
    const [, key = '', op, values = ''] = set;
    const allowed = new Set(values.split(',').map((v) => v.trim()));
    return (o) => {
      const value = o.metadata?.labels?.[key];
      return op === 'in' ? value !== undefined && allowed.has(value) : value === undefined || !allowed.has(value);
    };
  }
  const equality = /^([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)$/.exec(text);
  if (equality !== null) {
    const [, key = '', op, value] = equality;
    return op === '!=' ? (o) => o.metadata?.labels?.[key] !== value : (o) => o.metadata?.labels?.[key] === value;
  }
  const exists = /^(!?)([\w./-]+)$/.exec(text);
  if (exists !== null) {
    const [, not, key = ''] = exists;
    return (o) => (o.metadata?.labels?.[key] !== undefined) !== (not === '!');
  }
  throw new SelectorError(`unable to parse requirement: ${JSON.stringify(text)}`);
}

function fieldRequirement(text: string): Selector {
  const match = /^(metadata\.name|metadata\.namespace)\s*(==|=|!=)\s*(.*)$/.exec(text);
  if (match === null) throw new SelectorError(`field label not supported: ${text}`);
  const [, field, op, value] = match;
  const read = (o: KubeObject) => (field === 'metadata.name' ? o.metadata?.name : o.metadata?.namespace);
  return op === '!=' ? (o) => read(o) !== value : (o) => read(o) === value;
}

function all(parts: Selector[]): Selector {
  return (object) => parts.every((matches) => matches(object));
}

/** Parses the `labelSelector` and `fieldSelector` query parameters into one selector. */
export function parseSelectors(labelSelector: string | null, fieldSelector: string | null): Selector {
  return all([
    ...requirements(labelSelector ?? '').map(labelRequirement),
    ...requirements(fieldSelector ?? '').map(fieldRequirement),
  ]);
}
