/**
 * Watches the snapshot file. `fs.watchFile` polls the file's stat, which keeps
 * working across the atomic renames that publishers and `kubectl cp` do (an
 * inotify watch would follow the old inode). Each change is offered to the store.
 */
import { unwatchFile, watchFile } from 'node:fs';
import type { Stats } from 'node:fs';
import type { Logger } from 'pino';
import type { OfferResult, SnapshotStore } from './store.js';

/**
 * Reads `path` and offers it; a missing or unreadable file is logged and
 * counted as rejected, a file over the size limit of a push too, without being read.
 */
export async function loadSnapshotFile(path: string, store: SnapshotStore, log: Logger): Promise<OfferResult> {
  try {
    return await store.offerFile(path, 'file', `snapshot file ${path}`);
  } catch (error) {
    const message = `cannot read snapshot file ${path}: ${(error as Error).message}`;
    log.warn({ file: path }, message);
    return { result: 'rejected', reason: 'rejected_unreadable', message };
  }
}

/** Polls `path` every `intervalMs` and offers changed content. */
export class SnapshotFileWatcher {
  private chain: Promise<unknown> = Promise.resolve();
  private readonly listener = (curr: Stats, prev: Stats) => {
    if (curr.mtimeMs === prev.mtimeMs && curr.size === prev.size && curr.ino === prev.ino) return;
    if (curr.nlink === 0 && curr.size === 0) return; // removed: keep serving what we have
    this.chain = this.chain.then(() => loadSnapshotFile(this.path, this.store, this.log));
  };

  constructor(
    private readonly path: string,
    private readonly store: SnapshotStore,
    private readonly log: Logger,
    intervalMs: number,
  ) {
    watchFile(path, { interval: intervalMs, persistent: false }, this.listener);
  }

  /** Stops watching; resolves once a load in progress has finished. */
  async close(): Promise<void> {
    unwatchFile(this.path, this.listener);
    await this.chain;
  }
}
