import type { Queryable } from '../store/db.js';
import type { FileStore } from './store.js';

/** The default: bytes in attachment_bytes, so files work on PGlite and across processes with no other service. */
export function databaseStore(): FileStore {
  return {
    kind: 'database',
    async stage(key, bytes) {
      return {
        commit: async (tx) => void (await tx.query('insert into attachment_bytes (attachment_id, bytes) values ($1, $2)', [key, bytes])),
        abort: async () => {},
      };
    },
    async read(db: Queryable, key) {
      const [row] = await db.query<{ bytes: Uint8Array }>('select bytes from attachment_bytes where attachment_id = $1', [key]);
      return row ? Buffer.from(row.bytes.buffer, row.bytes.byteOffset, row.bytes.byteLength) : undefined;
    },
    // No remove: what attachment_deletions queues is in a bucket, and a
    // process on this store leaves it there for one that has the bucket.
  };
}
