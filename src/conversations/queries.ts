import type { Actor } from '../agents/model.js';
import { notFound } from '../errors.js';
import type { Queryable } from '../store/db.js';
import { assertCanAccess } from './access.js';
import type { ConversationRow, ConversationState } from './model.js';

export async function getConversation(db: Queryable, id: string, actor: Actor): Promise<ConversationRow> {
  const [row] = await db.query<ConversationRow>('select * from conversations where id = $1', [id]);
  if (!row) throw notFound('conversation', id);
  assertCanAccess(actor, row);
  return row;
}

export interface ConversationFilter {
  state?: ConversationState;
  agent_id?: string;
  department?: string;
  customer_id?: string;
  customer_verified?: boolean;
  /** a label name, matched whatever its case */
  label?: string;
  limit: number;
  /** paging: only conversations that arrived before this one */
  before?: string;
}

/** Newest first. An agent's listing is always narrowed to their own conversations. */
export async function listConversations(db: Queryable, filter: ConversationFilter, actor: Actor): Promise<ConversationRow[]> {
  const agentId = actor.role === 'agent' ? actor.id : (filter.agent_id ?? null);
  return db.query<ConversationRow>(
    `select * from conversations
      where ($1::text is null or state = $1)
        and ($2::uuid is null or agent_id = $2)
        and ($3::text is null or department = $3)
        and ($4::text is null or customer_id = $4)
        and ($5::uuid is null or seq < (select b.seq from conversations b where b.id = $5))
        and ($7::boolean is null or customer_verified = $7)
        and ($8::text is null or labels @> (select array[l.name] from labels l where lower(l.name) = lower($8)))
      order by seq desc
      limit $6`,
    [filter.state ?? null, agentId, filter.department ?? null, filter.customer_id ?? null, filter.before ?? null, filter.limit, filter.customer_verified ?? null, filter.label ?? null],
  );
}
