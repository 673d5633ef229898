import { seesEverything, type Actor } from '../agents/model.js';
import type { Ctx } from '../context.js';
import { conflict, notFound } from '../errors.js';
import { withEvents } from '../events/outbox.js';
import { presentAttachments } from '../files/files.js';
import { resolveAttachments, type AttachmentInput } from '../files/message-files.js';
import { recordFirstResponse } from '../routing/sla.js';
import type { Queryable } from '../store/db.js';
import { assertCanAccess } from './access.js';
import type { ConversationRow } from './model.js';

export type Sender = 'customer' | 'agent' | 'system' | 'bot';

export interface Attachment {
  type: string;
  url: string;
  /** an uploaded file (src/files/): its id, name and size in bytes; url is then its path on this server */
  id?: string;
  name?: string;
  size?: number;
}

export interface MessageRow {
  id: number;
  conversation_id: string;
  sender: Sender;
  sender_id: string | null;
  text: string | null;
  attachments: Attachment[];
  created_at: Date;
  read_at: Date | null;
  /** a note (src/notes/): only agents see it */
  private: boolean;
  /** when a note was last edited */
  updated_at: Date | null;
}

export interface Message {
  id: number;
  conversation_id: string;
  sender: Sender;
  sender_id: string | null;
  text: string | null;
  attachments: Attachment[];
  created_at: string;
  read_at: string | null;
  private: boolean;
  updated_at: string | null;
}

const iso = (d: Date | null | undefined) => (d === null || d === undefined ? null : new Date(d).toISOString());
/** The message as an API client or browser gets it: uploaded files with signed links (src/files/). */
export function presentMessage(ctx: Pick<Ctx, 'files' | 'now'>, message: Message): Message {
  return message.attachments.length === 0 ? message : { ...message, attachments: presentAttachments(ctx.files, message.attachments, ctx.now(), 'browser') };
}

export function toMessage(row: MessageRow): Message {
  return {
    ...row,
    private: row.private ?? false,
    created_at: iso(row.created_at)!,
    read_at: iso(row.read_at),
    updated_at: iso(row.updated_at),
  };
}

export interface NewMessage {
  sender: Sender;
  sender_id: string | null;
  text?: string | null;
  /** links, or files uploaded to the conversation referred to by id */
  attachments?: (Attachment | AttachmentInput)[];
}

/**
 * Stores a message on an open conversation and records `message.created` with
 * it. The checks and the insert are one statement: a message is the hottest
 * write of a live chat, and each round trip inside the transaction counts.
 */
export async function addMessage(ctx: Ctx, conversationId: string, input: NewMessage, actor: Actor): Promise<MessageRow> {
  return withEvents(ctx, async (tx, emit) => {
    // Files referred to by id become their stored shape; a message with none costs no query.
    const attachments = await resolveAttachments(tx, conversationId, (input.attachments ?? []) as AttachmentInput[]).catch(async (error: unknown) => {
      // Someone who may not write here hears that, not which of their references was wrong.
      const [c] = await tx.query<Pick<ConversationRow, 'id' | 'agent_id'>>('select id, agent_id from conversations where id = $1', [conversationId]);
      if (!c) throw notFound('conversation', conversationId);
      assertCanAccess(actor, c);
      throw error;
    });
    // The row lock keeps a concurrent resolve from closing the conversation
    // between the check and the insert, and puts two messages of one
    // conversation one after the other: each writer of a conversation's
    // events holds its row to commit, so its events are in the log in commit
    // order (src/events/log.ts). `no key update` rather than `share`: it
    // queues messages of the same chat, and one locker never needs a multixact.
    const [row] = await tx.query<MessageRow & { c_state: ConversationRow['state']; c_agent_id: string | null; c_channel: ConversationRow['channel'] }>(
      `with c as (
         select id, state, agent_id, channel from conversations where id = $1 for no key update
       ), ins as (
         insert into messages (conversation_id, sender, sender_id, text, attachments, created_at)
         select c.id, $2, $3, $4, $5, $6 from c
          where c.state in ('queued', 'offered', 'assigned') and ($7::boolean or c.agent_id = $8::uuid)
            and not (c.state = 'offered' and $2 = 'agent')
            and not (c.channel = 'qiscus' and $2 = 'agent')
         returning *
       )
       select c.state as c_state, c.agent_id as c_agent_id, c.channel as c_channel, ins.* from c left join ins on true`,
      [conversationId, input.sender, input.sender_id, input.text ?? null, JSON.stringify(attachments), ctx.now(), seesEverything(actor), actor.id],
    );
    if (!row) throw notFound('conversation', conversationId);
    const { c_state: state, c_agent_id: agentId, c_channel: channel, ...message } = row;
    assertCanAccess(actor, { id: conversationId, agent_id: agentId });
    if (channel === 'qiscus' && input.sender === 'agent') {
      // Stored, it would never reach the customer: nothing carries it to Qiscus.
      throw conflict(
        'SB_QISCUS_AGENT_MESSAGE',
        `conversation ${conversationId} is a Qiscus room: its agent replies in Qiscus's own dashboard, and Switchboard, which only allocates Qiscus rooms, has no way to deliver messages to it`,
      );
    }
    if (message.id === null && state === 'offered') {
      throw conflict('SB_NOT_ACCEPTED', `conversation ${conversationId} is offered, not assigned: accept it before replying`);
    }
    if (message.id === null) {
      throw conflict('SB_CONVERSATION_CLOSED', `conversation ${conversationId} is ${state}; messages can no longer be added`);
    }
    if (input.sender === 'agent') await recordFirstResponse(tx, conversationId, message.created_at);
    emit({ type: 'message.created', conversationId, agentId, data: { message: toMessage(message) } });
    return message;
  });
}

/** With `withNotes` false (the customer's own reading), notes are left out: they never reach the customer. */
export async function listMessages(db: Queryable, conversationId: string, after: number, limit: number, withNotes: boolean): Promise<MessageRow[]> {
  return db.query<MessageRow>(
    'select * from messages where conversation_id = $1 and id > $2 and ($4::boolean or not private) order by id limit $3',
    [conversationId, after, limit, withNotes],
  );
}

/**
 * A read receipt: marks the listed messages of the other side as read, once,
 * and records `message.read` with the ids that changed (none: no event).
 */
export async function markRead(ctx: Ctx, conversationId: string, ids: readonly number[], reader: 'customer' | 'agent', actor: Actor): Promise<number[]> {
  return withEvents(ctx, async (tx, emit) => {
    // Locked like for a message: the receipt's event follows the conversation's others in commit order.
    const [conversation] = await tx.query<Pick<ConversationRow, 'id' | 'agent_id'>>('select id, agent_id from conversations where id = $1 for no key update', [conversationId]);
    if (!conversation) throw notFound('conversation', conversationId);
    assertCanAccess(actor, conversation);
    const now = ctx.now();
    const rows = await tx.query<{ id: number }>(
      `update messages set read_at = $3
        where conversation_id = $1 and id = any ($2::bigint[]) and read_at is null and not private
          and (case when $4 = 'customer' then sender <> 'customer' else sender = 'customer' end)
        returning id`,
      [conversationId, ids, now, reader],
    );
    const read = rows.map((r) => Number(r.id)).sort((a, b) => a - b);
    if (read.length > 0) {
      emit({ type: 'message.read', conversationId, agentId: conversation.agent_id, data: { message_ids: read, reader, read_at: now.toISOString() } });
    }
    return read;
  });
}
