import type { Ctx } from '../context.js';
import { AppError, invalid, notFound } from '../errors.js';
import type { Queryable } from '../store/db.js';
import type { Period } from '../reports/period.js';

// What greetings did, counted from the widget's reports: `shown` when the
// chat opened with the greeting, `opened` when that visitor then started a
// chat. Anyone may post (the widget has no credential before a chat), so the
// count is made safe by the data: the table's primary key admits one row per
// greeting, visitor and kind, and an `opened` needs that visitor's `shown`.

export const KINDS = ['shown', 'opened'] as const;
export type GreetingEventKind = (typeof KINDS)[number];

/** The ids the loader makes (v- and a UUID); anything of that shape is taken, nothing longer. */
export const VISITOR_ID = /^[A-Za-z0-9_-]{8,100}$/;

// The insert is the decision: no read-then-write, so two posts racing for the
// same visitor both reach it and the primary key lets one in. The greeting is
// locked (key share, as the foreign-key check would) where it is read: a
// delete committing meanwhile then leaves no row to insert, and the post is
// the 404 of an unknown greeting. Left to the check, after the read, the
// insert failed on the deleted greeting (23503) and the post was a 500.
const RECORD = /* sql */ `
  insert into greeting_events (greeting_id, visitor_id, kind, created_at)
  select g.id, $2, $3, $4 from greetings g
   where g.id = $1
     and ($3 = 'shown' or exists (select 1 from greeting_events s where s.greeting_id = g.id and s.visitor_id = $2 and s.kind = 'shown'))
     for key share of g
  on conflict (greeting_id, visitor_id, kind) do nothing
  returning kind`;

/** Counts the event once; `counted` false when this visitor already counted for this greeting and kind. */
export async function recordGreetingEvent(ctx: Pick<Ctx, 'db' | 'now'>, greetingId: string, visitorId: string, kind: GreetingEventKind): Promise<{ counted: boolean }> {
  if (!KINDS.includes(kind)) throw invalid('kind', `must be one of ${KINDS.join(', ')}, got ${JSON.stringify(String(kind).slice(0, 40))}`);
  if (!VISITOR_ID.test(visitorId)) throw invalid('visitor_id', 'must be 8 to 100 letters, digits, _ or - (the id the widget keeps for this visitor)');
  const inserted = await ctx.db.query(RECORD, [greetingId, visitorId, kind, ctx.now()]);
  if (inserted.length > 0) return { counted: true };
  // nothing inserted: say why (these reads decide nothing, the insert did)
  const [why] = await ctx.db.query<{ greeting: boolean; shown: boolean }>(
    `select exists (select 1 from greetings where id = $1) as greeting,
            exists (select 1 from greeting_events where greeting_id = $1 and visitor_id = $2 and kind = 'shown') as shown`,
    [greetingId, visitorId],
  );
  if (!why?.greeting) throw notFound('greeting', greetingId);
  if (!why.shown) throw new AppError('SB_GREETING_NOT_SHOWN', `greeting ${greetingId} was not shown to visitor ${visitorId}: an opened chat counts only after a shown greeting`, 409, 'kind');
  return { counted: false };
}

export interface GreetingFigures {
  shown: number;
  opened: number;
  /** opened / shown in %, 1 decimal; null when nothing was shown */
  open_rate: number | null;
}

export interface GreetingsReport {
  from: string;
  to: string;
  rows: (GreetingFigures & { greeting_id: string; name: string; enabled: boolean })[];
  total: GreetingFigures;
}

const rate = (shown: number, opened: number) => (shown === 0 ? null : Math.round((1000 * opened) / shown) / 10);

/**
 * Every greeting with what it did in the period [from, to): the visitors
 * shown it in the period and, of those, how many opened a chat, whenever
 * they did. An opening counts in the period of its visitor's `shown`, so
 * opened never exceeds shown, and consecutive periods add up: counted by its
 * own time, an opening just after midnight of a greeting shown just before
 * counted in a day that never showed it (an open rate over 100%).
 */
export async function readGreetingsReport(db: Queryable, period: Period): Promise<GreetingsReport> {
  // The period's shown by time (greeting_events_by_time), then each one's
  // opened by the primary key. A subquery, not a join: joined, the planner
  // hashed every opened event ever recorded for a day's report.
  const rows = await db.query<{ id: string; name: string; enabled: boolean; shown: number; opened: number }>(
    `select g.id, g.name, g.enabled, count(s.visitor_id)::int as shown,
            count(s.visitor_id) filter (where exists (select 1 from greeting_events o
                                                       where o.greeting_id = s.greeting_id and o.visitor_id = s.visitor_id and o.kind = 'opened'))::int as opened
       from greetings g
       left join greeting_events s on s.greeting_id = g.id and s.kind = 'shown' and s.created_at >= $1 and s.created_at < $2
      group by g.id
      order by g.created_at, g.id`,
    [period.from, period.to],
  );
  const shown = rows.reduce((n, r) => n + Number(r.shown), 0);
  const opened = rows.reduce((n, r) => n + Number(r.opened), 0);
  return {
    from: period.from.toISOString(),
    to: period.to.toISOString(),
    rows: rows.map((r) => ({ greeting_id: r.id, name: r.name, enabled: r.enabled, shown: Number(r.shown), opened: Number(r.opened), open_rate: rate(Number(r.shown), Number(r.opened)) })),
    total: { shown, opened, open_rate: rate(shown, opened) },
  };
}
