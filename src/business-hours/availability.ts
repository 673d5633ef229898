import type { Ctx } from '../context.js';
import { DEFAULT_HANDLE_TIME_S, expectedWait, type WaitTerms } from '../routing/queue.js';
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

/**
 * A chat opened now from the widget, as the queue would place it
 * (src/routing/queue.ts): its terms laid on it as an open lays them
 * (sb_with_terms: the department's and the widget channel's required
 * skills, the department's overflow chain and relaxing; no sticky wait, the
 * customer is unknown here), the agents who could serve it summed by
 * sb_queue_team, and its place behind every conversation queued in its
 * department (a new one has the lowest effective priority, 0, and the
 * latest arrival). `reachable` is for the no_agent_online reason: the
 * online slots of the agents who could take the chat — its department's
 * and its overflow departments', with the skills it requires; any of them
 * when the requirement is dropped after a wait (skills_relax_after_s), as
 * the chat is then served all the same. Counting every online agent of the
 * department offered a chat that a Spanish-only department, with nobody
 * speaking Spanish there, left waiting until someone did (or an agent
 * online with capacity 0, who takes none).
 */
const CHAT_OPENED_NOW = /* sql */ `
  select (select count(*)::int from conversations where state = 'queued' and department is not distinct from $1::text) + 1 as position,
         sb_queue_team(t.department, t.required_skills, t.overflow, sb_skills_relaxed(t.skills_relax_after_s, $2::timestamptz, $2::timestamptz), null) as team,
         sb_recent_handle_s($3::float8) as handle_s,
         (sb_queue_team(t.department, t.required_skills, t.overflow, t.skills_relax_after_s is not null, null) ->> 'slots')::int as reachable
    from sb_with_terms(jsonb_populate_record(null::conversations, jsonb_build_object(
           'department', $1::text, 'channel', 'widget', 'requested_skills', '{}'::jsonb, 'labels', '[]'::jsonb))) t`;

export async function availability(ctx: Pick<Ctx, 'db' | 'now'>, department: string | null): Promise<Availability> {
  const now = ctx.now();
  const [settings, hours, [arriving]] = await Promise.all([
    readSettings(ctx.db),
    readBusinessHours(ctx.db),
    ctx.db.query<WaitTerms & { reachable: number }>(CHAT_OPENED_NOW, [department, now, DEFAULT_HANDLE_TIME_S]),
  ]);
  const schedule = scheduleFor(hours, department);
  const compiled = schedule ? compile(schedule) : null;
  const t = now.getTime();
  const withinHours = compiled ? isOpenAt(compiled, t) : true;
  const next = compiled && !withinHours ? nextOpening(compiled, t) : null;
  let reason: OfflineReason | null = null;
  if (!withinHours && settings.offline_when.includes('outside_hours')) reason = isHolidayAt(compiled!, t) ? 'holiday' : 'outside_hours';
  else if (arriving!.reachable === 0 && settings.offline_when.includes('no_agent_online')) reason = 'no_agent_online';
  return {
    open: reason === null,
    reason,
    next_open_at: next === null ? null : new Date(next).toISOString(),
    // the queue's own reckoning (free slots first), so a chat opened now is told what it will be told once queued
    expected_wait_seconds: expectedWait(waitEstimator(hours, now), department, arriving!),
  };
}
