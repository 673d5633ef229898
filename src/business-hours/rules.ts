import { DEPARTMENT_PATTERN } from '../http/schemas.js';
import { WEEKDAYS, type Holiday, type Interval, type Schedule, type Weekday } from './schedule.js';

// What a business-hours definition may say. The request schema checks the
// shapes (types, lengths, known keys); these rules check the meaning: real
// times and dates, a time zone Intl knows, intervals that end after they
// start and do not overlap. The first problem is reported with the path of
// the field at fault, e.g. departments.sales.weekly.monday[1].end.

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

/** Whether Intl knows the zone (it throws a RangeError for an unknown one). */
export function isTimeZone(zone: string): boolean {
  if (zone.trim() === '' || zone !== zone.trim()) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
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
  if (!isTimeZone(input.time_zone)) return fail('time_zone', `must be an IANA time zone such as Europe/Paris or America/New_York, got ${JSON.stringify(input.time_zone)}`);
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
    const name = h.name?.trim() || null;
    holidays.push({ date: h.date, name });
  }
  holidays.sort((a, b) => (a.date < b.date ? -1 : 1));
  return { schedule: { time_zone: input.time_zone, weekly, holidays } };
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
