/**
 * Publisher parts on their own: the API rate limit (fake timers), receiver URLs
 * and ETags, and `holdfast publisher` configuration errors as a process (exit 2,
 * every problem named).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RateLimiter } from '../publisher/kube/limiter.js';
import { etagGeneration, snapshotEndpoint } from '../common/url.js';
import { errorLines, runHoldfast } from './helpers/process.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('RateLimiter', () => {
  it('lets a burst through at once, then one request per 1/qps seconds, in order', async () => {
    vi.useFakeTimers();
    const limiter = new RateLimiter(10, 2, () => Date.now());
    const order: number[] = [];
    const all = Array.from({ length: 12 }, (_, i) => limiter.take().then(() => order.push(i)));
    await vi.advanceTimersByTimeAsync(0);
    expect(order).toEqual([0, 1]);
    await vi.advanceTimersByTimeAsync(100);
    expect(order).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(450);
    expect(order).toHaveLength(7);
    await vi.advanceTimersByTimeAsync(1000);
    await Promise.all(all);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  });
});

describe('addresses', () => {
  it.each([
    ['http://10.0.3.7:9254', 'http://10.0.3.7:9254/v1/snapshot'],
    ['http://10.0.3.7:9254/', 'http://10.0.3.7:9254/v1/snapshot'],
    ['https://node:9254/custom', 'https://node:9254/custom'],
    ['ftp://x', "'ftp://x' is not an http or https URL"],
    ['10.0.3.7:9254', "'10.0.3.7:9254' is not a URL (e.g. http://example:1)"],
    ['node:9254', "'node:9254' is not an http or https URL"],
    ['not a url', "'not a url' is not a URL (e.g. http://example:1)"],
  ])('endpoint %s → %s', (text, expected) => {
    const url = snapshotEndpoint(text, 'http://example:1');
    expect('href' in url ? url.href : url.error).toBe(expected);
  });

  it.each([
    ['"42"', 42],
    ['W/"7"', 7],
    ['"x"', undefined],
    [null, undefined],
  ])('ETag %s → generation %s', (etag, generation) => {
    expect(etagGeneration(etag)).toBe(generation);
  });
});

describe('holdfast publisher configuration', () => {
  it('exits 2 listing every problem, each naming its flag or variable', async () => {
    const { code, stderr } = await runHoldfast(
      ['publisher', '--target', 'not-a-url', '--discover', 'nodash', '--lease-duration', '1s', '--lease-renew', '2s', '--listen', '127.0.0.1'],
      { HOLDFAST_DEBOUNCE: 'soon' },
    );
    expect(code).toBe(2);
    const lines = errorLines(stderr);
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/--signing-key: required/),
        expect.stringMatching(/--target: 'not-a-url' is not a URL/),
        expect.stringMatching(/--discover: 'nodash' is not NAMESPACE\/DAEMONSET/),
        expect.stringMatching(/--lease-renew: must be shorter than --lease-duration/),
        expect.stringMatching(/--listen: '127.0.0.1' has no port/),
        expect.stringMatching(/HOLDFAST_DEBOUNCE: 'soon' is not a duration/),
      ]),
    );
    expect(lines).toHaveLength(6);
  });

  it('exits 2 naming --kubeconfig when there is neither a kubeconfig nor an in-cluster service account', async () => {
    const { code, stderr } = await runHoldfast(['publisher', '--signing-key', 'demo/demo-snapshot.json', '--lease', 'none', '--listen', '127.0.0.1:0'], {
      KUBERNETES_SERVICE_HOST: '',
    });
    expect(code).toBe(2);
    expect(stderr).toMatch(/--kubeconfig: not running in a cluster/);
  });

  it('exits 2 naming --signing-key when the file is not a private key', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'holdfast-publisher-cli-'));
    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(
      kubeconfig,
      'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "http://127.0.0.1:9", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n',
    );
    const { code, stderr } = await runHoldfast(['publisher', '--signing-key', 'demo/demo-snapshot.json', '--kubeconfig', kubeconfig, '--lease', 'none'], {});
    await rm(dir, { recursive: true });
    expect(code).toBe(2);
    expect(stderr).toMatch(/--signing-key: /);
  });
});
