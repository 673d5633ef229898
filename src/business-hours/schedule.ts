// Business hours as pure functions of an instant: is a schedule open at t,
// when does it next open or close, and when will a given amount of open time
// have passed. Hours and holidays are local wall-clock times in the
// schedule's IANA time zone; the zone's offsets come from Intl (the ICU data
// Node ships), so daylight-saving changes follow the real rules.
//
// The method: between two offset changes, local time is the instant plus a
// constant, so within such a stretch the question is a purely local one
// (which local minutes are open); the stretches are found by sampling the
// offset and bisecting to the millisecond where it changes. A spring-forward
// gap simply never shows the skipped local times (an opening at 02:30 on that
// night starts at 03:00); a fall-back hour shows its local times twice, and
// is open both times if its hours say so.

export const WEEKDAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** Local wall-clock hours, `HH:MM`, end exclusive; `24:00` ends at midnight. */
export interface Interval {
  start: string;
  end: string;
}

export interface Holiday {
  /** a local date, `YYYY-MM-DD`, closed all day */
  date: string;
  name: string | null;
}

export interface Schedule {
  /** an IANA time zone, e.g. `Europe/Paris` */
  time_zone: string;
  weekly: Record<Weekday, Interval[]>;
  holidays: Holiday[];
}

const DAY = 86_400_000;
const MINUTE = 60_000;
/** How far ahead next opening or closing is looked for: past it, the answer is "not within two years". */
export const HORIZON_MS = 800 * DAY;
/** Offsets are sampled this often; two changes closer than this (no real zone has them) could be missed. */
const SAMPLE_MS = 6 * 3_600_000;
/** A stretch looked at in one go, so a zone without changes is not sampled for years before the local answer. */
const STRETCH_MS = 8 * DAY;

/** `HH:MM` (or `24:00`) → minutes after midnight. */
export const minutesOf = (hhmm: string): number => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** `YYYY-MM-DD` → days since 1970-01-01. */
export const dayNumberOf = (date: string): number => Date.UTC(Number(date.slice(0, 4)), Number(date.slice(5, 7)) - 1, Number(date.slice(8, 10))) / DAY;

/** A schedule made ready to evaluate: intervals in ms of the local day, by JS weekday (0 = Sunday). */
export interface Compiled {
  zone: string;
  format: Intl.DateTimeFormat;
  days: [number, number][][];
  holidays: Set<number>;
}

const formats = new Map<string, Intl.DateTimeFormat>();
function formatFor(zone: string): Intl.DateTimeFormat {
  let format = formats.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formats.set(zone, format);
  }
  return format;
}

export function compile(schedule: Schedule): Compiled {
  const days: [number, number][][] = [[], [], [], [], [], [], []];
  WEEKDAYS.forEach((name, i) => {
    days[(i + 1) % 7] = [...(schedule.weekly[name] ?? [])]
      .map((iv): [number, number] => [minutesOf(iv.start) * MINUTE, minutesOf(iv.end) * MINUTE])
      .sort((a, b) => a[0] - b[0]);
  });
  return { zone: schedule.time_zone, format: formatFor(schedule.time_zone), days, holidays: new Set(schedule.holidays.map((h) => dayNumberOf(h.date))) };
}

/** Local wall-clock time minus the instant, in ms, at instant t. */
export function offsetAt(c: Pick<Compiled, 'format'>, t: number): number {
  const seconds = Math.floor(t / 1000) * 1000;
  let year = 0, month = 1, day = 1, hour = 0, minute = 0, second = 0;
  for (const part of c.format.formatToParts(seconds)) {
    const n = Number(part.value);
    switch (part.type) {
      case 'year': year = n; break;
      case 'month': month = n; break;
      case 'day': day = n; break;
      case 'hour': hour = n === 24 ? 0 : n; break;
      case 'minute': minute = n; break;
      case 'second': second = n; break;
    }
  }
  const local = new Date(0);
  local.setUTCFullYear(year, month - 1, day);
  local.setUTCHours(hour, minute, second, 0);
  return local.getTime() - seconds;
}

/** Local ms (as if UTC) of instant t. */
export const localOf = (c: Pick<Compiled, 'format'>, t: number): number => t + offsetAt(c, t);

function openLocal(c: Compiled, w: number): boolean {
  const day = Math.floor(w / DAY);
  if (c.holidays.has(day)) return false;
  const ms = w - day * DAY;
  return c.days[(((day + 4) % 7) + 7) % 7]!.some(([s, e]) => s <= ms && ms < e);
}

