import type { Actor } from '../agents/model.js';
import type { Ctx } from '../context.js';
import { assertCanAccess } from '../conversations/access.js';
import { toConversation, type ConversationRow } from '../conversations/model.js';
import { notFound } from '../errors.js';
import { withEvents } from '../events/outbox.js';
import { drain } from '../routing/match.js';
import { resolveLabelNames, toLabel } from './labels.js';

/**
 * Replaces a conversation's labels (any state: closed conversations are
 * labelled after the fact too). The labels are locked before the
 * conversation, the order a rename or delete takes them in. No change: no
 * event. Unknown names, a label named twice (whatever the case or Unicode
 * form: resolveLabelNames) or someone else's conversation: nothing is written.
 *
 * Labels may require skills (docs/routing.md#skills): the terms trigger
 * works an open conversation's requirement out again with the update. So
 * an open conversation is relabelled under the routing lock (taken first,
 * before the labels, as the routing functions take it before any row), and
 * a queued one whose requirement shrank is matched in the same transaction
 * (the drain: only it can have become servable). An assigned or offered one
 * keeps its agent. A closed conversation never opens again, so it needs no
 * lock.
 */
export async function setConversationLabels(ctx: Ctx, conversationId: string, names: readonly string[], actor: Actor): Promise<ConversationRow> {
  const [seen] = await ctx.db.query<{ state: ConversationRow['state'] }>('select state from conversations where id = $1', [conversationId]);
  const open = seen !== undefined && (seen.state === 'queued' || seen.state === 'offered' || seen.state === 'assigned');
  return withEvents(ctx, async (tx, emit) => {
    const labels = await resolveLabelNames(tx, names);
    const [current] = await tx.query<ConversationRow>('select * from conversations where id = $1 for update', [conversationId]);
    if (!current) throw notFound('conversation', conversationId);
    assertCanAccess(actor, current);
    // the catalogue's spelling, in the catalogue's order
    const next = labels.map((l) => l.name);
    const added = next.filter((n) => !current.labels.includes(n));
    const removed = current.labels.filter((n) => !next.includes(n));
    if (added.length === 0 && removed.length === 0) return current;
    const [row] = await tx.query<ConversationRow>('update conversations set labels = $2, updated_at = $3 where id = $1 returning *', [conversationId, next, ctx.now()]);
    emit({
      type: 'conversation.labels_changed',
      // the id as stored (lower case), not as the path spelled it: listeners match on it
      conversationId: row!.id,
      agentId: row!.agent_id,
      data: { conversation: toConversation(row!), labels: labels.map(toLabel), added, removed, by: actor.id },
    });
    if (row!.state !== 'queued') return row!;
    await drain(tx, emit, ctx.now());
    const [after] = await tx.query<ConversationRow>('select * from conversations where id = $1', [conversationId]);
    return after!;
  }, { routing: open });
}
