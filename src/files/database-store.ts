import { Readable } from 'node:stream';
import type { Queryable } from '../store/db.js';
import type { FileStore } from './store.js';

/**
 * How much of a file one statement reads. node-postgres receives bytea as
 * hex text, so a piece costs about three times its size while it is
 * parsed; a whole 100 MiB file read at once cost some 400 MB.
 */
export const DATABASE_CHUNK_BYTES = 1024 * 1024;

// The length comes with the first piece: the stream then knows when it has
// sent all of it, and a row gone before that is an error, never a short file.
const FIRST_PIECE = /* sql */ `
  select octet_length(bytes) as length, substring(bytes from 1 for $2) as piece
    from attachment_bytes where attachment_id = $1`;

// A value stored uncompressed (pictures, archives, most PDFs: they do not
// compress) gives a piece from the TOAST chunks it spans; a compressed one
// is decompressed from its start for each (docs/operations.md).
const NEXT_PIECE = /* sql */ `
  select substring(bytes from $2 for $3) as piece
    from attachment_bytes where attachment_id = $1`;

// PGlite answers a Uint8Array, node-postgres a Buffer: either way, no copy.
const asBuffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/** The default: bytes in attachment_bytes, so files work on PGlite and across processes with no other service. */
export function databaseStore(chunkBytes = DATABASE_CHUNK_BYTES): FileStore {
  return {
    kind: 'database',
    async stage(key, bytes) {
      return {
        commit: async (tx) => void (await tx.query('insert into attachment_bytes (attachment_id, bytes) values ($1, $2)', [key, bytes])),
        abort: async () => {},
      };
    },
    async read(db: Queryable, key) {
      // Read before answering, so that a missing file is still a 404 and not a response cut short.
      const [first] = await db.query<{ length: number; piece: Uint8Array }>(FIRST_PIECE, [key, chunkBytes]);
      if (!first) return undefined;
      const length = Number(first.length);
      const head = asBuffer(first.piece);
      // Each piece is a statement of its own, not one transaction held open for
      // as long as the slowest client takes to read: the file may be deleted
      // (an erasure) between two pieces, and then the stream fails.
      async function* pieces() {
        let sent = head.length;
        if (sent > 0) yield head;
        while (sent < length) {
          const [row] = await db.query<{ piece: Uint8Array }>(NEXT_PIECE, [key, sent + 1, chunkBytes]);
          if (!row || row.piece.byteLength === 0) throw new Error(`attachment ${key} was deleted while it was being read (${sent} of ${length} bytes sent)`);
          sent += row.piece.byteLength;
          yield asBuffer(row.piece);
        }
      }
      // A byte stream, not objects: it reads the next piece only once the one before has gone to the client.
      return { length, body: Readable.from(pieces(), { objectMode: false }) };
    },
    // No remove: what attachment_deletions queues is in a bucket, and a
    // process on this store leaves it there for one that has the bucket.
  };
}
