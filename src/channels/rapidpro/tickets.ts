import { SYSTEM } from '../../agents/model.js';
import type { Ctx } from '../../context.js';
import { closeConversation } from '../../conversations/lifecycle.js';
import { addMessage, type Message } from '../../conversations/messages.js';
import type { Customer } from '../../conversations/model.js';
import { oneLineName } from '../../customers/name.js';
import { AppError } from '../../errors.js';
import { routingCall } from '../../routing/calls.js';
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

/**
 * What agents call the chat by: the contact's name, else (a contact may have
 * none) its phone, email or token, on one line as every name is: RapidPro's
 * to give, so mended, not refused.
 */
function contactName(room: RoomRequest): string {
  for (const candidate of [room.name, room.phone, room.email]) {
    const name = candidate === undefined ? '' : oneLineName(candidate);
    if (name !== '') return name;
  }
  return oneLineName(`RapidPro contact ${room.token}`);
}

function customerOf(ticketerUuid: string, room: RoomRequest): Customer {
  return {
    // The contact UUID is RapidPro's global id; the token is only unique within one workspace.
    id: room.contactUuid ?? `rapidpro:${ticketerUuid}:${room.token}`,
    name: contactName(room),
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
 * Opens the room for a ticket, in one call (sb_open_room,
 * src/store/migrations/routing/functions.sql): a retried ticket gets its room
 * back; a contact's room still open for an older ticket is closed first
 * (reason `replaced`: RapidPro hears of it from its feed), so each token has one.
 *
 * No routing lock at BEGIN (issue #22): the function serializes the opens of
 * one contact token on a lock of their own, which makes the lookups of the
 * same ticket and of a stale room exact, and leaves the routing lock to the
 * open — shared when an agent has room and there is no stale room to close.
 * Only a stale room, two routing calls, takes it exclusive (a shared close
 * then an exclusive open would be an upgrade, which deadlocks). Refusals
 * roll the whole call back and come back as SQLSTATEs.
 */
export async function openRoom(ctx: Ctx, ticketerUuid: string, room: RoomRequest): Promise<OpenedRoom> {
  for (let attempt = 1; ; attempt += 1) {
    const now = ctx.now();
    try {
      const [row] = await routingCall<{ id: string; outcome: 'created' | 'retried' }>(ctx, OPEN_ROOM_CALL, openRoomParams(ticketerUuid, room, now), now);
      return { conversationId: row!.id, created: row!.outcome === 'created' };
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code === UNKNOWN_TICKETER) throw unknownTicketer(ticketerUuid);
      if (code === TICKET_ELSEWHERE) throw ticketElsewhere(room.ticketId);
      // The same ticket opened meanwhile under another contact token (its
      // ticket row, or the insert's unique violation on it): called again,
      // the lookup finds it first, as for any retry. Once is enough.
      if ((code === CALL_AGAIN || code === UNIQUE_VIOLATION) && attempt === 1) continue;
      throw error;
    }
  }
}

const UNKNOWN_TICKETER = 'SB010';
const TICKET_ELSEWHERE = 'SB011';
const CALL_AGAIN = 'SB012';
const UNIQUE_VIOLATION = '23505';

const OPEN_ROOM_CALL = /* sql */ `select (o.opened).id, o.outcome, o.logged
  from sb_open_room($1::uuid, $2::text, $3::text, $4::text, $5::text, $6::jsonb, $7::text, $8::int, $9::timestamptz) o`;

function openRoomParams(ticketerUuid: string, room: RoomRequest, now: Date): unknown[] {
  const customer = customerOf(ticketerUuid, room);
  return [ticketerUuid, room.ticketId, room.token, room.sessionStart ?? null, customer.id, JSON.stringify(customer), room.department, room.priority, now];
}

/** Whether this ticketer ever opened a room for the token (rapidpro_tickets_by_token), open or not. */
const TOKEN_SEEN = /* sql */ `select exists (select 1 from rapidpro_tickets where ticketer_uuid = $1 and visitor_token = $2) as seen`;

async function tokenSeen(db: Queryable, ticketerUuid: string, token: string): Promise<boolean> {
  const [row] = await db.query<{ seen: boolean }>(TOKEN_SEEN, [ticketerUuid, token]);
  return row?.seen === true;
}

/**
 * RapidPro closed the ticket: resolve its room without telling RapidPro back.
 * The lookup only names the conversation; sb_close_conversation decides on
 * its locked row (and takes the routing lock itself, shared when the freed
 * agent has nothing queued), so no routing transaction is held around the
 * two.
 *
 * A token this ticketer had a room for, none open now, is closed already —
 * by this close sent before (mailroom retries a GET whose 204 it lost) or
 * by an agent (a close-room is on its way to RapidPro) — and is answered
 * 204 like the first close: mailroom's CloseTickets stops at an error, and
 * the ticket stayed open in RapidPro for good. The same for a room closed
 * between the lookup and the close. Only a token it never had a room for
 * is 404.
 */
export async function closeRoom(ctx: Ctx, ticketerUuid: string, token: string): Promise<void> {
  const room = await openRoomOf(ctx.db, ticketerUuid, token);
  if (!room) {
    if (await tokenSeen(ctx.db, ticketerUuid, token)) return;
    throw noRoom(token);
  }
  try {
    await closeConversation(ctx, room.conversation_id, { reason: CLOSE_REASONS.byRapidPro }, SYSTEM);
  } catch (error) {
    // closed meanwhile (or erased, its ticket row with it): closed is what mailroom asked for
    if (error instanceof AppError && (error.code === 'SB_CONVERSATION_CLOSED' || error.code === 'SB_NOT_FOUND')) return;
    throw error;
  }
}

/** A contact's message becomes a customer message of their open room. */
export async function visitorMessage(ctx: Ctx, ticketerUuid: string, message: MessageRequest): Promise<Message> {
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
