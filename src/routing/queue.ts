import { readBusinessHours } from '../business-hours/store.js';
import { waitEstimator } from '../business-hours/wait.js';
import type { Ctx } from '../context.js';
import type { ConversationRow, QueueInfo } from '../conversations/model.js';
import { CAPACITY_OF_A } from './sql.js';

/** Used for the expected wait until Switchboard has seen conversations resolved. */
export const DEFAULT_HANDLE_TIME_S = 300;

export interface QueuedConversation {
  row: ConversationRow;
  queue: QueueInfo;
}

/**
 * Queued conversations in queue order (effective priority: priority plus
 * aging, sb_effective_priority; then arrival), each with its position in its
 * department's queue (department-less conversations form their own queue) and
 * an expected wait: position × mean handle time ÷ the slots of the online
 * agents who can serve it — the rate at which slots free up if they are all
 * busy — counted in the open time of the department's business hours
 * (src/business-hours/wait.ts). Null when no online agent can serve it
 * during hours (outside hours: when no agent at all serves it).
 */
export async function listQueue(
  ctx: Pick<Ctx, 'db' | 'now'>,
  filter: { department?: string | null; conversationIds?: readonly string[]; limit?: number } = {},
): Promise<QueuedConversation[]> {
  const { db } = ctx;
  const rows = await db.query<ConversationRow & { position: number; effective_priority: number; slots: number | null; team_slots: number | null; handle_s: number }>(
    `with q as (
       select c.*, row_number() over (partition by c.department order by sb_effective_priority(c, $5::timestamptz) desc, c.seq)::int as position,
              sb_effective_priority(c, $5::timestamptz) as effective_priority
         from conversations c
        where c.state = 'queued' and ($1::boolean is false or c.department is not distinct from $2::text)
     ), departments as (
       select distinct department from q
     ), slots as (
       select d.department,
              coalesce(sum(${CAPACITY_OF_A}) filter (where a.status = 'online'), 0)::int as slots,
              sum(${CAPACITY_OF_A})::int as team_slots
         from departments d
         join agents a on a.deleted_at is null
                      and (d.department is null or d.department = any (a.departments))
        group by d.department
     ), handle as (
       select coalesce(avg(extract(epoch from (resolved_at - assigned_at))), ${DEFAULT_HANDLE_TIME_S})::float8 as handle_s
         from (select resolved_at, assigned_at from conversations
                where state = 'resolved' and assigned_at is not null
                order by resolved_at desc limit 100) recent
     )
     select q.*, s.slots, s.team_slots, handle.handle_s
       from q
       left join slots s on s.department is not distinct from q.department
       cross join handle
      where ($3::uuid[] is null or q.id = any ($3::uuid[]))
      order by q.effective_priority desc, q.seq
      limit $4`,
    [filter.department !== undefined, filter.department ?? null, filter.conversationIds ?? null, filter.limit ?? 10_000, ctx.now()],
  );
  const estimate = rows.length === 0 ? null : waitEstimator(await readBusinessHours(db), ctx.now());
  return rows.map(({ position, effective_priority: _, slots, team_slots, handle_s, ...row }) => ({
    row,
    queue: {
      position,
      expected_wait_seconds: estimate!(row.department, { position, handleS: handle_s, onlineSlots: slots ?? 0, teamSlots: team_slots ?? 0 }),
    },
  }));
}

export async function queueInfoOf(ctx: Pick<Ctx, 'db' | 'now'>, row: ConversationRow): Promise<QueueInfo | null> {
  if (row.state !== 'queued') return null;
  const [entry] = await listQueue(ctx, { department: row.department, conversationIds: [row.id] });
  return entry?.queue ?? null;
}
