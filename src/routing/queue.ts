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
 * Who could serve a queued conversation with terms `t` (SQL over agents
 * `a`): sb_agent_serves as the conversation will see it, not only now. Its
 * department's agents and those of every department it overflows to (a step
 * whose after_s has not passed yet will pass while it waits); with the
 * skills it requires, unless the requirement is dropped already; during a
 * sticky wait, only the customer's last agent. Room aside.
 */
const COULD_SERVE = /* sql */ `
  (t.department is null or t.department = any (a.departments)
   or exists (select 1 from jsonb_array_elements(t.overflow) r where r ->> 'to' = any (a.departments)))
  and (t.required_skills = '{}'::jsonb or t.relaxed
       or not exists (select 1 from jsonb_each_text(t.required_skills) r where coalesce((a.skills ->> r.key)::int, 0) < r.value::int))
  and (t.sticky_agent is null or a.id = t.sticky_agent)`;

/**
 * Queued conversations in queue order (effective priority: priority plus
 * aging, sb_effective_priority; then arrival), each with its position in its
 * department's queue (department-less conversations form their own queue) and
 * an expected wait, counted in the open time of the department's business
 * hours (src/business-hours/wait.ts).
 *
 * The wait counts only the agents who could serve the conversation
 * (COULD_SERVE: department, overflow, skills, sticky wait). Their free slots
 * (capacity − load, where an offered conversation holds its slot as an
 * assigned one does) take the first conversations of the queue at once; the
 * rest wait for slots to free up at the rate of all their slots:
 * max(0, position − free) × mean handle time ÷ their slots. Null when no
 * online agent could serve it during hours (outside hours: when no agent at
 * all could).
 *
 * The agents are summed once per distinct set of terms (department,
 * requirement, overflow chain, relaxed or not, sticky agent), not per
 * conversation: a queue of plain conversations costs one sum per department.
 * Both sums are materialized: inlined, the planner ran them once per row.
 */
export async function listQueue(
  ctx: Pick<Ctx, 'db' | 'now'>,
  filter: { department?: string | null; conversationIds?: readonly string[]; limit?: number } = {},
): Promise<QueuedConversation[]> {
  const { db } = ctx;
  const rows = await db.query<ConversationRow & { position: number; effective_priority: number; team: { slots: number; free: number; team_slots: number }; relaxed: boolean; sticky_agent: string | null; handle_s: number }>(
    `with q as (
       select c.*, row_number() over (partition by c.department order by sb_effective_priority(c, $5::timestamptz) desc, c.seq)::int as position,
              sb_effective_priority(c, $5::timestamptz) as effective_priority,
              (c.skills_relax_after_s is not null and $5::timestamptz >= c.queued_at + make_interval(secs => c.skills_relax_after_s)) as relaxed,
              case when c.sticky_until is not null and $5::timestamptz < c.sticky_until then c.sticky_agent_id end as sticky_agent
         from conversations c
        where c.state = 'queued' and ($1::boolean is false or c.department is not distinct from $2::text)
     ), shown as (
       select * from q where ($3::uuid[] is null or q.id = any ($3::uuid[]))
     ), terms as (
       select distinct department, required_skills, overflow, relaxed, sticky_agent from shown
     ), team as materialized (
       select t.department, t.required_skills, t.overflow, t.relaxed, t.sticky_agent,
              jsonb_build_object(
                'slots', coalesce(sum(${CAPACITY_OF_A}) filter (where a.status = 'online'), 0),
                'free', coalesce(sum(greatest(0, ${CAPACITY_OF_A} - a.load)) filter (where a.status = 'online'), 0),
                'team_slots', coalesce(sum(${CAPACITY_OF_A}), 0)) as team
         from terms t
         left join agents a on a.deleted_at is null and ${COULD_SERVE}
        group by t.department, t.required_skills, t.overflow, t.relaxed, t.sticky_agent
     ), handle as materialized (
       select coalesce(avg(extract(epoch from (resolved_at - assigned_at))), ${DEFAULT_HANDLE_TIME_S})::float8 as handle_s
         from (select resolved_at, assigned_at from conversations
                where state = 'resolved' and assigned_at is not null
                order by resolved_at desc limit 100) recent
     )
     select s.*, handle.handle_s, m.team
       from shown s
       join team m on m.department is not distinct from s.department and m.required_skills = s.required_skills and m.overflow = s.overflow
                  and m.relaxed = s.relaxed and m.sticky_agent is not distinct from s.sticky_agent
       cross join handle
      order by s.effective_priority desc, s.seq
      limit $4`,
    [filter.department !== undefined, filter.department ?? null, filter.conversationIds ?? null, filter.limit ?? 10_000, ctx.now()],
  );
  const estimate = rows.length === 0 ? null : waitEstimator(await readBusinessHours(db), ctx.now());
  return rows.map(({ position, effective_priority: _, relaxed: _r, sticky_agent: _s, team, handle_s, ...row }) => ({
    row,
    queue: {
      position,
      expected_wait_seconds: estimate!(row.department, {
        // the conversations ahead that free slots take at once wait for nothing
        position: Math.max(0, position - team.free),
        handleS: handle_s,
        onlineSlots: team.slots,
        teamSlots: team.team_slots,
      }),
    },
  }));
}

export async function queueInfoOf(ctx: Pick<Ctx, 'db' | 'now'>, row: ConversationRow): Promise<QueueInfo | null> {
  if (row.state !== 'queued') return null;
  const [entry] = await listQueue(ctx, { department: row.department, conversationIds: [row.id] });
  return entry?.queue ?? null;
}
