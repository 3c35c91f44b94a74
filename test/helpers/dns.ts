/** Test helpers: send queries over real sockets, start resolvers in-process on port 0. */
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { pino } from 'pino';
import { framed, onFrames } from '../../bench/frames.js';
import type { Logger } from 'pino';
import { loadConfig } from '../../resolver/config.js';
import { Resolver } from '../../resolver/resolver.js';
import { decodeMessage } from '../../resolver/wire/decode.js';
import type { DecodedMessage } from '../../resolver/wire/decode.js';

/** A logger that writes nothing (set HOLDFAST_TEST_LOG=debug to see logs). */
export function quietLogger(): Logger {
  return pino({ level: process.env['HOLDFAST_TEST_LOG'] ?? 'silent' });
}

/** Sends raw bytes over UDP and returns the raw reply, or undefined after `timeoutMs`. */
export function udpRaw(port: number, message: Buffer, timeoutMs = 2000, host = '127.0.0.1'): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const timer = setTimeout(() => {
      socket.close();
      resolve(undefined);
    }, timeoutMs);
    socket.on('message', (msg) => {
      clearTimeout(timer);
      socket.close();
      resolve(msg);
    });
    socket.send(message, port, host);
  });
}

/** Sends a query over UDP and decodes the reply; rejects on timeout. */
export async function udpQuery(port: number, message: Buffer, timeoutMs = 2000): Promise<DecodedMessage & { raw: Buffer }> {
  const raw = await udpRaw(port, message, timeoutMs);
  if (!raw) throw new Error('no UDP reply');
  return { ...decodeMessage(raw), raw };
}

/** Writes `frames` (each length-prefixed) on one TCP connection and collects `expect` replies. */
export function tcpExchange(port: number, frames: readonly Buffer[], expect = frames.length, timeoutMs = 3000): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const replies: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`TCP: got ${replies.length} of ${expect} replies`));
    }, timeoutMs);
    socket.on('connect', () => {
      for (const f of frames) socket.write(framed(f));
    });
    onFrames(socket, (reply) => {
      replies.push(reply);
      if (replies.length >= expect) {
        clearTimeout(timer);
        socket.destroy();
        resolve(replies);
      }
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** Starts a resolver in-process on 127.0.0.1 port 0 with `flags` added (and an injected clock or random source, and a logger). */
export async function startResolver(
  flags: Record<string, string | string[] | boolean>,
  deps: Parameters<typeof Resolver.start>[2] = {},
  log: Logger = quietLogger(),
): Promise<{ resolver: Resolver; port: number; metricsPort: number }> {
  const config = loadConfig({
    flags: { listen: ['127.0.0.1:0'], 'metrics-listen': '127.0.0.1:0', upstream: ['127.0.0.1:9'], 'shutdown-grace': '100ms', ...flags },
    env: {},
  });
  const resolver = await Resolver.start(config, log, deps);
  return { resolver, port: resolver.dnsAddresses[0]?.port ?? 0, metricsPort: resolver.metricsAddress?.port ?? 0 };
}
