import { seesEverything, type Actor, type AgentRow } from '../agents/model.js';
import type { Ctx } from '../context.js';
import { conflict, invalid, notFound } from '../errors.js';
import { withEvents, type Emit } from '../events/outbox.js';
import { drain } from '../routing/match.js';
import { requeueConversations } from '../routing/requeue.js';
import { routingCall, routingCallIn } from '../routing/calls.js';
import { CAPACITY_OF_A, RELEASE_SLOT } from '../routing/sql.js';
import type { Queryable } from '../store/db.js';
import { assertCanAccess } from './access.js';
import { toConversation, type Channel, type ConversationRow, type Customer } from './model.js';

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
 * One call into the store (sb_open_conversation, src/routing/functions.sql) unless
 * `alongside` writes what belongs to the new conversation (a chat session's
 * token): then a routing transaction, so neither exists without the other.
 */
export async function openConversation(ctx: Ctx, input: OpenInput, options: AlongsideOption = {}): Promise<Opened> {
  if (options.alongside) {
    return withEvents(ctx, async (tx, emit) => openConversationIn(tx, emit, ctx.now(), input, options), { routing: true });
  }
  const now = ctx.now();
  return opened(await routingCall<OpenedRow>(ctx, OPEN_CONVERSATION, openParams(input, now), now));
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

type OpenedRow = ConversationRow & { created: boolean };

function openParams(input: OpenInput, now: Date): unknown[] {
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

async function lockOpenConversation(tx: Queryable, id: string, actor: Actor): Promise<ConversationRow> {
  const [row] = await tx.query<ConversationRow>('select * from conversations where id = $1 for update', [id]);
  if (!row) throw notFound('conversation', id);
  assertCanAccess(actor, row);
  if (row.state === 'resolved' || row.state === 'abandoned') {
    throw conflict('SB_CONVERSATION_CLOSED', `conversation ${id} is already ${row.state}`);
  }
  return row;
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
    // Nothing was written; say why, in the order lockOpenConversation does.
    assertCanAccess(actor, { id, agent_id: agentId });
    throw conflict('SB_CONVERSATION_CLOSED', `conversation ${id} is already ${stateBefore}`);
  }
  return row;
}

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
 */
export async function transferConversation(ctx: Ctx, id: string, input: TransferInput, actor: Actor): Promise<ConversationRow> {
  const toAgent = input.agent_id !== undefined;
  const toDepartment = input.department !== undefined;
  if (toAgent === toDepartment) throw invalid('agent_id', 'or department is required, and not both');
  return withEvents(
    ctx,
    async (tx, emit) => {
      const now = ctx.now();
      const before = await lockOpenConversation(tx, id, actor);
      if (before.channel === 'qiscus') assertQiscusTransfer(before, input);
      const row = toAgent
        ? await moveToAgent(tx, before, input.agent_id!, now)
        : await moveToDepartment(tx, emit, before, input.department ?? null, now);
      emit({
        type: 'conversation.transferred',
        conversationId: id,
        agentId: row.agent_id,
        data: {
          conversation: toConversation(row),
          from_agent_id: before.agent_id,
          to_agent_id: toAgent ? input.agent_id : null,
          from_department: before.department,
          to_department: row.department,
          by: actor.id,
        },
      });
      if (toAgent) {
        if (before.agent_id !== null) await drain(tx, emit, now, { agentId: before.agent_id, limit: 1 });
        return row;
      }
      // The conversation re-entered the queue and perhaps freed its agent:
      // a full drain serves the queue in order, so a higher-priority
      // conversation waiting for that agent is not overtaken.
      await drain(tx, emit, now);
      return (await tx.query<ConversationRow>('select * from conversations where id = $1', [id]))[0]!;
    },
    { routing: true },
  );
}

/**
 * A Qiscus room is served in Qiscus's own dashboard by the agent its
 * allocator picks there: no Switchboard agent can serve it (their messages
 * are refused, see SB_QISCUS_AGENT_MESSAGE), and outside its department the
 * allocator no longer sees it. Back to its own department (a requeue) is the
 * only move that means something.
 */
function assertQiscusTransfer(before: ConversationRow, input: TransferInput): void {
  if (input.agent_id !== undefined) {
    throw conflict(
      'SB_QISCUS_TRANSFER',
      `conversation ${before.id} is a Qiscus room: it cannot be transferred to an agent, since its agent is chosen by the Qiscus allocator and serves it in Qiscus's own dashboard; requeue it instead`,
    );
  }
  if ((input.department ?? null) !== before.department) {
    throw conflict(
      'SB_QISCUS_TRANSFER',
      `conversation ${before.id} is a Qiscus room: it cannot leave the department ${before.department ?? '(none)'}, where the Qiscus allocator serves it; requeue it instead`,
    );
  }
}

async function moveToAgent(tx: Queryable, before: ConversationRow, agentId: string, now: Date): Promise<ConversationRow> {
  const [target] = await tx.query<AgentRow & { capacity_now: number }>(
    `select a.*, ${CAPACITY_OF_A} as capacity_now from agents a where a.id = $1 and a.deleted_at is null for update`,
    [agentId],
  );
  if (!target) throw notFound('agent', agentId);
  if (before.agent_id === agentId) throw conflict('SB_ALREADY_ASSIGNED', `conversation ${before.id} is already assigned to agent ${agentId}`);
  if (target.status !== 'online') throw conflict('SB_AGENT_UNAVAILABLE', `agent ${agentId} is ${target.status}; only an online agent can take a transfer`);
  if (target.load >= target.capacity_now) {
    throw conflict('SB_AGENT_AT_CAPACITY', `agent ${agentId} already holds ${target.load} of ${target.capacity_now} conversations`);
  }
  if (before.agent_id !== null) await tx.query(RELEASE_SLOT, [before.agent_id, now]);
  await tx.query(`update agents set load = load + 1, last_assigned_at = $2, updated_at = $2 where id = $1`, [agentId, now]);
  const [row] = await tx.query<ConversationRow>(
    `update conversations set state = 'assigned', agent_id = $2, assigned_at = $3, updated_at = $3, offer_expires_at = null, declined_by = '{}'
      where id = $1 returning *`,
    [before.id, agentId, now],
  );
  return row!;
}

async function moveToDepartment(tx: Queryable, emit: Emit, before: ConversationRow, department: string | null, now: Date): Promise<ConversationRow> {
  if (before.state !== 'queued') {
    const [row] = await requeueConversations(tx, emit, now, { conversationIds: [before.id] }, 'transferred', { value: department });
    return row!;
  }
  const [row] = await tx.query<ConversationRow>(
    `update conversations set department = $2, updated_at = $3 where id = $1 returning *`,
    [before.id, department, now],
  );
  return row!;
}

/**
 * Returns an assigned conversation to the queue at its original place;
 * matching runs at once, so the policy may give it straight back to the same
 * agent when they are still the best choice.
 */
export async function requeueConversation(ctx: Ctx, id: string, actor: Actor): Promise<ConversationRow> {
  return withEvents(
    ctx,
    async (tx, emit) => {
      const now = ctx.now();
      const before = await lockOpenConversation(tx, id, actor);
      if (before.state !== 'assigned') throw conflict('SB_NOT_ASSIGNED', `conversation ${id} is already waiting in the queue`);
      await requeueConversations(tx, emit, now, { conversationIds: [id] }, 'requeued');
      // Full drain, in queue order: see transferConversation.
      await drain(tx, emit, now);
      return (await tx.query<ConversationRow>('select * from conversations where id = $1', [id]))[0]!;
    },
    { routing: true },
  );
}
