import type { Role } from '../agents/model.js';
import { invalid } from '../errors.js';
import { MAX_SPAN_DAYS } from '../reports/period.js';
import { order } from '../reports/query.js';
import type { AgentStatus } from '../routing/presence.js';
import { CAPACITY_OF_A } from '../routing/sql.js';
import type { Db } from '../store/db.js';

// What the supervisor dashboard shows: the queue now, the agents now, and
// how many conversations were assigned and resolved in each time bucket of a
// window. One statement, so every figure comes from the same snapshot.

/** At most this many buckets per answer: a day of minutes, and the current one. */
export const MAX_BUCKETS = 1441;
export const DEFAULT_INTERVAL_S = 60;
export const DEFAULT_WINDOW_MS = 3_600_000;
const STATUS_ORDER: readonly AgentStatus[] = ['online', 'away', 'offline'];

export interface DepartmentQueue {
  department: string | null;
  /** queued: waiting for an agent */
  length: number;
  longest_wait_seconds: number;
  /** offered to an agent who has not accepted yet (offer mode): no longer queued, not yet assigned */
  offered: number;
}

export interface Bucket {
  start: string;
  assignments: number;
  resolutions: number;
}

export interface AgentLoad {
  id: string;
  name: string;
  role: Role;
  status: AgentStatus;
  load: number;
  capacity: number | null;
  effective_capacity: number;
  departments: string[];
}

/**
 * A department's first-response SLA (issue #20): today is the UTC day of
 * `at`. met_today: first agent replies given today within the target;
 * breached_today: conversation.sla_breached raised today; at_risk: open,
 * unanswered, not yet breached conversations with half their target or
 * more gone.
 */
export interface DepartmentSla {
  department: string;
  /** the department's sla_first_response_s now; null when it no longer has one (its conversations still count) */
  target_seconds: number | null;
  met_today: number;
  breached_today: number;
  at_risk: number;
}

export interface Dashboard {
  at: string;
  queue: { length: number; longest_wait_seconds: number; offered: number; departments: DepartmentQueue[] };
  sla: { departments: DepartmentSla[] };
  activity: { interval_seconds: number; since: string; assignments: number; resolutions: number; buckets: Bucket[] };
  agents: AgentLoad[];
}

interface Row {
  queue: DepartmentQueue[];
  sla: DepartmentSla[];
  activity: { type: string; bucket: number; n: number }[];
  agents: AgentLoad[];
}

/**
 * $1 now, $2 interval in seconds, $3 since (the first instant counted), $4 window end. The queued
 * rows come from a partial index of the queue and the events from
 * events_assignments_resolutions (migration 0006): nothing reads conversation
 * history or the message events. The SLA figures read the conversations due
 * or breached today (migration 0033's indexes) and the departments with a
 * target.
 */
export const DASHBOARD_SQL = /* sql */ `
with today as (
  select date_trunc('day', $1::timestamptz at time zone 'UTC') at time zone 'UTC' as start
), sla_today as (
  select c.department, c.created_at, c.sla_due_at, c.first_response_at, c.sla_breached_at, c.resolved_at
    from conversations c, today
   where c.sla_due_at >= today.start or c.sla_breached_at >= today.start
)
select
  (select coalesce(jsonb_agg(s), '[]'::jsonb) from (
     select d.department,
            (sb_department_routing(d.department) ->> 'sla_first_response_s')::int as target_seconds,
            count(c.sla_due_at) filter (where c.first_response_at >= today.start and c.first_response_at <= c.sla_due_at)::int as met_today,
            count(c.sla_due_at) filter (where c.sla_breached_at >= today.start)::int as breached_today,
            count(c.sla_due_at) filter (where c.resolved_at is null and c.first_response_at is null and c.sla_breached_at is null
                                          and $1::timestamptz >= c.created_at + (c.sla_due_at - c.created_at) / 2)::int as at_risk
       from (select r.department from department_routing r where jsonb_typeof(r.settings -> 'sla_first_response_s') = 'number'
             union
             select t.department from sla_today t where t.department is not null) d
       cross join today
       left join sla_today c on c.department = d.department
      group by d.department) s) as sla,
  (select coalesce(jsonb_agg(q), '[]'::jsonb) from (
     select department, count(*) filter (where state = 'queued')::int as length,
            coalesce(greatest(0, floor(extract(epoch from ($1::timestamptz - min(coalesce(queued_at, created_at)) filter (where state = 'queued'))))), 0)::int
              as longest_wait_seconds,
            count(*) filter (where state = 'offered')::int as offered
       from conversations
      where state in ('queued', 'offered')
      group by department) q) as queue,
  (select coalesce(jsonb_agg(e), '[]'::jsonb) from (
     select type, floor(extract(epoch from created_at) / $2::int)::bigint as bucket, count(*)::int as n
       from events
      where type in ('conversation.assigned', 'conversation.resolved')
        and created_at >= $3::timestamptz and created_at < $4::timestamptz
      group by 1, 2) e) as activity,
  (select coalesce(jsonb_agg(a), '[]'::jsonb) from (
     select a.id, a.name, a.role, a.status, a.load, a.capacity, ${CAPACITY_OF_A} as effective_capacity, a.departments
       from agents a
      where a.deleted_at is null) a) as agents`;

