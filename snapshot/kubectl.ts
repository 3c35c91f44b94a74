/**
 * Reading `kubectl get ... -o yaml|json` output into a flat list of objects for
 * the snapshot builder: JSON or YAML, a `kind: List` (or `ServiceList` and the like)
 * with `items`, a multi-document YAML stream (`---` separated), a JSON array, or a
 * single object.
 */
import { parseAllDocuments } from 'yaml';
import { InputError } from '../common/errors.js';

/**
 * Parses kubectl output into Kubernetes objects (not yet checked beyond having a
 * `kind`). Throws InputError naming the document (and line, for YAML) when the text
 * is not JSON or YAML, when a document is not a Kubernetes object or list, or when
 * there are no objects at all (an empty snapshot would wipe every record).
 */
export function parseKubectlOutput(text: string): unknown[] {
  const body = text.replace(/^\uFEFF/, '');
  const trimmed = body.trimStart();
  const documents: unknown[] = [];
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      documents.push(JSON.parse(body));
    } catch (error) {
      // Not JSON after all; try it as YAML (flow style) below, keeping the JSON error.
      documents.push(...parseYaml(body, error));
    }
  } else {
    documents.push(...parseYaml(body, undefined));
  }
  const objects: unknown[] = [];
  documents.forEach((doc, i) => {
    if (doc === null || doc === undefined) return; // empty document, e.g. a trailing '---'
    const where = documents.length > 1 ? `document ${i + 1}` : 'input';
    if (Array.isArray(doc)) {
      objects.push(...doc);
      return;
    }
    if (typeof doc !== 'object') throw new InputError(`${where} is not a Kubernetes object or List (got ${typeof doc})`);
    const record = doc as Record<string, unknown>;
    const kind = record['kind'];
    if (typeof kind !== 'string') throw new InputError(`${where} is not a Kubernetes object or List (no "kind" field)`);
    if (kind === 'List' || kind.endsWith('List')) {
      const items = record['items'];
      if (items === null || items === undefined) return;
      if (!Array.isArray(items)) throw new InputError(`${where}: ${kind} has no "items" array`);
      objects.push(...(items as unknown[]));
      return;
    }
    objects.push(doc);
  });
  if (objects.length === 0) {
    throw new InputError('input contains no Kubernetes objects (expected the output of `kubectl get svc,endpointslices -A -o yaml`)');
  }
  return objects;
}

function parseYaml(text: string, jsonError: unknown): unknown[] {
  const docs = parseAllDocuments(text, { uniqueKeys: false });
  if (!Array.isArray(docs)) return []; // an empty stream
  const values: unknown[] = [];
  docs.forEach((doc, i) => {
    const error = doc.errors[0];
    if (error !== undefined) {
      const json = jsonError instanceof Error ? ` (as JSON: ${jsonError.message})` : '';
      throw new InputError(`input is neither JSON nor YAML: document ${i + 1}: ${error.message.split('\n')[0] ?? ''}${json}`);
    }
    values.push(doc.toJS({ maxAliasCount: 100 }));
  });
  return values;
}
