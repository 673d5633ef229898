import { seesEverything, type Actor } from '../agents/model.js';
import type { Ctx } from '../context.js';
import { conflict, forbidden, invalid, notFound } from '../errors.js';
import { withEvents, type Emit } from '../events/outbox.js';
import { committed, routingCall, routingCallIn, type Logged } from '../routing/calls.js';
import { assertNotChannelQueue } from '../routing/channel-queues.js';
import { DEFAULT_HANDLE_TIME_S, queueInfoFrom, queueInfoOf, type PlaceTerms } from '../routing/queue.js';
import type { Queryable } from '../store/db.js';
import { assertCanAccess } from './access.js';
import { toConversation, type Channel, type Conversation, type ConversationRow, type Customer } from './model.js';

// Every function here is one routing transaction: the state change, the
// matching it makes possible, and the events describing both commit together.

export interface OpenInput {
  customer: Customer;
  department?: string | null;
  priority?: number;
  channel?: Channel;
  external_ref?: string | null;
  /**
   * The opener vouches for the customer id (see migration 0009). Unverified
   * unless the caller says so: a path that forgets to decide shows no one's
   * history.
   */
  customer_verified?: boolean;
  /** skill → minimum level the opener asks for; merged with the department's (docs/routing.md#skills) */
  required_skills?: Record<string, number>;
}

export interface Opened {
  conversation: ConversationRow;
  /** false when an open conversation with the same channel and external_ref already existed */
  created: boolean;
}

type AlongsideOption = { alongside?: (tx: Queryable, conversation: ConversationRow) => Promise<void> };

/**
 * One call into the store (sb_open_conversation, src/store/migrations/routing/functions.sql) unless
 * `alongside` writes what belongs to the new conversation (a chat session's
 * token): then one transaction, so neither exists without the other.
 *
 * That transaction takes no routing lock at BEGIN: the open is its only
 * routing decision and sb_open_conversation locks for itself (shared on the
 * fast path), so the lock is the first one taken and is never asked for again.
 * What `alongside` writes is the new conversation's own (its row is this
 * transaction's until commit); a lock it takes comes after the routing lock
 * in every transaction that takes both (session-limits.ts: the address lock),
 * so the order never inverts. An `alongside` must not call a routing function:
 * a second call could ask exclusive for the lock the open holds shared.
 */
export async function openConversation(ctx: Ctx, input: OpenInput, options: AlongsideOption = {}): Promise<Opened> {
  if (options.alongside) {
    return withEvents(ctx, async (tx, emit) => openConversationIn(tx, emit, ctx.now(), input, options));
  }
  const now = ctx.now();
  return opened(await routingCall<OpenedRow>(ctx, OPEN_CONVERSATION, openParams(input, now), now));
}

/**
 * openConversation answering with the conversation as the API shows it
 * (toConversation), with its place in the queue when it waits (the HTTP
 * reply), in the open's one round trip: the open commits, then the place
 * is read by the statement after its COMMIT (Db.transactOneThen;
 * sb_queue_place, routing/functions.sql), outside the routing lock the
 * open held: reading it inside made queueing opens hold the lock longer.
 * The read is a snapshot of its own: it counts every conversation ahead
 * that committed before it, and finds none when the conversation no longer
 * waits (docs/api.md, "Queue position at creation"). Should that read fail,
 * the open stands and the place is read anew.
 *
 * The conversation comes from the open's last event, not from its row: a
 * new conversation's last event (conversation.assigned, .offered or
 * .queued) carries it as it committed, sb_conversation_json, which is
 * toConversation without the queue (the event tests hold the two alike).
 * The row's thirty-odd columns as a result cost the server more than the
 * rest of the reply's parsing (pg describes and converts each column, the
 * eight timestamps parsed and written out again); only an open that found
 * the conversation already open (no event) asks for its JSON.
 */
export async function openConversationPlaced(ctx: Ctx, input: OpenInput): Promise<{ conversation: Conversation; created: boolean }> {
  const now = ctx.now();
  const { rows, after } = await ctx.db.transactOneThen<Logged<OpenedAnswer>, PlaceTerms>(OPEN_CONVERSATION_ANSWERED, openParams(input, now), {
    text: QUEUE_PLACE,
    params: [now, DEFAULT_HANDLE_TIME_S],
  });
  const last = rows[0]!.logged?.at(-1);
  const { created, existing } = committed(ctx, rows, now)[0]!;
  const conversation = created ? (last!.data as { conversation: Conversation }).conversation : toConversation(rowFromJson(existing!));
  const queue =
    conversation.state !== 'queued' ? null
    : after === undefined ? await queueInfoOf(ctx, conversation)
    : after[0] === undefined ? null
    : queueInfoFrom(ctx, conversation, after[0]);
  // a copy: the event's own object goes to the listeners as it is
  return { conversation: { ...conversation, queue_position: queue?.position ?? null, expected_wait_seconds: queue?.expected_wait_seconds ?? null }, created };
}

