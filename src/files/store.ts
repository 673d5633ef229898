import type { Readable } from 'node:stream';
import type { Queryable } from '../store/db.js';

/**
 * Where an attachment's bytes live, by its id. Writing is two steps so the
 * bytes and the attachment row commit together: the database store writes
 * them in the row's transaction; an object store uploads before it and takes
 * the object back if the transaction fails.
 */
export interface FileStore {
  readonly kind: 'database' | 's3';
  stage(key: string, bytes: Buffer, contentType: string): Promise<StagedFile>;
  /**
   * The file as a stream, undefined when the store has no such key. Never
   * the whole file in memory: a download holds a piece at a time, so
   * parallel fetches of a large file (signed links need no login) cannot
   * exhaust the process. The stream fails, rather than ending early, when
   * the bytes go away while it is read.
   */
  read(db: Queryable, key: string): Promise<StoredFile | undefined>;
  /**
   * An object store's: removes objects whose rows are gone (the keys
   * attachment_deletions queued) and answers the keys the bucket refused,
   * each with its reason (every other key is gone, a missing object
   * included); throws when the bucket could not be asked at all. The
   * database store has none: its bytes are deleted with the row (on delete
   * cascade), and it cannot remove a bucket's objects.
   */
  remove?(keys: readonly string[]): Promise<RemovalRefusal[]>;
}

/** A file being read: `body` streams exactly `length` bytes, or fails. */
export interface StoredFile {
  length: number;
  body: Readable;
}

/** A key the bucket would not delete (an object lock, a legal hold, a policy), and its answer. */
export interface RemovalRefusal {
  key: string;
  reason: string;
}

export interface StagedFile {
  /** in the transaction that inserts the attachment row */
  commit(tx: Queryable): Promise<void>;
  /** after that transaction failed; throws when the bytes may still be there (the caller queues an object store's key in attachment_deletions) */
  abort(): Promise<void>;
}
