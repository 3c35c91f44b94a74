/**
 * Resolvers that share a state directory (one node's hostPath) announce
 * themselves in `<state-dir>/instances/`: one small JSON file each, rewritten
 * every {@link HEARTBEAT_MS}, saying which DNS addresses it serves and whether
 * it is serving yet. A resolver on its way out reads the others to decide
 * whether to wait for a successor (hitless restart) and whether the node-local
 * interface and rules are still someone else's to keep.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';

/** How often an instance rewrites its file. */
export const HEARTBEAT_MS = 500;
/** A file older than this belongs to an instance that is gone (killed without removing it). */
export const STALE_MS = 1500;

/** What one instance says about itself. */
export interface InstanceRecord {
  readonly id: string;
  readonly pid: number;
  /** DNS addresses, formatted, sorted: instances with the same set serve the same clients. */
  readonly listen: string;
  readonly serving: boolean;
  readonly updatedAt: number;
}

/** This process's entry in the registry, and a view of the others. */
export class InstanceRegistry {
  readonly id = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  private readonly dir: string;
  private timer: NodeJS.Timeout | undefined;
  private serving = false;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    stateDir: string,
    private readonly listen: string,
    private readonly now: () => number = Date.now,
  ) {
    this.dir = join(stateDir, 'instances');
  }

  /** Writes the first record (not serving) and starts the heartbeat. */
  async start(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await this.write();
    this.timer = setInterval(() => void this.write(), HEARTBEAT_MS);
    this.timer.unref();
  }

  /** Announces whether this instance serves its addresses. */
  async setServing(serving: boolean): Promise<void> {
    this.serving = serving;
    await this.write();
  }

  private write(): Promise<void> {
    const record: InstanceRecord = { id: this.id, pid: process.pid, listen: this.listen, serving: this.serving, updatedAt: this.now() };
    const file = join(this.dir, `${this.id}.json`);
    // Serialised, each write atomic (temporary file, rename): readers never see half a record.
    this.writing = this.writing.then(async () => {
      const tmp = `${file}.tmp`;
      try {
        await writeFile(tmp, JSON.stringify(record), { mode: 0o600 });
        await rename(tmp, file);
      } catch {
        // A full or read-only disk must not stop the resolver; the record just ages.
      }
    });
    return this.writing;
  }

  /** Other live instances serving (or starting to serve) the same addresses. */
  async others(): Promise<InstanceRecord[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return [];
    }
    const out: InstanceRecord[] = [];
    for (const name of names) {
      if (!name.endsWith('.json') || name === `${this.id}.json`) continue;
      try {
        const record = JSON.parse(await readFile(join(this.dir, name), 'utf8')) as InstanceRecord;
        if (record.listen !== this.listen) continue;
        if (this.now() - record.updatedAt > STALE_MS) {
          await rm(join(this.dir, name), { force: true });
          continue;
        }
        out.push(record);
      } catch {
        // Being replaced right now, or not ours: skip.
      }
    }
    return out;
  }

  /**
   * Ids of every instance on this state directory that is alive, whatever
   * addresses it serves, this one included: files such an instance may be
   * writing are not strays. Alive means its heartbeat moved within two beats
   * (the records are read twice, that far apart), so an instance killed a
   * moment ago — its record still fresh — is not taken for a live one.
   */
  async liveIds(): Promise<Set<string>> {
    const before = await this.heartbeats();
    await new Promise((resolve) => setTimeout(resolve, 2 * HEARTBEAT_MS).unref());
    const after = await this.heartbeats();
    const ids = new Set([this.id]);
    for (const [id, beat] of after) if (before.get(id) !== beat) ids.add(id);
    return ids;
  }

  /** updatedAt of every record, by instance id. */
  private async heartbeats(): Promise<Map<string, number>> {
    const beats = new Map<string, number>();
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return beats;
    }
    for (const name of names) {
      if (!name.endsWith('.json')) continue;
      try {
        const record = JSON.parse(await readFile(join(this.dir, name), 'utf8')) as InstanceRecord;
        beats.set(record.id, record.updatedAt);
      } catch {
        // removed meanwhile
      }
    }
    return beats;
  }

  /** Stops the heartbeat and removes this instance's record. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.writing;
    await rm(join(this.dir, `${this.id}.json`), { force: true });
  }
}
