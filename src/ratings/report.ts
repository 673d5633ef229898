import type { Queryable } from '../store/db.js';
import type { Period } from '../reports/period.js';
import { order } from '../reports/query.js';

// The Satisfaction report: ratings given in a period, per agent or per
// department, and per UTC day. A rating counts in the period it was given in
// and in the row of the agent and department the conversation had when it
// was resolved (copied into the rating), so a past period never changes.

export type SatisfactionGroup = 'agent' | 'department';

export interface SatisfactionFigures {
  ratings: number;
  /** mean score, 2 decimals; null without ratings */
  average: number | null;
  /** the CSAT score: % of ratings that are 4 or 5, 1 decimal; null without ratings */
  csat: number | null;
  /** how many ratings gave 1, 2, 3, 4 and 5 */
  scores: [number, number, number, number, number];
}

export interface SatisfactionReport {
  group: SatisfactionGroup;
  from: string;
  to: string;
  rows: (SatisfactionFigures & { agent_id?: string | null; agent_name?: string | null; department?: string | null })[];
  total: SatisfactionFigures;
  /** the total per UTC day that has ratings, oldest first */
  days: (SatisfactionFigures & { day: string })[];
}

const FIGURES = /* sql */ `
  count(*)::int as ratings,
  round(avg(r.score), 2)::float8 as average,
  round(100.0 * count(*) filter (where r.score >= 4) / nullif(count(*), 0), 1)::float8 as csat,
  array[count(*) filter (where r.score = 1), count(*) filter (where r.score = 2), count(*) filter (where r.score = 3),
        count(*) filter (where r.score = 4), count(*) filter (where r.score = 5)]::int[] as scores`;

/**
 * $1 from, $2 to: the period, half-open (ratings_by_time serves the range);
 * $3 'agent' or 'department'. One statement, so the rows, the total and the
 * days are read from one snapshot and always agree: grouping sets give a row
 * per key, one per UTC day and the total, told apart by grouping().
 */
export const SATISFACTION_SQL = /* sql */ `
with rated as (
  select r.*, case when $3 = 'agent' then r.agent_id::text else r.department end as key,
         to_char(r.created_at at time zone 'UTC', 'YYYY-MM-DD') as day
    from ratings r
   where r.created_at >= $1 and r.created_at < $2
)
select case when grouping(r.key) = 0 then 'row' when grouping(r.day) = 0 then 'day' else 'total' end as kind,
       r.key, r.day, ${FIGURES}
  from rated r
 group by grouping sets ((r.key), (r.day), ())
 order by kind, r.key nulls last, r.day`;

type Figures = SatisfactionFigures;
const figures = (row: Figures): Figures => ({
  ratings: Number(row.ratings),
  average: row.average === null ? null : Number(row.average),
  csat: row.csat === null ? null : Number(row.csat),
  scores: row.scores.map(Number) as Figures['scores'],
});

interface SqlRow extends Figures {
  kind: 'row' | 'day' | 'total';
  key: string | null;
  day: string | null;
}

export async function readSatisfaction(db: Queryable, group: SatisfactionGroup, period: Period): Promise<SatisfactionReport> {
  const found = await db.query<SqlRow>(SATISFACTION_SQL, [period.from, period.to, group]);
  const keyed = found.filter((r) => r.kind === 'row');
  // names as they are now; a deleted agent keeps theirs
  const ids = group === 'agent' ? keyed.map((r) => r.key).filter((k): k is string => k !== null) : [];
  const named = ids.length === 0 ? [] : await db.query<{ id: string; name: string }>('select id::text as id, name from agents where id = any ($1::uuid[])', [ids]);
  const names = new Map(named.map((a) => [a.id, a.name]));
  const rows =
    group === 'agent'
      ? keyed
          .map((r) => ({ agent_id: r.key, agent_name: r.key === null ? null : (names.get(r.key) ?? null), ...figures(r) }))
          // as the conversations report orders them (src/reports/query.ts), not by the server's locale or the database's collation
          .sort((a, b) => order(a.agent_name, b.agent_name) || order(a.agent_id, b.agent_id))
      : keyed.map((r) => ({ department: r.key, ...figures(r) })).sort((a, b) => order(a.department, b.department));
  const total = found.find((r) => r.kind === 'total');
  return {
    group,
    from: period.from.toISOString(),
    to: period.to.toISOString(),
    rows,
    total: total ? figures(total) : { ratings: 0, average: null, csat: null, scores: [0, 0, 0, 0, 0] },
    days: found.filter((r) => r.kind === 'day').map((d) => ({ day: d.day!, ...figures(d) })),
  };
}
