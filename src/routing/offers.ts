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
    if (agentId !== actor.id && state !== 'queued') throw forbidden(`conversation ${id} is not offered to you`);
    throw conflict('SB_NOT_OFFERED', `conversation ${id} is not offered to you: it is ${state === 'queued' ? 'waiting in the queue (the offer ran out)' : state}`);
  }
  return row;
}
