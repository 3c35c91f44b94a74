/**
 * Per-test cleanup shared by the socket tests: whatever a test starts is
 * registered with `defer` and closed after the test, last started first.
 */
import { afterEach } from 'vitest';
import { makeForwarder } from '../upstream-helpers.js';
import { startUpstream } from './upstream.js';
import type { FakeUpstream } from './upstream.js';

/** Registers an afterEach hook in the calling file; returns `defer`, and fake-upstream and forwarder makers that use it. */
export function cleanupAfterEach(): {
  defer: (close: () => Promise<void>) => void;
  upstream: (...args: Parameters<typeof startUpstream>) => Promise<FakeUpstream>;
  forwarder: (...args: Parameters<typeof makeForwarder>) => ReturnType<typeof makeForwarder>;
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
  const forwarder = (...args: Parameters<typeof makeForwarder>) => {
    const made = makeForwarder(...args);
    defer(() => made.forwarder.close());
    return made;
  };
  return { defer, upstream, forwarder };
}
