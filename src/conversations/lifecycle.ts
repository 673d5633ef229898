import { seesEverything, type Actor, type AgentRow } from '../agents/model.js';
import type { Ctx } from '../context.js';
import { conflict, invalid, notFound } from '../errors.js';
import { withEvents, type Emit } from '../events/outbox.js';
import { drain } from '../routing/match.js';
import { requeueConversations } from '../routing/requeue.js';
import { CAPACITY_OF_A, OPEN_CONVERSATION, RELEASE_SLOT } from '../routing/sql.js';
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
}

export interface Opened {
  conversation: ConversationRow;
  /** false when an open conversation with the same channel and external_ref already existed */
  created: boolean;
}

/**
 * `alongside` writes what belongs to a new conversation (a chat session's
 * token) in its transaction, so neither exists without the other.
 */
export async function openConversation(
  ctx: Ctx,
  input: OpenInput,
  options: { alongside?: (tx: Queryable, conversation: ConversationRow) => Promise<void> } = {},
): Promise<Opened> {
  return withEvents(ctx, async (tx, emit) => openConversationIn(tx, emit, ctx.now(), input, options), { routing: true });
}

/**
 * openConversation inside a routing transaction the caller already holds, for
 * a channel that decides more than the open in that transaction (RapidPro
 * closes a contact's stale room before opening the new one).
 */
export async function openConversationIn(
  tx: Queryable,
  emit: Emit,
  now: Date,
  input: OpenInput,
  options: { alongside?: (tx: Queryable, conversation: ConversationRow) => Promise<void> } = {},
): Promise<Opened> {
  const channel = input.channel ?? 'api';
  const externalRef = input.external_ref ?? null;
  if (externalRef !== null) {
    // Channels re-send the same open (Qiscus webhooks, RapidPro retries):
    // answer with the conversation already open for that reference.
    const [existing] = await tx.query<ConversationRow>(
      `select * from conversations where channel = $1 and external_ref = $2 and state in ('queued', 'assigned')`,
      [channel, externalRef],
    );
    if (existing) return { conversation: existing, created: false };
  }
  const [row] = await tx.query<ConversationRow>(OPEN_CONVERSATION, [
    channel,
    externalRef,
    input.customer.id,
    JSON.stringify(input.customer),
    input.department ?? null,
    input.priority ?? 0,
    now,
    input.customer_verified ?? false,
  ]);
  const conversation = row!;
  await options.alongside?.(tx, conversation);
  // `created` shows the conversation as it arrived, before any agent.
  const arrived = { ...conversation, state: 'queued' as const, agent_id: null, assigned_at: null };
  emit({ type: 'conversation.created', conversationId: conversation.id, data: { conversation: toConversation(arrived) } });
  if (conversation.state === 'assigned') {
    emit({ type: 'conversation.assigned', conversationId: conversation.id, agentId: conversation.agent_id, data: { conversation: toConversation(conversation) } });
  } else {
    emit({ type: 'conversation.queued', conversationId: conversation.id, data: { conversation: toConversation(conversation), reason: 'new' } });
  }
  return { conversation, created: true };
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

/** Resolves (or abandons) an open conversation and gives the freed slot to the queue. */
export async function closeConversation(ctx: Ctx, id: string, input: CloseInput, actor: Actor): Promise<ConversationRow> {
  return withEvents(ctx, async (tx, emit) => closeConversationIn(tx, emit, ctx.now(), id, input, actor), { routing: true });
}

/**
 * Locks the conversation, checks it, frees its agent's slot and closes it in
 * one statement: one round trip inside the routing lock instead of two. The
 * writes happen only when the actor may close it and it is still open, so a
 * refused close changes nothing; the row as it was decides which refusal.
 * $6: the agent who may close only their own conversations, or null.
 */
const CLOSE_CONVERSATION = /* sql */ `
with before as (
  select id, state, agent_id from conversations where id = $1 for update
), allowed as (
  select b.* from before b
   where b.state in ('queued', 'assigned') and ($6::uuid is null or b.agent_id = $6::uuid)
), released as (
  update agents a set load = a.load - 1, updated_at = $3 from allowed b where a.id = b.agent_id
), closed as (
  update conversations c
     set state = $2, resolved_at = $3, resolve_reason = $4, note = coalesce($5, c.note), updated_at = $3
    from allowed b
   where c.id = b.id
  returning c.*
)
select b.state as before_state, b.agent_id as before_agent_id, closed.*
  from before b left join closed on true`;

type ClosedRow = ConversationRow & { before_state: ConversationRow['state']; before_agent_id: string | null };

/** closeConversation inside a routing transaction the caller already holds. */
export async function closeConversationIn(tx: Queryable, emit: Emit, now: Date, id: string, input: CloseInput, actor: Actor): Promise<ConversationRow> {
  const state = input.state ?? 'resolved';
  const [result] = await tx.query<ClosedRow>(CLOSE_CONVERSATION, [
    id,
    state,
    now,
    input.reason ?? 'agent',
    input.note ?? null,
    seesEverything(actor) ? null : actor.id,
  ]);
  if (!result) throw notFound('conversation', id);
  const { before_state: stateBefore, before_agent_id: agentId, ...row } = result;
  if (row.id === null) {
    // Nothing was written; say why, in the order lockOpenConversation does.
    assertCanAccess(actor, { id, agent_id: agentId });
    throw conflict('SB_CONVERSATION_CLOSED', `conversation ${id} is already ${stateBefore}`);
  }
  emit({
    type: `conversation.${state}`,
    conversationId: id,
    agentId,
    data: { conversation: toConversation(row), by: actor.id },
  });
  if (agentId !== null) await drain(tx, emit, now, { agentId, limit: 1 });
  return row;
}

export interface TransferInput {
  agent_id?: string;
  department?: string | null;
}

/**
 * To an agent: they must be online with room, since the capacity promise
 * holds for transfers too. To a department: the conversation re-enters the
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
    `update conversations set state = 'assigned', agent_id = $2, assigned_at = $3, updated_at = $3 where id = $1 returning *`,
    [before.id, agentId, now],
  );
  return row!;
}

async function moveToDepartment(tx: Queryable, emit: Emit, before: ConversationRow, department: string | null, now: Date): Promise<ConversationRow> {
  if (before.state === 'assigned') {
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
