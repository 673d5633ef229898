import { invalid } from '../errors.js';

// The period a report covers: [from, to), half-open, so consecutive periods
// (`to` of one = `from` of the next) count every conversation exactly once.

/** The longest period one report may cover: a leap year of days. */
export const MAX_SPAN_DAYS = 366;

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
// RFC 3339 date-time: seconds required, fraction and an offset (Z or ±hh:mm) too
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;

/**
 * A date (`2026-01-31`, midnight UTC at its start) or a date-time with its
 * offset (`2026-01-31T09:00:00Z`, `…+07:00`). A day or month that does not
 * exist (`2026-02-30`) is refused rather than rolled over into the next one.
 */
export function parseInstant(field: string, text: string): Date {
  const match = DATE.exec(text) ?? DATE_TIME.exec(text);
  if (!match) throw invalid(field, `must be a date (2026-01-31) or a date-time with its offset (2026-01-31T09:00:00Z), got ${JSON.stringify(text.slice(0, 40))}`);
  const [, y, mo, d, h = '00', mi = '00', s = '00', , offset] = match;
  if (offset !== undefined && /^[+-](\d{2}):(\d{2})$/.test(offset) && (Number(offset.slice(1, 3)) > 23 || Number(offset.slice(4)) > 59)) {
    throw invalid(field, `has an offset that is no time zone's: ${JSON.stringify(offset)} (hours 00–23, minutes 00–59)`);
  }
  const day = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
  if (day.getUTCMonth() !== Number(mo) - 1 || day.getUTCDate() !== Number(d) || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) {
    throw invalid(field, `is not a real date or time: ${JSON.stringify(text)}`);
  }
  const at = new Date(text.length === 10 ? `${text}T00:00:00Z` : text);
  if (Number.isNaN(at.getTime()) || at.getUTCFullYear() < 1970 || at.getUTCFullYear() > 9999) throw invalid(field, `is out of range: ${JSON.stringify(text)}`);
  return at;
}

// What a schema's `format: 'date-time'` lets through (ajv-formats): besides
// RFC 3339, a space for the T, an offset without its colon (+0700) or its
// minutes (+07) and any number of digits of a fraction.
const SCHEMA_DATE_TIME = /^(\d{4}-\d{2}-\d{2})[t\s](\d{2}:\d{2}):(\d{2})(?:\.(\d+))?(z|([+-]\d{2}):?(\d{2})?)$/i;

/**
 * A query's date-time (`format: 'date-time'` in its schema) as an instant,
 * by the rule of parseInstant, so the forms the schema lets through keep
 * their meaning; a 400 naming the field for one neither JavaScript nor
 * PostgreSQL holds: a leap second (23:59:60, which the schema accepts), a
 * year outside 1970–9999 in UTC (`9999-12-31T23:59:59-23:59` is in 10000).
 */
export function parseDateTime(field: string, text: string): Date {
  const match = SCHEMA_DATE_TIME.exec(text);
  if (!match) throw invalid(field, `must be a date-time with its offset (2026-01-31T09:00:00Z), got ${JSON.stringify(text.slice(0, 40))}`);
  const [, date, hourMinute, second, fraction, zone, zoneHour, zoneMinute = '00'] = match;
  if (second === '60') throw invalid(field, `is a leap second (:60), which neither JavaScript nor PostgreSQL holds: ${JSON.stringify(text)}; give :59 or the next minute`);
  const offset = zone!.toUpperCase() === 'Z' ? 'Z' : `${zoneHour}:${zoneMinute}`;
  return parseInstant(field, `${date}T${hourMinute}:${second}${fraction === undefined ? '' : `.${fraction.slice(0, 9)}`}${offset}`);
}

export interface Period {
  from: Date;
  to: Date;
}

export function parsePeriod(from: string, to: string): Period {
  const period = { from: parseInstant('from', from), to: parseInstant('to', to) };
  if (period.to.getTime() <= period.from.getTime()) throw invalid('to', `must be after from (${period.from.toISOString()}); the period is [from, to)`);
  const days = (period.to.getTime() - period.from.getTime()) / 86_400_000;
  if (days > MAX_SPAN_DAYS) throw invalid('to', `is ${Math.ceil(days)} days after from: a report covers at most ${MAX_SPAN_DAYS} days`);
  return period;
}
