import type { Actor } from '../agents/model.js';
import type { ConversationRow } from '../conversations/model.js';
import type { Queryable } from '../store/db.js';

// The customer panel's "past conversations" and the contact details they
// carry, for one conversation. A customer id is shared only between
// verified conversations: an unverified chat (a widget visitor whose host
// site did not sign the id) may claim any id, so it is shown nothing of that
// id's past, and its own details never join a verified customer's history.
// Decided here, server-side, not by the console hiding it.

export interface CustomerHistory {
  customer_verified: boolean;
  /** the customer's other verified conversations the caller may see, newest first; empty for an unverified one */
  conversations: ConversationRow[];
}

/**
 * `current` is a conversation the actor may see (the caller checked). Agents
 * see only conversations they hold or last held, as in the listing;
 * supervisors and admins all of them.
 */
export async function customerHistory(db: Queryable, current: ConversationRow, actor: Actor, limit: number): Promise<CustomerHistory> {
  if (!current.customer_verified) return { customer_verified: false, conversations: [] };
  const conversations = await db.query<ConversationRow>(
    `select * from conversations
      where customer_id = $1 and customer_verified and id <> $2
        and ($3::uuid is null or agent_id = $3)
      order by seq desc
      limit $4`,
    [current.customer_id, current.id, actor.role === 'agent' ? actor.id : null, limit],
  );
  return { customer_verified: true, conversations };
}