/**
 * openConversation inside a routing transaction the caller already holds, for
 * a channel that decides more than the open in that transaction (RapidPro
 * closes a contact's stale room before opening the new one).
 */
export async function openConversationIn(tx: Queryable, emit: Emit, now: Date, input: OpenInput, options: AlongsideOption = {}): Promise<Opened> {
  const result = opened(await routingCallIn<OpenedRow>(tx, emit, OPEN_CONVERSATION, openParams(input, now), now));
  if (result.created) await options.alongside?.(tx, result.conversation);
  return result;
}

/**
 * Channels re-send the same open (Qiscus webhooks, RapidPro retries): with an
 * external_ref already open on the channel the answer is that conversation.
 */
const OPEN_CONVERSATION = /* sql */ `select (o.opened).*, o.created, o.logged
  from sb_open_conversation($1::text, $2::text, $3::text, $4::jsonb, $5::text, $6::int, $7::timestamptz, $8::boolean, $9::jsonb) o`;

/**
 * OPEN_CONVERSATION for openConversationPlaced: the conversation's id (left
 * in the session setting sb.opened, kept by the commit, for QUEUE_PLACE,
 * which runs after the commit and cannot see the open's rows), whether it
 * was created, its events, and its row as JSON only when it was not (no
 * event carries it then). to_jsonb, not sb_conversation_json: when this was
 * measured the text was planned at every call, and the SQL function inlined
 * into it cost more to plan (≈ 0.15 ms) than the whole row as columns. Since
 * then each connection prepares it once (src/store/postgres.ts, scripted),
 * which may make sb_conversation_json the cheaper choice: not re-measured.
 */
export const OPEN_CONVERSATION_ANSWERED = /* sql */ `select (o.opened).id, o.created, o.logged,
       case when not o.created then to_jsonb(o.opened) end as existing,
       set_config('sb.opened', ((o.opened).id)::text, false) as opened_id
  from sb_open_conversation($1::text, $2::text, $3::text, $4::jsonb, $5::text, $6::int, $7::timestamptz, $8::boolean, $9::jsonb) o`;

export const QUEUE_PLACE = /* sql */ `select p.queue_position, p.queue_team, p.queue_handle_s, p.queue_hours
  from sb_queue_place(nullif(current_setting('sb.opened', true), '')::uuid, $1::timestamptz, $2::float8) p`;

type OpenedRow = ConversationRow & { created: boolean };
type OpenedAnswer = { id: string; created: boolean; existing: Record<string, unknown> | null; opened_id: unknown };

const TIMESTAMPS = ['created_at', 'queued_at', 'assigned_at', 'resolved_at', 'updated_at', 'sticky_until', 'sla_due_at', 'first_response_at', 'sla_breached_at', 'offer_expires_at'] as const;

/** A conversations row as to_jsonb writes it (timestamps as text) with the types the driver gives its columns. */
function rowFromJson(json: Record<string, unknown>): ConversationRow {
  const row = { ...json } as Record<string, unknown>;
  for (const key of TIMESTAMPS) row[key] = row[key] == null ? null : new Date(row[key] as string);
  return row as unknown as ConversationRow;
}

function openParams(input: OpenInput, now: Date): unknown[] {
  assertNotChannelQueue('department', input.department);
  return [
    input.channel ?? 'api',
    input.external_ref ?? null,
    input.customer.id,
    JSON.stringify(input.customer),
    input.department ?? null,
    input.priority ?? 0,
    now,
    input.customer_verified ?? false,
    JSON.stringify(input.required_skills ?? {}),
  ];
}

function opened([row]: OpenedRow[]): Opened {
  const { created, ...conversation } = row!;
  return { conversation, created };
}

export interface CloseInput {
  state?: 'resolved' | 'abandoned';
  /** agent, customer, timeout, system… — carried to events and webhooks */
  reason?: string;
  note?: string | null;
}

/** Resolves (or abandons) an open conversation and gives the freed slot to the queue: one call (sb_close_conversation). */
export async function closeConversation(ctx: Ctx, id: string, input: CloseInput, actor: Actor): Promise<ConversationRow> {
  const now = ctx.now();
  return closed(await routingCall<ClosedRow>(ctx, CLOSE_CONVERSATION, closeParams(id, input, actor, now), now), id, actor);
}

