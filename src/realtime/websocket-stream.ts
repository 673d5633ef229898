import type { Duplex } from 'node:stream';
import { createWebSocketStream, type WebSocket } from 'ws';

/**
 * The stream aedes reads MQTT from and writes MQTT to over a WebSocket
 * (the widget's and the desk's connections), sending what is written in one
 * turn of the event loop as one WebSocket frame.
 *
 * mqtt-packet writes a packet in pieces (fixed header, length, topic, packet
 * id, payload) to a corked stream and uncorks it on the next tick. ws's
 * stream has no `_writev`, so each piece went out as a frame of its own: a
 * PUBLISH was seven frames, each a socket write and a frame for the client
 * to take apart. Joined, bench/realtime.ts over WebSocket relays 3–15 % more
 * messages a second flat out, at 7–16 % less server CPU a message. MQTT
 * lets a packet be split across frames, but some clients do not expect it.
 */
export function mqttWebSocketStream(socket: WebSocket): Duplex {
  const stream = createWebSocketStream(socket);
  stream._writev = (chunks, callback) => {
    const pieces = chunks.map(({ chunk, encoding }) => (Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string, encoding)));
    // 'buffer': what Writable itself passes with a Buffer (ws's _write does not read it)
    stream._write(pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces), 'buffer' as BufferEncoding, callback);
  };
  return stream;
}
