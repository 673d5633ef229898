// Manual pick (issue #20 item 6): in a manual-mode department agents take
// conversations from the queue themselves. The decision is one call
// (sb_pick, src/store/migrations/routing/functions.sql) under the routing lock, so of
// concurrent clicks on one conversation exactly one wins and nobody goes
// over capacity.
import type { Actor } from '../agents/model.js';
import type { Ctx } from '../context.js';
import type { ConversationRow } from '../conversations/model.js';
import { conflict, notFound } from '../errors.js';
import { routingCall } from './calls.js';

const PICK = /* sql */ `select (o.picked).*, o.refusal, o.logged from sb_pick($1::timestamptz, $2::uuid, $3::uuid) o`;

/** Why a pick was refused: each a 409 with this code (docs/api.md). */
const REFUSALS: Record<string, (id: string) => string> = {
  SB_ALREADY_TAKEN: (id) => `conversation ${id} was already taken by another agent`,
  SB_CONVERSATION_CLOSED: (id) => `conversation ${id} is already closed`,
  SB_NOT_MANUAL: (id) => `conversation ${id} is routed automatically: its department is not in manual mode`,
  SB_AGENT_UNAVAILABLE: () => 'only an online agent can pick a conversation',
  SB_NOT_ELIGIBLE: (id) => `you do not serve the department of conversation ${id}`,
  SB_NO_ROOM: () => 'you already hold as many conversations as your capacity allows',
  SB_NOT_NEXT: (id) => `conversation ${id} is not next in its queue; this department serves its queue in order`,
};

export async function pickConversation(ctx: Ctx, id: string, actor: Actor): Promise<ConversationRow> {
  const now = ctx.now();
  const [result] = await routingCall<ConversationRow & { refusal: string | null }>(ctx, PICK, [now, id, actor.id], now);
  if (!result) throw notFound('conversation', id);
  const { refusal, ...row } = result;
  if (refusal !== null) throw conflict(refusal, REFUSALS[refusal]!(id));
  return row;
}
