import { LINE_BREAKING_CHARACTER } from '../http/one-line.js';
import { DEPARTMENT_PATTERN } from '../http/schemas.js';
import { isBlank } from '../http/validation.js';
import { WEEKDAYS, type Holiday, type Interval, type Schedule, type Weekday } from './schedule.js';

// What a business-hours definition may say. The request schema checks the
// shapes (types, lengths, known keys); these rules check the meaning: real
// times and dates, a region's time zone Intl knows, one-line holiday names,
// intervals that end after they start and do not overlap. The first problem
// is reported with the path of the field at fault, e.g.
// departments.sales.weekly.monday[1].end.

export interface Problem {
  field: string;
  message: string;
}

/** As sent: every day optional (missing = closed), holiday names optional. */
export interface ScheduleInput {
  time_zone: string;
  weekly: Partial<Record<Weekday, Interval[]>>;
  holidays?: { date: string; name?: string | null }[];
}

export interface BusinessHoursInput {
  default?: ScheduleInput | null;
  departments?: Record<string, ScheduleInput>;
}

/** Stored and answered: every day listed, holidays in date order with a name or null. */
export interface BusinessHours {
  default: Schedule | null;
  departments: Record<string, Schedule>;
}

export const MAX_INTERVALS_PER_DAY = 12;
export const MAX_HOLIDAYS = 400;
export const MAX_DEPARTMENTS = 200;

const START = /^([01]\d|2[0-3]):[0-5]\d$/;
const END = /^(([01]\d|2[0-3]):[0-5]\d|24:00)$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
// A department is named here as agents and conversations name it (Department
// in src/http/schemas.ts, which the request schema applies to these keys):
// spaces included, 100 characters counted as ajv counts them, by code point
// — a name an agent may carry but these rules refused had no hours of its own.
const DEPARTMENT = new RegExp(DEPARTMENT_PATTERN, 'u');
const MAX_DEPARTMENT_LENGTH = 100;

/**
 * The zone as stored, Intl's canonical name for it (europe/paris →
 * Europe/Paris, Etc/UTC → UTC), or why it is refused. Intl also knows names
 * that are no region's: abbreviations and legacy names (EST, MST, BST,
 * PST8PDT, CET, Japan, SystemV/EST5). They read like the clock of a place
 * and may not be it: EST is America/Panama, UTC−5 all year, an hour off all
 * summer for an admin in New York; BST is Bangladesh, not British Summer
 * Time. So a zone is Area/Location, as every region's is, or an alias of UTC.
 */
export function timeZoneOf(zone: string): { zone: string } | { refused: string } {
  const unknown = { refused: `must be an IANA time zone such as Europe/Paris or America/New_York, got ${JSON.stringify(zone)}` };
  if (zone.trim() === '' || zone !== zone.trim()) return unknown;
  let canonical: string;
  try {
    canonical = new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;
  } catch {
    // Intl throws a RangeError for a zone it does not know
    return unknown;
  }
  if ((!zone.includes('/') && canonical !== 'UTC') || /^systemv\//i.test(zone)) {
    const reads = canonical.toLowerCase() === zone.toLowerCase() ? '' : `, which Intl reads as ${canonical}`;
    return { refused: `must be a region name such as America/New_York or Europe/Paris (or UTC), not an abbreviation or legacy name like ${JSON.stringify(zone)}${reads}` };
  }
  // Only the spelling's case is mended: an alias is kept as typed, since
  // Node 20's ICU answers some current names with their old ones
  // (Asia/Kolkata as Asia/Calcutta, Europe/Kyiv as Europe/Kiev).
  return { zone: canonical.toLowerCase() === zone.toLowerCase() ? canonical : zone };
}

/** A real calendar date between 1970 and 9999. */
export function isDate(date: string): boolean {
  const m = DATE.exec(date);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (y < 1970) return false;
  const at = new Date(Date.UTC(y, mo - 1, d));
  return at.getUTCFullYear() === y && at.getUTCMonth() === mo - 1 && at.getUTCDate() === d;
}

