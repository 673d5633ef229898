import { SYSTEM } from '../../agents/model.js';
import type { Ctx } from '../../context.js';
import { closeConversation, closeConversationIn, openConversationIn } from '../../conversations/lifecycle.js';
import { addMessage, type MessageRow } from '../../conversations/messages.js';
import type { Customer } from '../../conversations/model.js';
import { AppError } from '../../errors.js';
import { withEvents } from '../../events/outbox.js';
import type { Queryable } from '../../store/db.js';
import { noRoom, ticketElsewhere, unknownTicketer } from './errors.js';
import type { MessageRequest, RoomRequest } from './inbound.js';
import { CLOSE_REASONS } from './ticketers.js';

// A RapidPro ticket is a Switchboard conversation (channel 'rapidpro',
// external_ref = the ticket id), routed by the engine like any other. The
// ticket's row says which ticketer and contact token it belongs to.

/** The conversation open for a contact token: at most one, the newest. */
const OPEN_ROOM = /* sql */ `
  select t.conversation_id, t.ticket_id from rapidpro_tickets t join conversations c on c.id = t.conversation_id
   where t.ticketer_uuid = $1 and t.visitor_token = $2 and c.state in ('queued', 'offered', 'assigned')
   order by t.created_at desc limit 1`;

async function openRoomOf(db: Queryable, ticketerUuid: string, token: string): Promise<{ conversation_id: string; ticket_id: string } | undefined> {
  const [row] = await db.query<{ conversation_id: string; ticket_id: string }>(OPEN_ROOM, [ticketerUuid, token]);
  return row;
}

function customerOf(ticketerUuid: string, room: RoomRequest): Customer {
  return {
    // The contact UUID is RapidPro's global id; the token is only unique within one workspace.
    id: room.contactUuid ?? `rapidpro:${ticketerUuid}:${room.token}`,
    // A contact may have no name: agents still need something to call the chat by.
    name: room.name ?? room.phone ?? room.email ?? `RapidPro contact ${room.token}`,
    email: room.email ?? null,
    phone: room.phone ?? null,
    fields: room.customFields,
  };
}

export interface OpenedRoom {
  conversationId: string;
  /** false when the ticket already had its room (mailroom retried the request) */
  created: boolean;
}

/**
 * Opens the room for a ticket, in one routing transaction: a retried ticket
 * gets its room back; a contact's room still open for an older ticket is
 * closed first (RapidPro is told with close-room), so each token has one.
 *
 * This one keeps the routing lock exclusive from BEGIN (issue #22): it makes
 * up to two routing calls, a close then an open, and a close that took the
 * lock shared followed by an open that needs it exclusive would be an
 * upgrade, which deadlocks against another transaction doing the same. The
 * exclusive lock also makes the TS reads decide safely: a mailroom retry
 * racing its first attempt finds the ticket's row (`same`) instead of
 * opening a second room and failing as ticketElsewhere, and a contact's
 * stale room is looked up and closed with no other open for the token between.
 */
export async function openRoom(ctx: Ctx, ticketerUuid: string, room: RoomRequest): Promise<OpenedRoom> {
  return withEvents(
    ctx,
    async (tx, emit) => {
      const now = ctx.now();
      // Deleting the ticketer takes this row's lock too: the two cannot interleave.
      const [ticketer] = await tx.query('select uuid from rapidpro_ticketers where uuid = $1 for share', [ticketerUuid]);
      if (!ticketer) throw unknownTicketer(ticketerUuid);
      const [same] = await tx.query<{ conversation_id: string }>(
        'select conversation_id from rapidpro_tickets where ticketer_uuid = $1 and ticket_id = $2',
        [ticketerUuid, room.ticketId],
      );
      if (same) return { conversationId: same.conversation_id, created: false };

      const stale = await openRoomOf(tx, ticketerUuid, room.token);
      if (stale) await closeConversationIn(tx, emit, now, stale.conversation_id, { reason: CLOSE_REASONS.replaced }, SYSTEM);

      const { conversation, created } = await openConversationIn(
        tx,
        emit,
        now,
        // The ticketer's secret authenticated mailroom, which knows its contacts: the id is vouched for.
        { customer: customerOf(ticketerUuid, room), department: room.department, priority: room.priority, channel: 'rapidpro', external_ref: room.ticketId, customer_verified: true },
        {
          alongside: async (t, c) => {
            await t.query(
              `insert into rapidpro_tickets (ticketer_uuid, ticket_id, visitor_token, conversation_id, session_start, created_at)
               values ($1, $2, $3, $4, $5, $6)`,
              [ticketerUuid, room.ticketId, room.token, c.id, room.sessionStart ?? null, now],
            );
          },
        },
      );
      // Another ticketer's ticket, or a conversation opened through the core API with this reference.
      if (!created) throw ticketElsewhere(room.ticketId);
      return { conversationId: conversation.id, created: true };
    },
    { routing: true },
  );
}

/**
 * RapidPro closed the ticket: resolve its room without telling RapidPro back.
 * The lookup only names the conversation; sb_close_conversation decides on
 * its locked row (and takes the routing lock itself, shared when the freed
 * agent has nothing queued), so no routing transaction is held around the
 * two. A room closed between them (an agent, a retried close, a newer
 * ticket replacing it) is answered as no open room, as a later lookup would.
 */
export async function closeRoom(ctx: Ctx, ticketerUuid: string, token: string): Promise<void> {
  const room = await openRoomOf(ctx.db, ticketerUuid, token);
  if (!room) throw noRoom(token);
  try {
    await closeConversation(ctx, room.conversation_id, { reason: CLOSE_REASONS.byRapidPro }, SYSTEM);
  } catch (error) {
    if (error instanceof AppError && (error.code === 'SB_CONVERSATION_CLOSED' || error.code === 'SB_NOT_FOUND')) throw noRoom(token);
    throw error;
  }
}

/** A contact's message becomes a customer message of their open room. */
export async function visitorMessage(ctx: Ctx, ticketerUuid: string, message: MessageRequest): Promise<MessageRow> {
  const room = await openRoomOf(ctx.db, ticketerUuid, message.token);
  if (!room) throw noRoom(message.token);
  try {
    return await addMessage(ctx, room.conversation_id, { sender: 'customer', sender_id: null, text: message.text, attachments: message.attachments }, SYSTEM);
  } catch (error) {
    // An agent resolved the room between the lookup and the insert.
    if (error instanceof AppError && error.code === 'SB_CONVERSATION_CLOSED') throw noRoom(message.token);
    throw error;
  }
}
