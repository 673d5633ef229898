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

/** For messages: "about 1,142 years"; past what a Date holds (about 273,000 years after the clock's origin), no number. */
export function years(ms: number): string {
  const y = ms / (365.25 * 86_400_000);
  return y < 270_000 ? `about ${Math.round(y).toLocaleString('en')} years` : 'more than 270,000 years';
}
