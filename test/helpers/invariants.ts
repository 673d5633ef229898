import type { Queryable } from '../../src/store/db.js';

/**
 * The engine's promises, read from the database. Each query returns the rows
 * that break a promise; an empty list means it holds.
 */
/**
 * `now`: the time eligibility is judged at (docs/routing.md: skills are
 * relaxed and conversations overflow after a wait). Without it only what
 * does not depend on time counts: departments and unrelaxed skills.
 */
export async function invariantViolations(db: Queryable, options: { workConserving?: boolean; now?: Date } = {}): Promise<string[]> {
  const problems: string[] = [];
  const loadMismatch = await db.query<{ id: string; load: number; actual: number }>(
    // an offered conversation's slot counts against its agent's capacity too
    `select a.id, a.load, (select count(*)::int from conversations c where c.agent_id = a.id and c.state in ('assigned', 'offered')) as actual
       from agents a
      where a.load <> (select count(*) from conversations c where c.agent_id = a.id and c.state in ('assigned', 'offered'))`,
  );
  for (const r of loadMismatch) problems.push(`agent ${r.id} load column ${r.load} but holds ${r.actual}`);

  const badState = await db.query<{ id: string }>(
    `select id from conversations where (state in ('assigned', 'offered') and agent_id is null) or (state = 'queued' and agent_id is not null)`,
  );
  for (const r of badState) problems.push(`conversation ${r.id} has a state that does not match its agent`);

  const assignedTwice = await db.query<{ conversation_id: string; n: number }>(
    // every assignment (or offer) event must be followed by a release before
    // the next one; only an accept (assigned) follows an offer
    `select conversation_id, count(*)::int as n from (
        select conversation_id, type,
               lag(type) over (partition by conversation_id order by id) as previous
          from events
         where type in ('conversation.assigned', 'conversation.offered', 'conversation.offer_declined', 'conversation.offer_expired',
                        'conversation.queued', 'conversation.transferred', 'conversation.resolved', 'conversation.abandoned')
     ) e
     where type in ('conversation.assigned', 'conversation.offered') and previous in ('conversation.assigned', 'conversation.offered')
       and not (type = 'conversation.assigned' and previous = 'conversation.offered')
     group by conversation_id`,
  );
  for (const r of assignedTwice) problems.push(`conversation ${r.conversation_id} was assigned again without being released`);

  if (options.workConserving !== false) {
    const waitingWithRoom = await db.query<{ id: string; agent: string }>(
      // eligibility restated from the conversation's stored terms, not through sb_agent_serves; a wait
      // is measured to no earlier than queued_at, as the engine measures it (a 0-s wait has passed)
      `select c.id, a.id as agent
         from conversations c
         join agents a on a.status = 'online' and a.deleted_at is null
                      and (c.department is null or c.department = any (a.departments)
                           or exists (select 1 from jsonb_array_elements(c.overflow) r
                                       where r ->> 'to' = any (a.departments)
                                         and greatest($1::timestamptz, c.queued_at) >= c.queued_at + (r ->> 'after_s')::int * interval '1 second'))
                      and ((c.skills_relax_after_s is not null and greatest($1::timestamptz, c.queued_at) >= c.queued_at + c.skills_relax_after_s * interval '1 second')
                           or not exists (select 1 from jsonb_each_text(c.required_skills) r
                                           where coalesce((a.skills ->> r.key)::int, 0) < r.value::int))
                      and a.load < coalesce(a.capacity, (select (value #>> '{}')::int from settings where key = 'max_customers'))
                      and not (a.id = any (c.declined_by))
                      -- a sticky wait (docs/routing.md#sticky-agent): until sticky_until only the
                      -- customer's last agent may take it, so only their room is a violation;
                      -- without a time the wait is taken as still running
                      and (c.sticky_until is null or $1::timestamptz >= c.sticky_until or a.id = c.sticky_agent_id)
        where c.state = 'queued'
          -- in a manual-pick department agents take conversations themselves
          and coalesce((select d.settings ->> 'mode' from department_routing d where d.department = c.department), 'auto') <> 'manual'
        limit 5`,
      [options.now ?? null],
    );
    for (const r of waitingWithRoom) problems.push(`conversation ${r.id} waits while agent ${r.agent} has room`);
  }
  return problems;
}

/** Agents holding more than their capacity (only legitimate right after their capacity was lowered). */
export async function overCapacity(db: Queryable): Promise<{ id: string; load: number; capacity: number }[]> {
  return db.query(
    `select a.id, a.load, coalesce(a.capacity, (select (value #>> '{}')::int from settings where key = 'max_customers')) as capacity
       from agents a
      where a.load > coalesce(a.capacity, (select (value #>> '{}')::int from settings where key = 'max_customers'))`,
  );
}
