/**
 * The `holdfast` command: dispatches to subcommands, maps errors to exit codes
 * (0 success, 2 bad usage or configuration, 1 runtime failure) and prints a
 * one-line error naming the flag or file at fault.
 */
import { exitCodeFor, HoldfastError, ConfigError } from '../common/errors.js';
import type { Command, CommandIO } from './args.js';

const USAGE = `Usage: holdfast <command> [options]

Commands:
  resolver            run the node-local DNS resolver
  publisher           watch the cluster, publish signed snapshots to resolvers
  snapshot build      build a snapshot from kubectl output
  snapshot inspect    summarise and verify a snapshot file
  snapshot push       send a snapshot to resolvers by hand (break-glass)
  keygen              create an Ed25519 signing key pair

Run 'holdfast <command> --help' for the options of a command.
`;

async function load(name: string): Promise<Command | undefined> {
  switch (name) {
    case 'resolver':
      return (await import('./resolver.js')).runResolver;
    case 'publisher':
      return (await import('./publisher.js')).runPublisher;
    case 'snapshot':
      return (await import('./snapshot.js')).runSnapshot;
    case 'keygen':
      return (await import('./keygen.js')).runKeygen;
    default:
      return undefined;
  }
}

/** Runs the CLI with `argv` (without node and script path); resolves to the exit code. */
export async function main(argv: readonly string[], io: CommandIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(USAGE);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') {
    io.stdout.write('holdfast 0.1.0\n');
    return 0;
  }
  const command = await load(name);
  if (!command) {
    io.stderr.write(`holdfast: unknown command '${name}'\n${USAGE}`);
    return 2;
  }
  try {
    return await command(rest, io);
  } catch (error) {
    reportError(error, name, io);
    return exitCodeFor(error);
  }
}

/** Prints an error the way every subcommand does: one line per problem, prefixed with the command. */
export function reportError(error: unknown, name: string, io: CommandIO): void {
  if (error instanceof ConfigError) {
    for (const problem of error.problems) io.stderr.write(`holdfast ${name}: ${problem}\n`);
  } else if (error instanceof HoldfastError) {
    io.stderr.write(`holdfast ${name}: ${error.message}\n`);
  } else {
    const message = error instanceof Error ? error.message : String(error);
    io.stderr.write(`holdfast ${name}: unexpected error: ${message}\n`);
  }
}
