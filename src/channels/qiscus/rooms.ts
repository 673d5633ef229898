import { SYSTEM } from '../../agents/model.js';
import type { Ctx } from '../../context.js';
import { closeConversationIn, type Opened } from '../../conversations/lifecycle.js';
import { IS_OPEN, toConversation, type ConversationRow, type Customer } from '../../conversations/model.js';
import { oneLineName } from '../../customers/name.js';
import { withEvents, type Emit } from '../../events/outbox.js';
import { AppError } from '../../errors.js';
import { assertStorableText, mendStorableText } from '../../http/validation.js';
import { routingCall } from '../../routing/calls.js';
import { requeueConversations } from '../../routing/requeue.js';
import type { Queryable } from '../../store/db.js';
import { assignMessageId, FROM_QISCUS, QISCUS_DEPARTMENT, REFUSED_REASON } from './constants.js';
import { cutText, QISCUS_TEXT_LIMITS, wholeText } from './text-limits.js';

// A Qiscus room's life in the engine: recorded as a conversation when the
// allocation webhook arrives, closed when Qiscus says it is resolved or when
// allocating it has failed for good.

/**
 * An allocation webhook as the route passes it on: `room_id` checked, the
 * rest as Qiscus sent it (any type: AllocationBody), its text storable. A
 * field of another type than the contract's is passed over, as if absent.
 */
export interface AllocationRequest {
  room_id: string;
  app_id?: unknown;
  source?: unknown;
  name?: unknown;
  email?: unknown;
  avatar_url?: unknown;
  extras?: unknown;
  channel?: unknown;
  /** the room's previous session, or null (contract §1.1); `is_resolved` true says it is over */
  latest_service?: unknown;
}

const objectOf = (value: unknown): Record<string, unknown> | undefined =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;

/** A Qiscus service (session) id as stored: text, whether it came as a number or a string; undefined when there is none, or none that fits (over 100 characters). */
export function serviceIdOf(value: unknown): string | undefined {
  if (typeof value !== 'number' && typeof value !== 'string') return undefined;
  const id = String(value).trim();
  return id === '' || id.length > 100 ? undefined : id;
}

/**
 * The session before this one, when the webhook names it and says it is
 * resolved (true, as JSON or text; 1, as some backends write it). A
 * latest_service not said to be resolved might be the session the webhook
 * is about: taken for a previous one, its own resolve would be ignored and
 * the room held open with its agent's slot, so it is not kept. Nor is one
 * whose id is no id: the room is recorded as if it had none (a webhook
 * refused for it would be refused at every message, the room never allocated).
 */
function previousServiceOf(request: AllocationRequest): string | null {
  const latest = objectOf(request.latest_service);
  if (!latest || ![true, 'true', 1, '1'].includes(latest.is_resolved as never)) return null;
  return serviceIdOf(latest.id) ?? null;
}

