import { seesEverything, type Actor } from '../agents/model.js';
import type { Ctx } from '../context.js';
import { assertCanAccess } from '../conversations/access.js';
import { toMessage, type MessageRow } from '../conversations/messages.js';
import type { ConversationRow } from '../conversations/model.js';
import { conflict, forbidden, invalid, notFound } from '../errors.js';
import { withEvents } from '../events/outbox.js';
import type { Queryable } from '../store/db.js';
import { noteUnreclaimed } from '../store/vacuum.js';
import { isBlank } from '../http/validation.js';

// Private notes: messages with private = true, which only agents see. They
// are recorded as note.* events, never message.created, so nothing that
// carries messages to the customer (the widget's topics, RapidPro callbacks,
// Gitple-style webhooks) ever sees one: each of those reads message.created
// only. Who may write: whoever may act on the conversation (its agent — the
// one who holds it now, or who last held a closed one — supervisors and
// admins), in any state; a note after the resolve is still a note. An agent
// a conversation is only offered to (offer mode) does not hold it yet: they
// read its notes with its messages, to decide, but write, edit or delete
// none until they accept (409 SB_NOT_ACCEPTED, as for a message). Only the
// author edits or deletes their note. A note's text must not be blank.

/** Where a note's text is kept: the message row and its search words. */
const NOTE_TABLES = ['messages', 'message_search'];

/** The event data of a note: the message shape, always private. */
export const noteData = (row: MessageRow) => ({ note: toMessage(row) });

/** The text as stored (as typed), or a 400 naming `text` when it holds nothing but blanks. */
export function noteText(text: string): string {
  if (isBlank(text)) throw invalid('text', 'must not be blank');
  return text;
}

async function conversationFor(tx: Queryable, conversationId: string, actor: Actor): Promise<Pick<ConversationRow, 'id' | 'agent_id'>> {
  // The row lock keeps the holder from changing under the check (a transfer
  // waits) and, as for messages, puts this conversation's event writers one
  // after the other to commit, so its events are in the log in commit order
  // (src/events/log.ts). `for share` would let two notes pass each other.
  const [conversation] = await tx.query<Pick<ConversationRow, 'id' | 'agent_id' | 'state'>>(
    'select id, agent_id, state from conversations where id = $1 for no key update',
    [conversationId],
  );
  if (!conversation) throw notFound('conversation', conversationId);
  assertCanAccess(actor, conversation);
  if (conversation.state === 'offered' && !seesEverything(actor)) {
    throw conflict('SB_NOT_ACCEPTED', `conversation ${conversation.id} is offered, not assigned: accept it before writing, editing or deleting notes`);
  }
  return { id: conversation.id, agent_id: conversation.agent_id };
}

export async function addNote(ctx: Ctx, conversationId: string, text: string, actor: Actor & { id: string }): Promise<MessageRow> {
  noteText(text);
  return withEvents(ctx, async (tx, emit) => {
    const conversation = await conversationFor(tx, conversationId, actor);
    const [row] = await tx.query<MessageRow>(
      `insert into messages (conversation_id, sender, sender_id, text, attachments, created_at, private)
       values ($1, 'agent', $2, $3, '[]', $4, true) returning *`,
      [conversationId, actor.id, text, ctx.now()],
    );
    // the id as stored (lower case), not as the path spelled it: listeners match on it
    emit({ type: 'note.created', conversationId: conversation.id, agentId: conversation.agent_id, data: noteData(row!) });
    return row!;
  });
}

/** The note, locked, after the checks: it exists in this conversation, the caller may see the conversation, and wrote the note. */
async function ownNote(tx: Queryable, conversationId: string, noteId: number, actor: Actor): Promise<{ row: MessageRow; conversationId: string; agentId: string | null }> {
  const conversation = await conversationFor(tx, conversationId, actor);
  const [row] = await tx.query<MessageRow>('select * from messages where id = $1 and conversation_id = $2 and private for update', [noteId, conversationId]);
  if (!row) throw notFound('note', String(noteId));
  if (row.sender_id !== actor.id) throw forbidden(`note ${noteId} was written by another agent; only its author may change or delete it`);
  return { row, conversationId: conversation.id, agentId: conversation.agent_id };
}

export async function editNote(ctx: Ctx, conversationId: string, noteId: number, text: string, actor: Actor): Promise<MessageRow> {
  noteText(text);
  return withEvents(ctx, async (tx, emit) => {
    const note = await ownNote(tx, conversationId, noteId, actor);
    const [row] = await tx.query<MessageRow>('update messages set text = $2, updated_at = $3 where id = $1 returning *', [noteId, text, ctx.now()]);
    // the text as it was stays in PGlite's files until a rewrite
    await noteUnreclaimed(tx, ctx.db.kind, NOTE_TABLES);
    emit({ type: 'note.updated', conversationId: note.conversationId, agentId: note.agentId, data: noteData(row!) });
    return row!;
  });
}

export async function deleteNote(ctx: Ctx, conversationId: string, noteId: number, actor: Actor): Promise<void> {
  await withEvents(ctx, async (tx, emit) => {
    const note = await ownNote(tx, conversationId, noteId, actor);
    await tx.query('delete from messages where id = $1', [noteId]);
    await noteUnreclaimed(tx, ctx.db.kind, NOTE_TABLES);
    emit({ type: 'note.deleted', conversationId: note.conversationId, agentId: note.agentId, data: { ...noteData(note.row), deleted_by: actor.id } });
  });
}
