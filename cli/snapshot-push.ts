/**
 * `holdfast snapshot push --to URL [--to URL]... FILE|-`: the break-glass path.
 * Sends a snapshot to resolvers' receivers (`PUT /v1/snapshot`, gzip) and
 * prints what each one said; exits 1 when any target refused it or could not
 * be reached, with the target's reason.
 */
import { gzipSync } from 'node:zlib';
import { UsageError } from '../common/errors.js';
import { readUserFile } from '../snapshot/files.js';
import { isGzip, parseSnapshot } from '../snapshot/validate.js';
import { parseDuration } from '../common/options.js';
import { snapshotEndpoint } from '../common/url.js';
import { parseFlags, readAll } from './args.js';
import type { CommandIO } from './args.js';

/** Usage text of `holdfast snapshot push`. */
export const PUSH_USAGE = `Usage: holdfast snapshot push --to URL [--to URL]... FILE|-

Sends a snapshot to resolvers started with --receiver-listen (PUT /v1/snapshot,
gzip-compressed) and prints each answer: applied, already current, or refused with
the resolver's reason (bad signature, older generation, malformed, too large).

Options:
  --to URL          a resolver's receiver, e.g. http://10.0.3.7:9254 (repeatable)
  --timeout D       per-target timeout (default 10s)
  -h, --help        show this help

Exit code 0 when every target applied it or already had it, 1 otherwise.
`;

/** The receiver URL for a --to value: `/v1/snapshot` is added when the URL has no path. */
export function receiverUrl(text: string): URL {
  const url = snapshotEndpoint(text, 'http://10.0.3.7:9254');
  if ('error' in url) throw new UsageError(`--to: ${url.error}`);
  return new URL(url.href);
}

/** Runs the push; resolves to the exit code. */
export async function runPush(argv: readonly string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseFlags(argv, { to: { type: 'string', multiple: true }, timeout: { type: 'string' } }, { positionals: 1 });
  if (values['help'] === true) {
    io.stdout.write(PUSH_USAGE);
    return 0;
  }
  const targets = (values.to ?? []).map(receiverUrl);
  if (targets.length === 0) throw new UsageError('--to is required (a resolver receiver URL)');
  const file = positionals[0];
  if (file === undefined) throw new UsageError('missing snapshot FILE (or - for stdin)');
  const timeoutMs = parseDuration(values.timeout ?? '10s');
  if (timeoutMs === undefined || timeoutMs <= 0) throw new UsageError(`--timeout: '${values.timeout ?? ''}' is not a duration`);

  const bytes = file === '-' ? await readAll(io.stdin) : await readUserFile(file, 'snapshot file');
  const signed = parseSnapshot(bytes); // refuse to send what no resolver would accept
  const body = isGzip(bytes) ? bytes : gzipSync(bytes);
  let failures = 0;
  for (const url of targets) {
    const line = await pushOne(url, body, timeoutMs);
    if (!line.ok) failures++;
    (line.ok ? io.stdout : io.stderr).write(`holdfast snapshot push: ${url.href}: ${line.text}\n`);
  }
  io.stderr.write(`holdfast snapshot push: generation ${signed.snapshot.generation}, ${body.length} bytes gzip, ${targets.length - failures} of ${targets.length} targets current\n`);
  return failures === 0 ? 0 : 1;
}

async function pushOne(url: URL, body: Buffer, timeoutMs: number): Promise<{ ok: boolean; text: string }> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'PUT',
      body,
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    const cause = (error as { cause?: { message?: string } }).cause?.message ?? (error as Error).message;
    return { ok: false, text: `unreachable: ${cause}` };
  }
  const etag = res.headers.get('etag') ?? '';
  if (res.status === 204) return { ok: true, text: `applied (now ${etag})` };
  if (res.status === 304) return { ok: true, text: `already current (${etag})` };
  const text = await res.text();
  let reason = text.trim();
  try {
    const parsed = JSON.parse(text) as { reason?: string; message?: string; error?: string };
    reason = [parsed.reason, parsed.message ?? parsed.error].filter(Boolean).join(': ');
  } catch {
    // not JSON: print as received
  }
  return { ok: false, text: `refused (${res.status}${reason ? ` ${reason}` : ''})` };
}

