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
//
// What it costs: every offset read is an Intl call (a few microseconds), and
// these questions are asked on every queue change and by anonymous widget
// requests. So a zone's changes, once found, are kept for the process (in
// chunks of days on a grid fixed to the epoch, so any request reuses them,
// the least recently used dropped past a bound); a schedule without hours, or
// open around the clock without holidays, is answered without reading the
// zone at all; and OpenTimeline looks for a closing only as far as the work
// it places needs.

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
/** A zone's changes are found and kept a chunk at a time: this many samples (8 days), chunk k covering [k, k + 1) × CHUNK_MS. */
const CHUNK_SAMPLES = 32;
const CHUNK_MS = CHUNK_SAMPLES * SAMPLE_MS;
/** Chunks kept over all zones (a few hundred bytes each): 800 days of 40 zones; past it the least recently used go. */
const MAX_CHUNKS = 4096;

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
  /** no open time in any week: it never opens, whatever the zone does */
  never: boolean;
  /** every local time of every day open and no holidays: it never closes */
  always: boolean;
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

/** Whether the sorted intervals leave no ms of [0, DAY) closed. */
function coversDay(intervals: [number, number][]): boolean {
  let upTo = 0;
  for (const [s, e] of intervals) if (s <= upTo) upTo = Math.max(upTo, e);
  return upTo >= DAY;
}

export function compile(schedule: Schedule): Compiled {
  const days: [number, number][][] = [[], [], [], [], [], [], []];
  WEEKDAYS.forEach((name, i) => {
    days[(i + 1) % 7] = [...(schedule.weekly[name] ?? [])]
      .map((iv): [number, number] => [minutesOf(iv.start) * MINUTE, minutesOf(iv.end) * MINUTE])
      .sort((a, b) => a[0] - b[0]);
  });
  const holidays = new Set(schedule.holidays.map((h) => dayNumberOf(h.date)));
  return {
    zone: schedule.time_zone,
    format: formatFor(schedule.time_zone),
    days,
    holidays,
    never: days.every((intervals) => intervals.every(([s, e]) => e <= s)),
    always: holidays.size === 0 && days.every(coversDay),
  };
}

