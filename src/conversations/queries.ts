import type { Actor } from '../agents/model.js';
import { invalid, notFound } from '../errors.js';
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
  const rows = await db.query<ConversationRow>(
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
  // The cursor is a conversation's place in arrival order, read from its row: a
  // conversation erased between two pages has none, and the empty page read as
  // the end of the list, every older conversation silently lost. Asked only
  // of an empty page, the one that could be that.
  if (rows.length === 0 && filter.before !== undefined) {
    const [known] = await db.query('select 1 from conversations where id = $1', [filter.before]);
    if (!known) throw invalid('before', 'is no conversation (erased since the page it ended?): start again from the first page');
  }
  return rows;
}
