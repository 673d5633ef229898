import type { Queryable } from '../store/db.js';
import { fileIdInvalid, tooManyFiles, unknownAttachment } from './errors.js';
import type { FileAttachment } from './files.js';
import { attachmentPath } from './links.js';
import { UUID } from '../uuid.js';

/** What a new message may carry: a link to elsewhere, or a file uploaded to its conversation by id. */
export type AttachmentInput = { type: string; url: string } | { id: string };

/** a uuid as PostgreSQL reads it and Switchboard writes it: 8-4-4-4-12 hex digits */

const isFile = (a: AttachmentInput): a is { id: string } => 'id' in a && typeof a.id === 'string';

/** Whether `items` refer to uploaded files, which resolveAttachments must look up; links alone need no query. */
export const refersToFiles = (items: readonly AttachmentInput[]): boolean => items.some(isFile);

/**
 * Turns `{id}` references into the stored shape (type, path, name, size), in
 * the message's transaction: each must be a file uploaded to this
 * conversation, and there may be at most attachments_max_files of them.
 * Links pass unchanged. Without references, no query.
 *
 * The files are marked sent (attachments.sent), which takes them out of the
 * customer's unsent ones (src/files/quota.ts) and keeps them from the sweep
 * of unsent files; the message's rollback takes the mark back. The
 * conversation's row is locked first, as the message's call (sb_add_message)
 * then locks it again: its locks come in the order an upload's and an
 * erasure's take them (the conversation, then its files), and a file swept
 * meanwhile is not found.
 */
export async function resolveAttachments(tx: Queryable, conversationId: string, items: readonly AttachmentInput[]): Promise<({ type: string; url: string } | FileAttachment)[]> {
  // Checked before the query: an id the database cannot read as a uuid (the
  // API's uuid format also lets `urn:uuid:…` through) would fail the
  // statement, and with it the message's transaction, as an internal error.
  items.forEach((item, index) => {
    if (isFile(item) && !UUID.test(item.id)) throw fileIdInvalid(index);
  });
  const ids = items.filter(isFile).map((a) => a.id.toLowerCase());
  if (ids.length === 0) return items as { type: string; url: string }[];
  const [limit] = await tx.query<{ value: number }>("select value from settings where key = 'attachments_max_files'");
  const max = Number(limit?.value ?? 10);
  if (ids.length > max) throw tooManyFiles(ids.length, max);
  const rows = await tx.query<{ id: string; name: string; content_type: string; size: number }>(
    `with c as (select id from conversations where id = $1 for no key update)
     update attachments a set sent = true
       from c
      where a.conversation_id = c.id and a.id = any ($2::uuid[])
     returning a.id, a.name, a.content_type, a.size`,
    [conversationId.toLowerCase(), ids],
  );
  const byId = new Map(rows.map((r) => [r.id, r]));
  return items.map((item, index) => {
    if (!isFile(item)) return item;
    const row = byId.get(item.id.toLowerCase());
    if (!row) throw unknownAttachment(index);
    return { type: row.content_type, url: attachmentPath(row.id), id: row.id, name: row.name, size: Number(row.size) };
  });
}
