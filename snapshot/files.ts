/**
 * File helpers for snapshots and keys: reading a file the user named with an error
 * that names it, and atomic writes (temporary file in the same directory, fsync,
 * rename, fsync of the directory) so a reader never sees a half-written file.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { HoldfastError } from '../common/errors.js';
import { describeFsError } from './keys.js';

/** Reads a whole file; HoldfastError HF_IO naming the file (and `what` it is) on failure. */
export async function readUserFile(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new HoldfastError('HF_IO', `cannot read ${what} ${path}: ${describeFsError(error)}`, { cause: error });
  }
}

/**
 * Writes `data` to `path` atomically with file mode `mode` (set explicitly, not
 * left to the umask). Replaces an existing file. HoldfastError HF_IO naming the
 * file on failure; the temporary file is removed.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const handle = await open(temp, 'wx', mode);
    try {
      await handle.writeFile(data);
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw new HoldfastError('HF_IO', `cannot write ${path}: ${describeFsError(error)}`, { cause: error });
  }
  await syncDirectory(dir);
}

/** fsync of a directory so a rename in it survives a crash; best effort (not all platforms allow it). */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Opening or syncing a directory is not supported everywhere (e.g. Windows); the rename stands.
  }
}
