import type { Queryable } from '../store/db.js';
import { tooManyFiles, unknownAttachment } from './errors.js';
import type { FileAttachment } from './files.js';
import { attachmentPath } from './links.js';

/** What a new message may carry: a link to elsewhere, or a file uploaded to its conversation by id. */
export type AttachmentInput = { type: string; url: string } | { id: string };

const isFile = (a: AttachmentInput): a is { id: string } => 'id' in a && typeof a.id === 'string';

/** Whether `items` refer to uploaded files, which resolveAttachments must look up; links alone need no query. */
export const refersToFiles = (items: readonly AttachmentInput[]): boolean => items.some(isFile);

/**
 * Turns `{id}` references into the stored shape (type, path, name, size), in
 * the message's transaction: each must be a file uploaded to this
 * conversation, and there may be at most attachments_max_files of them.
 * Links pass unchanged. Without references, no query.
 */
export async function resolveAttachments(tx: Queryable, conversationId: string, items: readonly AttachmentInput[]): Promise<({ type: string; url: string } | FileAttachment)[]> {
  const ids = items.filter(isFile).map((a) => a.id.toLowerCase());
  if (ids.length === 0) return items as { type: string; url: string }[];
  const [limit] = await tx.query<{ value: number }>("select value from settings where key = 'attachments_max_files'");
  const max = Number(limit?.value ?? 10);
  if (ids.length > max) throw tooManyFiles(ids.length, max);
  const rows = await tx.query<{ id: string; name: string; content_type: string; size: number }>(
    'select id, name, content_type, size from attachments where conversation_id = $1 and id = any ($2::uuid[])',
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