/**
 * Buckets are aligned to multiples of the interval since the Unix epoch (UTC),
 * so the same moment falls in the same bucket on every refresh; the buckets
 * run from the one holding `since` through the current, partial one. Events
 * count from `since` itself, not from its bucket's start: "the last day" in
 * hourly buckets would otherwise count up to 25 hours.
 */
export async function readDashboard(db: Db, now: Date, options: { intervalSeconds?: number; since?: Date } = {}): Promise<Dashboard> {
  const interval = options.intervalSeconds ?? DEFAULT_INTERVAL_S;
  const since = options.since ?? new Date(now.getTime() - DEFAULT_WINDOW_MS);
  // an Invalid Date (the route parses with parseDateTime; a caller in code may not) compares false to everything
  if (Number.isNaN(since.getTime())) throw invalid('since', 'must be a date-time with its offset');
  if (since.getTime() > now.getTime()) throw invalid('since', 'is in the future');
  // Bounded in time as well as in buckets: 1441 day-long buckets was four
  // years of events aggregated on every refresh; a report covers at most a year.
  if (now.getTime() - since.getTime() > MAX_SPAN_DAYS * 86_400_000) throw invalid('since', `is more than ${MAX_SPAN_DAYS} days ago: the window covers at most ${MAX_SPAN_DAYS} days`);
  const first = Math.floor(since.getTime() / 1000 / interval);
  const last = Math.floor(now.getTime() / 1000 / interval);
  const count = last - first + 1;
  if (count > MAX_BUCKETS) {
    throw invalid('since', `is too far back for an interval of ${interval} s: the window may hold at most ${MAX_BUCKETS} buckets (it would hold ${count})`);
  }
  const end = new Date((last + 1) * interval * 1000);

  const [row] = await db.transaction(async (tx) => {
    // Without statistics (autovacuum off, a fresh bulk load) the SLA part is
    // estimated at hundreds of thousands of rows, far above jit_above_cost,
    // and compiling took most of a 0.5–3 s read at 1,000,000 closed
    // conversations (bench/growth.ts); the query walks indexes and gains
    // nothing from JIT. Local to this read-only transaction, as the reports' read.
    await tx.query('set local jit = off');
    return tx.query<Row>(DASHBOARD_SQL, [now, interval, since, end]);
  });
  const { queue, sla, activity, agents } = row!;
  // Ordered here, as the reports are, not in SQL: the collation differs
  // between stores (PGlite's C puts "Émile" after "Zed" and "Sales" before
  // "billing"). No department comes first, as it always has.
  queue.sort((a, b) => (a.department === null || b.department === null ? Number(b.department === null) - Number(a.department === null) : order(a.department, b.department)));
  sla.sort((a, b) => order(a.department, b.department));
  agents.sort((a, b) => STATUS_ORDER.indexOf(a.status) - STATUS_ORDER.indexOf(b.status) || order(a.name, b.name) || order(a.id, b.id));

  const buckets: Bucket[] = Array.from({ length: count }, (_, i) => ({
    start: new Date((first + i) * interval * 1000).toISOString(),
    assignments: 0,
    resolutions: 0,
  }));
  for (const { type, bucket, n } of activity) {
    const slot = buckets[Number(bucket) - first];
    if (!slot) continue;
    if (type === 'conversation.assigned') slot.assignments += n;
    else slot.resolutions += n;
  }
  return {
    at: now.toISOString(),
    queue: {
      length: queue.reduce((sum, d) => sum + d.length, 0),
      longest_wait_seconds: queue.reduce((max, d) => Math.max(max, d.longest_wait_seconds), 0),
      offered: queue.reduce((sum, d) => sum + d.offered, 0),
      departments: queue,
    },
    sla: { departments: sla },
    activity: {
      interval_seconds: interval,
      since: since.toISOString(),
      assignments: buckets.reduce((sum, b) => sum + b.assignments, 0),
      resolutions: buckets.reduce((sum, b) => sum + b.resolutions, 0),
      buckets,
    },
    agents,
  };
}
