/**
 * Runs snapshot verification (`verify.ts`) in a child process
 * (`verify-process.ts`), so that parsing, checking the signature and building the
 * zone of a large snapshot never hold up the thread answering queries. What
 * comes back is the packed zone, in pieces of a megabyte, so receiving it costs
 * the serving thread a few copies of a megabyte.
 *
 * Why a process and not a worker thread (both were measured, 10 000 services and
 * 100 000 endpoints on one core under 10 000 queries/s):
 * - V8's garbage-collection and compiler threads are shared by every isolate of
 *   a process and run at its normal priority; while a worker thread verified,
 *   they took the core from the serving thread for tens of milliseconds and
 *   queries were dropped. Every thread of the child runs at the lowest priority.
 * - A worker's memory is not given back to the system when it ends (the
 *   resolver kept some 300 MB more RSS after its first large snapshot); a
 *   child's all goes when it exits.
 * - A verification that runs out of memory on a hostile input kills the child,
 *   not the resolver.
 *
 * The child is started for a candidate and ends once it has been idle for
 * `idleMs` (0: right after each candidate); `close()` ends it at once. When it
 * cannot be started at all (its compiled file missing, say), candidates are
 * verified on the calling thread instead, and that is logged: slower, but
 * snapshots still apply. A child that dies in the middle of a candidate rejects
 * that candidate only.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { ZoneImage } from '../zone/table.js';
import { verifyCandidate } from './verify.js';
import type { SnapshotIdentity, VerifyOutcome, VerifyRequest } from './verify.js';
import type { ImageHead, ProcessReply, ProcessRequest } from './verify-process.js';

/**
 * The compiled child script next to this file. Run from the TypeScript sources
 * (the tests), this module uses the one `npm run build` put in dist/, since Node
 * cannot run `.ts` files whose imports name `.js` files.
 */
export const PROCESS_URL = import.meta.url.endsWith('.ts')
  ? new URL('../../dist/resolver/intake/verify-process.js', import.meta.url)
  : new URL('./verify-process.js', import.meta.url);

/** The outcome code of a candidate that could not be verified at all (counted as `rejected_other`). */
export const NOT_VERIFIED = 'not_verified';

interface Failure {
  readonly kind: 'failed';
  /** False when the process never got as far as saying it was ready: it cannot run here. */
  readonly started: boolean;
  readonly message: string;
}

/** A packed zone being received: the head, then the arrays piece by piece. */
interface Assembly {
  readonly head: ImageHead;
  readonly identity: SnapshotIdentity;
  readonly arrays: Uint8Array[];
  missing: number;
}

interface Running {
  readonly child: ChildProcess;
  ready: boolean;
  readonly pending: Map<number, { settle: (outcome: VerifyOutcome | Failure) => void; assembly?: Assembly }>;
  idleTimer: NodeJS.Timeout | undefined;
}

