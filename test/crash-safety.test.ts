/**
 * kill -9 while snapshots are written to the state directory, a few rounds of
 * the crash bench (`bench/crash.ts`, the real resolver from dist/): every
 * restart loads a valid snapshot, the acknowledged one or the one in flight,
 * never a partial file, and temporary files left by a kill are removed.
 * `npm run bench -- crash` runs 100 rounds.
 */
import { describe, expect, it } from 'vitest';
import { crashRounds } from '../bench/crash.js';

describe('kill -9 while snapshots are persisted', () => {
  it('restarts with the previous or the new snapshot every time, and leaves no temporary file', async () => {
    const summary = await crashRounds({ rounds: 6, services: 300, endpoints: 6000, seed: 11 });
    // Rounds whose kill came before anything was persisted have nothing to check; most have.
    expect(summary.rounds.length).toBeGreaterThanOrEqual(4);
    for (const round of summary.rounds) {
      expect(round.persisted).toBeGreaterThanOrEqual(round.acknowledged);
      expect(round.persisted).toBeLessThanOrEqual(round.sent);
    }
    expect(summary.previous + summary.new).toBe(summary.rounds.length);
    expect(summary.rounds.map((r) => r.source)).toContain('pull');
    expect(summary.rounds.map((r) => r.kill)).toContain('mid-write');
  }, 120_000);
});
