import { randomUUID } from 'node:crypto';
import { seesEverything, type Actor } from '../agents/model.js';
import type { Ctx } from '../context.js';
import { assertCanAccess } from '../conversations/access.js';
import { AppError, conflict, forbidden, notFound } from '../errors.js';
import type { Settings } from '../settings/settings.js';
import type { Queryable } from '../store/db.js';
import { customerFilesFull, filesUnavailable, qiscusAgentUpload, tooManyUnsentFiles } from './errors.js';
import type { Files } from './files.js';
import { attachmentPath } from './links.js';
import { customerQuota, UNSENT_FILE_LIFETIME_MS, UNSENT_SWEEP_EVERY_MS } from './quota.js';
import type { StagedFile, StoredFile } from './store.js';
import { claimUploadIntent, recordUploadIntent, settleUploadIntent, UPLOAD_GRACE_MS } from './upload-intent.js';

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
  /** whether a message has referred to it (src/files/message-files.ts); a customer's file never sent is removed after a day (src/files/deletions.ts) */
  sent: boolean;
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
 * As for a message: the customer also while it is only offered (the widget
 * says queued), an agent not until it is accepted (409 SB_NOT_ACCEPTED), and
 * never to a Qiscus room (409 SB_QISCUS_AGENT_MESSAGE).
 *
 * `lock`: in the upload's transaction, the conversation's row — `no key
 * update` for a customer, so that their uploads to one conversation take
 * turns and each counts the files of the one before (customerQuota); a
 * share lock for an agent, whose uploads have no quota and need not wait
 * for each other.
 */
async function assertMayUpload(db: Queryable, conversationId: string, user: FileUser, lock: boolean): Promise<void> {
  if (user.kind === 'customer' && user.conversationId !== conversationId) throw forbidden('a session token sends files only to its own conversation');
  const locking = !lock ? '' : user.kind === 'customer' ? ' for no key update' : ' for share';
  const [row] = await db.query<{ id: string; state: string; agent_id: string | null; channel: string }>(
    `select id, state, agent_id, channel from conversations where id = $1${locking}`,
    [conversationId],
  );
  if (!row) throw notFound('conversation', conversationId);
  if (user.kind === 'agent') assertCanAccess(user.actor, row);
  // No message of theirs can carry it (sb_add_message refuses them there), and
  // agents' unsent files are never swept: it would stay, unsent, for good.
  if (user.kind === 'agent' && row.channel === 'qiscus') throw qiscusAgentUpload(conversationId);
  if (row.state === 'offered' && user.kind === 'agent') {
    throw conflict('SB_NOT_ACCEPTED', `conversation ${conversationId} is offered, not assigned: accept it before sending files`);
  }
  if (row.state !== 'queued' && row.state !== 'assigned' && row.state !== 'offered') {
    throw conflict('SB_CONVERSATION_CLOSED', `conversation ${conversationId} is ${row.state}; files can no longer be added`);
  }
}

/** The settings a customer's upload quota is derived from. */
export type QuotaLimits = Pick<Settings, 'attachments_max_bytes' | 'attachments_max_files'>;

/**
 * A customer's upload must leave them within their quota in the
 * conversation (src/files/quota.ts): fewer unsent files than the cap, and no
 * more bytes in all than the cap. 429 SB_ATTACHMENT_UNSENT_LIMIT (retry-after:
 * until the oldest unsent file is removed) or 413 SB_ATTACHMENT_QUOTA.
 */
async function assertWithinQuota(db: Queryable, conversationId: string, size: number, limits: QuotaLimits, now: Date): Promise<void> {
  const quota = customerQuota(limits);
  const [held] = await db.query<{ unsent: number; bytes: string | number; oldest_unsent: Date | null }>(
    `select count(*) filter (where not sent)::int as unsent, coalesce(sum(size), 0)::bigint as bytes,
            min(created_at) filter (where not sent) as oldest_unsent
       from attachments where conversation_id = $1 and uploaded_by = 'customer'`,
    [conversationId],
  );
  const unsent = held?.unsent ?? 0;
  const bytes = Number(held?.bytes ?? 0);
  if (unsent >= quota.maxUnsentFiles) {
    const oldest = held?.oldest_unsent ? new Date(held.oldest_unsent).getTime() : now.getTime();
    const freedAt = oldest + UNSENT_FILE_LIFETIME_MS + UNSENT_SWEEP_EVERY_MS;
    throw tooManyUnsentFiles(unsent, quota.maxUnsentFiles, limits.attachments_max_files, Math.max(1, Math.ceil((freedAt - now.getTime()) / 1000)));
  }
  if (bytes + size > quota.maxBytes) throw customerFilesFull(bytes, size, quota.maxBytes, limits.attachments_max_bytes);
}

async function quotaLimits(db: Queryable): Promise<QuotaLimits> {
  const rows = await db.query<{ key: keyof QuotaLimits; value: unknown }>(
    "select key, value from settings where key in ('attachments_max_bytes', 'attachments_max_files')",
  );
  const limits = Object.fromEntries(rows.map((r) => [r.key, Number(r.value)])) as Partial<QuotaLimits>;
  if (limits.attachments_max_bytes === undefined || limits.attachments_max_files === undefined) throw new Error('the attachments_* settings are missing: was the store migrated and seeded?');
  return limits as QuotaLimits;
}

/**
 * Whether the user may upload to the conversation at all, asked before its
 * body is read: a refusal (not theirs, closed, a customer's quota already
 * spent) costs the server no 25 MB read first. uploadAttachment asks again,
 * under lock, once the file's size is known.
 */