/** Local wall-clock time minus the instant, in ms, at instant t, as Intl reads it. */
function readOffset(format: Intl.DateTimeFormat, t: number): number {
  const seconds = Math.floor(t / 1000) * 1000;
  let year = 0, month = 1, day = 1, hour = 0, minute = 0, second = 0;
  for (const part of format.formatToParts(seconds)) {
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

/** A zone's offsets over one chunk: the offset at its start, then each change (the first ms with the new offset) in order. */
interface Chunk {
  offset: number;
  changes: { at: number; offset: number }[];
}
/** by `zone index`, in order of last use (a Map keeps insertion order): the first is the one to drop */
const chunks = new Map<string, Chunk>();

/** Chunk `index` of the zone: kept, or found by sampling every SAMPLE_MS and bisecting each change to the ms. */
function chunkOf(c: Pick<Compiled, 'zone' | 'format'>, index: number): Chunk {
  const key = `${c.zone} ${index}`;
  const kept = chunks.get(key);
  if (kept) {
    chunks.delete(key);
    chunks.set(key, kept);
    return kept;
  }
  const start = index * CHUNK_MS;
  const chunk: Chunk = { offset: readOffset(c.format, start), changes: [] };
  let previous = chunk.offset;
  for (let i = 1; i <= CHUNK_SAMPLES; i++) {
    const s = start + i * SAMPLE_MS;
    const offset = readOffset(c.format, s);
    // every change in (s - SAMPLE_MS, s]: usually none, at most one in real zones; more are followed one by one
    let lo = s - SAMPLE_MS;
    let known = previous;
    while (known !== offset) {
      let hi = s;
      let after = offset;
      while (hi - lo > 1) {
        const mid = Math.floor((lo + hi) / 2);
        const at = readOffset(c.format, mid);
        if (at === known) lo = mid;
        else [hi, after] = [mid, at];
      }
      chunk.changes.push({ at: hi, offset: after });
      [lo, known] = [hi, after];
    }
    previous = offset;
  }
  chunks.set(key, chunk);
  if (chunks.size > MAX_CHUNKS) chunks.delete(chunks.keys().next().value!);
  return chunk;
}

/** The offset at instant a, and the end of the stretch from a on where it holds (the next change, or the chunk's end). */
function stretchAt(c: Pick<Compiled, 'zone' | 'format'>, a: number): { offset: number; until: number } {
  const index = Math.floor(a / CHUNK_MS);
  const chunk = chunkOf(c, index);
  let offset = chunk.offset;
  for (const change of chunk.changes) {
    if (change.at > a) return { offset, until: change.at };
    offset = change.offset;
  }
  return { offset, until: (index + 1) * CHUNK_MS };
}

/** Local wall-clock time minus the instant, in ms, at instant t: from the zone's kept changes, else one Intl read (not worth a chunk). */
export function offsetAt(c: Pick<Compiled, 'zone' | 'format'>, t: number): number {
  const chunk = chunks.get(`${c.zone} ${Math.floor(t / CHUNK_MS)}`);
  if (!chunk) return readOffset(c.format, t);
  let offset = chunk.offset;
  for (const change of chunk.changes) {
    if (change.at > t) break;
    offset = change.offset;
  }
  return offset;
}

/** Local ms (as if UTC) of instant t. */
export const localOf = (c: Pick<Compiled, 'zone' | 'format'>, t: number): number => t + offsetAt(c, t);

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

/** The least instant ≥ t at which the schedule is open (`want` true) or closed (false), within `horizon` ms; else null. */
export function firstInstant(c: Compiled, t: number, want: boolean, horizon = HORIZON_MS): number | null {
  const limit = t + horizon;
  if (!(t < limit)) return null;
  // what the walk below would find at its end, without reading the zone: every instant is closed, or every one open
  if (c.never) return want ? null : t;
  if (c.always) return want ? t : null;
  let a = t;
  while (a < limit) {
    const { offset, until } = stretchAt(c, a);
    const b = Math.min(until, limit);
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
 * calendar each. The last period's closing is looked for only as far as the
 * work asked for so far reaches: placing 5 minutes in a schedule open around
 * the clock until a holiday in December reads 5 minutes of it, not the months
 * to December.
 */
export class OpenTimeline {
  /** open periods in order; `before` is the open time from `from` to the period's start */
  private readonly periods: { start: number; end: number; before: number }[] = [];
  /** the last period's closing is not found yet: its `end` is how far it is known to stay open */
  private closing = false;
  private cursor: number;
  private done = false;

  constructor(
    private readonly c: Compiled,
    private readonly from: number,
  ) {
    this.cursor = from;
  }

  /** One step towards covering `ms` of open time: the closing of the last period looked for up to where `ms` would be reached, or the next period's opening. */
  private extend(ms: number): void {
    const last = this.periods.at(-1);
    if (last && this.closing) {
      // The same search as one over [start, start + HORIZON_MS), done in pieces: past that, the period never closes.
      // A whole ms or two past where `ms` is reached, so the period covers it whatever the rounding of a fractional `ms`
      // (and each step moves on); a closing found there is the same as the whole search would find.
      const cap = last.start + HORIZON_MS;
      const to = Math.min(Math.max(Math.ceil(last.start + (ms - last.before)) + 1, last.end + 1), cap);
      const close = firstInstant(this.c, last.end, false, to - last.end);
      if (close !== null) {
        last.end = close;
        this.closing = false;
        this.cursor = close;
      } else if (to >= cap) {
        last.end = Infinity;
        this.closing = false;
        this.done = true;
      } else last.end = to;
      return;
    }
    if (this.cursor - this.from > HORIZON_MS) {
      this.done = true;
      return;
    }
    const open = firstInstant(this.c, this.cursor, true);
    if (open === null) {
      this.done = true;
      return;
    }
    this.periods.push({ start: open, end: open, before: last ? last.before + (last.end - last.start) : 0 });
    this.closing = true;
  }

  /** The instant at which `ms` of open time have passed since `from`; null when that is not within the horizon. */
  after(ms: number): number | null {
    const covers = (p: { start: number; end: number; before: number }) => p.before + (p.end - p.start) >= ms;
    while (!this.done && (this.periods.length === 0 || !covers(this.periods.at(-1)!))) this.extend(ms);
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
