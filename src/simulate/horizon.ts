// How far a run's virtual clock may go. The loop steps through every sweep
// tick and shift change on the way to its next event, so a run that spans
// millennia (an arrival rate of 1e-300 per hour, a handle time of 1e300 s)
// never ends, and past some 270,000 years a Date cannot hold the clock at all.
// A century covers any staffing question, and the most arrivals a run takes
// (100 million) at 115 an hour.

export const HORIZON_YEARS = 100;
export const HORIZON_MS = HORIZON_YEARS * 365.25 * 86_400_000;

/** The longest mean handle time or patience a flag takes: a year; an exponential draw stays under 38 of them. */
export const MAX_MEAN_S = 365 * 86_400;

/** The API's priority range (POST /conversations, src/http/schemas.ts; the channels take the same): no real conversation has another. */
export const PRIORITY_MIN = 0;
export const PRIORITY_MAX = 10;

/**
 * The most sweep ticks a run's arrivals may span: each is a turn of the loop
 * even when no sweep is called (some 0.4 µs of CPU, so 1e8 is under a minute).
 * The default 300 s over the whole horizon is about 1e7.
 */
export const MAX_SWEEP_TICKS = 100_000_000;

/**
 * The most candidate arrivals a day profile's thinning may draw, unless the
 * arrivals themselves need more: a candidate comes at the profile's peak
 * rate and is kept with the share the hour's multiplier is of the peak, so a
 * run far shorter than a day at a huge peak rate draws without end while
 * crossing its quiet hours (at 1e300 an hour the clock no longer moves).
 */
export const MAX_CANDIDATES = 100_000_000;

/**
 * The times the store holds, as the reports API takes them (src/reports/period.ts):
 * PostgreSQL reads no year 0 nor the ±YYYYYY years toISOString writes past 9999.
 */
export const FIRST_INSTANT_MS = Date.UTC(1970, 0, 1);
export const LAST_INSTANT_MS = Date.UTC(10_000, 0, 1) - 1;

/** For messages: "about 1,142 years"; past what a Date holds (about 273,000 years after the clock's origin), no number. */
export function years(ms: number): string {
  const y = ms / (365.25 * 86_400_000);
  return y < 270_000 ? `about ${Math.round(y).toLocaleString('en')} years` : 'more than 270,000 years';
}

/** For messages: "about 36 hours", "about 12 days", then as years(). */
export function duration(ms: number): string {
  const DAY = 86_400_000;
  if (ms < 2 * DAY) return `about ${Math.round(ms / 3_600_000).toLocaleString('en')} hours`;
  if (ms < 2 * 365.25 * DAY) return `about ${Math.round(ms / DAY).toLocaleString('en')} days`;
  return years(ms);
}

/** For messages: a whole number with separators, or two significant digits past what those read well. */
export function many(n: number): string {
  return n < 1e15 ? Math.round(n).toLocaleString('en') : n.toPrecision(2);
}
