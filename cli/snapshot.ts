/**
 * `holdfast snapshot build` and `holdfast snapshot inspect`: the offline,
 * break-glass path from kubectl output to a signed snapshot, and a way to look at
 * (and verify) a snapshot file.
 */
import type { KeyObject } from 'node:crypto';
import { exitCodeFor, InputError, SnapshotError, UsageError } from '../common/errors.js';
import { buildSnapshot, parseKubectlOutput } from '../snapshot/build.js';
import { readUserFile, writeFileAtomic } from '../snapshot/files.js';
import { checkSignature, formatSummary, summarizeSnapshot } from '../snapshot/inspect.js';
import { loadPrivateKey, loadPublicKey } from '../snapshot/keys.js';
import { isDnsName } from '../snapshot/names.js';
import { signSnapshot } from '../snapshot/sign.js';
import type { SignedSnapshot } from '../snapshot/types.js';
import { parseSnapshot, validateSignedSnapshot } from '../snapshot/validate.js';
import { parseFlags, readAll } from './args.js';
import type { Command, CommandIO } from './args.js';
import { reportError } from './main.js';
import { runPush } from './snapshot-push.js';

const USAGE = `Usage: holdfast snapshot <build|inspect|push> [options]

  build     build a snapshot from kubectl output (Services and EndpointSlices)
  inspect   summarise a snapshot file and verify its signature
  push      send a snapshot to resolvers (break-glass)

Run 'holdfast snapshot <subcommand> --help' for its options.
`;

const BUILD_USAGE = `Usage: holdfast snapshot build -f FILE|- -o OUT|- [options]

Builds a snapshot from the output of
  kubectl get services,endpointslices -A -o json     (or -o yaml; JSON is much faster)

Options:
  -f, --filename FILE     kubectl output to read ('-' for stdin): YAML or JSON, a List,
                          a multi-document stream or a single object
  -o, --output OUT        where to write the snapshot ('-' for stdout); written atomically
  --cluster-domain D      cluster DNS domain (default cluster.local)
  --signing-key KEY       Ed25519 private key (PKCS#8 PEM, see 'holdfast keygen');
                          without it the snapshot is unsigned
  --generation N          snapshot generation, must exceed the resolvers' current one
                          (default: milliseconds since the epoch)
  -h, --help              show this help

Every object that cannot be used is reported on stderr; a summary line follows.
`;

const INSPECT_USAGE = `Usage: holdfast snapshot inspect FILE|- [--trust-key PUB]... [--json]

Validates a snapshot file (JSON or gzip) and prints a summary: generation, cluster
domain, age, counts and signature status.

Options:
  --trust-key PUB   Ed25519 public key (SPKI PEM) to verify the signature with;
                    repeat for several keys. With at least one, an invalid or
                    missing signature makes the command fail (exit 1).
  --json            print the summary as JSON
  -h, --help        show this help
`;

/** Runs `holdfast snapshot <build|inspect>`; errors are reported as `holdfast snapshot <sub>: ...`. */
export const runSnapshot: Command = async (argv, io) => {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    if (sub === undefined) {
      io.stderr.write(USAGE);
      throw new UsageError('missing subcommand (build, inspect or push)');
    }
    io.stdout.write(USAGE);
    return 0;
  }
  const run = sub === 'build' ? runBuild : sub === 'inspect' ? runInspect : sub === 'push' ? runPush : undefined;
  if (run === undefined) throw new UsageError(`unknown subcommand '${sub}' (expected build, inspect or push)`);
  try {
    return await run(rest, io);
  } catch (error) {
    reportError(error, `snapshot ${sub}`, io);
    return exitCodeFor(error);
  }
};