/** The least local time in [w0, wEnd) that is open (`want` true) or closed (false), or null. */
function firstLocal(c: Compiled, w0: number, wEnd: number, want: boolean): number | null {
  if (want) {
    for (let day = Math.floor(w0 / DAY); day * DAY < wEnd; day++) {
      if (c.holidays.has(day)) continue;
      for (const [s, e] of c.days[(((day + 4) % 7) + 7) % 7]!) {
        const candidate = Math.max(day * DAY + s, w0);
        if (candidate < day * DAY + e) return candidate < wEnd ? candidate : null;
      }
    }
    return null;
  }
  let w = w0;
  while (w < wEnd) {
    const day = Math.floor(w / DAY);
    if (c.holidays.has(day)) return w;
    const ms = w - day * DAY;
    const around = c.days[(((day + 4) % 7) + 7) % 7]!.find(([s, e]) => s <= ms && ms < e);
    if (!around) return w;
    w = day * DAY + around[1];
  }
  return null;
}

/** The first instant in (a, limit] whose offset is not `offset`, or null. */
function offsetChange(c: Compiled, a: number, offset: number, limit: number): number | null {
  let previous = a;
  for (let s = Math.min(a + SAMPLE_MS, limit); ; s = Math.min(s + SAMPLE_MS, limit)) {
    if (offsetAt(c, s) !== offset) {
      let lo = previous;
      let hi = s;
      while (hi - lo > 1) {
        const mid = Math.floor((lo + hi) / 2);
        if (offsetAt(c, mid) === offset) lo = mid;
        else hi = mid;
      }
      return hi;
    }
    if (s >= limit) return null;
    previous = s;
  }
}

/** The least instant ≥ t at which the schedule is open (`want` true) or closed (false), within `horizon` ms; else null. */
export function firstInstant(c: Compiled, t: number, want: boolean, horizon = HORIZON_MS): number | null {
  const limit = t + horizon;
  let a = t;
  while (a < limit) {
    const offset = offsetAt(c, a);
    const stretchEnd = Math.min(a + STRETCH_MS, limit);
    const b = offsetChange(c, a, offset, stretchEnd) ?? stretchEnd;
    const w = firstLocal(c, a + offset, b + offset, want);
    if (w !== null) return w - offset;
    a = b;
  }
  return null;
}

export const isOpenAt = (c: Compiled, t: number): boolean => openLocal(c, localOf(c, t));
/** The next instant ≥ t at which the schedule is open (t itself when open), or null when it does not open within the horizon. */
export const nextOpening = (c: Compiled, t: number): number | null => firstInstant(c, t, true);
/** The next instant ≥ t at which the schedule is closed (t itself when closed), or null when it stays open past the horizon. */
export const nextClosing = (c: Compiled, t: number): number | null => firstInstant(c, t, false);
/** Whether t's local date is one of the schedule's holidays. */
export const isHolidayAt = (c: Compiled, t: number): boolean => c.holidays.has(Math.floor(localOf(c, t) / DAY));

/**
 * The schedule's open periods from an instant on, built lazily and kept, so
 * that many questions "when will N ms of open time have passed since then"
 * (one per queued conversation) cost a search each, not a walk of the
 * calendar each.
 */
export class OpenTimeline {
  /** open periods in order; `before` is the open time from `from` to the period's start */
  private readonly periods: { start: number; end: number; before: number }[] = [];
  private cursor: number;
  private done = false;

  constructor(
    private readonly c: Compiled,
    private readonly from: number,
  ) {
    this.cursor = from;
  }

  private extend(): void {
    if (this.cursor - this.from > HORIZON_MS) {
      this.done = true;
      return;
    }
    const open = firstInstant(this.c, this.cursor, true);
    if (open === null) {
      this.done = true;
      return;
    }
    const close = firstInstant(this.c, open, false) ?? Infinity;
    const last = this.periods.at(-1);
    this.periods.push({ start: open, end: close, before: last ? last.before + (last.end - last.start) : 0 });
    if (close === Infinity) this.done = true;
    else this.cursor = close;
  }

  /** The instant at which `ms` of open time have passed since `from`; null when that is not within the horizon. */
  after(ms: number): number | null {
    const covers = (p: { start: number; end: number; before: number }) => p.before + (p.end - p.start) >= ms;
    while (!this.done && (this.periods.length === 0 || !covers(this.periods.at(-1)!))) this.extend();
    let lo = 0;
    let hi = this.periods.length - 1;
    if (hi < 0 || !covers(this.periods[hi]!)) return null;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (covers(this.periods[mid]!)) hi = mid;
      else lo = mid + 1;
    }
    const p = this.periods[lo]!;
    return p.start + (ms - p.before);
  }
}
