import { notFound } from '../errors.js';
import type { Queryable } from '../store/db.js';

// Unread counts: per agent per conversation, the customer's messages after
// the agent's read marker (conversation_reads). Reading moves only the
// reader's own marker, so a supervisor looking in leaves the holder's count.

/** Each conversation's unread count for this agent, in one query for a whole page (index messages_from_customer). */
export async function unreadCounts(db: Queryable, agentId: string, conversationIds: readonly string[]): Promise<Map<string, number>> {
  if (conversationIds.length === 0) return new Map();
  const rows = await db.query<{ id: string; unread: number }>(
    `select c.id,
            (select count(*)::int from messages m
              where m.conversation_id = c.id and m.sender = 'customer'
                and m.id > coalesce(r.last_read_message_id, 0)) as unread
       from unnest($2::uuid[]) as c (id)
       left join conversation_reads r on r.agent_id = $1 and r.conversation_id = c.id`,
    [agentId, conversationIds],
  );
  return new Map(rows.map((r) => [r.id, r.unread]));
}

/**
 * Moves the agent's marker to the conversation's last message at or before
 * `upTo` (its last message when null); never backwards, so a late read
 * receipt cannot bring back a count already cleared. One statement: a message
 * arriving meanwhile is either counted as read or stays unread, never lost.
 * The agent's row is locked (key share), then the conversation's, before
 * the insert's foreign-key checks would: the lock order of
 * routing/functions.sql, which the exclusive routing paths (pick, transfer,
 * offer expiry) follow beside this statement. Left to the checks, the order
 * would be their triggers' name order, which hangs on the constraints' OIDs.
 * Locked where it is read, a conversation erased meanwhile (its row deleted
 * under the erasure's lock) leaves nothing to insert: a 404, where the
 * foreign-key check failed (23503) and the read was a 500.
 * Returns the marker now.
 */
export async function markReadUpTo(db: Queryable, agentId: string, conversationId: string, upTo: number | null, now: Date): Promise<number> {
  const [row] = await db.query<{ last_read_message_id: string }>(
    `with agent as (select 1 from agents where id = $1 for key share),
          conversation as (select c.id from (select count(*) from agent) as locked, conversations c where c.id = $2 for key share of c)
     insert into conversation_reads (agent_id, conversation_id, last_read_message_id, read_at)
     select $1, c.id, coalesce((select max(id) from messages where conversation_id = $2 and ($3::bigint is null or id <= $3)), 0), $4
       from conversation c
     on conflict (agent_id, conversation_id) do update
       set last_read_message_id = greatest(conversation_reads.last_read_message_id, excluded.last_read_message_id),
           read_at = excluded.read_at
     returning last_read_message_id`,
    [agentId, conversationId, upTo, now],
  );
  if (!row) throw notFound('conversation', conversationId);
  return Number(row.last_read_message_id);
}
