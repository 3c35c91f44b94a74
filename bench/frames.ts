/**
 * DNS messages on a TCP stream (RFC 1035 §4.2.2: a two-octet length, then the
 * message), written and read, for the benches' and tests' clients and fake servers.
 */
import type { Socket } from 'node:net';

/** `message` with its two-octet length prefix. */
export function framed(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(2 + message.length);
  out.writeUInt16BE(message.length, 0);
  message.copy(out, 2);
  return out;
}

/** Calls `onMessage` with every complete length-prefixed message `socket` delivers, in order. */
export function onFrames(socket: Socket, onMessage: (message: Buffer) => void): void {
  let buffered: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
      const message = buffered.subarray(2, 2 + buffered.readUInt16BE(0));
      buffered = buffered.subarray(2 + message.length);
      onMessage(message);
    }
  });
}
