/** Runs a bench entry point (under dist/bench/) to completion, bounded in time. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './process.js';

/** Runs `node dist/bench/<script> args`; SIGINT after `limitMs` (the bench then stops its children), SIGKILL 5 s later. */
export function runBench(script: string, args: readonly string[], limitMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'dist', 'bench', script), ...args], { cwd: ROOT });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const soft = setTimeout(() => child.kill('SIGINT'), limitMs);
    const hard = setTimeout(() => child.kill('SIGKILL'), limitMs + 5000);
    child.on('close', (code) => {
      clearTimeout(soft);
      clearTimeout(hard);
      resolve({ code, output });
    });
  });
}
