import { NO_HOURS } from '../business-hours/store.js';
import type { BusinessHours } from '../business-hours/rules.js';
import { waitEstimator } from '../business-hours/wait.js';
import type { Ctx } from '../context.js';
import type { Queryable } from '../store/db.js';
import type { ConversationRow, QueueInfo } from '../conversations/model.js';

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
 * an expected wait, counted in the open time of the department's business
 * hours (src/business-hours/wait.ts).
 *
 * The wait counts only the agents who could serve the conversation
 * (sb_queue_team, routing/functions.sql, "Queue place": department, overflow, skills, sticky wait). Their free slots
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
  const ids = filter.conversationIds;
  if (ids !== undefined && ids.length <= COUNT_AHEAD_MAX) return listGiven(ctx, ids, filter);
  // Positions from one window over the whole (department's) queue: the whole
  // queue, or many given conversations, for which counting what is ahead of
  // each would read the queue again and again.
  const shown = /* sql */ `
     q as (
       select c.*, row_number() over (partition by c.department order by sb_effective_priority(c, $1::timestamptz) desc, c.seq)::int as position,
              sb_effective_priority(c, $1::timestamptz) as effective_priority
         from conversations c
        where c.state = 'queued' and ($2::boolean is false or c.department is not distinct from $3::text)
     ), shown as (
       -- a hashed look-up: = any (array) compared every queued row with
       -- every given id (1,000 widget customers in a queue of 10,000: 11
       -- million comparisons, ~270 ms)
       select * from q where ($4::uuid[] is null or q.id in (select unnest($4::uuid[])))
     )`;
  const rows = await ctx.db.query<QueueRow>(
    `${withWaits(shown)} limit $5`,
    [ctx.now(), filter.department !== undefined, filter.department ?? null, filter.conversationIds ?? null, filter.limit ?? 10_000],
  );
  return estimateWaits(ctx, rows);
}

/**
 * Up to this many given conversations are placed by counting what is ahead
 * of each (listGiven), a walk of the index up to each one; more, by one
 * window over the queue, whose cost does not grow with their number.
 */
const COUNT_AHEAD_MAX = 32;

/**
 * listQueue for a few given conversations (the widget's place in line, the
 * realtime publisher's announce, a page of conversations): each one's
 * position counted by sb_queue_position (routing/functions.sql, "Queue place"), 1 + how many of
 * its department's queue are ahead of it, walking
 * conversations_queue_by_department up to it: not a window over the whole
 * queue for every look-up, wherever the conversation waits.
 */
async function listGiven(
  ctx: Pick<Ctx, 'db' | 'now'>,
  ids: readonly string[],
  filter: { department?: string | null; limit?: number },
): Promise<QueuedConversation[]> {
  if (ids.length === 0) return [];
  const shown = /* sql */ `
     flags as materialized (
       select sb_queue_ages() as ages
     ), shown as materialized (
       select c.*, sb_effective_priority(c, $1::timestamptz) as effective_priority,
              sb_queue_position(c, $1::timestamptz, (select ages from flags)) as position
         from conversations c
        where c.id = any ($4::uuid[]) and c.state = 'queued'
          and ($2::boolean is false or c.department is not distinct from $3::text)
     )`;
  const rows = await ctx.db.query<QueueRow>(
    `${withWaits(shown)} limit $5`,
    [ctx.now(), filter.department !== undefined, filter.department ?? null, ids, filter.limit ?? 10_000],
  );
  return estimateWaits(ctx, rows);
}

/**
 * One page of the queue in serving order: `limit` entries after the first
 * `offset` (countQueued gives how many wait in all). A page costs a walk of the
 * queue's order up to its last entry (conversations_queue, or
 * conversations_queue_by_department for one department's queue; with aging
 * on, a top-N sort of the waiting conversations' keys) and the rest for its
 * own rows only: the global order restricted to one department is that
 * department's order, so a conversation's position is its rank among its
 * department's conversations in the walk. Whole rows, agents' sums and
 * expected waits are read for the page alone.
 */
