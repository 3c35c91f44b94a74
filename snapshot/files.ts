/**
 * File helpers for snapshots and keys: reading a file the user named with an error
 * that names it, and atomic writes (temporary file in the same directory, fsync,
 * rename, fsync of the directory) so a reader never sees a half-written file.
 */
import { randomBytes } from 'node:crypto';
import { open, readdir, readFile, rename, rm } from 'node:fs/promises';
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
 *
 * The temporary file is `.<name>.<owner>.<8 hex digits>.tmp` beside `path`;
 * `owner` (default: the process id) lets {@link removeStrayTemps} tell whose it
 * is when a process killed mid-write (kill -9, power loss) left it behind.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644, owner = String(process.pid)): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${owner}.${randomBytes(4).toString('hex')}.tmp`);
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

/**
 * Removes the temporary files {@link writeFileAtomic} left beside `path` when a
 * writer died mid-write, except those of an owner `live` still says is running
 * (it may be writing right now). Returns the names removed; best effort (a file
 * that cannot be removed is left for the next time).
 */
export async function removeStrayTemps(path: string, live: (owner: string) => boolean): Promise<string[]> {
  const dir = dirname(path);
  const prefix = `.${basename(path)}.`;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const owner = /^(.+)\.[0-9a-f]{8}\.tmp$/.exec(name.slice(prefix.length))?.[1];
    if (!name.startsWith(prefix) || owner === undefined || live(owner)) continue;
    try {
      await rm(join(dir, name), { force: true });
      removed.push(name);
    } catch {
      // left for the next start
    }
  }
  return removed;
}

/**
 * Reads a file of at most `maxBytes`: its bytes, or only its size when it is
 * larger (a hostile or broken file must not be read into memory whole).
 * Rejects like readFile (ENOENT and the like).
 */
export async function readFileUpTo(path: string, maxBytes: number): Promise<{ readonly bytes: Buffer } | { readonly tooLarge: number }> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    if (size > maxBytes) return { tooLarge: size };
    const buffer = Buffer.alloc(size + 1); // one more: a file that grew since stat shows it
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length === buffer.length) return { tooLarge: length };
    }
    return { bytes: buffer.subarray(0, length) };
  } finally {
    await handle.close();
  }
}
