import { toConversation, type ConversationRow } from '../conversations/model.js';
import type { Emit } from '../events/outbox.js';
import type { Queryable } from '../store/db.js';
import { MATCH_FOR_AGENT, MATCH_NEXT } from './sql.js';

export interface MatchScope {
  /** Only this agent can have gained room (a slot freed, came online, capacity raised). */
  agentId?: string;
  /** At most this many assignments: a resolve frees exactly one slot, so there is no need to look again. */
  limit?: number;
}

/**
 * Assigns queued conversations until no eligible agent or no queued
 * conversation is left. Must run inside the routing transaction.
 *
 * The agent-scoped form relies on the invariant every routing transaction
 * keeps — after it commits, no queued conversation has an eligible agent
 * with room — so when one agent gains room only that agent can match. (A new
 * conversation is matched as it is inserted: sb_open_conversation.)
 */
export async function drain(tx: Queryable, emit: Emit, now: Date, scope: MatchScope = {}): Promise<ConversationRow[]> {
  const assigned: ConversationRow[] = [];
  for (;;) {
    // sb_match_for_agent may return more than one row: conversations that
    // became eligible for another agent by time go to them on the way.
    const rows = scope.agentId
      ? await tx.query<ConversationRow>(MATCH_FOR_AGENT, [now, scope.agentId])
      : await tx.query<ConversationRow>(MATCH_NEXT, [now]);
    if (rows.length === 0) break;
    for (const row of rows) {
      assigned.push(row);
      // sb_assign offers it instead in an offer-mode department
      emit({
        type: row.state === 'offered' ? 'conversation.offered' : 'conversation.assigned',
        conversationId: row.id,
        agentId: row.agent_id,
        data: { conversation: toConversation(row) },
      });
    }
    if (scope.limit !== undefined && assigned.length >= scope.limit) break;
  }
  return assigned;
}
