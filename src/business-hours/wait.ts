import { scheduleFor, type BusinessHours } from './rules.js';
import { compile, isOpenAt, OpenTimeline, type Schedule } from './schedule.js';

// Expected waits that know business hours. The queue's estimate is an amount
// of work: position × mean handle time ÷ the slots serving it, in seconds of
// the team working. With a schedule, those seconds are counted in open time
// only: a conversation queued at night waits until the opening plus its
// share of the queue, and one queued just before closing carries what is
// left over to the next opening. Without a schedule, the plain estimate.

export interface QueueLoad {
  /** its place in its department's queue (1 = next) less the free slots that take the first ones at once (routing/queue.ts, expectedWait); 0: taken at once */
  position: number;
  /** mean handle time, seconds */
  handleS: number;
  /** slots of the online agents who serve the department */
  onlineSlots: number;
  /** slots of every agent who serves the department, online or not: the team expected at the opening */
  teamSlots: number;
}

/**
 * One estimator per request: compiled schedules and their timelines from
 * `now` are kept per schedule, not per department, so the departments that
 * fall back to the default share one timeline: a whole queue costs one walk
 * per schedule and a search per conversation.
 */
export function waitEstimator(hours: BusinessHours, now: Date): (department: string | null, load: QueueLoad) => number | null {
  const t = now.getTime();
  const bySchedule = new Map<Schedule, { openNow: boolean; timeline: OpenTimeline }>();
  const hoursOf = (department: string | null) => {
    const schedule = scheduleFor(hours, department);
    if (!schedule) return null;
    let kept = bySchedule.get(schedule);
    if (!kept) {
      const c = compile(schedule);
      kept = { openNow: isOpenAt(c, t), timeline: new OpenTimeline(c, t) };
      bySchedule.set(schedule, kept);
    }
    return kept;
  };
  return (department, { position, handleS, onlineSlots, teamSlots }) => {
    // No work ahead and someone online with room: taken at once, and the
    // hours do not change routing, so not at the next opening either.
    if (position <= 0 && onlineSlots > 0) return 0;
    const schedule = hoursOf(department);
    if (!schedule) return onlineSlots > 0 ? Math.round((position * handleS) / onlineSlots) : null;
    // Outside hours nobody may be online: the team that serves the department is expected at the opening.
    const slots = onlineSlots > 0 ? onlineSlots : schedule.openNow ? 0 : teamSlots;
    if (slots <= 0) return null;
    const done = schedule.timeline.after(((position * handleS) / slots) * 1000);
    return done === null ? null : Math.round((done - t) / 1000);
  };
}
