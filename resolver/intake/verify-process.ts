/**
 * The snapshot verification process, started by `verifier.ts` with an IPC
 * channel: runs {@link verifyCandidate} on each request and sends the outcome
 * back. A packed zone travels as a small head followed by its four arrays in
 * pieces of at most {@link PIECE_BYTES}, so that the serving process never has
 * more than a piece to copy at once.
 *
 * Every thread of this process — JavaScript and V8's own (garbage collection,
 * compilation) — runs at the lowest scheduling priority: on a busy core the
 * process answering queries always comes first. It exits when the channel closes.
 */
import { createPublicKey } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';
import type { ZoneImage } from '../zone/table.js';
import { verifyCandidate } from './verify.js';
import type { SnapshotIdentity, VerifyOutcome, VerifyRequest } from './verify.js';

/** A request: the candidate, with the trusted keys as SPKI PEM text. */
export interface ProcessRequest {
  readonly id: number;
  readonly request: Omit<VerifyRequest, 'trustedKeys'> & { readonly trustedKeys: readonly string[] };
}

/** What the process sends. */
export type ProcessReply =
  | { readonly ready: true }
  | { readonly id: number; readonly outcome: Exclude<VerifyOutcome, { kind: 'image' }> }
  | { readonly id: number; readonly head: ImageHead; readonly identity: SnapshotIdentity }
  | { readonly id: number; readonly array: number; readonly offset: number; readonly piece: Uint8Array };

/** A packed zone without its arrays: those follow in pieces. */
export interface ImageHead extends Omit<ZoneImage, 'nodes' | 'reverse'> {
  /** Byte length of each array of a packed zone, in the order their pieces are sent: nodes.slots, nodes.data, reverse.slots, reverse.data. */
  readonly lengths: readonly number[];
  readonly nodesSize: number;
  readonly reverseSize: number;
}

/** Largest piece of an array in one message. */
export const PIECE_BYTES = 1 << 20;

/** Sends `reply`; when the resolver has gone, there is no one to answer: exit. */
const send = (reply: ProcessReply) =>
  process.send?.(reply, undefined, {}, (error: Error | null) => {
    if (error) process.exit(0);
  });

function lowestPriority(): void {
  let tids = ['0'];
  try {
    tids = readdirSync('/proc/self/task'); // Linux: the nice value is per thread
  } catch {
    // elsewhere: this thread only
  }
  for (const tid of tids) {
    try {
      setPriority(Number(tid), 19);
    } catch {
      // not permitted: that thread keeps its priority
    }
  }
}

function sendImage(id: number, image: ZoneImage, identity: SnapshotIdentity): void {
  const { nodes, reverse, ...rest } = image;
  const arrays: (Uint32Array | Uint8Array)[] = [nodes.slots, nodes.data, reverse.slots, reverse.data];
  send({ id, head: { ...rest, lengths: arrays.map((a) => a.byteLength), nodesSize: nodes.size, reverseSize: reverse.size } satisfies ImageHead, identity });
  arrays.forEach((array, index) => {
    const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
    for (let offset = 0; offset < bytes.length; offset += PIECE_BYTES) {
      send({ id, array: index, offset, piece: bytes.subarray(offset, offset + PIECE_BYTES) });
    }
  });
}

if (!process.send) throw new Error('verify-process.ts runs as a child process with an IPC channel (see verifier.ts)');
lowestPriority();
process.on('disconnect', () => process.exit(0));
process.on('message', ({ id, request }: ProcessRequest) => {
  const outcome = verifyCandidate({ ...request, trustedKeys: request.trustedKeys.map((pem) => createPublicKey(pem)) });
  if (outcome.kind === 'image') sendImage(id, outcome.image, outcome.identity);
  else send({ id, outcome });
});
send({ ready: true });
