// Dates, times, numbers and durations in the active language, through Intl
// (web/shared/i18n.ts): no hand-made formats, no browser-default locale.
import { activeLocale, t } from './i18n';

type When = string | number | Date;

// Intl formatters are costly to build and the lists render many rows
const cache = new Map<string, Intl.DateTimeFormat | Intl.NumberFormat>();
function formatter<F extends Intl.DateTimeFormat | Intl.NumberFormat>(kind: 'date' | 'number', options: object, make: (locale: string) => F): F {
  const key = `${kind}|${activeLocale()}|${JSON.stringify(options)}`;
  let found = cache.get(key) as F | undefined;
  if (!found) cache.set(key, (found = make(activeLocale())));
  return found;
}

export const formatDateTime = (when: When, options: Intl.DateTimeFormatOptions = { dateStyle: 'short', timeStyle: 'short' }): string =>
  formatter('date', options, (locale) => new Intl.DateTimeFormat(locale, options)).format(new Date(when));

/** A message's time of day: 14:05, 2:05 PM */
export const formatTime = (when: When): string => formatDateTime(when, { hour: '2-digit', minute: '2-digit' });
export const formatDate = (when: When): string => formatDateTime(when, { dateStyle: 'medium' });

export const formatNumber = (value: number, options: Intl.NumberFormatOptions = {}): string =>
  formatter('number', options, (locale) => new Intl.NumberFormat(locale, options)).format(value);

const unit = (value: number, name: 'second' | 'minute' | 'hour' | 'day') => formatNumber(value, { style: 'unit', unit: name, unitDisplay: 'short' });

/** An expected wait: "45 sec", "3 min", "2 hr 5 min", "1 day 4 hr" (waits until the next opening can be days). */
export function formatWait(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return t('unknown');
  if (seconds < 60) return unit(Math.max(0, Math.round(seconds)), 'second');
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return unit(minutes, 'minute');
  return minutes < 24 * 60
    ? `${unit(Math.floor(minutes / 60), 'hour')} ${unit(minutes % 60, 'minute')}`
    : `${unit(Math.floor(minutes / 1440), 'day')} ${unit(Math.floor((minutes % 1440) / 60), 'hour')}`;
}
