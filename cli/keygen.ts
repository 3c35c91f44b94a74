/**
 * `holdfast keygen`: creates the Ed25519 key pair that signs snapshots —
 * DIR/holdfast.key (PKCS#8 PEM, mode 0600, for the publisher) and DIR/holdfast.pub
 * (SPKI PEM, mode 0644, for every resolver's trusted keys).
 */
import { access, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { HoldfastError, KeyError, UsageError } from '../common/errors.js';
import { describeFsError, generateKeyPair, keyId, privateKeyToPem, publicKeyToPem } from '../snapshot/keys.js';
import { writeFileAtomic } from '../snapshot/files.js';
import { parseFlags } from './args.js';
import type { Command } from './args.js';

const USAGE = `Usage: holdfast keygen --out-dir DIR [--force]

Creates an Ed25519 key pair for signing snapshots:
  DIR/holdfast.key   private key (PKCS#8 PEM, mode 0600) for the publisher / snapshot build
  DIR/holdfast.pub   public key (SPKI PEM) to give resolvers as a trusted key

Options:
  --out-dir DIR   directory to write to (created if missing)
  --force         replace existing key files
  -h, --help      show this help
`;

/** File names keygen writes inside --out-dir. */
export const PRIVATE_KEY_FILE = 'holdfast.key';
/** File name of the public key keygen writes. */
export const PUBLIC_KEY_FILE = 'holdfast.pub';

/** Runs `holdfast keygen`; prints the key id and the two paths. */
export const runKeygen: Command = async (argv, io) => {
  const { values } = parseFlags(argv, { 'out-dir': { type: 'string' }, force: { type: 'boolean' } });
  if (values.help === true) {
    io.stdout.write(USAGE);
    return 0;
  }
  const dir = values['out-dir'];
  if (dir === undefined || dir === '') throw new UsageError('--out-dir is required');
  const privatePath = join(dir, PRIVATE_KEY_FILE);
  const publicPath = join(dir, PUBLIC_KEY_FILE);
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new HoldfastError('HF_IO', `cannot create directory ${dir}: ${describeFsError(error)}`, { cause: error });
  }
  if (values.force !== true) {
    for (const path of [privatePath, publicPath]) {
      if (await exists(path)) throw new KeyError(`${path} already exists; not overwriting it (pass --force to replace the key pair)`);
    }
  }
  const pair = generateKeyPair();
  await writeFileAtomic(privatePath, privateKeyToPem(pair.privateKey), 0o600);
  await writeFileAtomic(publicPath, publicKeyToPem(pair.publicKey), 0o644);
  io.stdout.write(`key id:      ${keyId(pair.publicKey)}\nprivate key: ${privatePath}\npublic key:  ${publicPath}\n`);
  return 0;
};

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