/** Verifies candidates in a child process. */
export class Verifier {
  private running: Running | undefined;
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly log: Logger,
    private readonly idleMs: number,
    private readonly script: URL = PROCESS_URL,
  ) {}

  /** The process id of the child while there is one (for tests and the bench). */
  processId(): number | undefined {
    return this.running?.child.pid;
  }

  /** Verifies `request` in the child (on this thread if the child cannot start). Never throws. */
  async verify(request: VerifyRequest): Promise<VerifyOutcome> {
    if (this.closed) return { kind: 'error', code: NOT_VERIFIED, message: 'the resolver is stopping' };
    const result = await this.post(request);
    if (result.kind !== 'failed') return result;
    if (this.closed) return { kind: 'error', code: NOT_VERIFIED, message: 'the resolver is stopping' };
    if (!result.started) {
      this.log.error({ script: this.script.href, err: result.message }, 'the snapshot verification process cannot start: verifying on the serving thread');
      return verifyCandidate(request);
    }
    this.log.error({ err: result.message }, 'the snapshot verification process failed');
    return { kind: 'error', code: NOT_VERIFIED, message: `the verification process failed: ${result.message}` };
  }

  private post(request: VerifyRequest): Promise<VerifyOutcome | Failure> {
    const running = this.start();
    if (running.idleTimer) clearTimeout(running.idleTimer);
    running.idleTimer = undefined;
    const id = this.nextId++;
    const trustedKeys = request.trustedKeys.map((key) => key.export({ type: 'spki', format: 'pem' }).toString());
    const message: ProcessRequest = { id, request: { ...request, trustedKeys } };
    running.child.channel?.ref(); // a candidate in flight keeps the resolver up
    return new Promise((resolve) => {
      running.pending.set(id, {
        settle: (outcome) => {
          running.pending.delete(id);
          if (running.pending.size === 0 && this.running === running) this.idle(running);
          resolve(outcome);
        },
      });
      running.child.send(message);
    });
  }

  private start(): Running {
    if (this.running) return this.running;
    const child = spawn(process.execPath, [fileURLToPath(this.script)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
    const running: Running = { child, ready: false, pending: new Map(), idleTimer: undefined };
    child.unref(); // only a candidate in flight keeps the resolver up (its channel, see post)
    const fail = (message: string) => {
      if (this.running === running) this.running = undefined;
      if (running.idleTimer) clearTimeout(running.idleTimer);
      for (const { settle } of [...running.pending.values()]) settle({ kind: 'failed', started: running.ready, message });
      child.kill();
    };
    child.on('message', (reply: ProcessReply) => this.receive(running, reply));
    child.on('error', (error) => fail(error.message));
    child.on('exit', (code, signal) => fail(`exited with ${signal ?? `code ${code}`}`));
    this.running = running;
    return running;
  }

  private receive(running: Running, reply: ProcessReply): void {
    if ('ready' in reply) {
      running.ready = true;
      return;
    }
    const pending = running.pending.get(reply.id);
    if (!pending) return;
    if ('outcome' in reply) {
      pending.settle(reply.outcome);
    } else if ('head' in reply) {
      const arrays = reply.head.lengths.map((length) => new Uint8Array(length));
      pending.assembly = { head: reply.head, identity: reply.identity, arrays, missing: arrays.reduce((n, a) => n + a.length, 0) };
      if (pending.assembly.missing === 0) pending.settle(image(pending.assembly));
    } else if (pending.assembly) {
      pending.assembly.arrays[reply.array]?.set(reply.piece, reply.offset);
      pending.assembly.missing -= reply.piece.length;
      if (pending.assembly.missing === 0) pending.settle(image(pending.assembly));
    }
  }

  private idle(running: Running): void {
    running.child.channel?.unref();
    if (this.idleMs <= 0) {
      this.stop(running);
      return;
    }
    running.idleTimer = setTimeout(() => this.stop(running), this.idleMs);
    running.idleTimer.unref();
  }

  private stop(running: Running): void {
    if (this.running === running) this.running = undefined;
    if (running.idleTimer) clearTimeout(running.idleTimer);
    running.child.removeAllListeners();
    running.child.on('error', () => {}); // whatever it says while it goes
    if (running.child.connected) running.child.disconnect(); // it exits when the channel closes
  }

  /** Ends the child; a candidate in flight ends rejected. */
  async close(): Promise<void> {
    this.closed = true;
    const running = this.running;
    if (!running) return;
    this.running = undefined;
    if (running.idleTimer) clearTimeout(running.idleTimer);
    for (const { settle } of [...running.pending.values()]) settle({ kind: 'failed', started: true, message: 'the resolver is stopping' });
    const { child } = running;
    child.removeAllListeners();
    child.on('error', () => {});
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.ref(); // wait for it even when nothing else is left running
    child.kill();
    await exited;
  }
}

function image({ head, identity, arrays }: Assembly): { kind: 'image'; image: ZoneImage; identity: SnapshotIdentity } {
  const { lengths: _lengths, nodesSize, reverseSize, ...rest } = head;
  const [nodesSlots, nodesData, reverseSlots, reverseData] = arrays as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
  const slots = (bytes: Uint8Array) => new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  return {
    kind: 'image',
    identity,
    image: { ...rest, nodes: { slots: slots(nodesSlots), data: nodesData, size: nodesSize }, reverse: { slots: slots(reverseSlots), data: reverseData, size: reverseSize } },
  };
}