/** The schedule as stored, or the first problem; `at` prefixes every field path. */
export function checkSchedule(input: ScheduleInput, at: string): { schedule: Schedule } | { problem: Problem } {
  const fail = (field: string, message: string) => ({ problem: { field: `${at}.${field}`, message } });
  const zone = timeZoneOf(input.time_zone);
  if ('refused' in zone) return fail('time_zone', zone.refused);
  const weekly = {} as Record<Weekday, Interval[]>;
  for (const day of WEEKDAYS) {
    const intervals = input.weekly[day] ?? [];
    if (intervals.length > MAX_INTERVALS_PER_DAY) return fail(`weekly.${day}`, `may have at most ${MAX_INTERVALS_PER_DAY} intervals`);
    for (const [i, iv] of intervals.entries()) {
      if (!START.test(iv.start)) return fail(`weekly.${day}[${i}].start`, `must be a time HH:MM from 00:00 to 23:59, got ${JSON.stringify(iv.start)}`);
      if (!END.test(iv.end)) return fail(`weekly.${day}[${i}].end`, `must be a time HH:MM from 00:01 to 24:00, got ${JSON.stringify(iv.end)}`);
      if (iv.end <= iv.start) return fail(`weekly.${day}[${i}].end`, `must be after the start (${iv.start}), got ${iv.end}; hours past midnight go on the next day`);
    }
    const sorted = intervals.map((iv, i) => ({ ...iv, i })).sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.i - b.i));
    for (let k = 1; k < sorted.length; k++) {
      const [before, after] = [sorted[k - 1]!, sorted[k]!];
      if (after.start < before.end) {
        const [at_, other] = before.i > after.i ? [before, after] : [after, before];
        return fail(`weekly.${day}[${at_.i}]`, `${at_.start}–${at_.end} overlaps ${other.start}–${other.end} on ${day}: intervals of one day must not overlap`);
      }
    }
    weekly[day] = sorted.map(({ start, end }) => ({ start, end }));
  }
  const holidays: Holiday[] = [];
  const seen = new Set<string>();
  const list = input.holidays ?? [];
  if (list.length > MAX_HOLIDAYS) return fail('holidays', `may list at most ${MAX_HOLIDAYS} dates`);
  for (const [i, h] of list.entries()) {
    if (!isDate(h.date)) return fail(`holidays[${i}].date`, `must be a real date YYYY-MM-DD from 1970 on, got ${JSON.stringify(h.date)}`);
    if (seen.has(h.date)) return fail(`holidays[${i}].date`, `repeats ${h.date}`);
    seen.add(h.date);
    // one line: the console lists holidays one a line, so a line break here would come back from its next save as a second holiday
    if (h.name && LINE_BREAKING_CHARACTER.test(h.name)) return fail(`holidays[${i}].name`, 'must be one line of text, without control characters');
    const name = h.name === undefined || h.name === null || isBlank(h.name) ? null : h.name.trim();
    holidays.push({ date: h.date, name });
  }
  holidays.sort((a, b) => (a.date < b.date ? -1 : 1));
  return { schedule: { time_zone: zone.zone, weekly, holidays } };
}

/** The whole definition as stored, or the first problem. */
export function checkBusinessHours(input: BusinessHoursInput): { hours: BusinessHours } | { problem: Problem } {
  let fallback: Schedule | null = null;
  if (input.default) {
    const checked = checkSchedule(input.default, 'default');
    if ('problem' in checked) return checked;
    fallback = checked.schedule;
  }
  const departments: Record<string, Schedule> = {};
  const names = Object.keys(input.departments ?? {});
  if (names.length > MAX_DEPARTMENTS) return { problem: { field: 'departments', message: `may have at most ${MAX_DEPARTMENTS} departments` } };
  for (const name of names) {
    if (!DEPARTMENT.test(name) || [...name].length > MAX_DEPARTMENT_LENGTH) {
      return { problem: { field: `departments.${name}`, message: `a department name must be one line of 1 to ${MAX_DEPARTMENT_LENGTH} characters, without control characters` } };
    }
    const checked = checkSchedule(input.departments![name]!, `departments.${name}`);
    if ('problem' in checked) return checked;
    departments[name] = checked.schedule;
  }
  return { hours: { default: fallback, departments } };
}

/** The schedule a conversation of `department` follows: its department's own, else the default; null = always open. */
export const scheduleFor = (hours: BusinessHours, department: string | null): Schedule | null =>
  (department !== null && Object.hasOwn(hours.departments, department) ? hours.departments[department]! : null) ?? hours.default;
