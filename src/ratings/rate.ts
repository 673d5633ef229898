import type { Ctx } from '../context.js';
import { toConversation, type ConversationRow } from '../conversations/model.js';
import { notFound } from '../errors.js';
import { withEvents } from '../events/outbox.js';
import { isBlank } from '../http/validation.js';
import { readSettings } from '../settings/settings.js';
import { csatDisabled, notResolved, ratingExists } from './errors.js';
import type { RatingRow } from './model.js';

export interface RatingInput {
  score: number;
  comment?: string | null;
}

/**
 * Stores the customer's rating of their resolved conversation and the
 * `conversation.rated` event in one transaction. A closed conversation never
 * changes state again; the row is locked all the same, like by every writer
 * of a conversation's events, so that this one takes its place among the
 * others (a read receipt, an external message) in commit order. "Once" is
 * decided by the insert itself (the primary key), never by a read before it,
 * so two racing posts give one rating and one SB_RATING_EXISTS.
 */
export async function rateConversation(ctx: Ctx, conversationId: string, input: RatingInput): Promise<RatingRow> {
  return withEvents(ctx, async (tx, emit) => {
    const [conversation] = await tx.query<ConversationRow>('select * from conversations where id = $1 for no key update', [conversationId]);
    if (!conversation) throw notFound('conversation', conversationId);
    if (!(await readSettings(tx)).csat_enabled) throw csatDisabled();
    if (conversation.state !== 'resolved') throw notResolved(conversationId, conversation.state);
    // isBlank, not only spaces: zero-width characters alone say nothing, and a blank comment is null
    const comment = input.comment === undefined || input.comment === null || isBlank(input.comment) ? null : input.comment.trim();
    const [row] = await tx.query<RatingRow>(
      `insert into ratings (conversation_id, score, comment, agent_id, department, created_at)
       values ($1, $2, $3, $4, $5, $6)
       on conflict (conversation_id) do nothing
       returning *`,
      [conversationId, input.score, comment, conversation.agent_id, conversation.department, ctx.now()],
    );
    if (!row) throw ratingExists(conversationId);
    emit({
      type: 'conversation.rated',
      conversationId,
      agentId: conversation.agent_id,
      data: {
        conversation: toConversation(conversation),
        rating: { score: Number(row.score), comment: row.comment, created_at: new Date(row.created_at).toISOString() },
        agent_id: conversation.agent_id,
        department: conversation.department,
      },
    });
    return row;
  });
}
