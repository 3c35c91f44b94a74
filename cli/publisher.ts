/**
 * `holdfast publisher`: runs the snapshot publisher until SIGTERM or SIGINT
 * (graceful: the lease is released so a standby takes over at once; exit 0).
 */
import { createLogger, flushLogger } from '../common/log.js';
import { flagTable, optionsHelp } from '../common/options.js';
import type { OptionSources } from '../common/options.js';
import { loadPublisherConfig, PUBLISHER_OPTIONS } from '../publisher/config.js';
import { Publisher } from '../publisher/publisher.js';
import { parseFlags } from './args.js';
import type { Command } from './args.js';

const USAGE = `Usage: holdfast publisher --signing-key KEY [options]

Watches Services and EndpointSlices (one publisher per cluster; replicas elect
one active through a Lease), builds signed snapshots, pushes them to every
resolver receiver (--target, --discover) and serves them on GET /v1/snapshot.
Every option can also be set in the --config YAML file or in HOLDFAST_*
environment variables; flags win.

Options:
${optionsHelp(PUBLISHER_OPTIONS)}
`;

/** Runs the publisher; resolves to the exit code once it has shut down. */
export const runPublisher: Command = async (argv, io) => {
  const parsed = parseFlags(argv, flagTable(PUBLISHER_OPTIONS));
  if (parsed.values['help'] === true) {
    io.stdout.write(USAGE);
    return 0;
  }
  const config = loadPublisherConfig({ flags: parsed.values as OptionSources['flags'], env: process.env });
  const log = createLogger(config.logLevel);
  const publisher = await Publisher.start(config, log);
  return new Promise<number>((resolve) => {
    const shutdown = (signal: string) => {
      log.info({ signal }, 'shutting down');
      process.off('SIGTERM', onTerm).off('SIGINT', onInt);
      void publisher.stop().then(async () => {
        await flushLogger(log);
        resolve(0);
      });
    };
    const onTerm = () => shutdown('SIGTERM');
    const onInt = () => shutdown('SIGINT');
    process.on('SIGTERM', onTerm).on('SIGINT', onInt);
  });
};
