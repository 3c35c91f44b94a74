/**
 * Option tables shared by the long-running commands (resolver, publisher): one
 * table per command lists every option (flag name = YAML key), its kind, default
 * and help. Values come from defaults, a YAML file (`--config`), `HOLDFAST_*`
 * environment variables and flags, in that order of precedence (flags win).
 * {@link OptionReader} collects them and offers typed getters that record every
 * problem, each naming the flag, variable or file key at fault, so a command
 * validates once and reports everything together (fastify
 * `lib/initial-config-validation.js`).
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from './errors.js';
import { parseHostPort } from '../resolver/server/address.js';
import type { HostPort } from '../resolver/server/address.js';

/** How an option's value is written. */
export type OptionKind = 'string' | 'list' | 'boolean';

/** One option of a table. */
export interface OptionSpec {
  readonly kind: OptionKind;
  readonly default: string | readonly string[] | boolean | undefined;
  readonly help: string;
}

/** A command's options by name. */
export type OptionTable = Readonly<Record<string, OptionSpec>>;

/** Inputs of an {@link OptionReader}; tests pass their own environment and file reader. */
export interface OptionSources {
  /** Flags as parsed by the CLI: option name → string, string[] or boolean. */
  readonly flags: Readonly<Record<string, string | readonly string[] | boolean | undefined>>;
  readonly env: NodeJS.ProcessEnv;
  readonly readFile?: (path: string) => string;
}

type RawValue = { readonly value: string | readonly string[] | boolean; readonly source: string };

/** Environment variable for an option: `cluster-domain` → `HOLDFAST_CLUSTER_DOMAIN`. */
export function envName(option: string): string {
  return `HOLDFAST_${option.toUpperCase().replace(/-/g, '_')}`;
}

/** Parses a duration: `500ms`, `2s`, `5m`, `1h`, or a bare number of seconds. Returns ms or undefined. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return Math.round(n * (unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000));
}

/** Reads a table's values from every source; typed getters record problems instead of throwing. */
export class OptionReader<T extends OptionTable> {
  /** Every problem found so far, each naming its source. */
  readonly problems: string[] = [];
  /** The --config file, when one was given. */
  readonly configFile: string | undefined;
  private readonly raw = new Map<string, RawValue>();

  constructor(
    private readonly table: T,
    sources: OptionSources,
  ) {
    const read = sources.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
    const configFlag = sources.flags['config'];
    this.configFile = typeof configFlag === 'string' ? configFlag : sources.env[envName('config')] || undefined;
    if (this.configFile !== undefined) {
      try {
        this.fromYaml(this.configFile, read(this.configFile));
      } catch (error) {
        this.problems.push(`--config ${this.configFile}: cannot read: ${(error as Error).message}`);
      }
    }
    this.fromEnv(sources.env);
    for (const [key, value] of Object.entries(sources.flags)) {
      if (value === undefined || key === 'config' || key === 'help') continue;
      if (Array.isArray(value) && value.length === 0) continue;
      this.raw.set(key, { value, source: `--${key}` });
    }
  }