export async function listQueuePage(
  ctx: Pick<Ctx, 'db' | 'now'>,
  page: { department?: string; offset: number; limit: number },
): Promise<QueuedConversation[]> {
  const department = page.department === undefined ? '' : 'and c.department = $4::text';
  const shown = `${pageWalk(department)}, shown as (
       -- the page's rows by key: joined on id alone, the planner (not
       -- knowing how short the page is) hashed the whole table
       select c.*, p.position, p.effective_priority
         from conversations c join page p on p.id = c.id
        where c.id = any (array(select id from page))
     )`;
  const byDepartment = page.department === undefined ? [] : [page.department];
  const rows = await ctx.db.query<QueueRow>(withWaits(shown), [ctx.now(), page.offset + page.limit, page.offset, ...byDepartment]);
  return estimateWaits(ctx, rows);
}

/**
 * The walk of listQueuePage (CTE `page`: the id, effective priority and
 * position of each entry after the first $3 of the first $2, in serving
 * order; `department` narrows it to one department's queue, over `c`).
 */
function pageWalk(department: string): string {
  // Without aging (the default) the order is the index's, (priority, seq),
  // as in sb_match_next; only one branch runs (a one-time filter on flags).
  return /* sql */ `
     flags as materialized (
       select sb_queue_ages() as ages
     ), walk as (
       (select c.id, c.department, c.seq, c.priority::float8 as effective_priority,
               row_number() over (order by c.priority desc, c.seq) as n
          from conversations c
         where c.state = 'queued' ${department} and not (select ages from flags)
         order by c.priority desc, c.seq
         limit $2)
       union all
       (select c.id, c.department, c.seq, sb_effective_priority(c, $1::timestamptz),
               row_number() over (order by sb_effective_priority(c, $1::timestamptz) desc, c.seq)
          from conversations c
         where c.state = 'queued' ${department} and (select ages from flags)
         order by sb_effective_priority(c, $1::timestamptz) desc, c.seq
         limit $2)
     ), ahead as (
       -- how many of each department's conversations the pages before this one hold
       select department, count(*)::int as k from walk where n <= $3 group by department
     ), page as materialized (
       select w.id, w.effective_priority,
              (coalesce(a.k, 0) + row_number() over (partition by w.department order by w.n))::int as position
         from walk w left join ahead a on a.department is not distinct from w.department
        where w.n > $3
     )`;
}

/** What agents' waiting list shows of a queued conversation, and what a widget customer's session/update tells. */
export interface WaitingRow {
  id: string;
  channel: ConversationRow['channel'];
  department: string | null;
  priority: number;
  state: ConversationRow['state'];
  agent_id: string | null;
  resolve_reason: string | null;
  customer: { id: string; name: string | null };
  queued_at: Date | null;
  sla_due_at: Date | null;
  first_response_at: Date | null;
  sla_breached_at: Date | null;
}

export interface WaitingList {
  /** how many conversations wait, all departments */
  length: number;
  /** when the one waiting longest was queued; null when none waits */
  oldest: Date | null;
  /** the first `limit` of the queue in serving order, with positions and expected waits as listQueue gives them */
  head: { row: WaitingRow; queue: QueueInfo }[];
  /** the widget conversations queued past the head (their customers hear their place) */
  widgetsPastHead: string[];
}

/**
 * The realtime publisher's waiting list: listQueuePage's first page,
 * in the same order and with the same places and expected waits, narrowed
 * to the columns the list shows (whole rows cost the Node process
 * more than the rest of a refresh, parsing columns nobody reads), with the
 * queue's length, its oldest entry and the widget conversations past the
 * page. Those three take a second statement only when the page is full (a
 * shorter queue is all in the page), and read indexes, not the queue's rows
 * (migration 0044): the length an index-only walk of
 * conversations_queued_since (well under a millisecond at 10,000), the
 * oldest its first entry, the widgets conversations_queued_widgets (as many
 * entries as widget customers wait).
 *
 * The realtime publisher no longer calls it: src/realtime/waiting-list.ts
 * gives the same list reading again only what changed, with this walk's
 * order and sb_skills_relaxed's and sb_sticky_wait_agent's moments copied.
 * This one, read whole, is the reference that reader is held to
 * (test/integration/realtime-waiting-list.test.ts): a change to the
 * queue's order or waits changes both, and that test tells when they part.
 */
