import { seesEverything, type Actor } from '../agents/model.js';
import type { Channel, ConversationState, Customer } from '../conversations/model.js';
import type { Queryable } from '../store/db.js';

// The back office's customers list: who has an open conversation, and
// whether they are there now. Only a widget customer has a live session to
// observe (customer_sessions.last_seen_at, written by their keep-alives and
// messages, see src/realtime/coordinator.ts); customers of other channels
// are reached through that channel and count as offline.

export interface CustomerPresence {
  customer: { id: string; name: string | null; email: string | null; phone: string | null };
  customer_verified: boolean;
  conversation_id: string;
  channel: Channel;
  state: ConversationState;
  department: string | null;
  agent_id: string | null;
  since: string;
  online: boolean;
  last_seen_at: string | null;
}

export interface PresenceFilter {
  online?: boolean;
  limit: number;
}

/**
 * How long after the last write a connected widget may still look alive: it
 * sends a keep-alive every half period and the coordinator writes at most
 * once a quarter period, so a live session is never older than three
 * quarters. Silence beyond that means the page is gone; the keep-alive sweep
 * abandons the conversation once the whole period has passed.
 */
export const onlineWindowMs = (keepAliveMs: number) => Math.ceil((keepAliveMs * 3) / 4);

/** Open conversations' customers, newest first; an agent sees only those of conversations assigned to them. */
export async function listCustomerPresence(db: Queryable, actor: Actor, keepAliveMs: number, now: Date, filter: PresenceFilter): Promise<CustomerPresence[]> {
  const cutoff = new Date(now.getTime() - onlineWindowMs(keepAliveMs));
  const rows = await db.query<{
    id: string;
    customer: Customer;
    customer_verified: boolean;
    channel: Channel;
    state: ConversationState;
    department: string | null;
    agent_id: string | null;
    created_at: Date;
    last_seen_at: Date | null;
    online: boolean;
  }>(
    `select c.id, c.customer, c.customer_verified, c.channel, c.state, c.department, c.agent_id, c.created_at, s.last_seen_at,
            coalesce(s.last_seen_at >= $2, false) as online
       from conversations c
       left join customer_sessions s on s.conversation_id = c.id
      where c.state in ('queued', 'offered', 'assigned')
        and ($1::uuid is null or c.agent_id = $1)
        and ($3::boolean is null or coalesce(s.last_seen_at >= $2, false) = $3)
      order by c.seq desc
      limit $4`,
    [seesEverything(actor) ? null : actor.id, cutoff, filter.online ?? null, filter.limit],
  );
  return rows.map((r) => ({
    customer: { id: r.customer.id, name: r.customer.name ?? null, email: r.customer.email ?? null, phone: r.customer.phone ?? null },
    customer_verified: r.customer_verified,
    conversation_id: r.id,
    channel: r.channel,
    state: r.state,
    department: r.department,
    agent_id: r.agent_id,
    since: new Date(r.created_at).toISOString(),
    online: r.online,
    last_seen_at: r.last_seen_at === null ? null : new Date(r.last_seen_at).toISOString(),
  }));
}
