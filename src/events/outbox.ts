import type { Ctx } from '../context.js';
import { LOCKS, type Queryable } from '../store/db.js';
import type { Emit, NewEvent, StoredEvent } from './event.js';
import { LOG_ORDER, PAST } from './log.js';

export type { Emit, NewEvent, StoredEvent } from './event.js';

/**
 * Runs `fn` in one transaction and appends the events it emits in that same
 * transaction, so a state change and its event commit or vanish together.
 * No lock is taken for the log: each event gets its `xid_bound` (migration
 * 0022), and readers follow the log in (xid_bound, id) order below a horizon
 * (src/events/log.ts), so an event that commits late is never passed over.
 */
export async function withEvents<T>(
  ctx: Ctx,
  fn: (tx: Queryable, emit: Emit) => Promise<T>,
  /** routing: the routing lock with BEGIN, exclusive (true) or 'shared' */
  options: { routing?: boolean | 'shared' } = {},
): Promise<T> {
  const pending: NewEvent[] = [];
  const logged: StoredEvent[] = [];
  let stored: StoredEvent[] = [];
  const locks = options.routing === 'shared' ? [{ shared: LOCKS.routing }] : options.routing ? [LOCKS.routing] : [];
  const emit: Emit = (event) => void pending.push(event);
  emit.logged = (events) => void logged.push(...events);
  const value = await ctx.db.transaction(async (tx) => fn(tx, emit), {
    locks,
    groupCommit: true,
    // The events go in with the COMMIT: one round trip less while the routing lock is held.
    final: () => {
      if (pending.length === 0) return undefined;
      const append = appendEvents(pending, ctx.now());
      return { ...append, rows: (rows) => (stored = append.stored(rows as { id: number }[])) };
    },
  });
  // The routing functions' events were appended first: they come first.
  const committed = logged.length === 0 ? stored : [...logged, ...stored];
  if (committed.length > 0) ctx.onCommitted?.(committed);
  return value;
}

/**
 * The insert returns only the ids: the caller already holds everything else,
 * and printing each event's JSON back and parsing it again costs more than
 * the insert (most of all on PGlite). The stored events are rebuilt from the
 * very JSON text that was inserted, so they carry what a reader of the table
 * gets, not objects the emitter could still change.
 */
function appendEvents(
  events: readonly NewEvent[],
  at: Date,
): { text: string; params: unknown[]; stored(rows: readonly { id: number }[]): StoredEvent[] } {
  const data = events.map((e) => JSON.stringify(e.data));
  return {
    // Ids are drawn in the order of e.n, so the sorted ids match the events
    // one to one. xid_bound takes its default: it must be computed by this
    // statement, the last of the transaction, after every lock it holds.
    text: `insert into events (type, conversation_id, agent_id, data, created_at)
     select e.type, e.conversation_id, e.agent_id, e.data, $5
       from unnest($1::text[], $2::uuid[], $3::uuid[], $4::jsonb[]) with ordinality as e(type, conversation_id, agent_id, data, n)
      order by e.n
     returning id`,
    params: [events.map((e) => e.type), events.map((e) => e.conversationId ?? null), events.map((e) => e.agentId ?? null), data, at],
    stored(rows) {
      const ids = rows.map((r) => Number(r.id)).sort((a, b) => a - b);
      if (ids.length !== events.length) throw new Error(`inserted ${ids.length} events, expected ${events.length}`);
      return events.map((e, i) => ({
        id: ids[i]!,
        type: e.type,
        conversation_id: e.conversationId ?? null,
        agent_id: e.agentId ?? null,
        data: JSON.parse(data[i]!) as Record<string, unknown>,
        created_at: at,
      }));
    },
  };
}

/**
 * The final events after event `after` in log order (commit order: id order
 * but for an event whose transaction committed late, which comes after
 * higher ids). `after` is the id of the last event the caller received; an
 * id that names no event stands for the nearest event below it, 0 for the
 * start of the log.
 */
/** The position of event `id`, else of the nearest event below it, else the start of the log. */
const AT_OR_BELOW = (id: string) => `select xid_bound, id from (
    (select xid_bound, id from events where id <= ${id} order by id desc limit 1) union all select 0, 0
  ) p order by id desc limit 1`;

export async function listEvents(db: Queryable, after: number, limit: number, type?: string): Promise<StoredEvent[]> {
  return db.query<StoredEvent>(
    `select e.id, e.type, e.conversation_id, e.agent_id, e.data, e.created_at
       from events e
      where ${PAST('e', AT_OR_BELOW('$1'))}
        and ($3::text is null or e.type = $3)
      order by ${LOG_ORDER('e')} limit $2`,
    [after, limit, type ?? null],
  );
}