/** closeConversation inside a routing transaction the caller already holds. */
export async function closeConversationIn(tx: Queryable, emit: Emit, now: Date, id: string, input: CloseInput, actor: Actor): Promise<ConversationRow> {
  return closed(await routingCallIn<ClosedRow>(tx, emit, CLOSE_CONVERSATION, closeParams(id, input, actor, now), now), id, actor);
}

/**
 * The writes happen only when the actor may close it and it is still open,
 * so a refused close changes nothing; the row as it was decides which
 * refusal. $6: the agent who may close only their own conversations, or null.
 */
const CLOSE_CONVERSATION = /* sql */ `select (o.closed).*, o.before_state, o.before_agent_id, o.logged
  from sb_close_conversation($1::uuid, $2::text, $3::timestamptz, $4::text, $5::text, $6::uuid, $7::text) o`;

type ClosedRow = ConversationRow & { before_state: ConversationRow['state']; before_agent_id: string | null };

function closeParams(id: string, input: CloseInput, actor: Actor, now: Date): unknown[] {
  return [id, input.state ?? 'resolved', now, input.reason ?? 'agent', input.note ?? null, seesEverything(actor) ? null : actor.id, actor.id];
}

function closed([result]: ClosedRow[], id: string, actor: Actor): ConversationRow {
  if (!result) throw notFound('conversation', id);
  const { before_state: stateBefore, before_agent_id: agentId, ...row } = result;
  if (row.id === null) {
    // Nothing was written; say why: access first, then the state.
    assertCanAccess(actor, { id, agent_id: agentId });
    // An agent may not close an offer they have not accepted (the function
    // refuses it in the same statement as the close, so no accept or expiry
    // races it): they could not reply to it either, and it was never theirs.
    if (stateBefore === 'offered') throw conflict('SB_NOT_ACCEPTED', `conversation ${id} is offered, not assigned: accept it before closing it`);
    throw conflict('SB_CONVERSATION_CLOSED', `conversation ${id} is already ${stateBefore}`);
  }
  return row;
}

/**
 * Abandons a waiting chat that nobody online could ever serve (reason
 * unavailableAttendants, closed as closeConversation closes it), checked
 * and closed in one call under the locks (sb_abandon_unserved): a chat
 * given to an agent since the caller looked is kept. The conversation as
 * it now is, and whether it was abandoned; null when there is none.
 */
export async function abandonUnserved(ctx: Ctx, id: string, actor: Actor): Promise<{ conversation: ConversationRow; abandoned: boolean } | null> {
  const now = ctx.now();
  const [row] = await routingCall<ConversationRow & { abandoned: boolean }>(ctx, ABANDON_UNSERVED, [id, now, actor.id], now);
  if (!row) return null;
  const { abandoned, ...conversation } = row;
  return { conversation, abandoned };
}

const ABANDON_UNSERVED = /* sql */ `select (o.conversation).*, o.abandoned, o.logged
  from sb_abandon_unserved($1::uuid, $2::timestamptz, $3::text) o`;

export interface TransferInput {
  agent_id?: string;
  department?: string | null;
}

/**
 * To an agent: they must be online with room, since the capacity promise
 * holds for transfers too. A supervisor's transfer to a named agent is a
 * direct assignment even in an offer-mode department (someone decided).
 * An offered conversation can be transferred like an assigned one. To a department: the conversation re-enters the
 * queue at its original place and is matched within that department.
 * One call (sb_transfer_conversation), which also drains what the move freed.
 */
