// Offer and accept (issue #20 item 5). In an offer-mode department the
// engine offers a conversation to the policy's pick instead of assigning it
// (sb_assign, src/store/migrations/routing/functions.sql); the agent accepts or declines it
// here, and the sweep expires the offers nobody answered (sb_expire_offers).
import type { Actor } from '../agents/model.js';
import type { Ctx } from '../context.js';
import type { ConversationRow } from '../conversations/model.js';
import { conflict, forbidden, notFound } from '../errors.js';
import { routingCall } from './calls.js';

const ANSWER_OFFER = /* sql */ `select (o.answered).*, o.before_state, o.before_agent_id, o.logged
  from sb_answer_offer($1::timestamptz, $2::uuid, $3::uuid, $4::boolean) o`;

type AnsweredRow = ConversationRow & { before_state: ConversationRow['state']; before_agent_id: string | null };

/**
 * The offered agent takes (accept) or refuses (decline) the offer; a
 * declined conversation goes at once to the next agent, keeping its place.
 * Only the agent it is offered to may answer. A conversation offered to or
 * held by someone else is 403 (not yours, whatever your role); one that is
 * yours but no longer offered (accepted), or back in the queue (the offer
 * expired or was withdrawn: a late click), is 409 SB_NOT_OFFERED.
 */
export async function answerOffer(ctx: Ctx, id: string, accept: boolean, actor: Actor): Promise<ConversationRow> {
  const now = ctx.now();
  const [result] = await routingCall<AnsweredRow>(ctx, ANSWER_OFFER, [now, id, actor.id, accept], now);
  if (!result) throw notFound('conversation', id);
  const { before_state: state, before_agent_id: agentId, ...row } = result;
  if (row.id === null) {
    if (agentId !== actor.id && state !== 'queued' && !(actor.id !== null && (await closedWhileOfferedTo(ctx, id, state, actor.id)))) throw forbidden(`conversation ${id} is not offered to you`);
    throw conflict('SB_NOT_OFFERED', `conversation ${id} is not offered to you: it is ${state === 'queued' ? 'waiting in the queue (the offer ran out)' : state}`);
  }
  return row;
}

/**
 * Whether the conversation was closed while offered to the agent: its row
 * then names no agent (an offer not accepted was never held,
 * sb_close_conversation), but the close's event does. Their late click on
 * the offer is the 409 of an offer gone, not the 403 of someone else's chat.
 */
async function closedWhileOfferedTo(ctx: Ctx, id: string, state: ConversationRow['state'], agentId: string): Promise<boolean> {
  if (state !== 'resolved' && state !== 'abandoned') return false;
  const [closing] = await ctx.db.query<{ agent_id: string | null; held: string | null }>(
    `select agent_id, data #>> '{conversation,agent_id}' as held from events
      where conversation_id = $1 and type = any ('{conversation.resolved,conversation.abandoned}'::text[])
      order by id desc limit 1`,
    [id],
  );
  return closing !== undefined && closing.agent_id === agentId && closing.held === null;
}