export async function assertMayBeginUpload(ctx: Ctx, conversationId: string, user: FileUser, limits: QuotaLimits): Promise<void> {
  const id = conversationId.toLowerCase();
  await assertMayUpload(ctx.db, id, user, false);
  if (user.kind === 'customer') await assertWithinQuota(ctx.db, id, 0, limits, ctx.now());
}

/**
 * Stores an upload, checked for size and type by the caller. The row and the
 * bytes commit together; with S3 the object is written first, outside the
 * transaction (no lock is held over a network upload), and removed again if
 * the row does not commit — or, the bucket failing to, by the file sweeper.
 * Its key is queued for removal before the upload, due an hour later, and
 * taken off the queue with the row's commit: an upload whose process dies
 * in between is removed too (upload-intent.ts).
 *
 * A customer's upload is also held to their quota in the conversation
 * (`limits`, the settings it is derived from; read here when not given):
 * checked before anything is written to a bucket, and again in the
 * transaction under the conversation's row lock, so two uploads racing for
 * the last place cannot both take it. Agents have no quota.
 */
export async function uploadAttachment(ctx: Ctx, conversationId: string, user: FileUser, upload: Upload, limits?: QuotaLimits): Promise<AttachmentRow> {
  const files = requireFiles(ctx);
  const id = conversationId.toLowerCase();
  const size = upload.bytes.length;
  // Checked before anything is written to a bucket; again, under lock, in the transaction.
  await assertMayUpload(ctx.db, id, user, false);
  const quota = user.kind === 'customer' ? (limits ?? (await quotaLimits(ctx.db))) : undefined;
  if (quota) await assertWithinQuota(ctx.db, id, size, quota, ctx.now());
  const attachmentId = randomUUID();
  // An object outlives a process that dies before its row commits: queued for removal first (upload-intent.ts).
  // A store without `remove` writes its bytes in the row's transaction: nothing outlives it.
  const intent = files.store.remove ? await recordUploadIntent(ctx.db, attachmentId, ctx.now()) : undefined;
  let staged: StagedFile;
  try {
    staged = await files.store.stage(attachmentId, upload.bytes, upload.contentType);
  } catch (error) {
    // the bucket may have stored it all the same (its answer lost): removed at the sweeper's next pass
    if (intent) await settleUploadIntent(ctx.db, intent, false).catch(() => undefined);
    throw error;
  }
  try {
    return await ctx.db.transaction(async (tx) => {
      await assertMayUpload(tx, id, user, true);
      if (quota) await assertWithinQuota(tx, id, size, quota, ctx.now());
      const [row] = await tx.query<AttachmentRow>(
        `insert into attachments (id, conversation_id, uploaded_by, agent_id, name, content_type, size, storage, created_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning *`,
        [attachmentId, id, user.kind, user.kind === 'agent' ? user.actor.id : null, upload.name, upload.contentType, size, files.store.kind, ctx.now()],
      );
      await staged.commit(tx);
      if (intent && !(await claimUploadIntent(tx, intent, ctx.now()))) {
        throw new UploadOutlasted(`the upload of ${attachmentId} took over ${UPLOAD_GRACE_MS / 60_000} minutes: its object was due for removal, so it is not kept`);
      }
      return row!;
    });
  } catch (error) {
    // Only a transaction known to have rolled back takes its object back. One
    // whose commit's answer was lost (the connection dropped, a query
    // timeout) may have committed, or may be committing still, which a read
    // on another connection cannot tell yet: its object is left, and its key
    // in the queue, due when the upload's hour is over — gone with the row's
    // commit if it did commit (found by review).
    if (rolledBack(error)) {
      // A bucket that did not take the object back (a dropped connection, an
      // error for the key) would keep it for good, referred to by nothing: its
      // key falls due at once, and the sweeper removes it (src/files/deletions.ts).
      const removed = await staged.abort().then(
        () => true,
        () => false,
      );
      if (intent) await settleUploadIntent(ctx.db, intent, removed).catch(() => undefined);
    }
    throw error;
  }
}

/** The upload's key was due for removal before its row could commit (claimUploadIntent). */
class UploadOutlasted extends Error {}

/**
 * Whether a transaction's failure says it rolled back: a refusal of ours
 * (an AppError, UploadOutlasted), or the database's error for a statement
 * (a SQLSTATE). Not a dropped connection or a client-side timeout, which
 * may have hit the COMMIT after the server made it.
 */
function rolledBack(error: unknown): boolean {
  if (error instanceof AppError || error instanceof UploadOutlasted) return true;
  const code = (error as { code?: unknown } | null)?.code;
  // a SQLSTATE, but not a socket's code (EPIPE is five letters too), a lost
  // connection (class 08) or the server shutting down (57P), which may cut a
  // COMMIT's answer off after the commit
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !/^E[A-Z]+$/.test(code) && !code.startsWith('08') && !code.startsWith('57P');
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

/** The file's bytes as a stream, from the store its row says they were written to (not necessarily where new uploads go). */
export async function readAttachment(ctx: Ctx, attachment: AttachmentRow): Promise<StoredFile> {
  const file = await requireFiles(ctx).storeOf(attachment).read(ctx.db, attachment.id);
  if (!file) throw notFound('attachment', attachment.id);
  return file;
}

/** The answer to an upload: `url` is a signed link a browser can use at once. */
export function uploadAnswer(files: Files, row: AttachmentRow, now: Date) {
  const [presented] = files.present([{ type: row.content_type, url: attachmentPath(row.id), id: row.id }], now, 'browser');
  return { id: row.id, name: row.name, content_type: row.content_type, size: row.size, url: presented!.url };
}
