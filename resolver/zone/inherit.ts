/**
 * A new zone taking over, in the background, the encoded answers of the zone it
 * replaces wherever a name's records did not change (`ClusterZone.inherit`), so
 * that popular names do not all go through the encoder again at once. Used where
 * a zone is swapped in: the snapshot store, and each worker thread.
 */
import type { Logger } from 'pino';
import type { ClusterZone } from './zone.js';

/** Time spent taking over encoded answers from the replaced zone per event-loop turn, in ms. */
const INHERIT_SLICE_MS = 1;
/** Answers looked at between two looks at the clock (a few microseconds each). */
const INHERIT_BATCH = 8;

/**
 * Lets `zone` take over the answers `previous` had encoded for unchanged names,
 * {@link INHERIT_SLICE_MS} of work per event-loop turn, for as long as
 * `current()` is `zone`.
 */
export function inheritInSlices(zone: ClusterZone, previous: ClusterZone, current: () => ClusterZone | undefined, log: Logger): void {
  zone.inherit(previous);
  const step = () => {
    if (current() !== zone) return;
    const until = performance.now() + INHERIT_SLICE_MS;
    let done = false;
    while (!done && performance.now() < until) done = zone.inheritSome(INHERIT_BATCH);
    if (!done) setImmediate(step);
    else log.debug({ generation: zone.generation, answers: zone.inheritedAnswers }, 'encoded answers of unchanged names taken over');
  };
  setImmediate(step);
}
