import type { Db } from '../store/db.js';
import type { Period } from './period.js';

// Reports: first response time, resolution time and messages per
// conversation, per agent or per department, read from the event log.
//
// A conversation counts in the period its `conversation.resolved` event falls
// in, and in the row of the agent who held it then or of its department then,
// both read from the event's conversation. Its agent_id, not the event's own
// agent_id column: a conversation resolved while only offered to an agent was
// never held by them, and is closed with agent_id null (sb_close_conversation)
// while the event's column still names the offered agent, who is told the
// offer is gone. Such a close counts in the null row, as one from the queue.
// Counting by resolution makes every figure final: a resolved conversation
// takes no more messages, so a past period's report never changes.

export type ReportGroup = 'agent' | 'department';

export interface Figures {
  /** conversations resolved in the period */
  conversations: number;
  /** of those, how many had an agent's reply (the first-response figures are over these) */
  responded: number;
  /** mean seconds from creation to the first agent message; null when none responded */
  first_response_s: number | null;
  first_response_median_s: number | null;
  first_response_p90_s: number | null;
  /** mean seconds from creation to resolution */
  resolution_s: number | null;
  resolution_median_s: number | null;
  resolution_p90_s: number | null;
  /** mean messages per conversation (customer, agent, system and bot) */
  messages: number | null;
  messages_total: number;
}

export interface AgentRow extends Figures {
  /** null: conversations resolved while no agent held them (closed from the queue, or while only offered) */
  agent_id: string | null;
  agent_name: string | null;
}

export interface DepartmentRow extends Figures {
  /** null: no department */
  department: string | null;
}

export interface Report {
  group: ReportGroup;
  from: string;
  to: string;
  rows: (AgentRow | DepartmentRow)[];
  /** the same figures over every conversation of the period */
  total: Figures;
}

/**
 * $1 from, $2 to (half-open), $3 'agent' or 'department'.
 *
 * Resolutions come from events_assignments_resolutions (type, created_at);
 * each one's messages from events_messages (migration 0013): one index probe
 * counts them (index-only), one finds the first agent reply (the index is
 * ordered by sender, then time). Agent, creation time and department are
 * read from the resolved event's own payload, so no other row is visited; the CTE is
 * materialized so the rows carried to the grouping are the four narrow
 * columns, not the events' payloads. `grouping sets` adds the total row in
 * the same pass.
 */
export const REPORT_SQL = /* sql */ `
with resolved as materialized (
  select r.conversation_id,
         case when $3::text = 'agent' then r.data #>> '{conversation,agent_id}' else r.data #>> '{conversation,department}' end as key,
         (r.data #>> '{conversation,created_at}')::timestamptz as created_at,
         r.created_at as resolved_at
    from events r
   where r.type = 'conversation.resolved' and r.created_at >= $1::timestamptz and r.created_at < $2::timestamptz
), measured as (
  select c.key,
         extract(epoch from (reply.at - c.created_at))::float8 as first_response,
         extract(epoch from (c.resolved_at - c.created_at))::float8 as resolution,
         sent.n as messages
    from resolved c
    cross join lateral (
      select min(m.created_at) as at from events m
       where m.type = 'message.created' and m.conversation_id = c.conversation_id
         and (m.data #>> '{message,sender}') = 'agent') reply
    cross join lateral (
      select count(*)::int as n from events m
       where m.type = 'message.created' and m.conversation_id = c.conversation_id) sent
)
select grouping(key) = 1 as is_total,
       key,
       count(*)::int as conversations,
       count(first_response)::int as responded,
       round(avg(first_response)::numeric, 3)::float8 as first_response_s,
       round(percentile_cont(0.5) within group (order by first_response)::numeric, 3)::float8 as first_response_median_s,
       round(percentile_cont(0.9) within group (order by first_response)::numeric, 3)::float8 as first_response_p90_s,
       round(avg(resolution)::numeric, 3)::float8 as resolution_s,
       round(percentile_cont(0.5) within group (order by resolution)::numeric, 3)::float8 as resolution_median_s,
       round(percentile_cont(0.9) within group (order by resolution)::numeric, 3)::float8 as resolution_p90_s,
       round(avg(messages)::numeric, 2)::float8 as messages,
       coalesce(sum(messages), 0)::int as messages_total
  from measured
 group by grouping sets ((key), ())`;

type SqlRow = Figures & { is_total: boolean; key: string | null };

const EMPTY: Figures = {
  conversations: 0,
  responded: 0,
  first_response_s: null,
  first_response_median_s: null,
  first_response_p90_s: null,
  resolution_s: null,
  resolution_median_s: null,
  resolution_p90_s: null,
  messages: null,
  messages_total: 0,
};

function figures(row: SqlRow): Figures {
  const { is_total: _total, key: _key, ...rest } = row;
  return rest;
}

export async function readReport(db: Db, group: ReportGroup, period: Period): Promise<Report> {
  const { rows, names } = await db.transaction(async (tx) => {
    // The planner's cost for a month of conversations is far above
    // jit_above_cost, and compiling the query took 2.6 s of a 6.6 s report
    // on PostgreSQL (bench/reports.ts): a probe per conversation gains
    // nothing from JIT. Local to this read-only transaction.
    await tx.query('set local jit = off');
    const found = await tx.query<SqlRow>(REPORT_SQL, [period.from, period.to, group]);
    // names as they are now; a deleted agent keeps theirs
    const ids = group === 'agent' ? found.map((r) => r.key).filter((k): k is string => k !== null) : [];
    const named = ids.length === 0 ? [] : await tx.query<{ id: string; name: string }>('select id::text as id, name from agents where id = any ($1::uuid[])', [ids]);
    return { rows: found, names: new Map(named.map((a) => [a.id, a.name])) };
  });
  const total = rows.find((r) => r.is_total);
  const keyed = rows.filter((r) => !r.is_total);
  let out: (AgentRow | DepartmentRow)[];
  if (group === 'agent') {
    out = keyed
      .map((r): AgentRow => ({ agent_id: r.key, agent_name: r.key === null ? null : (names.get(r.key) ?? null), ...figures(r) }))
      .sort((a, b) => order(a.agent_name, b.agent_name) || order(a.agent_id, b.agent_id));
  } else {
    out = keyed.map((r): DepartmentRow => ({ department: r.key, ...figures(r) })).sort((a, b) => order(a.department, b.department));
  }
  return { group, from: period.from.toISOString(), to: period.to.toISOString(), rows: out, total: total ? figures(total) : EMPTY };
}

/** by name, case-insensitively; null (no agent, no department) last */
/** How report rows are ordered by name: case and accents aside, the same on every store and server locale; a null last. */
export function order(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a.localeCompare(b, 'en', { sensitivity: 'base' }) || (a < b ? -1 : 1);
}
