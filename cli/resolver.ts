/**
 * `holdfast resolver`: runs the resolver until SIGTERM or SIGINT (graceful
 * shutdown, exit 0); SIGHUP re-reads the configuration (flags, environment and
 * the --config file) and applies it, keeping the old one when it is invalid.
 */
import { ConfigError } from '../common/errors.js';
import { createLogger, flushLogger } from '../common/log.js';
import { flagTable, optionsHelp } from '../common/options.js';
import { loadConfig, OPTIONS, readResolvConf } from '../resolver/config.js';
import type { ConfigSources } from '../resolver/config.js';
import { Resolver } from '../resolver/resolver.js';
import { parseFlags } from './args.js';
import type { Command } from './args.js';

function usage(): string {
  return `Usage: holdfast resolver [options]

Serves DNS on --listen: the cluster zone from verified snapshots, everything else
forwarded to --upstream. Every option can also be set in the --config YAML file
(keys named like the flags) or in HOLDFAST_* environment variables; flags win.

Options:
${optionsHelp(OPTIONS)}
`;
}

/** Runs the resolver; resolves to the exit code once it has shut down. */
export const runResolver: Command = async (argv, io) => {
  const parsed = parseFlags(argv, flagTable(OPTIONS));
  if (parsed.values['help'] === true) {
    io.stdout.write(usage());
    return 0;
  }
  const flags = parsed.values as ConfigSources['flags'];
  // Read once: a reload keeps the upstreams it names (see ConfigSources.resolvConf).
  const resolvConf = readResolvConf();
  const sources = { flags, env: process.env, ...(resolvConf === undefined ? {} : { resolvConf }) };
  const config = loadConfig(sources);
  const log = createLogger(config.logLevel);
  const resolver = await Resolver.start(config, log);

  return new Promise<number>((resolve) => {
    const shutdown = (signal: string) => {
      log.info({ signal }, 'shutting down');
      process.off('SIGTERM', onTerm).off('SIGINT', onInt).off('SIGHUP', onHup);
      void resolver.stop().then(async () => {
        await flushLogger(log);
        resolve(0);
      });
    };
    const onTerm = () => shutdown('SIGTERM');
    const onInt = () => shutdown('SIGINT');
    const onHup = () => {
      try {
        const next = loadConfig(sources);
        resolver.reload(next).catch((error: unknown) => {
          log.error({ problems: error instanceof ConfigError ? error.problems : [String(error)] }, 'configuration reload failed; keeping the current one');
        });
      } catch (error) {
        log.error({ problems: error instanceof ConfigError ? error.problems : [String(error)] }, 'configuration reload failed; keeping the current one');
      }
    };
    process.on('SIGTERM', onTerm).on('SIGINT', onInt).on('SIGHUP', onHup);
  });
};
