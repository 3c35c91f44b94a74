/**
 * Per-test cleanup shared by the socket tests: whatever a test starts is
 * registered with `defer` and closed after the test, last started first.
 */
import { afterEach } from 'vitest';
import { startUpstream } from './upstream.js';
import type { FakeUpstream } from './upstream.js';

/** Registers an afterEach hook in the calling file; returns `defer` and a fake-upstream starter that uses it. */
export function cleanupAfterEach(): {
  defer: (close: () => Promise<void>) => void;
  upstream: (...args: Parameters<typeof startUpstream>) => Promise<FakeUpstream>;
} {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });
  const defer = (close: () => Promise<void>) => {
    closers.push(close);
  };
  const upstream = async (...args: Parameters<typeof startUpstream>) => {
    const u = await startUpstream(...args);
    defer(() => u.close());
    return u;
  };
  return { defer, upstream };
}