export async function transferConversation(ctx: Ctx, id: string, input: TransferInput, actor: Actor): Promise<ConversationRow> {
  const toAgent = input.agent_id !== undefined;
  const toDepartment = input.department !== undefined;
  if (toAgent === toDepartment) throw invalid('agent_id', 'or department is required, and not both');
  const now = ctx.now();
  const [result] = await routingCall<TransferredRow>(
    ctx,
    TRANSFER_CONVERSATION,
    [id, now, input.agent_id ?? null, input.department ?? null, seesEverything(actor) ? null : actor.id, actor.id],
    now,
  );
  if (!result) throw notFound('conversation', id);
  const { refusal, before_state: state, before_agent_id: agentId, before_department: department, target_status, target_load, target_capacity, ...row } = result;
  switch (refusal) {
    case null:
      return row;
    case 'forbidden':
      throw forbidden(`conversation ${id} is not assigned to you`);
    case 'SB_CONVERSATION_CLOSED':
      throw conflict('SB_CONVERSATION_CLOSED', `conversation ${id} is already ${state}`);
    case 'SB_NOT_ACCEPTED':
      throw conflict('SB_NOT_ACCEPTED', `conversation ${id} is offered, not assigned: accept it before transferring it (or decline it)`);
    case 'SB_QISCUS_TRANSFER':
      throw qiscusTransfer(id, department, input);
    case 'channel_queue':
      // only a conversation of the channel that routes that queue may go there (a Qiscus room back to '@qiscus')
      assertNotChannelQueue('department', input.department);
      throw new Error(`sb_transfer_conversation: channel_queue for ${input.department}`);
    case 'agent_not_found':
      throw notFound('agent', input.agent_id!);
    case 'SB_ALREADY_ASSIGNED':
      throw conflict('SB_ALREADY_ASSIGNED', `conversation ${id} is already assigned to agent ${input.agent_id!}`);
    case 'SB_AGENT_UNAVAILABLE':
      throw conflict('SB_AGENT_UNAVAILABLE', `agent ${input.agent_id!} is ${target_status}; only an online agent can take a transfer`);
    case 'SB_AGENT_AT_CAPACITY':
      throw conflict('SB_AGENT_AT_CAPACITY', `agent ${input.agent_id!} already holds ${target_load} of ${target_capacity} conversations`);
    default:
      throw new Error(`sb_transfer_conversation: unknown refusal ${refusal}`);
  }
}

/** $3 the agent, or null for a department ($4); $5 the agent who may act only on their own conversations; $6 by. */
const TRANSFER_CONVERSATION = /* sql */ `select (o.moved).*, o.refusal, o.before_state, o.before_agent_id, o.before_department,
       o.target_status, o.target_load, o.target_capacity, o.logged
  from sb_transfer_conversation($1::uuid, $2::timestamptz, $3::uuid, $4::text, $5::uuid, $6::text) o`;

type TransferredRow = ConversationRow & {
  refusal: string | null;
  before_state: ConversationRow['state'];
  before_agent_id: string | null;
  before_department: string | null;
  target_status: string | null;
  target_load: number | null;
  target_capacity: number | null;
};

/**
 * A Qiscus room is served in Qiscus's own dashboard by the agent its
 * allocator picks there: no Switchboard agent can serve it (their messages
 * are refused, see SB_QISCUS_AGENT_MESSAGE), and outside its department the
 * allocator no longer sees it. Back to its own department (a requeue) is the
 * only move that means something (sb_transfer_conversation refuses the rest).
 */
function qiscusTransfer(id: string, department: string | null, input: TransferInput) {
  if (input.agent_id !== undefined) {
    return conflict(
      'SB_QISCUS_TRANSFER',
      `conversation ${id} is a Qiscus room: it cannot be transferred to an agent, since its agent is chosen by the Qiscus allocator and serves it in Qiscus's own dashboard; requeue it instead`,
    );
  }
  return conflict(
    'SB_QISCUS_TRANSFER',
    `conversation ${id} is a Qiscus room: it cannot leave the department ${department ?? '(none)'}, where the Qiscus allocator serves it; requeue it instead`,
  );
}

/**
 * Returns an assigned conversation to the queue at its original place;
 * matching runs at once, so the policy may give it straight back to the same
 * agent when they are still the best choice. One call (sb_requeue_conversation).
 */
export async function requeueConversation(ctx: Ctx, id: string, actor: Actor): Promise<ConversationRow> {
  const now = ctx.now();
  const [result] = await routingCall<RequeuedRow>(ctx, REQUEUE_CONVERSATION, [id, now, seesEverything(actor) ? null : actor.id], now);
  if (!result) throw notFound('conversation', id);
  const { refusal, before_state: state, ...row } = result;
  if (refusal === 'forbidden') throw forbidden(`conversation ${id} is not assigned to you`);
  if (refusal === 'SB_CONVERSATION_CLOSED') throw conflict('SB_CONVERSATION_CLOSED', `conversation ${id} is already ${state}`);
  if (refusal === 'SB_NOT_ASSIGNED') {
    throw conflict('SB_NOT_ASSIGNED', state === 'offered' ? `conversation ${id} is offered, not assigned: its agent accepts or declines it, or transfer it` : `conversation ${id} is already waiting in the queue`);
  }
  if (refusal !== null) throw new Error(`sb_requeue_conversation: unknown refusal ${refusal}`);
  return row;
}

const REQUEUE_CONVERSATION = /* sql */ `select (o.requeued).*, o.refusal, o.before_state, o.logged
  from sb_requeue_conversation($1::uuid, $2::timestamptz, $3::uuid) o`;

type RequeuedRow = ConversationRow & { refusal: string | null; before_state: ConversationRow['state'] };
