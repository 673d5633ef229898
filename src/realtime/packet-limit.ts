import { Duplex } from 'node:stream';
import { MAX_PAYLOAD_BYTES } from './payloads.js';

// aedes' parser (mqtt-packet) has no packet size limit: it buffers a packet
// until all the length its fixed header announces (up to 256 MB) has come,
// and it does so before CONNECT is even authenticated. WebSocket frames are
// limited, but a packet may be spread over any number of them, and plain TCP
// has no frames at all. So the embedded broker reads every connection
// through `limitPackets`, which follows the packet boundaries as the bytes
// stream in (it only decodes each fixed header's remaining length and skips
// the rest) and closes the connection as soon as a header announces more
// than is allowed — before the packet's body is sent, let alone buffered.

/**
 * Remaining length (what follows the fixed header) of any packet once the
 * connection is accepted: a 64 KiB payload (what Switchboard accepts, see
 * payloads.ts) with room for its topic, packet id and MQTT 5 properties.
 */
export const MAX_PACKET_BYTES = MAX_PAYLOAD_BYTES + 6 * 1024;
/**
 * Remaining length of a packet before the connection is accepted (its
 * CONNECT, and whatever a client sends before the CONNACK): a client id, a
 * user name and a token fit many times over.
 */
export const MAX_CONNECT_BYTES = 4 * 1024;
/**
 * How long a connection whose socket has closed may still hold what it last
 * received, waiting for aedes to read it (it reads it as soon as the CONNECT
 * it is busy with is settled); then it is closed whatever is left. aedes
 * gives a client 30 s to send its CONNECT at all.
 */
const INNER_GONE_GRACE_MS = 30_000;

/**
 * Follows the MQTT packets in a byte stream: each fixed header (a type byte,
 * then the remaining length in 1–4 bytes of 7 bits, which may arrive split
 * across chunks) and then that many bytes of body, skipped.
 */
export class PacketScanner {
  /** 'type': the next byte starts a packet; 'length': inside its remaining length; 'body': `left` bytes of body to skip */
  private state: 'type' | 'length' | 'body' = 'type';
  private length = 0;
  private lengthBytes = 0;
  private left = 0;

  /** `limit()`: the largest remaining length allowed for the packet whose header is being read */
  constructor(private readonly limit: () => number) {}

  /** undefined while every packet is within its limit; else why the stream must be closed */
  scan(chunk: Uint8Array): string | undefined {
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 'body') {
        const skipped = Math.min(this.left, chunk.length - i);
        this.left -= skipped;
        i += skipped;
        if (this.left === 0) this.state = 'type';
        continue;
      }
      const byte = chunk[i++]!;
      if (this.state === 'type') {
        this.state = 'length';
        this.length = 0;
        this.lengthBytes = 0;
        continue;
      }
      this.length += (byte & 0x7f) * 128 ** this.lengthBytes;
      this.lengthBytes += 1;
      // The length read so far only grows with the bytes still to come: a
      // header over the limit is refused at its first byte that shows it.
      const limit = this.limit();
      if (this.length > limit) return `an MQTT packet announces ${this.length}+ bytes; at most ${limit} are accepted here`;
      if (byte & 0x80) {
        if (this.lengthBytes === 4) return 'an MQTT remaining length is longer than 4 bytes';
        continue;
      }
      this.left = this.length;
      this.state = this.left === 0 ? 'type' : 'body';
    }
    return undefined;
  }
}

/**
 * A connection as aedes sees it: `inner`'s bytes, each packet's size checked
 * before it is passed on (see above), and what aedes writes handed to `inner`
 * unchanged. Packets are held to MAX_CONNECT_BYTES until `admit()` (the
 * CONNECT was authenticated), to `maxPacketBytes` after.
 */
export class PacketLimitedStream extends Duplex {
  private admitted = false;
  private readonly scanner: PacketScanner;
  /** `inner` is closed: nothing more comes from it, and what is written goes nowhere */
  private innerGone = false;
  /** the reading side has not been ended (push(null)) yet */
  private reading = true;
  /** closes this stream if aedes has not read to its end in time once `inner` is gone */
  private reaper: NodeJS.Timeout | undefined;

  constructor(
    private readonly inner: Duplex,
    options: { maxConnectBytes?: number; maxPacketBytes?: number; onRefused?(reason: string): void } = {},
  ) {
    super({ allowHalfOpen: false });
    const before = options.maxConnectBytes ?? MAX_CONNECT_BYTES;
    const after = options.maxPacketBytes ?? MAX_PACKET_BYTES;
    this.scanner = new PacketScanner(() => (this.admitted ? after : before));
    inner.on('data', (chunk: Buffer) => {
      if (this.destroyed) return;
      const refused = this.scanner.scan(chunk);
      if (refused) {
        options.onRefused?.(refused);
        // Nothing of it reaches the parser; closing `inner` ends the
        // WebSocket or the TCP socket (no CONNACK or DISCONNECT: the client
        // broke the limit, and may not even be authenticated).
        this.destroy();
        return;
      }
      // aedes reads a batch of packets at a time: while it is busy, the
      // bytes wait in `inner` (and the kernel), not in an ever-growing buffer here.
      if (!this.push(chunk)) inner.pause();
    });
    inner.once('end', () => this.endReading());
    inner.on('error', (error) => this.destroy(error));
    // A socket says 'close' as soon as it has handed over its last bytes,
    // which may still wait here while aedes is busy (authenticating a
    // CONNECT): destroying now would drop a trailing PUBLISH or DISCONNECT
    // (a lost DISCONNECT publishes the will). Only the reading side ends;
    // aedes reads what is left and closes this stream (allowHalfOpen: false
    // ends it once its end is read). An error destroyed it already.
    inner.once('close', () => {
      if (this.destroyed) return;
      this.innerGone = true;
      this.endReading();
      // In case nothing ever reads to the end (a consumer that stopped
      // reading): the stream is closed all the same, and its memory freed.
      this.reaper = setTimeout(() => this.destroy(), INNER_GONE_GRACE_MS).unref();
    });
  }

  private endReading(): void {
    if (!this.reading) return;
    this.reading = false;
    this.push(null);
  }

  /** the CONNECT was accepted: packets may now be up to the full size */
  admit(): void {
    this.admitted = true;
  }

  override _read(): void {
    this.inner.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    // The peer is gone (its socket closed while its last packets were being
    // read): what aedes answers goes nowhere, as to any dropped connection.
    if (this.innerGone || this.inner.destroyed || this.inner.writableEnded) return callback();
    if (this.inner.write(chunk)) return callback();
    // A 'drain' that never comes once `inner` closes: the write is over then too.
    const done = () => (this.inner.off('drain', done), this.inner.off('close', done), callback());
    this.inner.once('drain', done);
    this.inner.once('close', done);
  }

  // mqtt-packet writes a packet in pieces to a corked stream: they go on as
  // one write, so a WebSocket still sends the packet in one frame
  // (websocket-stream.ts).
  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    this._write(chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk)), 'buffer' as BufferEncoding, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.innerGone || this.inner.destroyed) return callback();
    this.inner.end(() => callback());
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.reaper);
    if (!this.inner.destroyed) this.inner.destroy();
    callback(error);
  }
}

export const limitPackets = (inner: Duplex, options?: ConstructorParameters<typeof PacketLimitedStream>[1]) => new PacketLimitedStream(inner, options);
