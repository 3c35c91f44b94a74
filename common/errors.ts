/**
 * Typed errors with stable codes, one module for the whole project
 * (modelled on undici `lib/core/errors.js`). The original error, when there is
 * one, travels in `cause`.
 */

/** Stable error codes; tests and logs match on these, never on messages. */
export type HoldfastErrorCode =
  | 'HF_USAGE'
  | 'HF_CONFIG'
  | 'HF_SNAPSHOT_SCHEMA'
  | 'HF_SNAPSHOT_SIGNATURE'
  | 'HF_SNAPSHOT_ROLLBACK'
  | 'HF_SNAPSHOT_TOO_LARGE'
  | 'HF_SNAPSHOT_PARSE'
  | 'HF_SNAPSHOT_CONFLICT'
  | 'HF_SNAPSHOT_VIEW'
  | 'HF_KEY'
  | 'HF_INPUT'
  | 'HF_LISTEN'
  | 'HF_KUBE_API'
  | 'HF_NODE_SETUP'
  | 'HF_IO';

/** Base class: every error holdfast raises on purpose carries a code. */
export class HoldfastError extends Error {
  readonly code: HoldfastErrorCode;
  constructor(code: HoldfastErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HoldfastError';
    this.code = code;
  }
}

/** Bad command line: unknown flag, missing argument. CLI exit code 2. */
export class UsageError extends HoldfastError {
  constructor(message: string) {
    super('HF_USAGE', message);
    this.name = 'UsageError';
  }
}

/** Invalid configuration; `problems` lists every fault, each naming its flag or key. CLI exit code 2. */
export class ConfigError extends HoldfastError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super('HF_CONFIG', problems.length === 1 ? (problems[0] ?? '') : `${problems.length} configuration problems: ${problems.join('; ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** A snapshot that must not be applied. `code` says why (schema, signature, rollback, size, parse, a generation reused for other content). */
export class SnapshotError extends HoldfastError {
  constructor(
    code: 'HF_SNAPSHOT_SCHEMA' | 'HF_SNAPSHOT_SIGNATURE' | 'HF_SNAPSHOT_ROLLBACK' | 'HF_SNAPSHOT_TOO_LARGE' | 'HF_SNAPSHOT_PARSE' | 'HF_SNAPSHOT_CONFLICT' | 'HF_SNAPSHOT_VIEW',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.name = 'SnapshotError';
  }
}

/** A key file that cannot be read or is not an Ed25519 key. */
export class KeyError extends HoldfastError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('HF_KEY', message, options);
    this.name = 'KeyError';
  }
}

/** Input given to a command (e.g. kubectl output) that cannot be used at all. */
export class InputError extends HoldfastError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('HF_INPUT', message, options);
    this.name = 'InputError';
  }
}

/** A listener that could not bind (address in use, permission). */
export class ListenError extends HoldfastError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('HF_LISTEN', message, options);
    this.name = 'ListenError';
  }
}

/** The system error code (e.g. EADDRINUSE) behind a ListenError, or any error's `cause`. */
export function causeCode(error: unknown): string | undefined {
  return (error as { cause?: { code?: string } }).cause?.code;
}

/** The kube-apiserver refused or failed a request; `status` is the HTTP status (0: no answer). */
export class KubeApiError extends HoldfastError {
  readonly status: number;
  /** The Status `reason` (Conflict, NotFound, Expired...) or the transport error code. */
  readonly reason: string;
  /** ListWatch (client-node) checks this name for 410 Gone. */
  readonly statusCode: number;
  constructor(status: number, reason: string, message: string, options?: { cause?: unknown }) {
    super('HF_KUBE_API', message, options);
    this.name = 'KubeApiError';
    this.status = status;
    this.statusCode = status;
    this.reason = reason;
  }
}

/** What part of node-local setup can fail (the labels of holdfast_node_setup_errors_total). */
export const NODE_SETUP_ERROR_TYPES = ['command', 'interface', 'address', 'iptables', 'lease', 'selfcheck', 'teardown'] as const;
export type NodeSetupErrorType = (typeof NODE_SETUP_ERROR_TYPES)[number];

/** Node-local mode could not create or check the interface or the iptables rules. */
export class NodeSetupError extends HoldfastError {
  readonly type: NodeSetupErrorType;
  constructor(type: NodeSetupErrorType, message: string, options?: { cause?: unknown }) {
    super('HF_NODE_SETUP', message, options);
    this.name = 'NodeSetupError';
    this.type = type;
  }
}

/** The exit code the CLI uses for an error: 2 for usage/config, 1 for anything at run time. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof HoldfastError && (error.code === 'HF_USAGE' || error.code === 'HF_CONFIG')) return 2;
  return 1;
}