/** `extras` arrives as a JSON string; its top-level entries become customer fields (nested values as JSON). */
function extrasFields(extras: unknown): Record<string, string> {
  let value = extras;
  if (typeof extras === 'string') {
    try {
      value = JSON.parse(extras);
    } catch {
      return extras === '' ? {} : { extras };
    }
    // "\u0000" inside the JSON string becomes a NUL only now, past the request's own mending; jsonb cannot hold it.
    value = mendStorableText(value);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return {};
  const fields: Record<string, string> = {};
  for (const [key, v] of Object.entries(value)) {
    if (v === null || v === undefined) continue;
    fields[key] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  return fields;
}

export function customerOf(request: AllocationRequest): Customer {
  const extras = typeof request.extras === 'string' ? wholeText(request.extras, QISCUS_TEXT_LIMITS.extras) : request.extras;
  const fields: Record<string, string> = { ...extrasFields(extras), qiscus_room_id: request.room_id };
  const source = wholeText(request.source, QISCUS_TEXT_LIMITS.source);
  const avatar = wholeText(request.avatar_url, QISCUS_TEXT_LIMITS.avatar_url);
  const channelName = objectOf(request.channel)?.name;
  const email = wholeText(request.email, QISCUS_TEXT_LIMITS.email);
  const name = cutText(request.name, QISCUS_TEXT_LIMITS.name);
  if (source) fields.qiscus_source = source;
  if (avatar) fields.avatar_url = avatar;
  if (typeof channelName === 'string' || typeof channelName === 'number') fields.qiscus_channel = String(channelName);
  return {
    // Qiscus identifies a customer by email (their user_id); a room without one stands for its customer
    id: email || `qiscus-room:${request.room_id}`,
    // one line, as every name is (oneLineName): Qiscus's to give, so mended, not refused
    name: name === undefined ? null : oneLineName(name),
    email: email ?? null,
    fields,
  };
}

/**
 * Channel sources whose platform authenticated the contact (a phone number,
 * an account): an allow-list. Qiscus's own web widget (`qiscus`), where
 * `email` is whatever the visitor typed, is not on it; nor is a source
 * Qiscus adds later, or a custom channel whose ids are whatever its
 * integrator passes on: they vouch for nobody until known to (review).
 */
const AUTHENTICATING_SOURCES = new Set(['wa', 'whatsapp', 'line', 'fb', 'facebook', 'telegram', 'ig', 'instagram', 'twitter']);

/**
 * Whether the room's customer id is vouched for (customer_verified). Only a
 * channel that authenticates its contact vouches: a WhatsApp number, a LINE
 * or Messenger account… (`channel.source` in AUTHENTICATING_SOURCES).
 * On Qiscus's web widget the email is the visitor's own typing, and verified
 * ids share one space with those a host site signs for the Switchboard
 * widget (docs/identity-verification.md): vouched for, a visitor typing a
 * signed customer's id would see that customer's history and join it. The
 * top-level `source` is "qiscus" in every payload, whatever the channel, so
 * it tells nothing; `channel` exists only in newer payloads (contract §1.1),
 * and a room without it is not vouched for.
 */
export function customerVouched(request: AllocationRequest): boolean {
  const source = objectOf(request.channel)?.source;
  if (typeof source !== 'string') return false;
  return AUTHENTICATING_SOURCES.has(source.trim().toLowerCase());
}

/**
 * Idempotent by room: a second webhook for a room that is waiting or assigned
 * changes nothing (the open-reference unique index decides, so concurrent
 * duplicates cannot both insert). Unlike openConversation this takes no
 * routing lock: the room only joins the '@qiscus' queue, which no engine
 * agent serves, so no load or assignment changes — and webhooks commit side
 * by side, sharing their log flushes, instead of one at a time.
 */
export async function recordRoom(ctx: Ctx, request: AllocationRequest): Promise<Opened & { closedPrevious?: string }> {
  const previous = previousServiceOf(request);
  const closedPrevious = previous === null ? undefined : await closeResolvedSession(ctx, request, previous);
  const now = ctx.now();
  const customer = customerOf(request);
  const [row] = await routingCall<ConversationRow & { created: boolean }>(
    ctx,
    RECORD_ROOM,
    [request.room_id, customer.id, JSON.stringify(customer), QISCUS_DEPARTMENT, now, previous, customerVouched(request)],
    now,
  );
  const { created, ...conversation } = row!;
  return { conversation, created, ...(closedPrevious ? { closedPrevious } : {}) };
}

/**
 * The webhook of a new session says the session before it (`previous`) is
 * resolved in Qiscus. A conversation of the room still open then is that
 * session or an older one — unless `previous` is known to be over before it
 * began (openRoomToResolve's `stale`: it is the conversation's own previous
 * session, so this webhook is a duplicate of the one that opened it, or
 * another conversation of the room records it) — and its resolve webhook is
 * late or lost. Left open, the webhook would dedup to it and record nothing,
 * and the late resolve would then close it: the new session would have no
 * conversation, and Qiscus does not send its webhook again. So it is closed
 * here as that resolve closes it (closeRoom, reason FROM_QISCUS: nothing is
 * sent back to Qiscus, which knows), after `previous` is recorded on it as
 * resolved, which makes the late resolve stale. The caller then records the
 * room as usual: a new conversation whose previous session is `previous`.
 * Returns the id of the conversation it closed, if it did.
 *
 * Concurrency, with the reasoning of openRoomToResolve: the check, the record
 * and the id closed come from one statement, and the close refuses a
 * conversation closed meanwhile (false, harmless), so only the conversation
 * checked is ever closed. Two deliveries of this webhook at once may both
 * find it open: one close wins, and the open-room unique index in
 * sb_record_qiscus_room lets one of them create the next conversation and
 * the other dedup to it; a delivery that sees that next conversation finds
 * it stale (its previous session, committed with it) and dedups. The late
 * resolve of `previous` racing this, in either order, closes at most the
 * same old conversation: the new one commits with `previous` as its
 * previous session, so a resolve that sees it finds it stale.
 */
async function closeResolvedSession(ctx: Ctx, request: AllocationRequest, previous: string): Promise<string | undefined> {
  // Only a conversation whose own start was recorded (previous_service_id set,
  // '' for none) can be told apart from `previous`: one recorded before
  // migration 0090 has null there and may be the very session this webhook
  // is a repeat of — Qiscus sends it again at every message while the room
  // waits — so it is left open, as before (found by review: after an upgrade
  // every waiting room was closed and reopened by its own next message).
  const [known] = await ctx.db.query<{ recorded: boolean }>(
    `select q.previous_service_id is not null as recorded
       from conversations c left join qiscus_rooms q on q.conversation_id = c.id
      where c.channel = 'qiscus' and c.external_ref = $1 and ${IS_OPEN('c')}`,
    [request.room_id],
  );
  if (!known?.recorded) return undefined;
  const room = await openRoomToResolve(ctx, request.room_id, previous);
  if (!room || room.stale) return undefined;
  const closed = await closeRoom(ctx, room.id, { state: 'resolved', reason: FROM_QISCUS, note: notesOf(request.latest_service) });
  return closed ? room.id : undefined;
}

/** The resolved session's notes, as its resolve would have brought them, when latest_service has storable ones. */
function notesOf(service: unknown): string | null {
  const notes = objectOf(service)?.notes;
  if (typeof notes !== 'string' || notes.length > 10_000) return null;
  try {
    assertStorableText(notes, 'latest_service.notes');
  } catch {
    // a field this webhook does not need: the session is closed without it rather than the webhook refused
    return null;
  }
  return notes;
}

/**
 * One call (sb_record_qiscus_room): the room's conversation, queued, and its
 * events; no routing lock, nothing is assigned. A conversation it opens has
 * the previous session's id ($6; '' when none is known: a first session, or
 * a latest_service not said to be resolved) recorded in the same statement,
 * hence the same commit: a resolve that finds the new conversation finds the
 * id with it (openRoomToResolve). A webhook that finds the room open records
 * nothing: its latest_service may be the very session that conversation is
 * (a resolved one that is not was closed first, closeResolvedSession).
 * $7: whether the room's channel vouches for its customer (customerVouched).
 */
const RECORD_ROOM = /* sql */ `
  with o as (
    select (o.room).*, o.created, o.logged
      from sb_record_qiscus_room($1::text, $2::text, $3::jsonb, $4::text, $5::timestamptz, $7::boolean) o
  ), previous as (
    insert into qiscus_rooms (conversation_id, room_id, previous_service_id, updated_at)
    select o.id, $1, coalesce($6::text, ''), $5 from o where o.created
  )
  select * from o`;

/**
 * Serializes the resolves of one room (the two-key form, a class of its own;
 * 7301010 and 7301011 are the realtime and RapidPro ones). Taken first, with
 * nothing else held, and kept only while a resolve checks and records its
 * session (openRoomToResolve), not over the close.
 */
const ROOM_RESOLVE_LOCK = 7_301_012;

/**
 * The room's open conversation a resolve of Qiscus session `serviceId` is
 * to close: `stale` when that session is known to be over before this
 * conversation began — the previous session of one of the room's
 * conversations (recordRoom), or one a resolve already recorded on another
 * conversation of the room — so that a resolve Qiscus delivers again or
 * late changes nothing. Otherwise the session is recorded on the
 * conversation (resolved_service_id), in the same statement, before the
 * caller closes it.
 *
 * Nothing open: the session is over already — Switchboard closed it itself
 * (mark_as_resolved, which Qiscus answers with this webhook), or this is a
 * repeat — and it is recorded all the same, on the room's latest closed
 * conversation whose resolved session is not recorded yet (never over
 * another's: that one's repeat would then close the next session). Not
 * recorded, the customer's next session (its webhook's latest_service may
 * be null) was closed by this resolve's next delivery, its agent still in
 * the room in Qiscus (found by review). Any closed conversation of the room
 * serves: the check reads every conversation of the room but the open one.
 *
 * Why the room's lock (ROOM_RESOLVE_LOCK) and a statement of its own after
 * it: a resolve that finds nothing open records its session on a closed
 * conversation, which the room's next conversation may be inserted beside
 * without waiting for it; a second delivery reading before that record
 * commits found the next conversation and no record, and closed it. Under
 * the lock a resolve reads after the previous one has committed. Otherwise
 * the conversation and what says it is stale commit together or before it.
 * A conversation's previous session commits with it (one statement). A
 * resolved session of an open conversation is written, and committed,
 * before its conversation is closed, and the room's next conversation can
 * only be inserted once that close has committed (the unique index on open
 * rooms): a statement that sees the next conversation sees the record. The
 * check and the record read one snapshot, the conversation's id is the one
 * the caller then closes, and the close fails harmlessly if it is closed
 * meanwhile: a resolve never closes a conversation it did not check. Its own
 * conversation's record does not count (the conversation_id test), so a
 * resolve delivered twice at once, or retried after a failed close, still
 * closes the conversation it is about. Without `serviceId` (an older
 * payload) nothing can be told: the open conversation is closed, as before.
 * An allocation webhook naming a resolved previous session asks the same
 * question of it (closeResolvedSession).
 */
export async function openRoomToResolve(ctx: Ctx, roomId: string, serviceId: string | undefined): Promise<{ id: string; stale: boolean } | undefined> {
  if (serviceId === undefined) {
    const [row] = await ctx.db.query<{ id: string }>(`select c.id from conversations c where c.channel = 'qiscus' and c.external_ref = $1 and ${IS_OPEN('c')}`, [roomId]);
    return row ? { id: row.id, stale: false } : undefined;
  }
  return ctx.db.transaction(async (tx) => {
    await tx.query('select pg_advisory_xact_lock($1, hashtext($2))', [ROOM_RESOLVE_LOCK, roomId]);
    const [row] = await tx.query<{ id: string; stale: boolean }>(RESOLVE_SESSION, [roomId, serviceId, ctx.now()]);
    return row;
  });
}

/**
 * openRoomToResolve's check and record. `over`: a closed conversation to
 * record the session on, when none is open and the session is not known
 * yet; locked (key share) so that an erasure deleting it meanwhile is waited
 * for, and the row then passed by, rather than met by the foreign key.
 */
const RESOLVE_SESSION = /* sql */ `
  with open as (
    select c.id,
           exists (select 1 from qiscus_rooms q
                    where q.room_id = $1
                      and (q.previous_service_id = $2 or (q.resolved_service_id = $2 and q.conversation_id <> c.id))) as stale
      from conversations c
     where c.channel = 'qiscus' and c.external_ref = $1 and ${IS_OPEN('c')}
  ), noted as (
    insert into qiscus_rooms (conversation_id, room_id, resolved_service_id, updated_at)
    select open.id, $1, $2, $3 from open where not open.stale
    on conflict (conversation_id) do update set resolved_service_id = excluded.resolved_service_id, updated_at = excluded.updated_at
  ), over as (
    select c.id from conversations c
      left join qiscus_rooms q on q.conversation_id = c.id
     where c.channel = 'qiscus' and c.external_ref = $1 and not ${IS_OPEN('c')} and q.resolved_service_id is null
       and not exists (select 1 from open)
       and not exists (select 1 from qiscus_rooms k where k.room_id = $1 and $2 in (k.previous_service_id, k.resolved_service_id))
     order by c.created_at desc, c.id desc
     limit 1
       for key share of c
  ), recorded as (
    insert into qiscus_rooms (conversation_id, room_id, resolved_service_id, updated_at)
    select over.id, $1, $2, $3 from over
    on conflict (conversation_id) do update set resolved_service_id = excluded.resolved_service_id, updated_at = excluded.updated_at
     where qiscus_rooms.resolved_service_id is null
  )
  select id, stale from open`;

/**
 * Closes the room's conversation, freeing its agent's slot. False when it was
 * not open (unknown room, resolved twice, resolved meanwhile).
 */
export async function closeRoom(ctx: Ctx, conversationId: string, input: { state: 'resolved' | 'abandoned'; reason: string; note?: string | null }): Promise<boolean> {
  try {
    // The close and the cancel of its unconfirmed assign_agent commit together: a close committed without
    // the cancel (a failed statement, a process gone between them) was never mended — the webhook sent again
    // finds nothing open — and the call later put the agent into the room's next session (found by review).
    // No lock of its own: sb_close_conversation takes what it needs, as in closeConversation.
    await withEvents(ctx, async (tx, emit) => {
      await closeConversationIn(tx, emit, ctx.now(), conversationId, input, SYSTEM);
      await tx.query(CANCEL_UNCONFIRMED, [assignMessageId(conversationId), conversationId]);
    });
  } catch (error) {
    if (error instanceof AppError && (error.code === 'SB_CONVERSATION_CLOSED' || error.code === 'SB_NOT_FOUND')) return false;
    throw error;
  }
  return true;
}

/**
 * An assignment Qiscus has not confirmed yet has nothing left to do once its
 * room is closed. Found by the room's ordering key (roomOrderingKey), whose
 * index holds pending rows only: message_id has no index, and this runs in
 * closes, one under the routing lock held exclusive.
 */
const CANCEL_UNCONFIRMED = /* sql */ `
  update outbound_requests o set state = 'cancelled', last_error = 'the room was closed before Qiscus confirmed the assignment'
   where o.id in (select p.id from outbound_requests p
                   where p.ordering_key = (select 'qiscus:room:' || c.external_ref from conversations c where c.id = $2)
                     and p.state = 'pending' and p.producer = 'qiscus' and p.message_id = $1
                   order by p.id
                     for update of p)`;

export interface NoteExtra {
  /** Qiscus confirmed the room has an agent */
  confirmed?: boolean;
  /** Qiscus refused the agent last asked to take the room (see requeueRoom) */
  refused?: boolean;
}

/** Records why a room is stuck or failed, for the admin listing ($6: Qiscus refused the room's agent, counted). */
const NOTE_ROOM = /* sql */ `
  insert into qiscus_rooms (conversation_id, room_id, reason, confirmed_at, refusals, updated_at)
  values ($1, $2, $3, case when $4 then $5::timestamptz end, case when $6 then 1 else 0 end, $5)
  on conflict (conversation_id) do update
    set reason = excluded.reason, confirmed_at = coalesce(excluded.confirmed_at, qiscus_rooms.confirmed_at), updated_at = excluded.updated_at,
        refused_agent_id = case when $6 then qiscus_rooms.qiscus_agent_id else qiscus_rooms.refused_agent_id end,
        refusals = qiscus_rooms.refusals + case when $6 then 1 else 0 end`;

/**
 * Records what assign_agent call `outboundId` said, for the admin listing,
 * when it is still the room's assignment: the check is the update's own
 * condition, so a room given to another agent meanwhile keeps its reason and
 * confirmation.
 */
export async function noteAssignment(ctx: Ctx, conversationId: string, outboundId: number, reason: string, extra: Pick<NoteExtra, 'confirmed'> = {}): Promise<void> {
  const now = ctx.now();
  await ctx.db.query(
    `update qiscus_rooms q set reason = $3, confirmed_at = case when $4 then $5::timestamptz else q.confirmed_at end, updated_at = $5
      where q.conversation_id = $1 and q.outbound_id = $2
        and exists (select 1 from conversations c where c.id = $1 and c.state = 'assigned')`,
    [conversationId, outboundId, reason, extra.confirmed === true, now],
  );
}

/** Records that Qiscus would not close a room Switchboard closed: the admin listing shows it `unsynced`. */
export async function noteSyncFailed(ctx: Ctx, conversationId: string, roomId: string, reason: string): Promise<void> {
  const now = ctx.now();
  // A room resolved while it waited may have no record yet; an erased one has no conversation left to note.
  await ctx.db.query(
    `insert into qiscus_rooms (conversation_id, room_id, sync_error, sync_failed_at, updated_at)
     select $1, $2, $3, $4, $4 where exists (select 1 from conversations where id = $1)
     on conflict (conversation_id) do update
       set sync_error = excluded.sync_error, sync_failed_at = excluded.sync_failed_at, updated_at = excluded.updated_at`,
    [conversationId, roomId, reason, now],
  );
}

/**
 * Gives up on a room waiting in the queue: it leaves it as abandoned, with
 * the reason kept. In a routing transaction holding the lock exclusive that
 * has locked the room's row and seen it queued, in the '@qiscus' queue
 * (allocate.ts, fetchFailed): closed without those, a room another process
 * assigned meanwhile was abandoned with its agent in it. Queued, it has no
 * agent: no agent row to lock before it, nothing to release in Qiscus.
 */
export async function failWaitingRoomIn(tx: Queryable, emit: Emit, now: Date, conversationId: string, roomId: string, reason: string): Promise<void> {
  await closeConversationIn(tx, emit, now, conversationId, { state: 'abandoned', reason: 'qiscus_failed', note: reason }, SYSTEM);
  await tx.query(NOTE_ROOM, [conversationId, roomId, reason, false, now, false]);
  await tx.query(CANCEL_UNCONFIRMED, [assignMessageId(conversationId), conversationId]);
}

/** Refusals of assign_agent recorded for the room so far (0 for a room never refused). */
export async function refusalsOf(ctx: Ctx, conversationId: string): Promise<number> {
  const [row] = await ctx.db.query<{ refusals: number }>(`select refusals from qiscus_rooms where conversation_id = $1`, [conversationId]);
  return row?.refusals ?? 0;
}

/**
 * Qiscus refused to put the room's agent in it (the agent is gone, offline or
 * refusing): the room goes back to its place in the queue and the agent's
 * slot is freed, in one routing transaction. The agent asked is recorded as
 * refused, so the next pick prefers another, and the refusal is counted.
 * `retryAt` keeps the allocator off it for a while. False when the room was
 * no longer assigned.
 *
 * Its `conversation.queued` says `qiscus_refused`, not `requeued`: nobody
 * asked for a requeue, and the agent never joined the room, so the removal
 * feed (removals.ts) has nobody to take out of it.
 *
 * The routing lock stays exclusive from BEGIN (issue #22): the requeue is
 * written in TS (requeueConversations), which frees a slot and puts the room
 * back in the queue relying on the lock to exclude the fast paths. A refusal
 * is rare next to the webhooks and the allocator's passes.
 *
 * `outboundId` is the refused assign_agent call: nothing changes unless it is
 * still the room's assignment (lockAssignment).
 */
export async function requeueRoom(ctx: Ctx, conversationId: string, outboundId: number, reason: string, retryAt: Date | null): Promise<boolean> {
  return withEvents(
    ctx,
    async (tx, emit) => {
      const now = ctx.now();
      if (!(await lockAssignment(tx, conversationId, outboundId))) return false;
      const [row] = await requeueConversations(tx, emit, now, { conversationIds: [conversationId] }, REFUSED_REASON);
      if (!row) return false;
      await tx.query(
        `update qiscus_rooms
            set reason = $2, confirmed_at = null, retry_at = $3, updated_at = $4,
                refused_agent_id = qiscus_agent_id, refusals = refusals + 1
          where conversation_id = $1`,
        [conversationId, reason, retryAt, now],
      );
      return true;
    },
    { routing: true },
  );
}

/**
 * Closes the room of assign_agent call `outboundId` as its answer asks —
 * Qiscus resolved the room, or it is given up (`failure`: the reason kept
 * for the admin listing, and whether Qiscus refused the agent) — when that
 * call is still the room's assignment (lockAssignment); false otherwise, or
 * when the room was not open. The close, the note and the cancelled call
 * commit together.
 *
 * Exclusive from BEGIN, as requeueRoom: sb_close_conversation may take the
 * lock exclusive (its slow path), which a transaction holding it shared
 * must never ask for. A given-up room is rare.
 */
export async function closeAssignment(
  ctx: Ctx,
  conversationId: string,
  outboundId: number,
  input: { state: 'resolved' | 'abandoned'; reason: string; note: string | null },
  failure?: { roomId: string; reason: string; refused: boolean },
): Promise<boolean> {
  return withEvents(
    ctx,
    async (tx, emit) => {
      const now = ctx.now();
      if (!(await lockAssignment(tx, conversationId, outboundId))) return false;
      await closeConversationIn(tx, emit, now, conversationId, input, SYSTEM);
      if (failure) await tx.query(NOTE_ROOM, [conversationId, failure.roomId, failure.reason, false, now, failure.refused]);
      await tx.query(CANCEL_UNCONFIRMED, [assignMessageId(conversationId), conversationId]);
      return true;
    },
    { routing: true },
  );
}

/**
 * In a transaction holding the routing lock exclusive: true when assign_agent
 * call `outboundId` is still the room's assignment, its agent's row and then
 * its conversation's locked. A settle that checked a statement before its
 * change let a room taken back and given to another agent in between (a
 * supervisor's requeue, then the allocator) be requeued or failed in the new
 * agent's place; here nothing that moves the room can commit between the
 * check and the change. The agent's row first: the lock order at the top of
 * src/store/migrations/routing/functions.sql, which the close (and the
 * requeue's load write) then find already held. One statement: the agent is
 * read and locked by the subquery (an InitPlan, run before the conversation's
 * row is locked), as in sb_close_conversation.
 */
async function lockAssignment(tx: Queryable, conversationId: string, outboundId: number): Promise<boolean> {
  const rows = await tx.query(
    `select c.id from conversations c join qiscus_rooms q on q.conversation_id = c.id
      where c.id = $1 and c.state = 'assigned' and q.outbound_id = $2
        and c.agent_id = (select a.id from agents a where a.id = (select x.agent_id from conversations x where x.id = $1) for no key update)
        for update of c`,
    [conversationId, outboundId],
  );
  return rows.length > 0;
}
