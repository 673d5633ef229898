import { toConversation, type ConversationRow } from '../conversations/model.js';
import type { Emit } from '../events/outbox.js';
import type { Queryable } from '../store/db.js';
import { MATCH_CONVERSATION, MATCH_FOR_AGENT, MATCH_NEXT } from './sql.js';

export interface MatchScope {
  /** Only this conversation can have become matchable (it just arrived or re-entered the queue). */
  conversationId?: string;
  /** Only this agent can have gained room (a slot freed, came online, capacity raised). */
  agentId?: string;
}

/**
 * Assigns queued conversations until no eligible agent or no queued
 * conversation is left. Must run inside the routing transaction.
 *
 * The scoped forms rely on the invariant every routing transaction keeps —
 * after it commits, no queued conversation has an eligible agent with room —
 * so after one change only the conversation or agent it touched can match.
 */
export async function drain(tx: Queryable, emit: Emit, now: Date, scope: MatchScope = {}): Promise<ConversationRow[]> {
  const assigned: ConversationRow[] = [];
  for (;;) {
    const [row] = scope.conversationId
      ? await tx.query<ConversationRow>(MATCH_CONVERSATION, [now, scope.conversationId])
      : scope.agentId
        ? await tx.query<ConversationRow>(MATCH_FOR_AGENT, [now, scope.agentId])
        : await tx.query<ConversationRow>(MATCH_NEXT, [now]);
    if (!row) break;
    assigned.push(row);
    emit({
      type: 'conversation.assigned',
      conversationId: row.id,
      agentId: row.agent_id,
      data: { conversation: toConversation(row) },
    });
    if (scope.conversationId) break;
  }
  return assigned;
}
