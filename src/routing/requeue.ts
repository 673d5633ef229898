import { toConversation, type ConversationRow } from '../conversations/model.js';
import type { Emit } from '../events/outbox.js';
import type { Queryable } from '../store/db.js';

/** Why conversations went back to the queue, as their `conversation.queued` events say (docs/api.md). */
export type RequeueReason = 'agent_offline' | 'agent_deleted' | 'requeued' | 'transferred' | 'qiscus_refused';

/**
 * Puts assigned (or offered) conversations back in the queue. They keep their arrival
 * sequence number, so they return to their original place, not the back.
 * Releases each agent's slots in the same statement pair.
 */
export async function requeueConversations(
  tx: Queryable,
  emit: Emit,
  now: Date,
  where: { conversationIds?: readonly string[]; agentIds?: readonly string[] },
  reason: RequeueReason,
  department?: { value: string | null },
): Promise<ConversationRow[]> {
  const rows = await tx.query<ConversationRow & { previous_agent_id: string }>(
    `with target as (
       select id, agent_id from conversations
        where state in ('assigned', 'offered')
          and (id = any ($2::uuid[]) or agent_id = any ($3::uuid[]))
        for update
     )
     update conversations c
        set state = 'queued', agent_id = null, queued_at = $1, updated_at = $1, offer_expires_at = null, declined_by = '{}',
            department = case when $4::boolean then $5::text else c.department end
       from target
      where c.id = target.id
     returning c.*, target.agent_id as previous_agent_id`,
    [now, where.conversationIds ?? [], where.agentIds ?? [], department !== undefined, department?.value ?? null],
  );
  if (rows.length === 0) return [];
  const released = new Map<string, number>();
  for (const row of rows) released.set(row.previous_agent_id, (released.get(row.previous_agent_id) ?? 0) + 1);
  await tx.query(
    `update agents a set load = a.load - r.n, updated_at = $3
       from unnest($1::uuid[], $2::int[]) as r(id, n)
      where a.id = r.id`,
    [[...released.keys()], [...released.values()], now],
  );
  for (const { previous_agent_id, ...row } of rows) {
    emit({
      type: 'conversation.queued',
      conversationId: row.id,
      agentId: previous_agent_id,
      data: { conversation: toConversation(row), reason, previous_agent_id },
    });
  }
  return rows;
}
