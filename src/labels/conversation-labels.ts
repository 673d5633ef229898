import { seesEverything, type Actor } from '../agents/model.js';
import type { Ctx } from '../context.js';
import { assertCanAccess } from '../conversations/access.js';
import { toConversation, type ConversationRow } from '../conversations/model.js';
import { conflict, notFound } from '../errors.js';
import { withEvents } from '../events/outbox.js';
import { drain } from '../routing/match.js';
import { resolveLabelNames, toLabel } from './labels.js';

/**
 * Replaces a conversation's labels (any state: closed conversations are
 * labelled after the fact too). The labels are locked before the
 * conversation, the order a rename or delete takes them in. They are stored
 * in the catalogue's order (lower(name), as LABELS_NAMED_SQL and a rename
 * sort them). No change: no event (the same set in another order is no
 * change; stored out of that order, it is put back in it, silently). Unknown
 * names, a label named twice (whatever the case or Unicode form:
 * resolveLabelNames) or someone else's conversation: nothing is written. An
 * agent the conversation is only offered to does not hold it yet: 409
 * SB_NOT_ACCEPTED until they accept, as for a message (supervisors and
 * admins may).
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
  const [seen] = await ctx.db.query<Pick<ConversationRow, 'id' | 'state' | 'agent_id'>>('select id, state, agent_id from conversations where id = $1', [conversationId]);
  // Refused before the routing lock, which every assignment waits on: an
  // agent sending this for others' conversations (their ids are in the
  // queue) must not make routing queue behind each refusal. Checked again
  // under the lock, where it decides.
  if (!seen) throw notFound('conversation', conversationId);
  refuseIfNotTheirs(actor, seen);
  const open = seen.state === 'queued' || seen.state === 'offered' || seen.state === 'assigned';
  return withEvents(ctx, async (tx, emit) => {
    const labels = await resolveLabelNames(tx, names);
    const [current] = await tx.query<ConversationRow>('select * from conversations where id = $1 for update', [conversationId]);
    if (!current) throw notFound('conversation', conversationId);
    refuseIfNotTheirs(actor, current);
    // the catalogue's spelling, in the catalogue's order
    const next = labels.map((l) => l.name);
    const added = next.filter((n) => !current.labels.includes(n));
    const removed = current.labels.filter((n) => !next.includes(n));
    if (added.length === 0 && removed.length === 0) {
      if (current.labels.length === next.length && next.every((n, i) => current.labels[i] === n)) return current;
      // the same set stored out of the catalogue's order: put in order, nothing to tell
      const [ordered] = await tx.query<ConversationRow>('update conversations set labels = $2 where id = $1 returning *', [conversationId, next]);
      return ordered!;
    }
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

/** Someone else's conversation: 403; one only offered to this agent: 409 SB_NOT_ACCEPTED (supervisors and admins may). */
function refuseIfNotTheirs(actor: Actor, row: Pick<ConversationRow, 'id' | 'state' | 'agent_id'>): void {
  assertCanAccess(actor, row);
  if (row.state === 'offered' && !seesEverything(actor)) {
    throw conflict('SB_NOT_ACCEPTED', `conversation ${row.id} is offered, not assigned: accept it before changing its labels`);
  }
}
