/**
 * What the publisher keeps in --state-dir so a restart (or a restart while the
 * apiserver is down) loses nothing: the latest signed snapshot it published
 * (served and pushed again at once), the highest generation it ever used, and
 * the last known target list. Every write is atomic (write, fsync, rename).
 * Without a state dir all of this lives in memory only.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { writeFileAtomic } from '../snapshot/files.js';

/** File names inside the state directory. */
export const STATE_FILES = { snapshot: 'published.json.gz', meta: 'publisher.json', targets: 'targets.json' } as const;

/** What {@link PublisherState.load} found. */
export interface LoadedState {
  /** The latest published snapshot, gzip-compressed, if any. */
  readonly snapshot: Buffer | undefined;
  /** Highest generation ever published (0: none). */
  readonly generation: number;
  readonly targets: readonly string[];
}

/** Reads and writes the state directory; failures are logged, never thrown. */
export class PublisherState {
  /** Writes run one after another, so the last one asked for is the one that stays. */
  private writes: Promise<void> = Promise.resolve();

  constructor(
    private readonly dir: string | undefined,
    private readonly log: Logger,
  ) {}

  /** Loads whatever is there; missing or unreadable parts come back empty. */
  async load(): Promise<LoadedState> {
    const empty: LoadedState = { snapshot: undefined, generation: 0, targets: [] };
    if (this.dir === undefined) return empty;
    const snapshot = await this.read(STATE_FILES.snapshot);
    const meta = this.json(await this.read(STATE_FILES.meta)) as { generation?: unknown } | undefined;
    const targets = this.json(await this.read(STATE_FILES.targets));
    return {
      snapshot,
      generation: typeof meta?.generation === 'number' && Number.isSafeInteger(meta.generation) ? meta.generation : 0,
      targets: Array.isArray(targets) ? targets.filter((t): t is string => typeof t === 'string') : [],
    };
  }

  /** Records a published snapshot and its generation. */
  async saveSnapshot(gzip: Buffer, generation: number): Promise<void> {
    await this.write(STATE_FILES.snapshot, gzip);
    await this.write(STATE_FILES.meta, `${JSON.stringify({ generation })}\n`);
  }

  /** Records the target list (sorted URLs). */
  async saveTargets(targets: readonly string[]): Promise<void> {
    await this.write(STATE_FILES.targets, `${JSON.stringify(targets, null, 1)}\n`);
  }

  private async read(name: string): Promise<Buffer | undefined> {
    try {
      return await readFile(join(this.dir as string, name));
    } catch (error) {
      if ((error as { code?: string }).code !== 'ENOENT') this.log.warn({ err: error, file: name }, 'cannot read publisher state');
      return undefined;
    }
  }

  private json(bytes: Buffer | undefined): unknown {
    if (bytes === undefined) return undefined;
    try {
      return JSON.parse(bytes.toString('utf8'));
    } catch {
      this.log.warn('ignoring a corrupt publisher state file');
      return undefined;
    }
  }

  private write(name: string, data: string | Buffer): Promise<void> {
    this.writes = this.writes.then(() => this.writeNow(name, data));
    return this.writes;
  }

  private async writeNow(name: string, data: string | Buffer): Promise<void> {
    if (this.dir === undefined) return;
    try {
      await mkdir(this.dir, { recursive: true });
      await writeFileAtomic(join(this.dir, name), data, 0o600);
    } catch (error) {
      this.log.error({ err: error, stateDir: this.dir }, 'cannot write publisher state');
    }
  }
}
