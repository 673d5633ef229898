import { randomUUID } from 'node:crypto';
import { seesEverything, type Actor } from '../agents/model.js';
import type { Ctx } from '../context.js';
import { assertCanAccess } from '../conversations/access.js';
import { conflict, forbidden, notFound } from '../errors.js';
import type { Queryable } from '../store/db.js';
import { filesUnavailable } from './errors.js';
import type { Files } from './files.js';
import { attachmentPath } from './links.js';

export interface AttachmentRow {
  id: string;
  conversation_id: string;
  uploaded_by: 'customer' | 'agent';
  agent_id: string | null;
  name: string;
  content_type: string;
  size: number;
  storage: 'database' | 's3';
  created_at: Date;
}

/** Who sends or fetches a file: an agent (by role and id) or the customer of one conversation (by session). */
export type FileUser = { kind: 'agent'; actor: Actor } | { kind: 'customer'; conversationId: string };

export interface Upload {
  name: string;
  contentType: string;
  bytes: Buffer;
}

export function requireFiles(ctx: Ctx): Files {
  if (!ctx.files) throw filesUnavailable();
  return ctx.files;
}

/**
 * Who may add a file to a conversation: whoever may write in it — its
 * customer, the agent holding it, supervisors and admins — while it is open.
 */
async function assertMayUpload(db: Queryable, conversationId: string, user: FileUser, lock: boolean): Promise<void> {
  if (user.kind === 'customer' && user.conversationId !== conversationId) throw forbidden('a session token sends files only to its own conversation');
  const [row] = await db.query<{ id: string; state: string; agent_id: string | null }>(
    `select id, state, agent_id from conversations where id = $1${lock ? ' for share' : ''}`,
    [conversationId],
  );
  if (!row) throw notFound('conversation', conversationId);
  if (user.kind === 'agent') assertCanAccess(user.actor, row);
  if (row.state !== 'queued' && row.state !== 'assigned') throw conflict('SB_CONVERSATION_CLOSED', `conversation ${conversationId} is ${row.state}; files can no longer be added`);
}

/**
 * Stores an upload, checked for size and type by the caller. The row and the
 * bytes commit together; with S3 the object is written first, outside the
 * transaction (no lock is held over a network upload), and removed again if
 * the row does not commit.
 */
export async function uploadAttachment(ctx: Ctx, conversationId: string, user: FileUser, upload: Upload): Promise<AttachmentRow> {
  const files = requireFiles(ctx);
  const id = conversationId.toLowerCase();
  // Checked before anything is written to a bucket; again, under lock, in the transaction.
  await assertMayUpload(ctx.db, id, user, false);
  const attachmentId = randomUUID();
  const staged = await files.store.stage(attachmentId, upload.bytes, upload.contentType);
  try {
    return await ctx.db.transaction(async (tx) => {
      await assertMayUpload(tx, id, user, true);
      const [row] = await tx.query<AttachmentRow>(
        `insert into attachments (id, conversation_id, uploaded_by, agent_id, name, content_type, size, storage, created_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning *`,
        [attachmentId, id, user.kind, user.kind === 'agent' ? user.actor.id : null, upload.name, upload.contentType, upload.bytes.length, files.store.kind, ctx.now()],
      );
      await staged.commit(tx);
      return row!;
    });
  } catch (error) {
    await staged.abort().catch(() => undefined);
    throw error;
  }
}

/**
 * Who may fetch a file: the conversation's customer (their session), the
 * agents who hold or held it (assigned or transferred to them, as the event
 * log records), supervisors and admins. A valid signed link needs no one.
 */
export async function assertMayDownload(db: Queryable, attachment: AttachmentRow, user: FileUser): Promise<void> {
  if (user.kind === 'customer') {
    if (user.conversationId === attachment.conversation_id) return;
    throw forbidden('a session token fetches only its own conversation’s files');
  }
  if (seesEverything(user.actor)) return;
  const [row] = await db.query<{ one: number }>(
    `select 1 as one from conversations c
      where c.id = $1
        and (c.agent_id = $2
             or exists (select 1 from events e
                         where e.conversation_id = c.id and e.agent_id = $2
                           and e.type in ('conversation.assigned', 'conversation.transferred')))`,
    [attachment.conversation_id, user.actor.id],
  );
  if (!row) throw forbidden(`the file belongs to conversation ${attachment.conversation_id}, which you do not hold and never held`);
}

export async function findAttachment(db: Queryable, id: string): Promise<AttachmentRow> {
  const [row] = await db.query<AttachmentRow>('select * from attachments where id = $1', [id.toLowerCase()]);
  if (!row) throw notFound('attachment', id);
  return row;
}

export async function attachmentBytes(ctx: Ctx, attachment: AttachmentRow): Promise<Buffer> {
  const bytes = await requireFiles(ctx).store.read(ctx.db, attachment.id);
  if (!bytes) throw notFound('attachment', attachment.id);
  return bytes;
}

/** The answer to an upload: `url` is a signed link a browser can use at once. */
export function uploadAnswer(files: Files, row: AttachmentRow, now: Date) {
  const [presented] = files.present([{ type: row.content_type, url: attachmentPath(row.id), id: row.id }], now, 'browser');
  return { id: row.id, name: row.name, content_type: row.content_type, size: row.size, url: presented!.url };
}
