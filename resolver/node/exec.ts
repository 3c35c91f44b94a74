/**
 * Runs the node's own `ip` and `iptables` commands (no shell, a deadline, output
 * captured). A missing binary is exit code 127 with a message saying so, like a
 * shell would, so callers handle one kind of result.
 */
import { execFile } from 'node:child_process';
import { NodeSetupError } from '../../common/errors.js';
import type { NodeSetupErrorType } from '../../common/errors.js';

/** What a command printed and how it exited. */
export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs one command; never rejects. Tests and callers may substitute their own. */
export type Runner = (file: string, args: readonly string[]) => Promise<CommandResult>;

/** Deadline of one command: iptables waits for the xtables lock with -w, so allow for that. */
export const COMMAND_TIMEOUT_MS = 15_000;

/** Runs `file args…` with the process's environment. */
export const runCommand: Runner = (file, args) =>
  new Promise((resolve) => {
    execFile(file, [...args], { timeout: COMMAND_TIMEOUT_MS, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (!error) return resolve({ code: 0, stdout, stderr });
      const code = (error as { code?: unknown }).code;
      if (code === 'ENOENT') return resolve({ code: 127, stdout: '', stderr: `${file}: command not found (install iproute2 and iptables)` });
      if (error.killed) return resolve({ code: 124, stdout, stderr: `${file} ${args.join(' ')}: no answer within ${COMMAND_TIMEOUT_MS} ms` });
      resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr: stderr.trim() || error.message });
    });
  });

/** One line naming the command and why it failed, for errors and logs. */
export function describeFailure(file: string, args: readonly string[], result: CommandResult): string {
  const reason = result.stderr.trim().split('\n')[0] ?? '';
  return `${file} ${args.join(' ')}: exit ${result.code}${reason ? `: ${reason}` : ''}`;
}

/** The error for a failed command: of type `command` when it is not installed (127), else `type`. */
export function commandError(type: NodeSetupErrorType, file: string, args: readonly string[], result: CommandResult): NodeSetupError {
  return new NodeSetupError(result.code === 127 ? 'command' : type, describeFailure(file, args, result));
}