  private fromYaml(path: string, text: string): void {
    let doc: unknown;
    try {
      doc = parseYaml(text);
    } catch (error) {
      this.problems.push(`--config ${path}: ${(error as Error).message.split('\n')[0]}`);
      return;
    }
    if (doc === null || doc === undefined) return;
    if (typeof doc !== 'object' || Array.isArray(doc)) {
      this.problems.push(`--config ${path}: expected a mapping of option names to values`);
      return;
    }
    for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
      const spec = this.table[key];
      const source = `${path}: ${key}`;
      if (!spec || key === 'config') {
        this.problems.push(`${source}: unknown option`);
        continue;
      }
      if (spec.kind === 'boolean') {
        if (typeof value !== 'boolean') this.problems.push(`${source}: expected true or false`);
        else this.raw.set(key, { value, source });
      } else if (spec.kind === 'list') {
        const list = Array.isArray(value) ? value : [value];
        if (!list.every((v) => typeof v === 'string' || typeof v === 'number')) this.problems.push(`${source}: expected a string or a list of strings`);
        else this.raw.set(key, { value: list.map(String), source });
      } else if (typeof value === 'string' || typeof value === 'number') this.raw.set(key, { value: String(value), source });
      else this.problems.push(`${source}: expected a string`);
    }
  }

  private fromEnv(env: NodeJS.ProcessEnv): void {
    for (const [key, spec] of Object.entries(this.table)) {
      const name = envName(key);
      const text = env[name];
      if (text === undefined || text === '' || key === 'config') continue;
      if (spec.kind === 'boolean') {
        if (!/^(true|false|1|0)$/i.test(text)) this.problems.push(`${name}: expected true or false, got '${text}'`);
        else this.raw.set(key, { value: /^(true|1)$/i.test(text), source: name });
      } else if (spec.kind === 'list') this.raw.set(key, { value: text.split(',').map((s) => s.trim()).filter(Boolean), source: name });
      else this.raw.set(key, { value: text, source: name });
    }
  }

  /** Where the value of `key` came from, for messages: `--flag`, `HOLDFAST_FLAG` or `file: key`. */
  source(key: keyof T & string): string {
    return this.raw.get(key)?.source ?? `--${key}`;
  }

  /** Whether `key` was given (flag, environment or file), as opposed to defaulted. */
  isSet(key: keyof T & string): boolean {
    return this.raw.has(key);
  }

  /** Records a problem with `key`, prefixed with where its value came from. */
  problem(key: keyof T & string, message: string): void {
    this.problems.push(`${this.source(key)}: ${message}`);
  }

  private value(key: keyof T & string): RawValue['value'] | undefined {
    return this.raw.get(key)?.value ?? this.table[key]?.default;
  }

  /** A string option, or undefined when unset without a default. */
  str(key: keyof T & string): string | undefined {
    const v = this.value(key);
    return typeof v === 'string' ? v : undefined;
  }

  /** A list option (a single string counts as a list of one). */
  list(key: keyof T & string): readonly string[] {
    const v = this.value(key);
    return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
  }

  /** A boolean option. */
  bool(key: keyof T & string): boolean {
    return this.value(key) === true;
  }

  /** A duration in ms, at least `min`. */
  duration(key: keyof T & string, min: number): number {
    const text = this.str(key) ?? '';
    const ms = parseDuration(text);
    if (ms === undefined || ms < min) {
      this.problem(key, `'${text}' is not a duration of at least ${min} ms (e.g. 500ms, 2s, 1m)`);
      return min;
    }
    return ms;
  }

  /** An integer, at least `min`. */
  integer(key: keyof T & string, min: number): number {
    const text = this.str(key) ?? '';
    const n = Number(text);
    if (text === '' || !Number.isInteger(n) || n < min) {
      this.problem(key, `'${text}' is not an integer of at least ${min}`);
      return min;
    }
    return n;
  }

  /** `ADDR:PORT` values of `key` (a bare address takes `defaultPort` when given). */
  hostPorts(key: keyof T & string, values: readonly string[], defaultPort?: number): HostPort[] {
    const out: HostPort[] = [];
    for (const text of values) {
      const hp = parseHostPort(text, defaultPort);
      if (typeof hp === 'string') this.problem(key, hp);
      else out.push(hp);
    }
    return out;
  }

  /** Throws a ConfigError listing every problem, or returns `config` frozen. */
  finish<C extends object>(config: C): Readonly<C> {
    if (this.problems.length > 0) throw new ConfigError(this.problems);
    return Object.freeze(config);
  }
}

/** The table in node:util parseArgs form, for the CLI. */
export function flagTable(table: OptionTable): Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {};
  for (const [name, spec] of Object.entries(table)) {
    options[name] = spec.kind === 'boolean' ? { type: 'boolean' } : { type: 'string', multiple: spec.kind === 'list' };
  }
  return options;
}

/** The options part of a command's --help: flag, help, default and environment variable. */
export function optionsHelp(table: OptionTable): string {
  return Object.entries(table)
    .map(([name, spec]) => {
      const arg = spec.kind === 'boolean' ? '' : ' VALUE';
      const empty = spec.default === undefined || (Array.isArray(spec.default) && spec.default.length === 0) || spec.default === false;
      return `  --${name}${arg}\n      ${spec.help}${empty ? '' : ` (default ${String(spec.default)})`}; env ${envName(name)}`;
    })
    .join('\n');
}
