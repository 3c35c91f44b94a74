/**
 * Command-line parsing shared by every subcommand: node:util parseArgs with
 * errors turned into {@link UsageError}s that name the flag at fault.
 */
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { UsageError } from '../common/errors.js';

/** Streams a command writes to; tests pass their own. */
export interface CommandIO {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly stdin: NodeJS.ReadableStream;
}

/** A subcommand: runs with its own argv (after the subcommand name) and resolves to an exit code. */
export type Command = (argv: readonly string[], io: CommandIO) => Promise<number>;

/** Option table in parseArgs form. */
export type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Parses `argv` strictly against `options` (plus `--help`). Unknown flags, missing
 * values and unexpected positionals become a UsageError naming the flag.
 */
export function parseFlags<O extends Options>(
  argv: readonly string[],
  options: O,
  opts: { positionals?: number } = {},
) {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: (opts.positionals ?? 0) > 0,
      // --no-reuse-port and the like turn off a boolean that defaults to on.
      allowNegative: true,
    });
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] ?? String(error) : String(error);
    throw new UsageError(message.replace(/\. To specify a positional argument.*$/, ''));
  }
  if (parsed.positionals.length > (opts.positionals ?? 0)) {
    throw new UsageError(`unexpected argument '${parsed.positionals[opts.positionals ?? 0]}'`);
  }
  return parsed;
}

/** Reads a whole stream into a Buffer (used for `-f -`). */
export async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks);
}