export async function listWaiting(ctx: Pick<Ctx, 'db' | 'now'>, limit: number): Promise<WaitingList> {
  // listQueuePage's walk at offset 0, reading the columns as it walks: the
  // index scan fetches each entry's row anyway, and looking the page up
  // again by id cost half the statement.
  const columns = /* sql */ `c.id, c.seq, c.channel, c.department, c.priority, c.state, c.agent_id, c.resolve_reason,
              c.customer ->> 'id' as customer_ref, c.customer ->> 'name' as customer_name,
              c.queued_at, c.sla_due_at, c.first_response_at, c.sla_breached_at,
              c.skills_relax_after_s, c.sticky_until, c.sticky_agent_id, c.required_skills, c.overflow`;
  const shown = /* sql */ `
     flags as materialized (
       select sb_queue_ages() as ages
     ), walk as (
       (select ${columns}, c.priority::float8 as effective_priority, row_number() over (order by c.priority desc, c.seq) as n
          from conversations c
         where c.state = 'queued' and not (select ages from flags)
         order by c.priority desc, c.seq
         limit $2)
       union all
       (select ${columns}, sb_effective_priority(c, $1::timestamptz),
               row_number() over (order by sb_effective_priority(c, $1::timestamptz) desc, c.seq)
          from conversations c
         where c.state = 'queued' and (select ages from flags)
         order by sb_effective_priority(c, $1::timestamptz) desc, c.seq
         limit $2)
     ), shown as (
       select w.*, row_number() over (partition by w.department order by w.n)::int as position from walk w
     )`;
  const select = /* sql */ `s.id, s.channel, s.department, s.priority, s.state, s.agent_id, s.resolve_reason, s.customer_ref, s.customer_name,
       s.queued_at, s.sla_due_at, s.first_response_at, s.sla_breached_at, s.position`;
  const rows = await ctx.db.query<WaitingQueryRow>(withWaits(shown, select), [ctx.now(), limit]);
  // Built field by field: a rest spread per row cost more than the rest.
  const estimate = rows.length === 0 ? null : waitEstimator(hoursOf(rows), ctx.now());
  const head = rows.map((r) => ({
    row: {
      id: r.id,
      channel: r.channel,
      department: r.department,
      priority: r.priority,
      state: r.state,
      agent_id: r.agent_id,
      resolve_reason: r.resolve_reason,
      customer: { id: r.customer_ref, name: r.customer_name },
      queued_at: r.queued_at,
      sla_due_at: r.sla_due_at,
      first_response_at: r.first_response_at,
      sla_breached_at: r.sla_breached_at,
    },
    queue: { position: r.position, expected_wait_seconds: expectedWait(estimate!, r.department, r) },
  }));
  if (rows.length < limit) {
    const oldest = rows.reduce<Date | null>((min, r) => (r.queued_at && (min === null || r.queued_at < min) ? r.queued_at : min), null);
    return { length: rows.length, oldest, head, widgetsPastHead: [] };
  }
  const [summary] = await ctx.db.query<{ length: number; oldest: Date | null; widgets: string[] }>(
    `select (select count(*)::int from conversations where state = 'queued') as length,
            (select min(queued_at) from conversations where state = 'queued') as oldest,
            array(select id from conversations where state = 'queued' and channel = 'widget' and id <> all ($1::uuid[])) as widgets`,
    [rows.map((r) => r.id)],
  );
  return { length: summary!.length, oldest: summary!.oldest, head, widgetsPastHead: summary!.widgets };
}

type WaitingQueryRow = Omit<WaitingRow, 'customer'> & { customer_ref: string; customer_name: string | null; hours_row: { hours: BusinessHours | null } | null } & WaitTerms;

/** How many conversations wait (in `department`, when given): the total a page of listQueuePage is one part of. */
export async function countQueued(db: Queryable, department?: string): Promise<number> {
  const [row] = await db.query<{ total: number }>(
    `select count(*)::int as total from conversations c where c.state = 'queued' and ($1::text is null or c.department = $1::text)`,
    [department ?? null],
  );
  return row!.total;
}

/** what withWaits adds to each row: the position and what its expected wait needs */
export interface WaitTerms {
  position: number;
  team: { slots: number; free: number; team_slots: number };
  handle_s: number;
}

type QueueRow = ConversationRow & WaitTerms & { effective_priority: number; relaxed: boolean; sticky_agent: string | null; hours_row: { hours: BusinessHours | null } | null };

