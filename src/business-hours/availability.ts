import type { Ctx } from '../context.js';
import { DEFAULT_HANDLE_TIME_S } from '../routing/queue.js';
import { CAPACITY_OF_A } from '../routing/sql.js';
import { readSettings } from '../settings/settings.js';
import { scheduleFor } from './rules.js';
import { compile, isHolidayAt, isOpenAt, nextOpening } from './schedule.js';
import { readBusinessHours } from './store.js';
import { waitEstimator } from './wait.js';

// What the widget asks before it offers a live chat: is there someone to
// talk to in this department now, and if not, why and until when. Public,
// so it says only what a customer could learn by trying: no agent names or
// counts, no queue length.

export type OfflineReason = 'outside_hours' | 'holiday' | 'no_agent_online';

export interface Availability {
  /** true: the widget offers a live chat; false: the offline form */
  open: boolean;
  /** why it is closed (null when open): outside_hours, holiday (a listed date), no_agent_online */
  reason: OfflineReason | null;
  /** when the schedule next opens, if it is closed now; null when within hours, without a schedule, or when it never opens */
  next_open_at: string | null;
  /** the expected wait of a conversation opened now, counted in business hours (null when unknown) */
  expected_wait_seconds: number | null;
}

export async function availability(ctx: Pick<Ctx, 'db' | 'now'>, department: string | null): Promise<Availability> {
  const now = ctx.now();
  const [settings, hours, [load]] = await Promise.all([
    readSettings(ctx.db),
    readBusinessHours(ctx.db),
    ctx.db.query<{ queued: number; online: number; slots: number; team_slots: number; handle_s: number }>(
      // our own agents: a channel's mirrors (source not null) stay offline and never take our conversations
      `with serving as (
         select a.status, ${CAPACITY_OF_A} as capacity from agents a
          where a.deleted_at is null and a.source is null and ($1::text is null or $1::text = any (a.departments))
       )
       select (select count(*)::int from conversations where state = 'queued' and department is not distinct from $1::text) as queued,
              (select count(*)::int from serving where status = 'online') as online,
              (select coalesce(sum(capacity) filter (where status = 'online'), 0)::int from serving) as slots,
              (select coalesce(sum(capacity), 0)::int from serving) as team_slots,
              (select coalesce(avg(extract(epoch from (resolved_at - assigned_at))), ${DEFAULT_HANDLE_TIME_S})::float8
                 from (select resolved_at, assigned_at from conversations
                        where state = 'resolved' and assigned_at is not null
                        order by resolved_at desc limit 100) recent) as handle_s`,
      [department],
    ),
  ]);
  const schedule = scheduleFor(hours, department);
  const compiled = schedule ? compile(schedule) : null;
  const t = now.getTime();
  const withinHours = compiled ? isOpenAt(compiled, t) : true;
  const next = compiled && !withinHours ? nextOpening(compiled, t) : null;
  let reason: OfflineReason | null = null;
  if (!withinHours && settings.offline_when.includes('outside_hours')) reason = isHolidayAt(compiled!, t) ? 'holiday' : 'outside_hours';
  else if (load!.online === 0 && settings.offline_when.includes('no_agent_online')) reason = 'no_agent_online';
  const wait = waitEstimator(hours, now)(department, { position: load!.queued + 1, handleS: load!.handle_s, onlineSlots: load!.slots, teamSlots: load!.team_slots });
  return {
    open: reason === null,
    reason,
    next_open_at: next === null ? null : new Date(next).toISOString(),
    expected_wait_seconds: wait,
  };
}
