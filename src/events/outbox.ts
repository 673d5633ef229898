import type { Ctx } from '../context.js';
import { LOCKS, type Queryable } from '../store/db.js';
import type { Emit, NewEvent, StoredEvent } from './event.js';

export type { Emit, NewEvent, StoredEvent } from './event.js';

/**
 * Runs `fn` in one transaction and appends the events it emits in that same
 * transaction, so a state change and its event commit or vanish together.
 * The events lock is held to commit: ids become visible strictly in order,
 * which is what lets readers page with `after=<id>`.
 */
export async function withEvents<T>(
  ctx: Ctx,
  fn: (tx: Queryable, emit: Emit) => Promise<T>,
  options: { routing?: boolean } = {},
): Promise<T> {
  const pending: NewEvent[] = [];
  let stored: StoredEvent[] = [];
  // The events lock is taken by the events insert itself, at the very end:
  // held only for that insert and the COMMIT that travels with it.
  const locks = options.routing ? [LOCKS.routing] : [];
  const value = await ctx.db.transaction(async (tx) => fn(tx, (event) => pending.push(event)), {
    locks,
    groupCommit: true,
    // The events go in with the COMMIT: one round trip less while the locks are held.
    final: () => {
      if (pending.length === 0) return undefined;
      const append = appendEvents(pending, ctx.now());
      return { ...append, rows: (rows) => (stored = append.stored(rows as { id: number }[])) };
    },
  });
  if (stored.length > 0) ctx.onCommitted?.(stored);
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
    // Ids are drawn only for joined rows, so after the lock is held; it is
    // released by the COMMIT sent with this statement. They are drawn in the
    // order of e.n, so the sorted ids match the events one to one.
    text: `with events_lock as (select pg_advisory_xact_lock(${LOCKS.events.toString()}))
     insert into events (type, conversation_id, agent_id, data, created_at)
     select e.type, e.conversation_id, e.agent_id, e.data, $5
       from events_lock, unnest($1::text[], $2::uuid[], $3::uuid[], $4::jsonb[]) with ordinality as e(type, conversation_id, agent_id, data, n)
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

export async function listEvents(db: Queryable, after: number, limit: number, type?: string): Promise<StoredEvent[]> {
  return db.query<StoredEvent>(
    `select id, type, conversation_id, agent_id, data, created_at from events
      where id > $1 and ($3::text is null or type = $3)
      order by id limit $2`,
    [after, limit, type ?? null],
  );
}