/**
 * The shown rows (CTE `shown`: conversations with their position and
 * effective priority) with what their expected waits need, in serving order.
 * $1 is now.
 */
function withWaits(shown: string, select = 's.*'): string {
  return `with ${shown}, termed as (
       select s.*,
              sb_skills_relaxed(s.skills_relax_after_s, s.queued_at, $1::timestamptz) as relaxed,
              sb_sticky_wait_agent(s.sticky_until, s.sticky_agent_id, $1::timestamptz) as sticky_agent
         from shown s
     ), terms as (
       select distinct department, required_skills, overflow, relaxed, sticky_agent from termed
     ), team as materialized (
       select t.*, sb_queue_team(t.department, t.required_skills, t.overflow, t.relaxed, t.sticky_agent) as team from terms t
     ), handle as materialized (
       select sb_recent_handle_s(${DEFAULT_HANDLE_TIME_S}) as handle_s, (select hours from business_hours) as hours
     )
     select ${select}, handle.handle_s, m.team,
            -- the business hours once, on the first row (a limit keeps it), not parsed again for every row
            case when row_number() over (order by s.effective_priority desc, s.seq) = 1 then jsonb_build_object('hours', handle.hours) end as hours_row
       from termed s
       join team m on m.department is not distinct from s.department and m.required_skills = s.required_skills and m.overflow = s.overflow
                  and m.relaxed = s.relaxed and m.sticky_agent is not distinct from s.sticky_agent
       cross join handle
      order by s.effective_priority desc, s.seq`;
}

/** The business hours a withWaits statement read (on one of its rows); none stored: no schedule. */
function hoursOf(rows: readonly { hours_row: { hours: BusinessHours | null } | null }[]): BusinessHours {
  return rows.find((r) => r.hours_row !== null)?.hours_row?.hours ?? NO_HOURS;
}

function estimateWaits(ctx: Pick<Ctx, 'db' | 'now'>, rows: QueueRow[]): QueuedConversation[] {
  const estimate = rows.length === 0 ? null : waitEstimator(hoursOf(rows), ctx.now());
  return rows.map(({ position, effective_priority: _, relaxed: _r, sticky_agent: _s, team, handle_s, hours_row: _h, ...row }) => ({
    row,
    queue: { position, expected_wait_seconds: expectedWait(estimate!, row.department, { position, team, handle_s }) },
  }));
}

export function expectedWait(estimate: ReturnType<typeof waitEstimator>, department: string | null, { position, team, handle_s }: WaitTerms): number | null {
  return estimate(department, {
    // the conversations ahead that free slots take at once wait for nothing
    position: Math.max(0, position - team.free),
    handleS: handle_s,
    onlineSlots: team.slots,
    teamSlots: team.team_slots,
  });
}

/**
 * What sb_queue_place (routing/functions.sql, "Queue place") returns for a
 * waiting conversation: its place and what its expected wait needs, read
 * right after its open committed, in the open's round trip.
 */
export interface PlaceTerms {
  queue_position: number | null;
  queue_team: WaitTerms['team'] | null;
  queue_handle_s: number | null;
  queue_hours: BusinessHours | null;
}

/** A waiting conversation's queue info from the terms its open returned, reckoned as listQueue reckons it. */
export function queueInfoFrom(ctx: Pick<Ctx, 'now'>, row: Pick<ConversationRow, 'state' | 'department'>, terms: PlaceTerms): QueueInfo | null {
  const { queue_position: position, queue_team: team, queue_handle_s: handle_s } = terms;
  if (row.state !== 'queued' || position === null || team === null || handle_s === null) return null;
  const estimate = waitEstimator(terms.queue_hours ?? NO_HOURS, ctx.now());
  return { position, expected_wait_seconds: expectedWait(estimate, row.department, { position, team, handle_s }) };
}

export async function queueInfoOf(ctx: Pick<Ctx, 'db' | 'now'>, row: Pick<ConversationRow, 'id' | 'state' | 'department'>): Promise<QueueInfo | null> {
  if (row.state !== 'queued') return null;
  const [entry] = await listQueue(ctx, { department: row.department, conversationIds: [row.id] });
  return entry?.queue ?? null;
}
