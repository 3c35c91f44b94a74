/**
 * Encoded answers of a zone by query type and name (`zone.ts`). Two levels
 * rather than one key `type|name`: a lookup then hashes the query's name once
 * (V8 keeps a string's hash, and the handler has already looked the same name
 * up among the aliases) and builds no key string per query.
 */

/** Encoded answers by type, then name. */
export class AnswerTemplates {
  private readonly byType = new Map<number, Map<string, Buffer>>();
  /** Answers held. */
  size = 0;

  get(type: number, name: string): Buffer | undefined {
    return this.byType.get(type)?.get(name);
  }

  has(type: number, name: string): boolean {
    return this.byType.get(type)?.has(name) ?? false;
  }

  set(type: number, name: string, template: Buffer): void {
    let names = this.byType.get(type);
    if (!names) {
      names = new Map();
      this.byType.set(type, names);
    }
    if (!names.has(name)) this.size++;
    names.set(name, template);
  }

  /** Every answer, as [type, name, template]; answers added meanwhile may or may not be seen. */
  *entries(): Generator<[number, string, Buffer]> {
    for (const [type, names] of this.byType) for (const [name, template] of names) yield [type, name, template];
  }
}