async function runBuild(argv: readonly string[], io: CommandIO): Promise<number> {
  const { values } = parseFlags(argv, {
    filename: { type: 'string', short: 'f' },
    output: { type: 'string', short: 'o' },
    'cluster-domain': { type: 'string' },
    'signing-key': { type: 'string' },
    generation: { type: 'string' },
  });
  if (values.help === true) {
    io.stdout.write(BUILD_USAGE);
    return 0;
  }
  const input = values.filename;
  const output = values.output;
  if (input === undefined || input === '') throw new UsageError('-f/--filename is required (use - for stdin)');
  if (output === undefined || output === '') throw new UsageError('-o/--output is required (use - for stdout)');
  const clusterDomain = (values['cluster-domain'] ?? 'cluster.local').toLowerCase().replace(/\.$/, '');
  if (!isDnsName(clusterDomain)) throw new UsageError(`--cluster-domain: '${values['cluster-domain'] ?? ''}' is not a DNS name`);
  const generation = parseGeneration(values.generation);
  // Load the key before reading stdin so a bad key fails fast.
  const signingKey = values['signing-key'] === undefined ? undefined : await loadPrivateKey(values['signing-key']);

  const source = input === '-' ? 'stdin' : input;
  const bytes = input === '-' ? await readAll(io.stdin) : await readUserFile(input, 'input file');
  let objects: unknown[];
  try {
    objects = parseKubectlOutput(bytes.toString('utf8'));
  } catch (error) {
    if (error instanceof InputError) throw new InputError(`${source}: ${error.message}`, { cause: error });
    throw error;
  }
  const { snapshot, problems } = buildSnapshot(objects, { clusterDomain, generation, now: new Date() });
  for (const problem of problems) io.stderr.write(`holdfast snapshot build: ${problem}\n`);
  const envelope: SignedSnapshot = signingKey === undefined ? { snapshot } : signSnapshot(snapshot, signingKey);
  const text = `${JSON.stringify(envelope, null, 2)}\n`;
  validateSignedSnapshot(JSON.parse(text)); // self-check: what we write must be readable
  if (output === '-') io.stdout.write(text);
  else await writeFileAtomic(output, text);

  const endpoints = snapshot.services.reduce((n, s) => n + s.endpoints.length, 0);
  const signed = envelope.signature === undefined ? 'unsigned' : `signed by key ${envelope.signature.keyId}`;
  const where = output === '-' ? 'stdout' : output;
  io.stderr.write(
    `holdfast snapshot build: wrote ${where}: generation ${generation}, ${snapshot.services.length} services, ` +
      `${endpoints} endpoints, ${signed}; ${problems.length} problem${problems.length === 1 ? '' : 's'} reported\n`,
  );
  return 0;
}

async function runInspect(argv: readonly string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseFlags(
    argv,
    { 'trust-key': { type: 'string', multiple: true }, json: { type: 'boolean' } },
    { positionals: 1 },
  );
  if (values.help === true) {
    io.stdout.write(INSPECT_USAGE);
    return 0;
  }
  const file = positionals[0];
  if (file === undefined) throw new UsageError('missing snapshot FILE (or - for stdin)');
  const trustedKeys: KeyObject[] = [];
  for (const path of values['trust-key'] ?? []) trustedKeys.push(await loadPublicKey(path));
  const source = file === '-' ? 'stdin' : file;
  const bytes = file === '-' ? await readAll(io.stdin) : await readUserFile(file, 'snapshot file');
  let signed: SignedSnapshot;
  try {
    signed = parseSnapshot(bytes);
  } catch (error) {
    if (error instanceof SnapshotError) throw new SnapshotError(error.code as SnapshotCode, `${source}: ${error.message}`, { cause: error });
    throw error;
  }
  const report = checkSignature(signed, trustedKeys);
  const summary = summarizeSnapshot(signed, report, new Date());
  io.stdout.write(values.json === true ? `${JSON.stringify(summary, null, 2)}\n` : formatSummary(summary));
  if (trustedKeys.length > 0) {
    if (report.status === 'invalid') throw new SnapshotError('HF_SNAPSHOT_SIGNATURE', `${source}: ${report.reason}`);
    if (report.status === 'unsigned') throw new SnapshotError('HF_SNAPSHOT_SIGNATURE', `${source}: snapshot is unsigned; expected a signature by a trusted key`);
  }
  return 0;
}

type SnapshotCode = ConstructorParameters<typeof SnapshotError>[0];

function parseGeneration(value: string | undefined): number {
  if (value === undefined) return Date.now();
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new UsageError(`--generation: '${value}' is not a non-negative integer`);
  return n;
}
