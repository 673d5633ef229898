import type { Actor } from '../../agents/model.js';
import { assertCanAccess } from '../../conversations/access.js';
import { toConversation, type Conversation, type ConversationRow } from '../../conversations/model.js';
import type { Ctx } from '../../context.js';
import { notFound } from '../../errors.js';
import { withEvents } from '../outbox.js';

// Gitple's send_external_message: an agent pushes a message about the
// customer to an outside system (SMS, e-mail, a CRM). Switchboard does not
// send it itself; it records external_message.requested, and webhooks
// subscribed to send_external_message carry it out.

export interface ExternalMessageRequest {
  conversation_id: string;
  agent_id: string | null;
  text: string;
  requested_at: string;
}

export async function requestExternalMessage(ctx: Ctx, conversationId: string, text: string, actor: Actor): Promise<ExternalMessageRequest> {
  return withEvents(ctx, async (tx, emit) => {
    // Locked so that this event takes its place among the conversation's others in commit order (src/events/log.ts).
    const [row] = await tx.query<ConversationRow>('select * from conversations where id = $1 for no key update', [conversationId]);
    if (!row) throw notFound('conversation', conversationId);
    assertCanAccess(actor, row);
    const conversation: Conversation = toConversation(row);
    emit({ type: 'external_message.requested', conversationId, agentId: actor.id, data: { conversation, agent_id: actor.id, text } });
    return { conversation_id: conversationId, agent_id: actor.id, text, requested_at: ctx.now().toISOString() };
  });
}
